"""Graph attention: the multi-head ``GraphAttention`` layer of graph attention networks.

P. Velickovic, G. Cucurull, A. Casanova, A. Romero, P. Lio, Y. Bengio, "Graph Attention
Networks", ICLR 2018, https://arxiv.org/abs/1710.10903. Section 2.1:

.. math::

    e_{ij} = \\mathrm{LeakyReLU}_{0.2}\\big(\\mathbf{a}^T
             [\\mathbf{W} h_i \\,\\|\\, \\mathbf{W} h_j]\\big) \\qquad (\\text{eq. 1, 3})

    \\alpha_{ij} = \\mathrm{softmax}_{j \\in \\mathcal{N}_i}(e_{ij}) \\qquad (\\text{eq. 2})

    h'_i = \\big\\Vert_{k=1}^{K} \\sigma\\Big(\\sum_{j \\in \\mathcal{N}_i} \\alpha^k_{ij}
    \\mathbf{W}^k h_j\\Big) \\ \\text{(eq. 5, concat)}, \\quad
    h'_i = \\sigma\\Big(\\tfrac{1}{K} \\sum_k \\sum_{j} \\alpha^k_{ij} \\mathbf{W}^k h_j\\Big)
    \\ \\text{(eq. 6, mean)}

Two code paths compute the same function:

* **edge list** ``edge_index`` ``(2, E)``: scores per edge, a softmax over the incoming edges of
  every node by scatter operations (``scatter_reduce`` for the per-node maximum, ``index_add_``
  for the sums) and a scatter-add of the messages; memory ``O(E H F')``, no ``N x N`` tensor.
  ``weights`` are the coefficients per edge, ``(E, H)``.
* **dense** boolean ``adjacency`` ``(N, N)`` or ``(B, N, N)``: all ``N x N`` scores, normalised
  by :func:`attnlab.core.masks.masked_softmax`; ``weights`` ``(H, N, N)`` / ``(B, H, N, N)``.

Convention:
    ``edge_index[0]`` is the source ``j`` (the neighbour that is read), ``edge_index[1]`` the
    target ``i`` (the node that attends), as in PyTorch Geometric; ``adjacency[..., i, j]`` is
    ``True`` when ``i`` attends to ``j``. With ``add_self_loops=True`` (the paper's
    :math:`\\mathcal{N}_i` includes ``i``) existing self-loops are dropped and one ``(i, i)`` per
    node is added (edge list), or the diagonal is set (dense). A node with no neighbour gets
    all-zero coefficients and a zero aggregate (its output is the layer's bias), never NaN.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.checks import (
    check_bool,
    check_device,
    check_positive,
    check_probability,
    check_tensor,
)
from attnlab.core.init_args import AttnModule
from attnlab.core.masks import masked_softmax
from attnlab.core.registry import Paper, register_mechanism

__all__ = [
    "GAT_PAPER",
    "GraphAttention",
    "GraphAttentionOutput",
    "add_self_loops",
    "check_edge_index",
    "to_sparse_features",
]

GAT_PAPER = Paper(
    title="Graph Attention Networks",
    authors="Velickovic, Cucurull, Casanova, Romero, Lio, Bengio",
    year=2018,
    url="https://arxiv.org/abs/1710.10903",
)


class GraphAttentionOutput(NamedTuple):
    """Output of :class:`GraphAttention`.

    Attributes:
        context: ``(N, H F')`` (concat) or ``(N, F')`` (mean) node features; ``(B, N, .)`` when
            the input is batched (dense path only).
        weights: attention coefficients :math:`\\alpha_{ij}` before dropout: ``(E, H)`` aligned
            with :attr:`edge_index` (edge list), ``(H, N, N)`` or ``(B, H, N, N)`` (dense);
            ``None`` with ``need_weights=False``.
        edge_index: the ``(2, E)`` edges the weights refer to (self-loops included when the
            layer adds them); ``None`` on the dense path.
    """

    context: Tensor
    weights: Tensor | None
    edge_index: Tensor | None


def check_edge_index(edge_index: object, num_nodes: int, name: str = "edge_index") -> Tensor:
    """Check an edge list: an integer ``(2, E)`` tensor of node ids in ``[0, num_nodes)``.

    Example:
        >>> import torch
        >>> check_edge_index(torch.tensor([[0, 3]]).T, 3)
        Traceback (most recent call last):
        ...
        ValueError: edge_index holds node ids outside [0, 3) (min 0, max 3)
    """
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"{name} must be a (2, E) integer tensor, got {type(edge_index).__name__}")
    if edge_index.is_floating_point() or edge_index.is_complex() or edge_index.dtype == torch.bool:
        raise TypeError(
            f"{name} must be an integer tensor of node ids, got dtype {edge_index.dtype}"
        )
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(
            f"{name} must have shape (2, E) ([source, target] rows), got {tuple(edge_index.shape)}"
        )
    if edge_index.numel() and not torch.compiler.is_compiling():  # value check, not traced
        low, high = int(edge_index.min()), int(edge_index.max())
        if low < 0 or high >= num_nodes:
            raise ValueError(
                f"{name} holds node ids outside [0, {num_nodes}) (min {low}, max {high})"
            )
    return edge_index.long()


def add_self_loops(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Drop the self-loops of ``edge_index`` and append one ``(i, i)`` per node.

    Example:
        >>> import torch
        >>> add_self_loops(torch.tensor([[0, 1, 1], [1, 0, 1]]), 2).tolist()
        [[0, 1, 0, 1], [1, 0, 0, 1]]
    """
    keep = edge_index[0] != edge_index[1]
    loops = torch.arange(num_nodes, device=edge_index.device).expand(2, num_nodes)
    return torch.cat([edge_index[:, keep], loops], dim=1)


def to_sparse_features(x: Tensor) -> Tensor:
    """A dense ``(N, F)`` feature matrix as the CSR tensor :class:`GraphAttention` reads in
    ``O(nnz)`` (PyTorch's "CSR support is in beta" notice is silenced).

    Example:
        >>> import torch
        >>> to_sparse_features(torch.eye(3)).layout
        torch.sparse_csr
    """
    x = check_tensor(x, "x", ndim=2, layout="(N, F)")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
        return x.to_sparse_csr()


def _dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Inverted dropout with a ``rand >= p`` mask: the distribution of ``F.dropout``, but a
    uniform draw is several times faster than ``bernoulli_`` on CPU."""
    if not training or p == 0.0:
        return x
    keep = (torch.rand_like(x) >= p).to(x.dtype).mul_(1.0 / (1.0 - p))
    return x * keep


def _example(
    *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> tuple[nn.Module, tuple[Tensor, ...], dict[str, object]]:
    """A batch of two 6-node graphs, dense adjacency (node 5 isolated in both), 2 heads."""
    layer = GraphAttention(4, 3, num_heads=2, dropout=0.1, device=device, dtype=dtype)
    x = torch.randn(2, 6, 4, device=device, dtype=dtype, requires_grad=True)
    adjacency = torch.zeros(2, 6, 6, dtype=torch.bool, device=device)
    adjacency[0, [0, 1, 1, 2, 3, 4], [1, 0, 2, 3, 4, 0]] = True
    adjacency[1, [0, 1, 2, 3, 4], [2, 3, 4, 0, 1]] = True
    return layer, (x,), {"adjacency": adjacency}


@register_mechanism(
    "graph_attention",
    sequences="self",
    levels="single",
    positions="soft",
    representations="multi-dimensional",
    paper=GAT_PAPER,
    example=_example,
)
class GraphAttention(AttnModule):
    """Multi-head graph attention layer (Velickovic et al. 2018, eq. 1-6), edge list or dense.

    Args:
        in_dim: ``F``, input features per node.
        out_dim: ``F'``, output features per head (``W^k`` is ``F' x F``).
        num_heads: ``K``, independent attention heads.
        concat: concatenate the heads (eq. 5, hidden layers) or average them (eq. 6, output
            layer).
        dropout: dropout on the normalised coefficients :math:`\\alpha_{ij}` (paper: 0.6).
        input_dropout: dropout on the layer's input features (paper: 0.6 on both layers).
        negative_slope: slope of the LeakyReLU in eq. 3 (paper: 0.2).
        add_self_loops: let every node attend to itself (:math:`i \\in \\mathcal{N}_i`).
        bias: add a learned output bias (as the reference code and GATConv do).
        device: where to create the parameters.
        dtype: parameter dtype.

    Shape:
        - x: ``(N, F)``; ``(B, N, F)`` with a batched dense ``adjacency``.
        - edge_index: ``(2, E)`` integer ``[source j, target i]``; or
        - adjacency: ``(N, N)`` / ``(B, N, N)`` boolean, ``True`` where ``i`` attends to ``j``.
        - context: ``(N, K F')`` (concat) or ``(N, F')`` (mean).

    Returns:
        :class:`GraphAttentionOutput` ``(context, weights, edge_index)``. No activation is
        applied (eq. 5's :math:`\\sigma` belongs to the model,
        :class:`attnlab.architectures.GAT`).

    Note:
        ``a`` of eq. 1 is stored as two halves, ``att_target`` (multiplies :math:`W h_i`) and
        ``att_source`` (multiplies :math:`W h_j`), one row per head.

    Example:
        >>> import torch
        >>> layer = GraphAttention(4, 3, num_heads=2)
        >>> edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])
        >>> out = layer(torch.randn(3, 4), edge_index)
        >>> tuple(out.context.shape), tuple(out.weights.shape)  # 3 edges + 3 self-loops
        ((3, 6), (6, 2))
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        num_heads: int = 1,
        concat: bool = True,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        negative_slope: float = 0.2,
        add_self_loops: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for value, name in ((in_dim, "in_dim"), (out_dim, "out_dim"), (num_heads, "num_heads")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        check_probability(dropout, "dropout")
        check_probability(input_dropout, "input_dropout")
        check_positive(negative_slope, "negative_slope", allow_zero=True)
        self.in_dim, self.out_dim, self.num_heads = in_dim, out_dim, num_heads
        self.concat = check_bool(concat, "concat")
        self.add_self_loops = check_bool(add_self_loops, "add_self_loops")
        self.dropout, self.input_dropout = float(dropout), float(input_dropout)
        self.negative_slope = float(negative_slope)
        self.linear = nn.Linear(  # W (eq. 1)
            in_dim, num_heads * out_dim, bias=False, device=device, dtype=dtype
        )
        # a of eq. 1 in halves: the part for W h_j (source) and for W h_i (target)
        self.att_source = nn.Parameter(torch.empty(num_heads, out_dim, device=device, dtype=dtype))
        self.att_target = nn.Parameter(torch.empty(num_heads, out_dim, device=device, dtype=dtype))
        width = num_heads * out_dim if concat else out_dim
        self.output_bias = (
            nn.Parameter(torch.empty(width, device=device, dtype=dtype))
            if check_bool(bias, "bias")
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform ``W`` and ``a`` (the paper's initialisation), zero bias."""
        nn.init.xavier_uniform_(self.linear.weight)
        # a^k is a (2F' x 1) vector: Glorot bound sqrt(6 / (2F' + 1))
        bound = math.sqrt(6.0 / (2 * self.out_dim + 1))
        nn.init.uniform_(self.att_source, -bound, bound)
        nn.init.uniform_(self.att_target, -bound, bound)
        if self.output_bias is not None:
            nn.init.zeros_(self.output_bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_dim}, {self.out_dim}, num_heads={self.num_heads}, concat={self.concat}, "
            f"dropout={self.dropout}, input_dropout={self.input_dropout}"
        )

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor | None = None,
        adjacency: Tensor | None = None,
        *,
        need_weights: bool = True,
    ) -> GraphAttentionOutput:
        """Attend over each node's neighbours (give exactly one of ``edge_index``, ``adjacency``).

        Args:
            x: node features ``(N, F)`` (or ``(B, N, F)`` with a batched ``adjacency``); a
                sparse ``(N, F)`` tensor (CSR fastest, or COO) takes the ``O(nnz)`` route
                (:func:`to_sparse_features` once for bag-of-words features such as Cora's).
            edge_index: ``(2, E)`` integer edges ``[source j, target i]``.
            adjacency: ``(N, N)`` or ``(B, N, N)`` boolean, ``True`` where ``i`` attends to ``j``.
            need_weights: return the coefficients (``False``: ``weights`` is ``None``).
        """
        check_bool(need_weights, "need_weights")
        if (edge_index is None) == (adjacency is None):
            raise ValueError("give exactly one of edge_index (2, E) and adjacency (N, N)")
        x = check_tensor(x, "x", ndim=(2, 3), layout="(N, F) or (B, N, F)", like=("", self))
        for name, graph in (("edge_index", edge_index), ("adjacency", adjacency)):
            if isinstance(graph, Tensor):
                check_device(graph, name, ("x", x))
        if x.layout != torch.strided and (
            x.layout not in (torch.sparse_coo, torch.sparse_csr) or x.dim() != 2
        ):
            raise ValueError(f"x must be dense, or a 2-D sparse COO/CSR tensor, got {x.layout}")
        if x.shape[-1] != self.in_dim:
            raise ValueError(
                f"x has {x.shape[-1]} features in its last dimension but in_dim is {self.in_dim}"
            )
        if edge_index is not None:
            if x.dim() != 2:
                raise ValueError(
                    f"x must be (N, F) with edge_index (one graph), got shape {tuple(x.shape)}"
                )
            return self._edge_forward(x, edge_index, need_weights)
        return self._dense_forward(x, adjacency, need_weights)

    def _project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if x.layout in (torch.sparse_coo, torch.sparse_csr):
            # sparse features (bag of words): dropout on the stored values only (dropping a
            # zero changes nothing) and a sparse product, O(nnz F') instead of O(N F F')
            if x.layout == torch.sparse_coo:
                x = x.coalesce()
                values = _dropout(x.values(), self.input_dropout, self.training)
                x = torch.sparse_coo_tensor(
                    x.indices(), values, x.shape, is_coalesced=True, check_invariants=False
                )
            else:
                values = _dropout(x.values(), self.input_dropout, self.training)
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*CSR tensor support is in beta.*")
                    x = torch.sparse_csr_tensor(
                        x.crow_indices(), x.col_indices(), values, x.shape,
                        check_invariants=False,
                    )
            projected = x @ self.linear.weight.t()
        else:
            projected = self.linear(_dropout(x, self.input_dropout, self.training))
        h = projected.unflatten(-1, (self.num_heads, self.out_dim))  # (..., n, h, d)
        # eq. 1 split in halves: a^T [W h_i || W h_j] = a_i . W h_i + a_j . W h_j
        score_target = (h * self.att_target).sum(-1)  # (..., n, h)
        score_source = (h * self.att_source).sum(-1)  # (..., n, h)
        return h, score_source, score_target

    def _finish(self, context: Tensor) -> Tensor:
        # context: (..., n, h, d)
        context = context.flatten(-2) if self.concat else context.mean(-2)
        return context if self.output_bias is None else context + self.output_bias

    def _edge_forward(
        self, x: Tensor, edge_index: Tensor, need_weights: bool
    ) -> GraphAttentionOutput:
        num_nodes = x.shape[0]
        edge_index = check_edge_index(edge_index, num_nodes)
        if self.add_self_loops:
            edge_index = add_self_loops(edge_index, num_nodes)
        source, target = edge_index[0], edge_index[1]
        h, score_source, score_target = self._project(x)
        heads = self.num_heads
        # eq. 1 + 3: one score per edge and head
        scores = F.leaky_relu(
            score_source.index_select(0, source) + score_target.index_select(0, target),
            self.negative_slope,
        )  # (e, h)
        # eq. 2: softmax over the incoming edges of each target. The per-target maximum is a
        # constant shift (detached: softmax does not depend on it).
        top = scores.new_full((num_nodes, heads), -math.inf)
        top = top.scatter_reduce(
            0, target.unsqueeze(1).expand(-1, heads), scores.detach(), "amax", include_self=True
        )
        numer = (scores - top.index_select(0, target)).exp()  # (e, h)
        denom = numer.new_zeros(num_nodes, heads).index_add_(0, target, numer)
        weights = numer / denom.index_select(0, target)  # (e, h)
        alpha = _dropout(weights, self.dropout, self.training)
        messages = h.index_select(0, source) * alpha.unsqueeze(-1)  # (e, h, d)
        context = h.new_zeros(num_nodes, heads, self.out_dim).index_add_(0, target, messages)
        return GraphAttentionOutput(
            self._finish(context), weights if need_weights else None, edge_index
        )

    def _dense_forward(
        self, x: Tensor, adjacency: Tensor | None, need_weights: bool
    ) -> GraphAttentionOutput:
        n = x.shape[-2]
        if not isinstance(adjacency, Tensor) or adjacency.dtype != torch.bool:
            got = adjacency.dtype if isinstance(adjacency, Tensor) else type(adjacency).__name__
            raise TypeError(f"adjacency must be a boolean tensor (True = may attend), got {got}")
        if x.dim() == 2 and adjacency.dim() == 3:
            raise ValueError(
                f"x must be a 3-D tensor of shape (B, N, F) (batch first) to match the batched "
                f"adjacency of shape {tuple(adjacency.shape)}, got shape {tuple(x.shape)}"
            )
        want = (n, n) if x.dim() == 2 else (x.shape[0], n, n)
        if tuple(adjacency.shape) != want:
            raise ValueError(
                f"adjacency must have shape {want} to match x of shape {tuple(x.shape)}, "
                f"got {tuple(adjacency.shape)}"
            )
        if self.add_self_loops:
            adjacency = adjacency | torch.eye(n, dtype=torch.bool, device=adjacency.device)
        h, score_source, score_target = self._project(x)
        # (..., h, i, j) scores: target i attends to source j
        scores = F.leaky_relu(
            score_target.transpose(-1, -2).unsqueeze(-1)
            + score_source.transpose(-1, -2).unsqueeze(-2),
            self.negative_slope,
        )
        weights = masked_softmax(scores, adjacency.unsqueeze(-3))  # (..., h, i, j)
        alpha = _dropout(weights, self.dropout, self.training)
        context = alpha @ h.transpose(-3, -2)  # (..., h, i, d)
        context = context.transpose(-3, -2)  # (..., i, h, d)
        return GraphAttentionOutput(
            self._finish(context), weights if need_weights else None, None
        )
