"""Rankings of the inputs that the faithfulness experiment compares, for models the generic
explainers of :mod:`attnlab.interpret` do not cover (HAN, GAT, spatial transformers), and the
graph surgery its GAT deletion curves need.

* :func:`sampling_mass`: how much bilinear weight a spatial transformer's grid puts on each input
  pixel (Jaderberg et al. 2015, https://arxiv.org/abs/1506.02025, eq. 5);
* :func:`embedding_gradient_x_input`: gradient x input on the output of an embedding module;
* :func:`neighbour_subgraphs` / :func:`drop_neighbour_edges`: each explained node's two-hop
  computation graph, copied into one disjoint graph, and the removal of the edges from chosen
  neighbours to their centre;
* :func:`gat_rollout_scores`: attention rollout over the two GAT layers, read at the centres.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnlab.vision.sampler import bilinear_sample

__all__ = [
    "NeighbourBatch",
    "drop_neighbour_edges",
    "embedding_gradient_x_input",
    "gat_rollout_scores",
    "neighbour_subgraphs",
    "sampling_mass",
]


def sampling_mass(grid: Tensor, size: tuple[int, int], *, align_corners: bool = False) -> Tensor:
    """The bilinear sampling weight that ``grid`` puts on each input pixel, summed over the grid.

    Eq. 5 of the spatial-transformer paper samples output point ``(i, j)`` as
    ``V_ij = sum_nm U_nm max(0, 1 - |x_ij - m|) max(0, 1 - |y_ij - n|)``; the mass of pixel
    ``(n, m)`` is ``sum_ij max(0, 1 - |x_ij - m|) max(0, 1 - |y_ij - n|)`` (``x, y`` in pixel
    units, zero padding: points outside the image put no weight anywhere). Since ``V`` is
    linear in ``U``, the mass is the gradient of ``sum V`` with respect to ``U``, which is how
    it is computed here (one backward pass of the library's sampler).

    Args:
        grid: ``(B, H_out, W_out, 2)`` normalised ``(x, y)`` sampling points.
        size: ``(H, W)`` of the input image.
        align_corners: the grid's convention (:mod:`attnlab.vision.grids`).

    Shape:
        ``(B, H, W)``; pixels outside the sampled region get exactly 0.

    Example:
        >>> from attnlab.vision.grids import normalized_meshgrid
        >>> identity = normalized_meshgrid((3, 4)).unsqueeze(0)  # (1, 3, 4, 2)
        >>> sampling_mass(identity, (3, 4)).flatten().tolist() == [1.0] * 12
        True
    """
    if not isinstance(grid, Tensor) or grid.dim() != 4 or grid.shape[-1] != 2:
        got = tuple(grid.shape) if isinstance(grid, Tensor) else type(grid).__name__
        raise ValueError(f"grid must be (B, H_out, W_out, 2), got {got}")
    height, width = size
    if height < 1 or width < 1:
        raise ValueError(f"size must be a positive (H, W), got {size}")
    with torch.enable_grad():
        image = torch.zeros(grid.shape[0], 1, height, width, dtype=grid.dtype,
                            device=grid.device, requires_grad=True)
        sampled = bilinear_sample(image, grid.detach(), align_corners, "zeros")
        (mass,) = torch.autograd.grad(sampled.sum(), image)
    return mass[:, 0]


def embedding_gradient_x_input(
    forward: Callable[[], Tensor], embedding: nn.Module, target: Tensor
) -> Tensor:
    """Gradient x input on the output of ``embedding``: ``sum_d e_d dy/de_d`` per token.

    Args:
        forward: runs the model once and returns its logits ``(B, C)``.
        embedding: the module whose output ``e (B, ..., D)`` is the input being explained (a
            token embedding); it must be called once by ``forward``.
        target: ``(B,)`` the class whose logit ``y`` is explained.

    Shape:
        ``(B, ...)``: the embedding output's shape without its last dimension; signed scores
        (positive: the token pushes the logit up).

    Example:
        >>> emb = nn.Embedding(5, 3)
        >>> head = nn.Linear(3, 2)
        >>> tokens = torch.tensor([[1, 2]])
        >>> s = embedding_gradient_x_input(lambda: head(emb(tokens).sum(1)), emb,
        ...                                torch.tensor([0]))
        >>> torch.allclose(s, (emb(tokens) * head.weight[0]).sum(-1))
        True
    """
    captured: list[Tensor] = []
    handle = embedding.register_forward_hook(lambda module, args, out: captured.append(out))
    try:
        with torch.enable_grad():
            logits = forward()
            if len(captured) != 1:
                raise ValueError(f"embedding must run once per forward, ran {len(captured)} times")
            rows = torch.arange(logits.shape[0], device=logits.device)
            (grad,) = torch.autograd.grad(logits[rows, target].sum(), captured[0])
    finally:
        handle.remove()
    return (captured[0].detach() * grad).sum(-1)


class NeighbourBatch(NamedTuple):
    """The two-hop computation graphs of some nodes, as one disjoint graph.

    A two-layer graph network's output at node ``c`` depends only on the edges into ``c`` and
    into ``c``'s in-neighbours; copying those edges (and their end nodes) for every explained
    node gives one graph on which each copy's centre has exactly the output it has in the full
    graph, and on which the edges of one centre can be removed without touching another's.

    Attributes:
        nodes: ``(n,)`` original id of every node of the disjoint graph.
        edge_index: ``(2, E)`` its edges ``[source, target]`` in local ids.
        centres: ``(B,)`` local id of each explained node.
        neighbours: ``(B, L)`` local ids of each centre's distinct in-neighbours (itself
            excluded), padded with the centre's own id.
        valid: ``(B, L)`` ``True`` at real neighbours.
        slot: ``(E,)`` for an edge from neighbour ``l`` of centre ``b`` into ``b``,
            ``b * L + l``; ``-1`` for every other edge.
    """

    nodes: Tensor
    edge_index: Tensor
    centres: Tensor
    neighbours: Tensor
    valid: Tensor
    slot: Tensor


def neighbour_subgraphs(edge_index: Tensor, centres: Tensor, num_nodes: int) -> NeighbourBatch:
    """Copy the two-hop computation graph of each of ``centres`` into one disjoint graph.

    Args:
        edge_index: ``(2, E)`` edges ``[source j, target i]`` of the full graph (no self-loops
            needed: the model adds them).
        centres: ``(B,)`` the explained nodes.
        num_nodes: ``N`` of the full graph.

    Returns:
        :class:`NeighbourBatch`.

    Example:
        >>> edges = torch.tensor([[1, 2, 3], [0, 1, 1]])  # 1 -> 0, 2 -> 1, 3 -> 1
        >>> batch = neighbour_subgraphs(edges, torch.tensor([0]), 4)
        >>> batch.nodes[batch.neighbours].tolist(), batch.edge_index.shape[1]
        ([[1]], 3)
    """
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must be (2, E), got {tuple(edge_index.shape)}")
    if centres.dim() != 1 or centres.numel() == 0:
        raise ValueError(f"centres must be a non-empty (B,) tensor, got {tuple(centres.shape)}")
    source, target = edge_index[0].cpu().tolist(), edge_index[1].cpu().tolist()
    incoming: list[list[int]] = [[] for _ in range(num_nodes)]
    for e, t in enumerate(target):
        incoming[t].append(e)
    order = [list(dict.fromkeys(source[e] for e in incoming[c])) for c in centres.tolist()]
    distinct = [[j for j in first if j != c] for first, c in zip(order, centres.tolist(),
                                                                   strict=True)]
    width = max(1, max(len(d) for d in distinct))
    nodes: list[int] = []
    edges: list[tuple[int, int]] = []
    slots: list[int] = []
    centre_ids: list[int] = []
    neighbours: list[list[int]] = []
    valid: list[list[bool]] = []
    for b, centre in enumerate(centres.tolist()):
        local: dict[int, int] = {}

        def local_id(node: int, local: dict[int, int] = local) -> int:
            if node not in local:
                local[node] = len(nodes)
                nodes.append(node)
            return local[node]

        c = local_id(centre)
        centre_ids.append(c)
        slot_of = {j: b * width + k for k, j in enumerate(distinct[b])}
        ids = [local_id(j) for j in distinct[b]]
        neighbours.append(ids + [c] * (width - len(ids)))
        valid.append([k < len(ids) for k in range(width)])
        for e in incoming[centre]:
            edges.append((local_id(source[e]), c))
            slots.append(slot_of.get(source[e], -1))
        for k in order[b]:
            if k == centre:
                continue  # its incoming edges are already in
            kk = local_id(k)
            for e in incoming[k]:
                edges.append((local_id(source[e]), kk))
                slots.append(-1)
    device = edge_index.device
    return NeighbourBatch(
        torch.tensor(nodes, dtype=torch.long, device=device),
        torch.tensor(edges, dtype=torch.long, device=device).reshape(-1, 2).T.contiguous(),
        torch.tensor(centre_ids, dtype=torch.long, device=device),
        torch.tensor(neighbours, dtype=torch.long, device=device),
        torch.tensor(valid, dtype=torch.bool, device=device),
        torch.tensor(slots, dtype=torch.long, device=device),
    )


def drop_neighbour_edges(batch: NeighbourBatch, keep: Tensor) -> Tensor:
    """The edges of ``batch`` without those from removed neighbours into their centre.

    Args:
        batch: from :func:`neighbour_subgraphs`.
        keep: ``(B, L)`` boolean, or float where ``> 0.5`` keeps: ``False`` removes every edge
            from neighbour ``l`` into centre ``b`` (in both layers; other edges stay, so the
            neighbour still reaches its centre through common neighbours).

    Returns:
        ``(2, E')`` the remaining edges.

    Example:
        >>> edges = torch.tensor([[1, 2], [0, 0]])
        >>> batch = neighbour_subgraphs(edges, torch.tensor([0]), 3)
        >>> drop_neighbour_edges(batch, torch.tensor([[True, False]])).tolist()
        [[1], [0]]
    """
    if tuple(keep.shape) != tuple(batch.valid.shape):
        raise ValueError(
            f"keep must have shape (B, L) = {tuple(batch.valid.shape)}, got {tuple(keep.shape)}"
        )
    flags = keep if keep.dtype == torch.bool else keep > 0.5
    flat = flags.reshape(-1).to(batch.slot.device)
    stays = (batch.slot < 0) | flat[batch.slot.clamp_min(0)]
    return batch.edge_index[:, stays]


def gat_rollout_scores(
    edge_index: Tensor, first: Tensor, second: Tensor, batch: NeighbourBatch
) -> Tensor:
    """Attention rollout over two GAT layers, read from each centre to its neighbours.

    With ``A_l[i, j]`` the layer-``l`` coefficient of edge ``j -> i`` (heads averaged; the
    self-loops the model adds play the part of the residual, so no identity is mixed in), the
    rollout is ``R = A_2 A_1`` (Abnar & Zuidema 2020, eq. 1) and the score of neighbour ``j``
    of centre ``c`` is ``R[c, j] = sum_k A_2[c, k] A_1[k, j]``: the direct edge through the
    centre's self-loop plus every two-hop path.

    Args:
        edge_index: ``(2, E)`` the edges the weights refer to (the model's output
            ``edge_index``, self-loops included).
        first: ``(E, H)`` layer-1 coefficients.
        second: ``(E, H2)`` layer-2 coefficients.
        batch: the graph and its centres (:func:`neighbour_subgraphs`).

    Shape:
        ``(B, L)`` scores of ``batch.neighbours`` (0 at padding).
    """
    n = int(batch.nodes.shape[0])
    source, target = edge_index[0], edge_index[1]
    # A_1^T as a sparse (n, n) matrix: row = source j, column = target k
    a1_t = torch.sparse_coo_tensor(
        torch.stack([source, target]), first.mean(-1).double(), (n, n), check_invariants=True
    ).coalesce()
    centre_row = torch.full((n,), -1, dtype=torch.long, device=edge_index.device)
    centre_row[batch.centres] = torch.arange(batch.centres.numel(), device=edge_index.device)
    into = centre_row[target] >= 0
    a2_rows = torch.zeros(batch.centres.numel(), n, dtype=torch.float64,
                          device=edge_index.device)  # (b, n): row b = A_2[centre b, :]
    a2_rows.index_put_((centre_row[target[into]], source[into]),
                       second[into].mean(-1).double(), accumulate=True)
    rolled = torch.sparse.mm(a1_t, a2_rows.T).T  # (b, n): A_2[c, :] A_1 = (A_1^T A_2[c, :]^T)^T
    scores = rolled.gather(1, batch.neighbours)
    return scores * batch.valid
