"""Boolean masks (``True`` = may attend) and the one masked-normalisation function.

Every mechanism of the library turns scores into weights through :func:`masked_normalize`, so the
guarantees below hold everywhere:

* weights at masked keys are exactly ``0`` (not ``1e-9``: the masked entries are zeroed after the
  normalisation, so no large negative constant can leak through);
* a query row with no valid key gets an all-zero row, never NaN, in the forward and the backward
  pass: the row is normalised from a finite neutral input and then zeroed, so its gradient is 0;
* no value is ever filled with ``-inf``, so no ``inf - inf`` appears in any backward formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from attnlab.core.checks import (
    check_finite_positive,
    check_scores,
    check_scores_mask,
    check_size,
)

__all__ = [
    "additive_mask",
    "band_mask",
    "causal_mask",
    "lengths_to_mask",
    "masked_normalize",
    "masked_softmax",
    "row_has_key",
    "tempered_softmax",
]

Normalizer = Callable[[Tensor], Tensor]


def _check_length(value: object, name: str) -> int:
    """A sequence length or count: an ``int`` (not a ``bool``) ``>= 0``."""
    return check_size(value, name, minimum=0)


def lengths_to_mask(
    lengths: Tensor | list[int],
    max_length: int | None = None,
    *,
    device: torch.device | str | None = None,
) -> Tensor:
    """Turn sequence lengths into a ``(B, L)`` key mask, ``True`` at valid positions.

    Args:
        lengths: ``(B,)`` integer lengths (a tensor or a list).
        max_length: ``L``; defaults to ``max(lengths)``. Lengths above it are an error.
        device: where to create the mask (defaults to the device of ``lengths``).

    Returns:
        ``(B, L)`` boolean mask: ``mask[b, j] = j < lengths[b]``.

    Example:
        >>> lengths_to_mask([1, 3], 4)
        tensor([[ True, False, False, False],
                [ True,  True,  True, False]])
    """
    if not isinstance(lengths, Tensor):
        if not isinstance(lengths, (list, tuple)):
            raise TypeError(
                f"lengths must be a 1-D integer tensor or a list of ints, "
                f"got {type(lengths).__name__}"
            )
        try:
            # an empty list would become float32: it is an empty batch of integer lengths
            empty = torch.long if len(lengths) == 0 else None
            lengths = torch.as_tensor(lengths, dtype=empty, device=device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"lengths must hold integers, got {lengths!r}") from err
    if lengths.dim() != 1:
        raise ValueError(
            f"lengths must be a 1-D tensor of shape (B,), got shape {tuple(lengths.shape)}"
        )
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if device is not None:
        lengths = lengths.to(device)
    if max_length is not None and torch.compiler.is_compiling():
        # Tracing: the value checks read the data, and a given max_length needs no value.
        max_length = _check_length(max_length, "max_length")
    else:
        if lengths.numel() and int(lengths.min()) < 0:
            raise ValueError(f"lengths must be >= 0, got {lengths.tolist()}")
        longest = int(lengths.max()) if lengths.numel() else 0
        if max_length is None:
            max_length = longest
        elif _check_length(max_length, "max_length") < longest:
            raise ValueError(
                f"max_length={max_length} is shorter than the longest length {longest}"
            )
    positions = torch.arange(max_length, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def _positions(
    q_len: int, k_len: int | None, batch_size: int | None, device: torch.device | str | None
) -> tuple[Tensor, Tensor]:
    """Checked sizes as query positions ``(Lq, 1)`` and key positions ``(1, Lk)``."""
    q_len = _check_length(q_len, "q_len")
    k_len = q_len if k_len is None else _check_length(k_len, "k_len")
    if batch_size is not None:
        _check_length(batch_size, "batch_size")
    i = torch.arange(q_len, device=device).unsqueeze(1)
    j = torch.arange(k_len, device=device).unsqueeze(0)
    return i, j


def _batched(mask: Tensor, batch_size: int | None) -> Tensor:
    return mask if batch_size is None else mask.expand(batch_size, *mask.shape)


def causal_mask(
    q_len: int,
    k_len: int | None = None,
    *,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """A causal mask: query ``i`` may attend to keys ``j <= i + (Lk - Lq)``.

    When ``Lk > Lq`` (a decoder step with cached keys) the queries are aligned to the *end* of the
    keys, so the last query sees every key.

    Returns:
        ``(Lq, Lk)``, or ``(B, Lq, Lk)`` when ``batch_size`` is given (pass ``mask[None]`` to use
        one pattern for a whole batch).

    Example:
        >>> causal_mask(3).int()
        tensor([[1, 0, 0],
                [1, 1, 0],
                [1, 1, 1]], dtype=torch.int32)
    """
    i, j = _positions(q_len, k_len, batch_size, device)
    mask = j <= i + (j.shape[1] - i.shape[0])
    return _batched(mask, batch_size)


def band_mask(
    q_len: int,
    k_len: int | None = None,
    *,
    window_size: int,
    causal: bool = False,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """A banded (sliding-window) mask: ``|i - j| <= window_size // 2``.

    ``window_size`` counts every key a query may see, itself included (an odd ``w`` gives
    ``(w - 1) / 2`` keys on each side). With ``causal=True`` the band only looks back:
    ``0 <= i - j < window_size``.

    Example:
        >>> band_mask(4, window_size=3).int()
        tensor([[1, 1, 0, 0],
                [1, 1, 1, 0],
                [0, 1, 1, 1],
                [0, 0, 1, 1]], dtype=torch.int32)
    """
    if isinstance(window_size, bool) or not isinstance(window_size, int):
        raise TypeError(f"window_size must be an integer >= 1, got {type(window_size).__name__}")
    if window_size < 1:
        raise ValueError(f"window_size must be >= 1, got {window_size}")
    i, j = _positions(q_len, k_len, batch_size, device)
    if causal:
        mask = (i - j >= 0) & (i - j < window_size)
    else:
        mask = (i - j).abs() <= window_size // 2
    return _batched(mask, batch_size)


def row_has_key(mask: Tensor, dim: int = -1) -> Tensor:
    """``True`` for the query rows of ``mask`` that have at least one valid key (keepdim)."""
    return mask.any(dim=dim, keepdim=True)


def additive_mask(
    mask: Tensor | None, attn_bias: Tensor | None, dtype: torch.dtype
) -> Tensor | None:
    """The mask as an additive term: ``attn_bias`` (or 0) where ``mask`` allows, ``-inf`` elsewhere.

    The form a score tensor takes a mask in when it is added before a softmax: the mask is
    converted once, at its own (usually small) shape. ``None`` when there is neither.

    Example:
        >>> import torch
        >>> additive_mask(torch.tensor([[True, False]]), None, torch.float32)
        tensor([[0., -inf]])
    """
    if mask is None:
        return None if attn_bias is None else attn_bias.to(dtype)
    if attn_bias is None:
        additive = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        return additive.masked_fill_(~mask, -math.inf)
    return torch.where(mask, attn_bias.to(dtype), -math.inf)


def masked_normalize(
    scores: Tensor,
    mask: Tensor | None,
    normalizer: Normalizer,
    *,
    dim: int = -1,
) -> Tensor:
    """Normalise ``scores`` along ``dim`` with ``normalizer``, honouring a boolean mask.

    This is the library's single masked-normalisation routine. Masked entries are replaced by the
    most negative finite value of the dtype before normalising (softmax, sparsemax and entmax then
    give them zero mass) and are set to exactly 0 afterwards; rows with no valid entry are
    normalised from zeros and then zeroed, so they produce neither NaN values nor NaN gradients.

    Args:
        scores: unnormalised scores, e.g. ``(B, [H,] Lq, Lk)``.
        mask: boolean, ``True`` = may attend, broadcastable to ``scores``; ``None`` for no mask.
        normalizer: maps scores to weights along ``dim`` (softmax, sparsemax, ...).
        dim: the key dimension.

    Example:
        >>> import torch
        >>> s = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
        >>> m = torch.tensor([[True, True, False], [False, False, False]])
        >>> masked_normalize(s, m, lambda x: x.softmax(-1))
        tensor([[0.2689, 0.7311, 0.0000],
                [0.0000, 0.0000, 0.0000]])
    """
    check_scores(scores, need_key_axis=False)
    mask = check_scores_mask(mask, scores)
    if mask is None:
        return normalizer(scores)
    valid_row = mask.any(dim=dim, keepdim=True)
    fill = torch.finfo(scores.dtype).min
    filled = scores.masked_fill(~mask, fill)
    # A fully masked row would be all `fill`; normalise zeros instead so every intermediate of the
    # normaliser (and of its backward) stays finite, then zero the row below.
    filled = filled.masked_fill(~valid_row, 0.0)
    weights = normalizer(filled)
    return weights.masked_fill(~(mask & valid_row), 0.0)


def tempered_softmax(temperature: float, dim: int = -1) -> Normalizer:
    """``x -> softmax(x / T)`` along ``dim``, safe for a tiny ``T`` and huge ``|x|``.

    The row maximum is subtracted *before* dividing by ``T``, so ``x / T`` cannot overflow to
    ``+inf`` (which would give ``inf - inf = NaN`` inside the softmax); entries far below the
    maximum may become ``-inf``, which the softmax maps to an exact 0 with a zero gradient. Half
    precision is computed in float32 and cast back.

    Example:
        >>> import torch
        >>> tempered_softmax(1e-6)(torch.tensor([[0.1, 0.3, 0.2]]))
        tensor([[0., 1., 0.]])
    """

    def normalize(x: Tensor) -> Tensor:
        if x.shape[dim] == 0:  # no key: nothing to normalise (amax needs one element)
            return x.clone()
        work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        top = work.detach().amax(dim=dim, keepdim=True)
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        return torch.softmax((work - top) / temperature, dim=dim).to(x.dtype)

    return normalize


def masked_softmax(
    scores: Tensor,
    mask: Tensor | None = None,
    *,
    dim: int = -1,
    temperature: float = 1.0,
) -> Tensor:
    """Softmax with temperature over ``dim``, exactly 0 at masked entries, zero rows if empty.

    .. math:: a_{ij} = \\frac{m_{ij} \\exp(s_{ij} / T)}{\\sum_k m_{ik} \\exp(s_{ik} / T)}

    ``T`` must be a finite number ``> 0``; any such ``T`` is safe, however small: the row
    maximum is subtracted before dividing by ``T`` (:func:`tempered_softmax`).

    Example:
        >>> import torch
        >>> masked_softmax(torch.zeros(1, 4), torch.tensor([[True, True, False, False]]))
        tensor([[0.5000, 0.5000, 0.0000, 0.0000]])
    """
    check_scores(scores, need_key_axis=False)
    temperature = check_finite_positive(temperature, "temperature")
    if temperature == 1.0:
        return masked_normalize(scores, mask, lambda x: torch.softmax(x, dim=dim), dim=dim)
    return masked_normalize(scores, mask, tempered_softmax(temperature, dim), dim=dim)
