"""Maximum flows through a layered graph, many problems at once: the fast path of
:func:`attnlab.interpret.attention_flow`.

Each problem is a single source above node layer ``N - 1`` and a single sink below node layer
``1`` of the same interior graph: complete bipartite edge blocks between consecutive node layers
``N - 1, ..., 1`` (``L`` nodes each). Problems differ only in the source's and the sink's edge
capacities. The algorithm is Goldberg and Tarjan's push-relabel ("A new approach to the
maximum-flow problem", J. ACM 35(4), 1988), vectorised over the problems and over the nodes of
a layer, in rounds:

* at the start of a round the heights are set to the exact residual distances to the sink (the
  "global relabelling" heuristic), computed by a breadth-first search written as alternating
  sweeps up and down the node layers; with exact distances every active node (positive excess,
  a path to the sink) has an admissible edge, so no local relabel is needed, and a node that
  cannot reach the sink (distance ``V``) stops being active;
* then one sweep through the node layers, top-down and bottom-up in turn: the active nodes of
  a layer push along their admissible edges (``h(u) = h(v) + 1``: down, into the sink, or back
  up), splitting their excess in proportion to the residual capacities. The heights stay fixed
  during the sweep, so every push is a valid push-relabel step; a layer pushes what it received
  earlier in the same sweep, so excess crosses all the layers in one round (pushing all layers
  at once instead needs about twice the rounds).

Only the first phase of push-relabel runs (a maximum preflow): the excess left in nodes that
cannot reach the sink never returns to the source, and the flow into the sink is the maximum
flow value. At any round the nodes that reach the sink and the rest form a cut whose edges are
saturated, so the value lies between the sink's inflow and the inflow plus the active excess;
the loop stops when that active excess is ``<= tol`` (``tol = 0``: when no node is active).

Layout: ``F[p, b, k, m]`` is the flow on the edge from node ``k`` of node layer ``b + 2`` to node
``m`` of layer ``b + 1`` (index ``b + 1`` to index ``b`` of the ``N - 1`` interior layers).
A saturating push sets the flow to the capacity (or 0) exactly, so no rounding residue is left
behind as a phantom edge.

Why vectorised push-relabel: every problem touches all ``(N - 2) L^2`` interior edges, and the
``L^2`` problems of a full flow matrix cost ``O(N L^4)`` per round; a round is a few tensor
passes per layer instead of a Python loop over edges. Measured on one CPU thread (float64,
``L = 128``, six layers, random softmax attention): 2.5-3.2 s per output row of 128 problems
(20-30 rounds), 5.5 min for the full 128 x 128 matrix, where networkx's ``maximum_flow_value``
takes about 0.75 s per problem, some 3.4 h (``docs/interpret.md`` has the table).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["layered_max_flow"]

_CHUNK_ELEMENTS = 1 << 23
"""Problems per chunk: about this many flow entries (``P * M * L * L``) at once."""


def _distances(down: Tensor, up: Tensor, sink: Tensor, unreachable: float) -> Tensor:
    """Exact residual distances to the sink, ``(P, M + 1, L)``; ``unreachable`` where none.

    ``down[p, b, k, m] > 0``: residual edge from node ``k`` of layer index ``b + 1`` to ``m`` of
    index ``b``; ``up[p, b, k, m] > 0``: residual edge from ``m`` (index ``b``) up to ``k``
    (index ``b + 1``); ``sink[p, k] > 0``: residual edge from ``k`` (index 0) to the sink.
    """
    P, M, L, _ = down.shape
    d = torch.full((P, M + 1, L), unreachable, dtype=torch.float64, device=down.device)
    d[:, 0] = torch.where(sink, 1.0, unreachable)
    far = torch.tensor(unreachable, dtype=torch.float64, device=down.device)
    while True:
        before = d.clone()
        for b in range(M):  # upward sweep: through down edges to the layer below
            via = torch.where(down[:, b], d[:, b].unsqueeze(-2), far).amin(-1) + 1
            d[:, b + 1] = torch.minimum(d[:, b + 1], via)
        for b in range(M - 1, -1, -1):  # downward sweep: through up edges to the layer above
            via = torch.where(up[:, b], d[:, b + 1].unsqueeze(-1), far).amin(-2) + 1
            d[:, b] = torch.minimum(d[:, b], via)
        d.clamp_(max=unreachable)
        if torch.equal(before, d):
            return d


def _push_layer(
    t: int,
    C: Tensor,
    F: Tensor,
    h: Tensor,
    excess: Tensor,
    sink: Tensor,
    to_sink: Tensor,
    value: Tensor,
    unreachable: float,
) -> tuple[Tensor, Tensor]:
    """Every active node of layer index ``t`` pushes its excess along its admissible edges (down
    to ``t - 1`` or into the sink, up to ``t + 1``), split in proportion to their residual
    capacities. ``F`` and ``excess`` change in place; returns ``(to_sink, value)``."""
    P, top, L = excess.shape[0], excess.shape[1] - 1, excess.shape[2]
    act = (excess[:, t] > 0) & (h[:, t] < unreachable)
    if not bool(act.any()):
        return to_sink, value
    ex = torch.where(act, excess[:, t], 0.0)
    total = torch.zeros(P, L, dtype=excess.dtype, device=excess.device)
    if t >= 1:  # down edges of block t - 1: (p, k in t, m in t - 1)
        adm_down = h[:, t].unsqueeze(-1) == h[:, t - 1].unsqueeze(-2) + 1
        r_down = (C[:, t - 1] - F[:, t - 1]).masked_fill_(~adm_down, 0.0)
        total += r_down.sum(-1)
    else:  # into the sink
        adm_sink = h[:, 0] == 1
        r_sink = torch.where(adm_sink, sink - to_sink, 0.0)
        total += r_sink
    if t < top:  # up edges: the reverse of block t's flow, (p, k in t + 1, m in t)
        adm_up = h[:, t].unsqueeze(-2) == h[:, t + 1].unsqueeze(-1) + 1
        r_up = F[:, t].masked_fill(~adm_up, 0.0)
        total += r_up.sum(-2)
    full = act & (total <= ex)  # the node saturates every admissible edge
    share = torch.where(full, 1.0, ex / torch.where(total > 0, total, 1.0))
    excess[:, t] = torch.where(
        full, (excess[:, t] - total).clamp(min=0), torch.where(act, 0.0, excess[:, t])
    )
    if t >= 1:
        push = r_down.mul_(share.unsqueeze(-1))
        excess[:, t - 1] += push.sum(-2)
        block = F[:, t - 1]
        block.add_(push)
        # a saturating push leaves exactly the capacity on the edge: no rounding residue
        torch.where(adm_down.logical_and_(full.unsqueeze(-1)), C[:, t - 1].expand_as(block),
                    block, out=block)
    else:
        push_sink = r_sink * share
        to_sink = torch.where(adm_sink & full, sink, to_sink + push_sink)
        value = value + push_sink.sum(-1)
    if t < top:
        push = r_up.mul_(share.unsqueeze(-2))
        excess[:, t + 1] += push.sum(-1)
        block = F[:, t]
        block.sub_(push)
        block.masked_fill_(adm_up.logical_and_(full.unsqueeze(-2)), 0.0)  # exactly empty
    return to_sink, value


def _solve(source: Tensor, inner: Tensor, sink: Tensor, tol: float) -> Tensor:
    """Push-relabel on one chunk: ``source (P, L)``, ``inner (M, L, L)``, ``sink (P, L)``."""
    P, L = source.shape
    M = inner.shape[0]
    V = float((M + 1) * L + 2)
    C = inner.unsqueeze(0)  # (1, m, k, l)
    F = torch.zeros(P, M, L, L, dtype=source.dtype, device=source.device)
    to_sink = torch.zeros_like(sink)
    excess = torch.zeros(P, M + 1, L, dtype=source.dtype, device=source.device)
    excess[:, -1] = source  # the source's edges are saturated at the start
    value = torch.zeros(P, dtype=source.dtype, device=source.device)
    bound = torch.minimum(source.sum(-1), sink.sum(-1))  # the source's and the sink's cuts
    result = torch.zeros(P, dtype=source.dtype, device=source.device)
    alive = torch.arange(P, device=source.device)
    max_rounds = int(4 * V * V)  # push-relabel needs O(V^2) rounds of pushes at most
    for round_ in range(max_rounds):
        h = _distances(C - F > 0, F > 0, sink > to_sink, V)
        active = (excess > 0) & (h < V)
        done = (torch.where(active, excess, 0).sum((1, 2)) <= tol) | (value >= bound - tol)
        if bool(done.any()):
            result[alive[done]] = value[done]
            keep = ~done
            if not bool(keep.any()):
                return result
            alive, F, to_sink, excess, value, bound, h, sink = (
                t[keep] for t in (alive, F, to_sink, excess, value, bound, h, sink)
            )
        # one sweep through the layers, top-down and bottom-up in turn: a layer pushes what it
        # received earlier in the same sweep, so excess crosses every layer in one round
        layers = range(M, -1, -1) if round_ % 2 == 0 else range(M + 1)
        for t in layers:
            to_sink, value = _push_layer(t, C, F, h, excess, sink, to_sink, value, V)
    raise RuntimeError(f"push-relabel did not finish in {max_rounds} rounds")  # pragma: no cover


def layered_max_flow(source: Tensor, inner: Tensor, sink: Tensor, *, tol: float = 0.0) -> Tensor:
    """Maximum flow values of ``P`` problems sharing the interior edge blocks ``inner``.

    Args:
        source: ``(P, L)`` capacities of the source's edges into node layer ``N - 1``.
        inner: ``(M, L, L)``, ``M = N - 2 >= 0``: ``inner[b, k, m]`` is the capacity of the edge
            from node ``k`` of node layer ``b + 2`` to node ``m`` of layer ``b + 1``.
        sink: ``(P, L)`` capacities of the edges from node layer 1 into the sink.
        tol: stop when the flow is within ``tol`` of the maximum (``0``: exact termination).

    Returns:
        ``(P,)`` the maximum flow values (in ``float64`` arithmetic, returned in
        ``source.dtype``).
    """
    dtype = source.dtype
    source, inner, sink = (t.to(torch.float64) for t in (source, inner, sink))
    P, L = source.shape
    M = inner.shape[0]
    if M == 0:  # one node layer: each node passes min(in, out)
        return torch.minimum(source, sink).sum(-1).to(dtype)
    chunk = max(1, _CHUNK_ELEMENTS // (M * L * L))
    values = [
        _solve(source[s : s + chunk], inner, sink[s : s + chunk], tol)
        for s in range(0, P, chunk)
    ]
    return torch.cat(values).to(dtype) if values else source.new_zeros(0, dtype=dtype)
