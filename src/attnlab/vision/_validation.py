"""Small argument checks shared by the squeeze-and-excitation family and its models."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from attnlab.core.checks import check_dim, check_tensor

__all__ = ["check_choice", "check_feature_map"]



def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of the strings ``choices``; return it.

    Example:
        >>> check_choice("mean", "squeeze", ("avg", "max"))
        Traceback (most recent call last):
        ...
        ValueError: squeeze must be one of ('avg', 'max'), got 'mean'
    """
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_feature_map(
    x: object, name: str, channels: int | None = None, *, module: nn.Module | None = None
) -> Tensor:
    """Check a ``(B, C, H, W)`` floating feature map (with ``C == channels`` when given) on the
    device of ``module``'s parameters (when given)."""
    x = check_tensor(x, name, ndim=4, layout="(B, C, H, W)", like=("", module))
    if channels is not None:
        check_dim(x, 1, channels, name, "channels")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"{name} must have a non-empty spatial size, got shape {tuple(x.shape)}")
    return x
