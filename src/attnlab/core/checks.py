"""Argument validation shared by every public function and module.

Each check raises an error that names the argument, what was expected and what was received, so
that a wrong layout never broadcasts silently into a wrong answer.

Devices and dtypes:

* **Devices.** Every tensor argument (inputs, masks, ``attn_bias``, index tensors) must be on the
  device of the first input, and the first input on the device of the module's parameters
  (``like=`` in :func:`check_tensor`, :func:`check_mask`, :func:`check_attn_bias`,
  ``module=`` in :func:`check_query_key_value`). A disagreement is a ``ValueError`` naming both
  arguments and both devices, e.g. ``"key is on meta but query is on cpu: move them to one
  device"``. The check compares ``tensor.device`` objects only: no synchronisation, no data
  read, and it traces to nothing under ``torch.compile``. A module without parameters or
  buffers follows its inputs' device.
* **Dtypes.** An input whose dtype differs from the module's parameters is left to PyTorch, as
  ``nn.Linear`` does: its error (``"mat1 and mat2 must have the same dtype"``) names both dtypes
  and is not misleading. Inputs of different floating dtypes without parameters in between
  follow PyTorch's type promotion.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TypeAlias

import torch
from torch import Tensor, nn

__all__ = [
    "check_attn_bias",
    "check_bool",
    "check_device",
    "check_dim",
    "check_finite_positive",
    "check_mask",
    "check_positive",
    "check_probability",
    "check_query_key_value",
    "check_same_batch",
    "check_scores",
    "check_scores_mask",
    "check_size",
    "check_tensor",
]


DeviceRef: TypeAlias = "tuple[str, Tensor | nn.Module | None]"
"""What a tensor's device must agree with: ``(name, tensor)``, or ``(name, module)`` for the
module's parameters (the name is then unused); a ``None`` reference checks nothing."""


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def check_device(x: Tensor, name: str, like: DeviceRef | None, *, allow_cpu: bool = False) -> None:
    """Check that ``x`` is on the device of the reference ``like`` (see the module docstring).

    Args:
        x: the tensor to check.
        name: its argument name, used in the message.
        like: ``(name, tensor)`` or ``(name, module)``; ``None`` (or a module without parameters
            or buffers) checks nothing.
        allow_cpu: also accept ``x`` on the CPU (lengths for packed sequences).

    Example:
        >>> import torch
        >>> query = torch.zeros(2, 3, 4)
        >>> check_device(query.to("meta"), "key", ("query", query))
        Traceback (most recent call last):
        ...
        ValueError: key is on meta but query is on cpu: move them to one device
    """
    if like is None:
        return
    ref_name, ref = like
    if isinstance(ref, Tensor):
        device, where = ref.device, f"{ref_name} is on {ref.device}"
    elif isinstance(ref, nn.Module):
        first = next(itertools.chain(ref.parameters(), ref.buffers()), None)
        if first is None:
            return
        device, where = first.device, f"the module's parameters are on {first.device}"
    else:
        return
    if x.device != device and not (allow_cpu and x.device.type == "cpu"):
        raise ValueError(f"{name} is on {x.device} but {where}: move them to one device")


def check_tensor(
    x: object,
    name: str,
    *,
    ndim: int | Sequence[int],
    layout: str,
    floating: bool = True,
    like: DeviceRef | None = None,
) -> Tensor:
    """Check that ``x`` is a tensor of the given rank(s); return it.

    Args:
        x: the value to check.
        name: the argument's name, used in the message.
        ndim: the allowed rank or ranks.
        layout: the expected layout in words, e.g. ``"(B, Lq, D)"``.
        floating: require a floating-point dtype.
        like: the device reference, ``(name, tensor)`` or ``(name, module)``
            (:func:`check_device`).

    Example:
        >>> import torch
        >>> check_tensor(torch.zeros(2, 3), "query", ndim=3, layout="(B, Lq, D)")
        Traceback (most recent call last):
        ...
        ValueError: query must be a 3-D tensor of shape (B, Lq, D) (batch first), got shape (2, 3)
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {layout}, got {type(x).__name__}")
    ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.dim() not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(
            f"{name} must be a {want} tensor of shape {layout} (batch first), got shape {_shape(x)}"
        )
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    check_device(x, name, like)
    return x


def check_dim(x: Tensor, dim: int, expected: int, name: str, what: str) -> None:
    """Check that ``x.shape[dim] == expected``; ``what`` names the size in the message.

    Example:
        >>> import torch
        >>> check_dim(torch.zeros(2, 5, 4), -1, 8, "key", "key_dim")
        Traceback (most recent call last):
        ...
        ValueError: key has size 4 in its last dimension but key_dim is 8 (shape (2, 5, 4))
    """
    if x.shape[dim] != expected:
        where = "last dimension" if dim == -1 else f"dimension {dim}"
        raise ValueError(
            f"{name} has size {x.shape[dim]} in its {where} but {what} is {expected} "
            f"(shape {_shape(x)})"
        )


def check_bool(value: object, name: str, *, expected: str = "True or False") -> bool:
    """Check that a flag is a real ``bool`` (not ``1``, ``"no"`` or ``None``); return it.

    ``expected`` words the requirement in the message (``"a bool"`` for the geometry and
    sampling flags, whose messages have always read that way).

    Example:
        >>> check_bool("no", "need_weights")
        Traceback (most recent call last):
        ...
        TypeError: need_weights must be True or False, got str
        >>> check_bool(1, "align_corners", expected="a bool")
        Traceback (most recent call last):
        ...
        TypeError: align_corners must be a bool, got int
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    return value


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> None:
    """Check that a number is positive (or non-negative)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if value != value or value < 0 or (value == 0 and not allow_zero):
        want = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {want}, got {value}")


def check_finite_positive(value: object, name: str, *, kind: str = "a positive float") -> float:
    """Check that a number is finite and ``> 0`` (a temperature, a scale); return it as a float.

    ``kind`` words the type requirement of the ``TypeError``.

    Example:
        >>> check_finite_positive(float("inf"), "temperature")
        Traceback (most recent call last):
        ...
        ValueError: temperature must be a finite number > 0, got inf
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def check_probability(value: float, name: str) -> None:
    """Check that a number lies in ``[0, 1)`` (a dropout probability)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(value).__name__}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def check_mask(
    mask: object,
    *,
    batch: int,
    q_len: int,
    k_len: int,
    name: str = "mask",
    like: DeviceRef | None = None,
) -> Tensor:
    """Validate a boolean attention mask and return it as ``(B or 1, Lq or 1, Lk)``.

    ``like`` is the device reference (:func:`check_device`), normally ``("query", query)``.

    The library's one mask convention: ``True`` means *may attend*. Accepted shapes are
    ``(B, Lk)`` (a key padding mask, shared by all queries), ``(B, Lq, Lk)``, and ``(1, Lq, Lk)``
    (one pattern for the whole batch, e.g. a causal mask). Nothing else is broadcast.

    Example:
        >>> import torch
        >>> check_mask(torch.ones(2, 5, dtype=torch.bool), batch=2, q_len=3, k_len=5).shape
        torch.Size([2, 1, 5])
        >>> check_mask(torch.ones(2, 5), batch=2, q_len=3, k_len=5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: mask must be a boolean tensor (True = may attend), got dtype torch.float32; ...
    """
    if not isinstance(mask, Tensor):
        raise TypeError(
            f"{name} must be a boolean torch.Tensor of shape (B, Lk) or (B, Lq, Lk), "
            f"got {type(mask).__name__}"
        )
    if mask.dtype != torch.bool:
        raise TypeError(
            f"{name} must be a boolean tensor (True = may attend), got dtype {mask.dtype}; "
            "pass an additive float mask as attn_bias instead"
        )
    check_device(mask, name, like)
    if mask.dim() == 2:
        if tuple(mask.shape) != (batch, k_len):
            raise ValueError(
                f"{name} of rank 2 must have shape (B, Lk) = ({batch}, {k_len}), "
                f"got {_shape(mask)}"
            )
        return mask.unsqueeze(1)
    if mask.dim() == 3:
        if mask.shape[0] not in (1, batch) or tuple(mask.shape[1:]) != (q_len, k_len):
            raise ValueError(
                f"{name} of rank 3 must have shape (B, Lq, Lk) = ({batch}, {q_len}, {k_len}) "
                f"or (1, {q_len}, {k_len}), got {_shape(mask)}"
            )
        return mask
    raise ValueError(
        f"{name} must have shape (B, Lk) or (B, Lq, Lk), got a {mask.dim()}-D tensor "
        f"of shape {_shape(mask)}"
    )


def check_scores(scores: object, name: str = "scores", *, need_key_axis: bool = True) -> Tensor:
    """Check that ``scores`` is a floating-point tensor with (unless ``need_key_axis=False``) at
    least one dimension, the keys; return it.

    Example:
        >>> import torch
        >>> check_scores(torch.tensor(1.0))
        Traceback (most recent call last):
        ...
        ValueError: scores must have at least one dimension (the keys), got a scalar
    """
    if not isinstance(scores, Tensor):
        raise TypeError(
            f"{name} must be a floating-point torch.Tensor, got {type(scores).__name__}"
        )
    if not scores.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {scores.dtype}")
    if need_key_axis and scores.dim() == 0:
        raise ValueError(f"{name} must have at least one dimension (the keys), got a scalar")
    return scores


def check_scores_mask(mask: object, scores: Tensor) -> Tensor | None:
    """``None``, or a boolean ``mask`` (``True`` = may attend) that broadcasts to ``scores``.

    The mask may broadcast over the scores, never the other way: a mask that would enlarge the
    result (e.g. ``(4, B, Lk)`` against ``(B, Lk)`` scores) is a layout error, not a broadcast.

    Example:
        >>> import torch
        >>> check_scores_mask(torch.ones(3, 2, dtype=torch.bool), torch.zeros(2, 3))
        Traceback (most recent call last):
        ...
        ValueError: mask of shape (3, 2) does not broadcast to the scores' shape (2, 3)
    """
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(
            f"mask must be a boolean torch.Tensor (True = may attend), got {type(mask).__name__}"
        )
    if mask.dtype != torch.bool:
        raise TypeError(
            f"mask must be a boolean tensor (True = may attend), got dtype {mask.dtype}"
        )
    try:
        shape = torch.broadcast_shapes(mask.shape, scores.shape)
    except RuntimeError:
        shape = None
    if shape != scores.shape:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
            f"{tuple(scores.shape)}"
        )
    return mask


def check_attn_bias(
    attn_bias: object,
    *,
    batch: int,
    q_len: int,
    k_len: int,
    num_heads: int | None = None,
    dtype: torch.dtype | None = None,
    name: str = "attn_bias",
    like: DeviceRef | None = None,
) -> Tensor:
    """Validate an additive float bias and return it broadcastable to the score tensor.

    Accepted shapes: ``(Lq, Lk)``, ``(B, Lq, Lk)`` and, for multi-head modules
    (``num_heads`` given), ``(B, H, Lq, Lk)``. Single-head results are ``(B or 1, Lq, Lk)``;
    multi-head results ``(B or 1, H or 1, Lq, Lk)``.

    The bias must be finite: ``NaN`` would spread to every weight of its row and ``+inf`` /
    ``-inf`` give ``NaN`` rows (``inf - inf``, or a row with no finite score). Keys are excluded
    with the boolean ``mask``, whose fully masked rows get zero weights. The check reads the
    values (one device synchronisation off the CPU); it is skipped while tracing
    (``torch.compile``, ``torch.export``).

    A float mask in torch's convention (``0`` = attend, ``-inf`` = excluded, as returned by
    ``nn.Transformer.generate_square_subsequent_mask(n)``) is therefore rejected, and the error
    says how to pass it: ``mask=torch.isfinite(m)`` (``True`` = may attend) for a ``(B, Lq, Lk)``
    ``m``, ``mask=torch.isfinite(m)[None]`` for an ``(Lq, Lk)`` one (a rank-2 ``mask`` is a
    ``(B, Lk)`` padding mask), plus ``attn_bias=torch.where(torch.isfinite(m), m, 0)`` when its
    finite entries are not all zero.

    Example:
        >>> import torch
        >>> check_attn_bias(torch.zeros(3, 5), batch=2, q_len=3, k_len=5).shape
        torch.Size([1, 3, 5])
        >>> bias = torch.tensor([[0.0, float("-inf")]])
        >>> check_attn_bias(bias, batch=1, q_len=1, k_len=2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: attn_bias must be finite ...: pass mask=torch.isfinite(attn_bias)[None] ...
    """
    if not isinstance(attn_bias, Tensor):
        raise TypeError(f"{name} must be a float torch.Tensor, got {type(attn_bias).__name__}")
    if not attn_bias.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (it is added to the scores), got dtype "
            f"{attn_bias.dtype}; pass a boolean mask as mask instead"
        )
    check_device(attn_bias, name, like)
    if not torch.compiler.is_compiling():
        finite = torch.isfinite(attn_bias)
        non_finite = int((~finite).sum())
        if non_finite:
            raise ValueError(_non_finite_bias_message(attn_bias, finite, non_finite, name))
    shapes = [f"({q_len}, {k_len})", f"({batch}, {q_len}, {k_len})"]
    if num_heads is not None:
        shapes.append(f"({batch}, {num_heads}, {q_len}, {k_len})")
    bad = ValueError(f"{name} must have shape {' or '.join(shapes)}, got {_shape(attn_bias)}")
    if tuple(attn_bias.shape[-2:]) != (q_len, k_len):
        raise bad
    if attn_bias.dim() == 2:
        out = attn_bias.unsqueeze(0)
    elif attn_bias.dim() == 3:
        if attn_bias.shape[0] != batch:
            raise bad
        out = attn_bias
    elif attn_bias.dim() == 4 and num_heads is not None:
        if attn_bias.shape[0] != batch or attn_bias.shape[1] != num_heads:
            raise bad
        return attn_bias if dtype is None else attn_bias.to(dtype)
    else:
        raise bad
    if num_heads is not None:
        out = out.unsqueeze(1)
    return out if dtype is None else out.to(dtype)


def _non_finite_bias_message(attn_bias: Tensor, finite: Tensor, count: int, name: str) -> str:
    """The error for a bias with ``count`` non-finite values; ``-inf`` alone (a float mask in
    torch's convention) gets the exact conversion to the boolean ``mask``."""
    message = f"{name} must be finite (no NaN or inf), got {count} non-finite value(s)"
    if not bool((attn_bias[~finite] == float("-inf")).all()):
        return message + "; exclude keys with the boolean mask instead of -inf"
    # mask takes (1, Lq, Lk) or (B, Lq, Lk): a rank-2 mask would be read as (B, Lk).
    allowed = f"torch.isfinite({name})"
    if attn_bias.dim() == 2:
        allowed += "[None]"
    elif attn_bias.dim() == 4:
        allowed += "[:, 0]"
    message += (
        ": a float mask with -inf at excluded keys (torch's convention, e.g. "
        "nn.Transformer.generate_square_subsequent_mask) is a boolean mask here: "
        f"pass mask={allowed} instead of {name} (True = may attend; a query left with no key "
        "then gets zero weights, never NaN)"
    )
    if attn_bias.dim() == 4:
        message += "; mask has no head axis, so every head must share that pattern"
    if bool((attn_bias[finite] != 0).any()):
        message += (
            f", and keep its finite values as {name}=torch.where(torch.isfinite({name}), "
            f"{name}, 0)"
        )
    return message


def _listing(items: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def check_same_batch(**tensors: Tensor) -> int:
    """Check that the named tensors share their batch size (dimension 0); return it.

    Example:
        >>> import torch
        >>> check_same_batch(question=torch.zeros(2, 3), image=torch.zeros(4, 3))
        Traceback (most recent call last):
        ...
        ValueError: question and image must have the same batch size, got 2 and 4
    """
    sizes = [t.shape[0] for t in tensors.values()]
    if len(set(sizes)) > 1:
        raise ValueError(
            f"{_listing(list(tensors))} must have the same batch size, "
            f"got {_listing([str(s) for s in sizes])}"
        )
    return sizes[0]


def check_query_key_value(
    query: Tensor,
    key: Tensor | None = None,
    value: Tensor | None = None,
    *,
    query_dim: int | None = None,
    key_dim: int | None = None,
    value_dim: int | None = None,
    dim_names: tuple[str, str, str] = ("query_dim", "key_dim", "value_dim"),
    module: nn.Module | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Validate sequence inputs ``(B, L, D)`` of an attention step and apply the defaults.

    ``key`` defaults to ``query`` (self-attention) and ``value`` to ``key``; a ``value`` without a
    ``key`` is an error. Ranks, feature sizes (when given), batch sizes, the key/value length and
    devices (``key`` and ``value`` on ``query``'s, ``query`` on the parameters' of ``module``) are
    checked, each error naming the argument.

    Returns:
        ``(query, key, value)``.

    Example:
        >>> import torch
        >>> q, k, v = check_query_key_value(torch.zeros(2, 3, 4))
        >>> k is q and v is q
        True
    """
    check_tensor(query, "query", ndim=3, layout="(B, Lq, Dq)", like=("", module))
    if key is None:
        if value is not None:
            raise ValueError("value was given without key; pass key as well (or neither)")
        key = query
    else:
        check_tensor(key, "key", ndim=3, layout="(B, Lk, Dk)", like=("query", query))
    if value is None:
        value = key
    else:
        check_tensor(value, "value", ndim=3, layout="(B, Lk, Dv)", like=("query", query))
    for tensor, name, size, what in zip(
        (query, key, value), ("query", "key", "value"), (query_dim, key_dim, value_dim), dim_names,
        strict=True,
    ):
        if size is not None:
            check_dim(tensor, -1, size, name, what)
    check_same_batch(query=query, key=key, value=value)
    if value.shape[1] != key.shape[1]:
        raise ValueError(
            f"key and value must have the same length Lk, got {key.shape[1]} and {value.shape[1]}"
        )
    return query, key, value


def check_size(value: object, name: str, *, minimum: int = 1) -> int:
    """Check that a size argument is an ``int`` (not a ``bool``) of at least ``minimum``.

    Example:
        >>> check_size(0, "num_heads")
        Traceback (most recent call last):
        ...
        ValueError: num_heads must be an integer >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value
