"""``attend``: the survey's general attention model as one function.

Chaudhari et al. (arXiv:1904.02874, section 3, eqs. 1-3): given a query ``q_i``, keys ``k_j`` and
values ``v_j``,

.. math::

    e_{ij} = a(q_i, k_j), \\qquad \\alpha_{ij} = p(e_i)_j, \\qquad c_i = \\sum_j \\alpha_{ij} v_j

with ``a`` an alignment (score) function and ``p`` a distribution function.
"""

from __future__ import annotations

import ctypes
import functools
import math
import mmap
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.checks import (
    check_attn_bias,
    check_bool,
    check_mask,
    check_probability,
    check_tensor,
)
from attnlab.core.distributions import Distribution, is_plain_softmax, resolve_distribution
from attnlab.core.masks import causal_mask
from attnlab.core.output import AttentionOutput
from attnlab.core.scores import Score

__all__ = ["attend", "dot_product_attention"]

ScoreFn = Callable[[Tensor, Tensor], Tensor]


# Score buffers of at least this many bytes are advised onto transparent huge pages (CPU, Linux),
# as torch does for all its large buffers only when THP_MEM_ALLOC_ENABLE=1 is set. A fresh
# (B, H, Lq, Lk) buffer is first touched by the score matmul, and with 4 KiB pages every page
# costs a fault: at B=4, H=8, L=1024 (128 MiB) about 30 ms on a 2-core machine, as long as the
# score matmul itself, against under 1 ms with 2 MiB pages. Everything else in the weights path
# already matches nn.MultiheadAttention's native kernel, so this is where the speed-up comes from.
# 32 MiB is above glibc's largest mmap threshold, so such buffers are always private mappings.
_HUGE_PAGE_MIN_BYTES = 32 * 2**20


@functools.cache
def _madvise_huge_pages() -> Callable[[int, int], None] | None:
    """``advise(address, nbytes)`` marking memory for transparent huge pages, or ``None``."""
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if not sys.platform.startswith("linux") or advice is None:
        return None
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    page = mmap.PAGESIZE

    def advise(address: int, nbytes: int) -> None:
        start = -(-address // page) * page
        stop = (address + nbytes) // page * page
        if stop > start:
            # A refusal (huge pages disabled, ...) only loses the speed-up: the return is ignored.
            madvise(start, stop - start, advice)

    return advise


def _empty_scores(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """An uninitialised score buffer; large CPU buffers are advised onto huge pages."""
    out = torch.empty(shape, dtype=like.dtype, device=like.device)
    nbytes = out.numel() * out.element_size()
    if (
        out.device.type == "cpu"
        and nbytes >= _HUGE_PAGE_MIN_BYTES
        and not torch.compiler.is_compiling()
    ):
        advise = _madvise_huge_pages()
        if advise is not None:
            advise(out.data_ptr(), nbytes)
    return out


def _empty_rows(valid_row: Tensor) -> Tensor | None:
    """``~valid_row``, or ``None`` when every row has a key.

    Only checked eagerly on CPU, where it costs no device sync; on accelerators and under
    ``torch.compile`` (where it would break the graph) the rows are always fixed up, which is
    correct either way.
    """
    if (
        valid_row.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and bool(valid_row.all())
    ):
        return None
    return ~valid_row


def _additive_mask(
    mask: Tensor | None, attn_bias: Tensor | None, dtype: torch.dtype
) -> Tensor | None:
    """``attn_bias`` (or 0) where ``mask`` allows, ``-inf`` elsewhere: the mask converted once."""
    if mask is None:
        return None if attn_bias is None else attn_bias.to(dtype)
    if attn_bias is None:
        additive = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        return additive.masked_fill_(~mask, -math.inf)
    return torch.where(mask, attn_bias.to(dtype), -math.inf)


def _fold_to_3d(x: Tensor, lead: tuple[int, ...]) -> Tensor | None:
    """``x`` broadcastable to ``(*lead, Li, Lj)`` as ``(N|1, Li|1, Lj)``, or ``None`` if that
    would copy a tensor of the score size (then it is added after the matmul instead)."""
    x = x.reshape((1,) * (len(lead) + 2 - x.dim()) + tuple(x.shape))
    x_lead = tuple(x.shape[:-2])
    n = math.prod(lead)  # explicit, not -1: a reshape of 0 elements cannot infer it
    if all(s == 1 for s in x_lead):
        return x.reshape(1, *x.shape[-2:])
    if x_lead == lead:
        return x.reshape(n, *x.shape[-2:])
    if x.shape[-2] == 1:  # one row per item (a key padding mask): a small copy
        return x.expand(*lead, 1, x.shape[-1]).reshape(n, 1, x.shape[-1])
    return None


def _weights_no_grad(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    additive: Tensor | None,
    empty: Tensor | None,
    dropout: float,
) -> tuple[Tensor, Tensor]:
    """The weights path when nothing needs a gradient, in place in the returned buffers.

    One batched matmul writes the scaled scores (with ``additive`` folded in) straight into the
    weights buffer, the softmax runs in place, and a second batched matmul gives the context: no
    temporary of the score size is created. All heads go through one call per step (strided
    per-head views are copied once, which is small next to the scores): a loop over batch items
    was no faster on an idle machine and much slower on a busy one, where every extra parallel
    region waits for descheduled threads.
    """
    lead = tuple(q.shape[:-2])
    n = math.prod(lead)  # explicit, not -1: empty batches and sequences must reshape too
    q_len, k_len, v_dim = q.shape[-2], k.shape[-2], v.shape[-1]
    weights = _empty_scores((*lead, q_len, k_len), q)
    scores = weights.view(n, q_len, k_len)  # (n, i, j)
    q3 = q.reshape(n, q_len, q.shape[-1])  # (n, i, d)
    k_t = k.reshape(n, k_len, k.shape[-1]).transpose(1, 2)  # (n, d, j)
    folded = None if additive is None else _fold_to_3d(additive, lead)
    if folded is not None:
        torch.baddbmm(folded, q3, k_t, alpha=scale, out=scores)
    else:
        torch.baddbmm(scores, q3, k_t, beta=0.0, alpha=scale, out=scores)
        if additive is not None:
            weights.add_(additive)
    torch.softmax(scores, dim=-1, out=scores)
    if empty is not None:
        weights.masked_fill_(empty, 0.0)
    attn = F.dropout(scores, p=dropout) if dropout > 0 else scores
    context = torch.bmm(attn, v.reshape(n, k_len, v_dim))  # (n, i, d)
    return context.view(*lead, q_len, v_dim), weights


def dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    scale: float,
    mask: Tensor | None = None,
    attn_bias: Tensor | None = None,
    dropout: float = 0.0,
    need_weights: bool = True,
    causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Softmax attention of ``scale * q k^T`` on already validated tensors.

    The shared kernel of every dot-product family, single-head ``(B, L, D)`` and multi-head
    ``(B, H, L, D)``: scaled dot-product attention (Vaswani et al., "Attention Is All You Need",
    arXiv:1706.03762, eq. 1),

    .. math:: \\operatorname{softmax}(s\\, Q K^\\top + \\text{bias}) V

    with exact zeros at masked keys and zero rows (zero context, finite gradients) for queries
    with no valid key.

    * ``need_weights=False``: one call to ``F.scaled_dot_product_attention``. ``causal`` becomes
      ``is_causal`` when ``Lq == Lk`` and there is no other mask or bias; otherwise it is folded
      into the mask. Rows with no valid key are opened to every key for the kernel (so no backend
      can produce NaN) and their context is zeroed afterwards. A boolean mask is passed as it is:
      on the torch 2.13 CPU build the flash kernel runs with either mask form, and a bool mask
      costs the same as a float mask converted beforehand.
    * ``need_weights=True``: one matmul (scale and mask folded in), one softmax, one matmul. The
      mask is converted once to an additive ``0 / -inf`` tensor (with ``attn_bias`` added);
      rows with no valid key are normalised over all keys and then zeroed, which gives the same
      weights as :func:`attnlab.core.masks.masked_softmax`. When no input needs a gradient
      (``torch.no_grad``, ``torch.inference_mode`` or frozen inputs), everything happens in place
      in the returned buffers; otherwise the autograd-friendly form runs.

    Args:
        q: ``(..., Lq, D)`` queries (already projected).
        k: ``(..., Lk, D)`` keys.
        v: ``(..., Lk, Dv)`` values.
        scale: the factor ``s`` of the scores, e.g. ``D ** -0.5``.
        mask: boolean, ``True`` = may attend, broadcastable to ``(..., Lq, Lk)``.
        attn_bias: additive float bias broadcastable to ``(..., Lq, Lk)``. Keep it finite; use
            ``mask`` to exclude keys (a row whose keys are all ``-inf`` has no distribution).
        dropout: dropout probability on the weights (the returned weights are pre-dropout).
        need_weights: return the weights, or ``None`` and use the fused kernel.
        causal: also forbid query ``i`` to see key ``j > i + Lk - Lq``
            (see :func:`attnlab.core.masks.causal_mask`).

    Returns:
        ``(context (..., Lq, Dv), weights (..., Lq, Lk) or None)``. The context may be a
        strided view (the CPU flash kernel writes ``(B, Lq, H, Dv)`` memory).

    Example:
        >>> import torch
        >>> q, k, v = torch.randn(2, 4, 3, 8), torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8)
        >>> mask = torch.tensor([[True] * 5, [True, True, False, False, False]])[:, None, None]
        >>> context, weights = dot_product_attention(q, k, v, scale=8 ** -0.5, mask=mask)
        >>> context.shape, weights.shape, bool(weights[1, ..., 2:].eq(0).all())
        (torch.Size([2, 4, 3, 8]), torch.Size([2, 4, 3, 5]), True)
    """
    q_len, k_len = q.shape[-2], k.shape[-2]
    is_causal = False
    if causal:
        if not need_weights and mask is None and attn_bias is None and q_len == k_len:
            is_causal = True
        else:
            allowed = causal_mask(q_len, k_len, device=q.device)
            mask = allowed if mask is None else mask & allowed
    empty = None
    if mask is not None:
        empty = _empty_rows(mask.any(dim=-1, keepdim=True))
        if empty is not None:
            mask = mask | empty  # open rows with no valid key; they are zeroed below
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (q, k, v, attn_bias)
    )

    if not need_weights:
        attn_mask = mask
        if attn_bias is not None:
            bias = attn_bias.to(q.dtype)
            attn_mask = bias if mask is None else torch.where(mask, bias, -math.inf)
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=dropout, is_causal=is_causal, scale=scale
        )
        if empty is not None:
            context = (
                context.masked_fill(empty, 0.0) if needs_grad else context.masked_fill_(empty, 0.0)
            )
        return context, None

    additive = _additive_mask(mask, attn_bias, q.dtype)
    if not needs_grad and q.shape[:-2] == k.shape[:-2] == v.shape[:-2] and q.dim() >= 3:
        return _weights_no_grad(q, k, v, scale, additive, empty, dropout)

    scores = torch.matmul(q * scale, k.transpose(-2, -1))  # (..., i, j)
    if additive is not None:
        # in place: matmul does not keep its output for the backward pass
        if torch.broadcast_shapes(scores.shape, additive.shape) == scores.shape:
            scores = scores.add_(additive)
        else:
            scores = scores + additive
    weights = torch.softmax(scores, dim=-1)
    if empty is not None:
        weights = weights.masked_fill(empty, 0.0)  # softmax keeps its output: not in place
    attn = F.dropout(weights, p=dropout) if dropout > 0 else weights
    context = torch.matmul(attn, v)  # (..., i, d)
    return context, weights


def attend(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    score: Score | ScoreFn,
    distribution: str | Distribution = "softmax",
    mask: Tensor | None = None,
    attn_bias: Tensor | None = None,
    dropout: float = 0.0,
    need_weights: bool = True,
) -> AttentionOutput:
    """Attend from ``query`` over ``key``/``value`` with any score and distribution.

    Args:
        query: ``(B, Lq, Dq)``.
        key: ``(B, Lk, Dk)``.
        value: ``(B, Lk, Dv)``.
        score: an alignment function ``(query, key) -> (B, Lq, Lk)``, usually a
            :class:`~attnlab.core.scores.Score` module.
        distribution: a name (``"softmax"``, ``"sparsemax"``, ``"entmax15"``, ``"gumbel"``, ...)
            or a callable ``(scores, mask) -> weights``.
        mask: boolean, ``True`` = may attend; ``(B, Lk)``, ``(B, Lq, Lk)`` or ``(1, Lq, Lk)``.
        attn_bias: additive float bias ``(Lq, Lk)`` or ``(B, Lq, Lk)``, added to the scores.
        dropout: dropout on the weights (pass 0 at evaluation; modules do this for you).
        need_weights: when ``False`` and the score factorises as a dot product under a plain
            softmax, the fused ``F.scaled_dot_product_attention`` kernel runs and ``weights`` is
            ``None``.

    Returns:
        :class:`AttentionOutput` with ``context (B, Lq, Dv)`` and ``weights (B, Lq, Lk)``.

    Example:
        >>> import torch
        >>> from attnlab.core.scores import Score
        >>> class Dot(Score):
        ...     def forward(self, q, k):
        ...         return q @ k.transpose(-2, -1)
        >>> q, kv = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
        >>> out = attend(q, kv, kv, score=Dot(), mask=torch.ones(2, 5, dtype=torch.bool))
        >>> out.context.shape, out.weights.shape
        (torch.Size([2, 3, 4]), torch.Size([2, 3, 5]))
    """
    check_tensor(query, "query", ndim=3, layout="(B, Lq, Dq)",
                 like=("", score) if isinstance(score, nn.Module) else None)
    check_tensor(key, "key", ndim=3, layout="(B, Lk, Dk)", like=("query", query))
    check_tensor(value, "value", ndim=3, layout="(B, Lk, Dv)", like=("query", query))
    batch, q_len, k_len = query.shape[0], query.shape[1], key.shape[1]
    if key.shape[0] != batch or value.shape[0] != batch:
        raise ValueError(
            "query, key and value must have the same batch size, got "
            f"{batch}, {key.shape[0]} and {value.shape[0]}"
        )
    if value.shape[1] != k_len:
        raise ValueError(
            f"key and value must have the same length Lk, got {k_len} and {value.shape[1]}"
        )
    check_probability(dropout, "dropout")
    check_bool(need_weights, "need_weights")
    if mask is not None:
        mask = check_mask(mask, batch=batch, q_len=q_len, k_len=k_len, like=("query", query))
    if attn_bias is not None:
        attn_bias = check_attn_bias(
            attn_bias, batch=batch, q_len=q_len, k_len=k_len, like=("query", query)
        )
    dist = resolve_distribution(distribution)
    if not callable(score):
        raise TypeError(
            f"score must be callable (query, key) -> scores, got {type(score).__name__}"
        )

    temperature = is_plain_softmax(dist)
    factors = score.factorize(query, key) if isinstance(score, Score) else None
    if factors is not None and temperature is not None:
        q, k, scale = factors
        context, weights = dot_product_attention(
            q,
            k,
            value,
            scale=scale / temperature,
            mask=mask,
            attn_bias=attn_bias,
            dropout=dropout,
            need_weights=need_weights,
        )
        return AttentionOutput(context, weights)

    scores = score(query, key)
    if not isinstance(scores, Tensor) or tuple(scores.shape) != (batch, q_len, k_len):
        got = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"score must return scores of shape (B, Lq, Lk) = "
                         f"({batch}, {q_len}, {k_len}), got {got}")
    if attn_bias is not None:
        scores = scores + attn_bias
    weights = dist(scores, mask)
    attn = F.dropout(weights, p=dropout) if dropout > 0 else weights
    context = torch.bmm(attn, value)  # (b, i, d)
    return AttentionOutput(context, weights)
