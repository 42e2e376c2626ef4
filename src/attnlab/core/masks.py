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

__all__ = [
    "band_mask",
    "causal_mask",
    "lengths_to_mask",
    "masked_normalize",
    "masked_softmax",
    "row_has_key",
]

Normalizer = Callable[[Tensor], Tensor]


def _check_length(value: object, name: str) -> int:
    """A sequence length or count: an ``int`` (not a ``bool``) ``>= 0``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer >= 0, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value}")
    return value


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
    if lengths.numel() and int(lengths.min()) < 0:
        raise ValueError(f"lengths must be >= 0, got {lengths.tolist()}")
    longest = int(lengths.max()) if lengths.numel() else 0
    if max_length is None:
        max_length = longest
    elif _check_length(max_length, "max_length") < longest:
        raise ValueError(f"max_length={max_length} is shorter than the longest length {longest}")
    positions = torch.arange(max_length, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


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
    q_len = _check_length(q_len, "q_len")
    k_len = q_len if k_len is None else _check_length(k_len, "k_len")
    if batch_size is not None:
        _check_length(batch_size, "batch_size")
    i = torch.arange(q_len, device=device).unsqueeze(1)
    j = torch.arange(k_len, device=device).unsqueeze(0)
    mask = j <= i + (k_len - q_len)
    return mask if batch_size is None else mask.expand(batch_size, q_len, k_len)


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
    q_len = _check_length(q_len, "q_len")
    k_len = q_len if k_len is None else _check_length(k_len, "k_len")
    if batch_size is not None:
        _check_length(batch_size, "batch_size")
    i = torch.arange(q_len, device=device).unsqueeze(1)
    j = torch.arange(k_len, device=device).unsqueeze(0)
    if causal:
        mask = (i - j >= 0) & (i - j < window_size)
    else:
        mask = (i - j).abs() <= window_size // 2
    return mask if batch_size is None else mask.expand(batch_size, q_len, k_len)


def row_has_key(mask: Tensor, dim: int = -1) -> Tensor:
    """``True`` for the query rows of ``mask`` that have at least one valid key (keepdim)."""
    return mask.any(dim=dim, keepdim=True)


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
    if not isinstance(scores, Tensor) or not scores.is_floating_point():
        got = scores.dtype if isinstance(scores, Tensor) else type(scores).__name__
        raise TypeError(f"scores must be a floating-point tensor, got {got}")
    if mask is None:
        return normalizer(scores)
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"mask must be a boolean tensor (True = may attend), got {got}")
    # The mask may broadcast over the scores, never the other way: a mask that would enlarge
    # the result (e.g. (4, B, Lk) against (B, Lk) scores) is a layout error, not a broadcast.
    try:
        broadcast = torch.broadcast_shapes(mask.shape, scores.shape)
    except RuntimeError:
        broadcast = None
    if broadcast != scores.shape:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
            f"{tuple(scores.shape)}"
        )
    valid_row = mask.any(dim=dim, keepdim=True)
    fill = torch.finfo(scores.dtype).min
    filled = scores.masked_fill(~mask, fill)
    # A fully masked row would be all `fill`; normalise zeros instead so every intermediate of the
    # normaliser (and of its backward) stays finite, then zero the row below.
    filled = filled.masked_fill(~valid_row, 0.0)
    weights = normalizer(filled)
    return weights.masked_fill(~(mask & valid_row), 0.0)


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
    maximum is subtracted before dividing by ``T``.

    Example:
        >>> import torch
        >>> masked_softmax(torch.zeros(1, 4), torch.tensor([[True, True, False, False]]))
        tensor([[0.5000, 0.5000, 0.0000, 0.0000]])
    """
    if not isinstance(scores, Tensor) or not scores.is_floating_point():
        got = scores.dtype if isinstance(scores, Tensor) else type(scores).__name__
        raise TypeError(f"scores must be a floating-point tensor, got {got}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a positive float, got {type(temperature).__name__}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    if temperature == 1.0:
        return masked_normalize(scores, mask, lambda x: torch.softmax(x, dim=dim), dim=dim)

    def tempered(x: Tensor) -> Tensor:
        # Shift by the row maximum *before* dividing by T: a tiny T (or huge scores) would
        # otherwise overflow x / T to inf and give inf - inf = NaN. Half precision is
        # computed in float32.
        if x.shape[dim] == 0:
            return x.clone()
        work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        top = work.detach().amax(dim=dim, keepdim=True)
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        return torch.softmax((work - top) / temperature, dim=dim).to(x.dtype)

    return masked_normalize(scores, mask, tempered, dim=dim)
