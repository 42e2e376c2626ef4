"""Fast paths of :func:`attnlab.core.attend.dot_product_attention`.

:mod:`attnlab.core.attend` states scaled dot-product attention as its equation; this module holds
the ways of computing the same result faster, each taken only where it gives the same values
(up to floating-point rounding) as the equation:

* ``need_weights=False``: one call to ``F.scaled_dot_product_attention`` (the fused kernels);
* weights requested but no input needs a gradient (``torch.no_grad``, ``torch.inference_mode``,
  frozen inputs): everything in place in the returned buffers, with the scale and the mask folded
  into one batched matmul and large CPU score buffers advised onto transparent huge pages.

With weights and a gradient to compute, :func:`fast_dot_product_attention` returns ``None`` and
the equation itself runs. The measured gains are in BENCHMARKS.md.
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
from torch import Tensor

from attnlab.core.masks import additive_mask

__all__ = ["fast_dot_product_attention", "softmax_scores_in_place"]

# Score buffers of at least this many bytes are advised onto transparent huge pages (CPU, Linux),
# as torch does for all its large buffers only when THP_MEM_ALLOC_ENABLE=1 is set: a fresh
# (B, H, Lq, Lk) buffer is first touched by the score matmul, and with 4 KiB pages every page
# costs a fault. 32 MiB is above glibc's largest mmap threshold, so such buffers are always
# private mappings.
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


def softmax_scores_in_place(
    q: Tensor, k: Tensor, scale: float, additive: Tensor | None, empty: Tensor | None
) -> Tensor:
    """``softmax(q k^T * scale + additive)`` with ``empty`` rows zeroed, ``(*lead, i, j)``,
    written into one fresh buffer when nothing needs a gradient.

    One batched matmul writes the scaled scores (with ``additive`` folded in) straight into the
    weights buffer and the softmax runs in place: no temporary of the score size is created.
    ``q`` is ``(*lead, i, d)`` and ``k`` ``(*lead, j, d)`` with the same leading dimensions.
    """
    lead = tuple(q.shape[:-2])
    n = math.prod(lead)  # explicit, not -1: empty batches and sequences must reshape too
    q_len, k_len = q.shape[-2], k.shape[-2]
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
    return weights


def _weights_in_place(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    additive: Tensor | None,
    empty: Tensor | None,
    dropout: float,
) -> tuple[Tensor, Tensor]:
    """The weights path when nothing needs a gradient, in place in the returned buffers.

    :func:`softmax_scores_in_place` gives the weights, then a second batched matmul gives the
    context. All heads go through one call per step (strided per-head views are copied once,
    which is small next to the scores): a loop over batch items was no faster on an idle machine
    and much slower on a busy one, where every extra parallel region waits for descheduled
    threads.
    """
    lead = tuple(q.shape[:-2])
    n = math.prod(lead)
    q_len, k_len, v_dim = q.shape[-2], k.shape[-2], v.shape[-1]
    weights = softmax_scores_in_place(q, k, scale, additive, empty)
    scores = weights.view(n, q_len, k_len)
    attn = F.dropout(scores, p=dropout) if dropout > 0 else scores
    context = torch.bmm(attn, v.reshape(n, k_len, v_dim))  # (n, i, d)
    return context.view(*lead, q_len, v_dim), weights


def fast_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    scale: float,
    mask: Tensor | None,
    attn_bias: Tensor | None,
    empty: Tensor | None,
    dropout: float,
    need_weights: bool,
    is_causal: bool,
) -> tuple[Tensor, Tensor | None] | None:
    """``(context, weights)`` by a fast path, or ``None`` when the equation must run.

    The arguments are those of :func:`~attnlab.core.attend.dot_product_attention` after its mask
    preparation: ``mask`` already holds the causal pattern (unless ``is_causal`` leaves it to the
    fused kernel) and is open on the rows listed in ``empty``, whose outputs are zeroed here.
    """
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (q, k, v, attn_bias)
    )
    if not need_weights:
        # A boolean mask is passed as it is: on the torch 2.13 CPU build the flash kernel runs
        # with either mask form, and a boolean mask costs the same as a float one made here.
        attn_mask = mask if attn_bias is None else additive_mask(mask, attn_bias, q.dtype)
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=dropout, is_causal=is_causal, scale=scale
        )
        if empty is not None:  # rows opened for the kernel: zero context
            context = (
                context.masked_fill(empty, 0.0) if needs_grad else context.masked_fill_(empty, 0.0)
            )
        return context, None
    if needs_grad or not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2] and q.dim() >= 3):
        return None
    additive = additive_mask(mask, attn_bias, q.dtype)
    return _weights_in_place(q, k, v, scale, additive, empty, dropout)
