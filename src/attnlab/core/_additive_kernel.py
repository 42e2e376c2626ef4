"""Bounded-memory evaluation of additive-type scores (``v^T f(W q_i + U k_j)``).

The scores of :mod:`attnlab.core.scores` state the formulas; this module holds the kernels that
evaluate them without the ``(B, Lq, Lk, H)`` tensor a literal implementation broadcasts to
(``4 B Lq Lk H`` bytes in float32: 2 GiB at B=32, Lq=Lk=256, H=256), which autograd would also
keep for the backward pass.

* :func:`additive_scores` (one ``tanh`` layer: :class:`~attnlab.core.scores.AdditiveScore`,
  :class:`~attnlab.core.scores.ConcatScore`) walks over tiles of ``(batch, query, key)``
  positions whose ``(nb, ni, nj, H)`` pre-activation fits in ``chunk_bytes``, re-using one tile
  buffer, and its backward pass recomputes each tile instead of storing it. Extra memory is one
  tile plus the ``(B, Lq, Lk)`` scores, in the forward and the backward pass.
* :func:`checkpointed_row_chunks` (any stack of layers: :class:`~attnlab.core.scores.DeepScore`)
  evaluates blocks of query rows under activation checkpointing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable
from torch.utils.checkpoint import checkpoint

from attnlab.core.checks import check_dim, check_same_batch, check_size, check_tensor

__all__ = ["additive_scores", "checkpointed_row_chunks", "default_chunk_bytes"]


def default_chunk_bytes(device: torch.device) -> int:
    """The tile budget used when ``chunk_bytes=None``.

    * CPU: 4 MiB. The tile then stays in cache between the few element-wise passes made over
      it, and it is large enough to keep Python overhead small (at B=32, Lq=Lk=H=256 in float32:
      512 tiles of 16 query rows).
    * other devices: 256 MiB, to keep the number of kernel launches small.
    """
    return 4 << 20 if device.type == "cpu" else 256 << 20


def _tile_shape(
    batch: int, q_len: int, k_len: int, hidden: int, itemsize: int, chunk_bytes: int
) -> tuple[int, int, int]:
    """Tile ``(nb, ni, nj)`` with ``nb * ni * nj * hidden * itemsize <= chunk_bytes``.

    Whole key rows first, then as many query rows as fit, then whole batch elements; keys are
    split only when one query row alone exceeds the budget. The tile never drops below one
    ``(b, i, j)`` triple, so the budget is exceeded only when ``hidden * itemsize`` is.
    """
    budget = max(1, chunk_bytes // (max(hidden, 1) * itemsize))  # (b, i, j) triples per tile
    # Every side is at least 1, also for empty inputs (B, Lq or Lk = 0), which get no tile.
    nj = max(1, min(k_len, budget))
    ni = max(1, min(q_len, budget // nj))
    nb = max(1, min(batch, budget // (ni * nj)))
    return nb, ni, nj


def _tiles(
    batch: int, q_len: int, k_len: int, tile: tuple[int, int, int]
) -> list[tuple[slice, slice, slice]]:
    nb, ni, nj = tile
    return [
        (
            slice(b0, min(b0 + nb, batch)),
            slice(i0, min(i0 + ni, q_len)),
            slice(j0, min(j0 + nj, k_len)),
        )
        for b0 in range(0, batch, nb)
        for i0 in range(0, q_len, ni)
        for j0 in range(0, k_len, nj)
    ]


def _sigmoid_tile(
    buffer: Tensor, q2: Tensor, k2: Tensor, sb: slice, si: slice, sj: slice
) -> Tensor:
    """``sigmoid(2 (q_i + k_j))`` for one tile, written into ``buffer``: ``(nb, ni, nj, H)``.

    While tracing (``torch.compile``, ``torch.export``) the tile is a new tensor instead: an
    ``out=`` operation is not differentiable, so a traced forward pass holding one could not be
    run with gradients (an exported program differentiates its graph's operations), and the
    compiler plans its own buffers. Eager mode keeps the re-used buffer: on CPU (one thread) a
    new tensor per tile made the forward pass 1.2x to 1.5x and forward + backward 1.4x to 2.7x
    slower (B=32, H=256, Lq=Lk=64 and 256).
    """
    q_tile, k_tile = q2[sb, si], k2[sb, sj]
    if torch.compiler.is_compiling():
        return (q_tile.unsqueeze(2) + k_tile.unsqueeze(1)).sigmoid()  # (b, i, j, h)
    shape = (q_tile.shape[0], q_tile.shape[1], k_tile.shape[1], q_tile.shape[2])
    t = buffer[: math.prod(shape)].view(shape)
    torch.add(q_tile.unsqueeze(2), k_tile.unsqueeze(1), out=t)  # (b, i, j, h)
    return t.sigmoid_()


def _doubled_inputs(
    query_proj: Tensor, key_proj: Tensor, chunk_bytes: int
) -> tuple[Tensor, Tensor, tuple[int, int, int], Tensor]:
    """``2 q``, ``2 k`` (contiguous), the tile shape and a buffer of one tile."""
    q2 = (2.0 * query_proj).contiguous()
    k2 = (2.0 * key_proj).contiguous()
    batch, q_len, hidden = q2.shape
    tile = _tile_shape(batch, q_len, k2.shape[1], hidden, q2.element_size(), chunk_bytes)
    buffer = q2.new_empty(math.prod(tile) * hidden)  # one tile, re-used for every tile
    return q2, k2, tile, buffer


class _AdditiveScores(torch.autograd.Function):
    """``e_bij = v . tanh(q_bi + k_bj)`` tile by tile, with a recomputing backward pass.

    ``tanh(x) = 2 sigmoid(2x) - 1`` exactly, so with ``S = sigmoid(2 (q + k))``:

    * forward: ``e = (2 v) . S - sum(v)``;
    * backward, with ``g = dL/de`` and ``tanh' = 1 - tanh^2 = 4 S (1 - S)``:
      ``dL/dq_bi = 4 v * sum_j g_bij S(1-S)_bij``, ``dL/dk_bj = 4 v * sum_i g_bij S(1-S)_bij``,
      ``dL/dv = 2 sum_bij g_bij S_bij - sum_bij g_bij``.

    The sigmoid form is used because PyTorch's CPU sigmoid is faster than its tanh (the figure is
    in BENCHMARKS.md); the two agree to within a few float32 ulps (absolute error <= 2e-7 in
    float32).
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx, query_proj: Tensor, key_proj: Tensor, v: Tensor, chunk_bytes: int
    ) -> Tensor:
        q2, k2, tile, buffer = _doubled_inputs(query_proj, key_proj, chunk_bytes)
        batch, q_len, k_len = q2.shape[0], q2.shape[1], k2.shape[1]
        scores = q2.new_empty(batch, q_len, k_len)
        v2 = 2.0 * v
        for sb, si, sj in _tiles(batch, q_len, k_len, tile):
            s = _sigmoid_tile(buffer, q2, k2, sb, si, sj)
            scores[sb, si, sj] = torch.matmul(s, v2)  # (b, i, j)
        scores.sub_(v.sum())
        ctx.save_for_backward(query_proj, key_proj, v)
        ctx.chunk_bytes = chunk_bytes  # type: ignore[attr-defined]
        return scores

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, grad_scores: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
        query_proj, key_proj, v = ctx.saved_tensors
        need_q, need_k, need_v = ctx.needs_input_grad[:3]
        q2, k2, tile, buffer = _doubled_inputs(query_proj, key_proj, ctx.chunk_bytes)
        batch, q_len, hidden = q2.shape
        g = grad_scores.contiguous()
        grad_q = torch.zeros_like(q2) if need_q else None
        grad_k = torch.zeros_like(k2) if need_k else None
        g_s = v.new_zeros(hidden) if need_v else None  # sum_bij g_bij S_bij
        for sb, si, sj in _tiles(batch, q_len, k2.shape[1], tile):
            s = _sigmoid_tile(buffer, q2, k2, sb, si, sj)  # recomputed, never stored
            g_tile = g[sb, si, sj]  # (b, i, j)
            if g_s is not None:
                g_s += torch.mv(s.reshape(-1, hidden).t(), g_tile.reshape(-1))
            if grad_q is None and grad_k is None:
                continue
            s.addcmul_(s, s, value=-1.0).mul_(g_tile.unsqueeze(-1))  # g S (1 - S): (b, i, j, h)
            if grad_q is not None:
                grad_q[sb, si] += s.sum(dim=2)
            if grad_k is not None:
                grad_k[sb, sj] += s.sum(dim=1)
        scale = 4.0 * v
        return (
            grad_q.mul_(scale) if grad_q is not None else None,
            grad_k.mul_(scale) if grad_k is not None else None,
            (2.0 * g_s - g.sum()) if g_s is not None else None,
            None,
        )


def additive_scores(
    query_proj: Tensor,
    key_proj: Tensor,
    v: Tensor,
    *,
    chunk_bytes: int | None = None,
) -> Tensor:
    """Additive scores ``e_bij = v^T tanh(q_bi + k_bj)`` in bounded memory.

    The kernel shared by :class:`~attnlab.core.scores.AdditiveScore` and
    :class:`~attnlab.core.scores.ConcatScore`: the inputs are the already projected queries
    (``W q_i``) and keys (``U k_j + b``). The ``(B, Lq, Lk, H)`` pre-activation is never
    materialised: tiles of at most ``chunk_bytes`` are computed into one re-used buffer, and the
    backward pass (a custom autograd function) recomputes each tile, so neither the forward nor
    the backward pass holds more than one tile beyond the inputs, the ``(B, Lq, Lk)`` scores and
    their gradient. The results equal the literal formula up to floating-point rounding (see
    :class:`_AdditiveScores` for the exact ``tanh`` identity used).

    Args:
        query_proj: ``(B, Lq, H)``, ``W q``.
        key_proj: ``(B, Lk, H)``, ``U k + b``.
        v: ``(H,)``.
        chunk_bytes: tile budget in bytes; ``None`` uses :func:`default_chunk_bytes`.

    Returns:
        ``(B, Lq, Lk)`` scores.

    Note:
        Differentiable once (no double backward).

    Example:
        >>> import torch
        >>> q, k, v = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(8)
        >>> literal = torch.tanh(q[:, :, None] + k[:, None]) @ v
        >>> torch.allclose(additive_scores(q, k, v, chunk_bytes=256), literal, atol=1e-5)
        True
    """
    check_tensor(query_proj, "query_proj", ndim=3, layout="(B, Lq, H)")
    check_tensor(key_proj, "key_proj", ndim=3, layout="(B, Lk, H)",
                 like=("query_proj", query_proj))
    check_tensor(v, "v", ndim=1, layout="(H,)", like=("query_proj", query_proj))
    check_same_batch(query_proj=query_proj, key_proj=key_proj)
    hidden = query_proj.shape[-1]
    check_dim(key_proj, -1, hidden, "key_proj", "the hidden size of query_proj")
    check_dim(v, -1, hidden, "v", "the hidden size of query_proj")
    if chunk_bytes is None:
        chunk_bytes = default_chunk_bytes(query_proj.device)
    check_size(chunk_bytes, "chunk_bytes")
    out: Tensor = _AdditiveScores.apply(query_proj, key_proj, v, chunk_bytes)
    return out


def checkpointed_row_chunks(
    fn: Callable[[Tensor, Tensor], Tensor],
    query_proj: Tensor,
    key_proj: Tensor,
    *,
    chunk_bytes: int | None,
    parameters: Iterable[nn.Parameter],
) -> Tensor:
    """``fn(query_proj, key_proj) -> (B, Lq, Lk)`` evaluated on blocks of query rows.

    ``fn`` builds ``(nb, ni, Lk, H)`` activations for a block of ``nb`` batch elements and ``ni``
    query rows; blocks are sized so those fit in ``chunk_bytes`` (``None``: per-device default)
    and run under activation checkpointing when a gradient is needed (``parameters``: the ones
    ``fn`` uses besides its inputs), so forward and backward memory is one block beyond the
    inputs and the scores. Everything fits in one block: ``fn`` runs once, as it is.
    """
    batch, q_len, hidden = query_proj.shape
    k_len = key_proj.shape[1]
    chunk_bytes = chunk_bytes or default_chunk_bytes(query_proj.device)
    # Query rows (each ``Lk x H`` activations) per chunk, then whole batch elements.
    row_bytes = k_len * hidden * query_proj.element_size()
    rows_per_chunk = max(1, chunk_bytes // row_bytes)
    ni = min(q_len, rows_per_chunk)
    nb = min(batch, max(1, rows_per_chunk // ni))
    if nb >= batch and ni >= q_len:
        return fn(query_proj, key_proj)
    recompute = torch.is_grad_enabled() and (
        query_proj.requires_grad
        or key_proj.requires_grad
        or any(p.requires_grad for p in parameters)
    )
    rows = []
    for b0 in range(0, batch, nb):
        sb = slice(b0, b0 + nb)
        for i0 in range(0, q_len, ni):
            q_chunk, k_chunk = query_proj[sb, i0 : i0 + ni], key_proj[sb]
            if recompute:
                out = checkpoint(fn, q_chunk, k_chunk, use_reentrant=False)
            else:
                out = fn(q_chunk, k_chunk)
            rows.append(out)
    # Chunks are (batch block) x (query block): concatenate queries, then batch blocks.
    per_block = -(-q_len // ni)
    blocks = [torch.cat(rows[n : n + per_block], dim=1) for n in range(0, len(rows), per_block)]
    return torch.cat(blocks, dim=0)
