"""Banded attention through FlexAttention: the fused path of sliding-window attention.

:func:`flex_sliding_window_attention` computes the context of
:func:`attnlab.mechanisms.local.sliding_window_attention` (scaled dot-product score, window
``|i - j| <= (w - 1) / 2`` or causal ``0 <= i - j < w``, optional boolean mask) with
:func:`torch.nn.attention.flex_attention.flex_attention`: the band and the mask become a block
mask, blocks outside the band are skipped, and no weight tensor is written. It is the path
:class:`~attnlab.mechanisms.local.SlidingWindowAttention` takes on CUDA when
``need_weights=False`` (``backend="auto"``), compiled once per shape.

On the CPU the blocked kernel of :mod:`attnlab.mechanisms.local` is faster, so FlexAttention is
used there only when asked for (``backend="flex"``), and then **uncompiled**: FlexAttention's
unfused implementation, with the same block mask and mask function. The compiled CPU kernel
(torch 2.13) was seen to return a zero context, nondeterministically, for queries whose window
holds exactly one valid key, so it is never used; the unfused path is exact and deterministic.

Conventions are the library's: ``mask`` is boolean, ``True`` = may attend, ``(B, Lk)`` or
``(B, Lq, Lk)``; a query with no valid key in its window gets a zero context.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor

from attnlab.core.checks import check_mask, check_size, check_tensor

__all__ = ["flex_attention_available", "flex_sliding_window_attention"]


@lru_cache(maxsize=1)
def flex_attention_available() -> bool:
    """Whether this torch build has FlexAttention (torch >= 2.5)."""
    try:
        import torch.nn.attention.flex_attention  # noqa: F401
    except ImportError:  # pragma: no cover - older torch
        return False
    return True


@lru_cache(maxsize=1)
def _compiled_flex() -> Callable[..., Tensor]:
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


def _eager_flex(q: Tensor, k: Tensor, v: Tensor, *, block_mask: Any) -> Tensor:
    from torch.nn.attention.flex_attention import flex_attention

    with warnings.catch_warnings():
        # the unfused implementation is chosen on purpose (see the module docstring)
        warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")
        return flex_attention(q, k, v, block_mask=block_mask)


def _flex_kernel(device: torch.device) -> Callable[..., Tensor]:
    """The compiled kernel on CUDA; the exact unfused implementation elsewhere."""
    return _compiled_flex() if device.type == "cuda" else _eager_flex


def flex_sliding_window_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    window_size: int,
    causal: bool = False,
    mask: Tensor | None = None,
) -> Tensor:
    """Context of banded scaled dot-product attention, computed by FlexAttention.

    Equal to ``sliding_window_attention(query, key, value, window_size=w, causal=causal,
    mask=mask).context``.

    Args:
        query: ``(B, Lq, D)`` or ``(B, H, Lq, D)``.
        key: ``(B, Lk, D)`` or ``(B, H, Lk, D)``.
        value: ``(B, Lk, Dv)`` or ``(B, H, Lk, Dv)``.
        window_size: ``w``, keys per query (odd unless ``causal``).
        causal: look back only (``0 <= i - j < w``).
        mask: boolean, ``True`` = may attend; ``(B, Lk)`` or ``(B, Lq, Lk)`` (shared by heads).

    Returns:
        The context, shaped like ``query`` with ``Dv`` features.

    Example:
        >>> import torch
        >>> x = torch.randn(1, 8, 4)
        >>> flex_sliding_window_attention(x, x, x, window_size=3).shape  # doctest: +SKIP
        torch.Size([1, 8, 4])
    """
    from torch.nn.attention.flex_attention import create_block_mask

    if not isinstance(query, Tensor):
        raise TypeError(f"query must be a Tensor, got {type(query).__name__}")
    heads = query.dim() == 4
    ndim, layout = (4, "(B, H, L, D)") if heads else (3, "(B, L, D)")
    q = check_tensor(query, "query", ndim=ndim, layout=layout)
    k = check_tensor(key, "key", ndim=ndim, layout=layout, like=("query", q))
    v = check_tensor(value, "value", ndim=ndim, layout=layout, like=("query", q))
    if not heads:
        q, k, v = q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"query and key must have the same feature size, got {q.shape[-1]} and {k.shape[-1]}"
        )
    window = check_size(window_size, "window_size")
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    if not causal and window % 2 == 0:
        raise ValueError(f"window_size must be odd when causal=False, got {window}")
    batch, q_len, k_len = q.shape[0], q.shape[2], k.shape[2]
    keep = None
    if mask is not None:
        keep = check_mask(mask, batch=batch, q_len=q_len, k_len=k_len, like=("query", q))
        keep = keep.expand(batch, q_len, k_len)
    half = window // 2

    def band(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
        if causal:
            inside = (q_idx >= kv_idx) & (q_idx - kv_idx < window)
        else:
            inside = (q_idx - kv_idx <= half) & (kv_idx - q_idx <= half)
        if keep is not None:
            inside = inside & keep[b, q_idx, kv_idx]
        return inside

    block_mask = create_block_mask(band, batch, None, q_len, k_len, device=q.device)
    out = _flex_kernel(q.device)(q, k, v, block_mask=block_mask)
    return out if heads else out.squeeze(1)
