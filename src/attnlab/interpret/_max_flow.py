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

Cost. Every problem needs its own flow state over all ``(N - 2) L^2`` interior edges: the
pairwise maximum flows of a directed graph have no shared summary (no cut tree as for undirected
graphs), and cheap certificates settle few pairs. The end cuts (the source's out-capacity, the
sink's in-capacity) bound every flow, but flows built without a solver (proportional splits as
in rollout, matrix scaling of one block between a forward and a backward split) do not reach
them, because the residual connection keeps both ends concentrated on the diagonal. So a round
costs ``O(P N L^2)`` and a full matrix ``O(R N L^4)``, ``R`` rounds (20-45 at ``L = 128``).
A round is a few dozen memory-bound tensor passes over the ``(P, N - 2, L, L)`` state, so the
passes write into buffers kept for the whole chunk (a fresh ``(P, L, L)`` temporary per operation
costs more than the operation on one CPU thread), the distance search adds float32 penalties
instead of masking, admissibility masks are built in float64 without bool conversions, and
finished problems are dropped only once a quarter of a chunk is done. Measured on one CPU thread
(float64, ``L = 128``, six layers, eight heads; a shared two-core machine, busy with other jobs):
random softmax attention (scores times 2) 1.3-1.8 s per output row of 128 problems and 195 s
wall clock (180 s CPU) for the full 128 x 128 matrix, against 2.2-2.8 s per row and 326 s (311 s
CPU) for the previous version of this module run back to back (the same values, bit for bit);
attention that decays with distance plus a shared first position (interior minimum cuts, more
rounds) 3.6-4.0 s per row against 5.9 s. With the machine busier still, wall clock reached three
times the CPU time (574 s for the full matrix). networkx's ``maximum_flow_value`` takes about
0.75 s per problem.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["layered_max_flow"]

_CHUNK_ELEMENTS = 1 << 23
"""Problems per chunk: about this many flow entries (``P * M * L * L``) at once."""


class _Workspace:
    """Scratch tensors of one chunk, reused every round: allocating a fresh ``(P, L, L)``
    temporary per operation costs more than the operation itself on one CPU thread."""

    def __init__(self, P: int, M: int, L: int, device: torch.device) -> None:
        self.blocked = torch.empty(P, M, L, L, dtype=torch.bool, device=device)
        self.penalty_down = torch.empty(P, M, L, L, dtype=torch.float32, device=device)
        self.penalty_up = torch.empty(P, M, L, L, dtype=torch.float32, device=device)
        self.via = torch.empty(P, L, L, dtype=torch.float32, device=device)
        self.adm_down = torch.empty(P, L, L, dtype=torch.float64, device=device)
        self.adm_up = torch.empty(P, L, L, dtype=torch.float64, device=device)
        self.saturated = torch.empty(P, L, L, dtype=torch.bool, device=device)
        self.r_down = torch.empty(P, L, L, dtype=torch.float64, device=device)
        self.r_up = torch.empty(P, L, L, dtype=torch.float64, device=device)


def _distances(
    C: Tensor, F: Tensor, sink: Tensor, unreachable: float, work: _Workspace
) -> Tensor:
    """Exact residual distances to the sink, ``(P, M + 1, L)`` (float32, small integers);
    ``unreachable`` where none.

    Residual edges: down from node ``k`` of layer index ``b + 1`` to ``m`` of index ``b`` where
    ``F[p, b, k, m] < C[b, k, m]``; up from ``m`` (index ``b``) to ``k`` (index ``b + 1``) where
    ``F[p, b, k, m] > 0``; into the sink from ``k`` (index 0) where ``sink[p, k]``. A missing edge
    is a penalty of ``unreachable`` added to the distance across it.
    """
    P, M, L, _ = F.shape
    blocked = work.blocked.view(torch.uint8)  # converts to float faster than bool does
    torch.ge(F, C, out=work.blocked)  # no residual down edge
    work.penalty_down.copy_(blocked).mul_(unreachable)
    torch.le(F, 0, out=work.blocked)  # no residual up edge
    work.penalty_up.copy_(blocked).mul_(unreachable)
    d = torch.full((P, M + 1, L), unreachable, dtype=torch.float32, device=F.device)
    d[:, 0] = torch.where(sink, 1.0, unreachable)
    while True:
        before = d.clone()
        for b in range(M):  # upward sweep: through down edges to the layer below
            via = torch.add(work.penalty_down[:, b], d[:, b].unsqueeze(-2), out=work.via)
            torch.minimum(d[:, b + 1], via.amin(-1).add_(1), out=d[:, b + 1])
        for b in range(M - 1, -1, -1):  # downward sweep: through up edges to the layer above
            via = torch.add(work.penalty_up[:, b], d[:, b + 1].unsqueeze(-1), out=work.via)
            torch.minimum(d[:, b], via.amin(-2).add_(1), out=d[:, b])
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
    work: _Workspace,
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
        # 1.0 where h(k) = h(m) + 1, else 0.0 (in place, no bool-to-float conversion)
        adm_down = torch.sub(h[:, t].unsqueeze(-1), h[:, t - 1].unsqueeze(-2),
                             out=work.adm_down).eq_(1.0)
        r_down = torch.sub(C[t - 1], F[:, t - 1], out=work.r_down).mul_(adm_down)
        total += r_down.sum(-1)
    else:  # into the sink
        adm_sink = h[:, 0] == 1
        r_sink = torch.where(adm_sink, sink - to_sink, 0.0)
        total += r_sink
    if t < top:  # up edges: the reverse of block t's flow, (p, k in t + 1, m in t)
        adm_up = torch.sub(h[:, t].unsqueeze(-2), h[:, t + 1].unsqueeze(-1),
                           out=work.adm_up).eq_(1.0)
        r_up = torch.mul(F[:, t], adm_up, out=work.r_up)
        total += r_up.sum(-2)
    full = act & (total <= ex)  # the node saturates every admissible edge
    share = torch.where(full, 1.0, ex / torch.where(total > 0, total, 1.0))
    excess[:, t] = torch.where(
        full, (excess[:, t] - total).clamp(min=0), torch.where(act, 0.0, excess[:, t])
    )
    any_full = bool(full.any())
    if t >= 1:
        push = r_down.mul_(share.unsqueeze(-1))
        excess[:, t - 1] += push.sum(-2)
        block = F[:, t - 1]
        block.add_(push)
        if any_full:  # a saturating push leaves exactly the capacity: no rounding residue
            saturated = torch.gt(adm_down.mul_(full.unsqueeze(-1)), 0.0, out=work.saturated)
            torch.where(saturated, C[t - 1], block, out=block)
    else:
        push_sink = r_sink * share
        to_sink = torch.where(adm_sink & full, sink, to_sink + push_sink)
        value = value + push_sink.sum(-1)
    if t < top:
        push = r_up.mul_(share.unsqueeze(-2))
        excess[:, t + 1] += push.sum(-1)
        block = F[:, t]
        block.sub_(push)
        if any_full:  # exactly empty
            block.masked_fill_(torch.gt(adm_up.mul_(full.unsqueeze(-2)), 0.0,
                                        out=work.saturated), 0.0)
    return to_sink, value


def _solve(source: Tensor, inner: Tensor, sink: Tensor, tol: float) -> Tensor:
    """Push-relabel on one chunk: ``source (P, L)``, ``inner (M, L, L)``, ``sink (P, L)``."""
    P, L = source.shape
    M = inner.shape[0]
    V = float((M + 1) * L + 2)
    C = inner.contiguous()  # (m, k, l), shared by the problems
    F = torch.zeros(P, M, L, L, dtype=source.dtype, device=source.device)
    work = _Workspace(P, M, L, source.device)
    to_sink = torch.zeros_like(sink)
    excess = torch.zeros(P, M + 1, L, dtype=source.dtype, device=source.device)
    excess[:, -1] = source  # the source's edges are saturated at the start
    value = torch.zeros(P, dtype=source.dtype, device=source.device)
    bound = torch.minimum(source.sum(-1), sink.sum(-1))  # the source's and the sink's cuts
    result = torch.zeros(P, dtype=source.dtype, device=source.device)
    alive = torch.arange(P, device=source.device)
    finished = torch.zeros(P, dtype=torch.bool, device=source.device)
    max_rounds = int(4 * V * V)  # push-relabel needs O(V^2) rounds of pushes at most
    for round_ in range(max_rounds):
        h = _distances(C, F, sink > to_sink, V, work).to(torch.float64)
        active = (excess > 0) & (h < V)
        done = (torch.where(active, excess, 0).sum((1, 2)) <= tol) | (value >= bound - tol)
        done &= ~finished
        if bool(done.any()):
            result[alive[done]] = value[done]
            excess[done] = 0  # nothing left to push: a finished problem stays as it is
            finished |= done
            if bool(finished.all()):
                return result
            if 4 * int(finished.sum()) >= finished.numel():  # copying the state costs a round
                keep = ~finished
                alive, F, to_sink, excess, value, bound, h, sink, finished = (
                    t[keep]
                    for t in (alive, F, to_sink, excess, value, bound, h, sink, finished)
                )
                work = _Workspace(F.shape[0], M, L, source.device)
        # one sweep through the layers, top-down and bottom-up in turn: a layer pushes what it
        # received earlier in the same sweep, so excess crosses every layer in one round
        layers = range(M, -1, -1) if round_ % 2 == 0 else range(M + 1)
        for t in layers:
            to_sink, value = _push_layer(t, C, F, h, excess, sink, to_sink, value, V, work)
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
