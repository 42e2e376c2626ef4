"""Argument checks shared by the vision modules: feature maps, sizes, grids and their parameters."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from attnlab.core.checks import check_bool, check_dim, check_size, check_tensor

__all__ = [
    "check_align_corners",
    "check_choice",
    "check_feature_map",
    "check_hw",
    "check_image_size",
    "check_points",
    "check_reduction",
    "check_theta",
]


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


def check_align_corners(value: object) -> bool:
    """Check the ``align_corners`` flag of grids and samplers (a real ``bool``); return it."""
    return check_bool(value, "align_corners", expected="a bool")


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


def check_reduction(channels: int, reduction: int) -> int:
    """Check the sizes of a channel bottleneck ``C -> C // r -> C``; return ``C // r``.

    Example:
        >>> check_reduction(8, 16)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: reduction=16 leaves no hidden unit for channels=8 ...
    """
    check_size(channels, "channels")
    check_size(reduction, "reduction")
    hidden_dim = channels // reduction
    if hidden_dim == 0:
        raise ValueError(
            f"reduction={reduction} leaves no hidden unit for channels={channels} "
            f"(channels // reduction = 0); use reduction <= {channels}"
        )
    return hidden_dim


def _positive_hw(values: tuple[int, ...], name: str) -> tuple[int, int]:
    height, width = values[-2], values[-1]
    if height <= 0 or width <= 0:
        raise ValueError(f"{name} must have a positive height and width, got {values}")
    return height, width


def _all_ints(values: Sequence[object]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def check_hw(value: object, name: str) -> tuple[int, int]:
    """Check an image size given as a pair of positive ints ``(H, W)``; return it.

    Example:
        >>> check_hw((4, 0), "output_size")
        Traceback (most recent call last):
        ...
        ValueError: output_size must have a positive height and width, got (4, 0)
    """
    if (
        isinstance(value, Tensor)
        or not isinstance(value, Sequence)
        or len(value) != 2
        or not _all_ints(value)
    ):
        raise ValueError(f"{name} must be a pair of ints (H, W), got {value!r}")
    return _positive_hw(tuple(value), name)


def check_image_size(
    size: object, name: str = "size", *, batch: int | None = None
) -> tuple[int, int]:
    """Return ``(H, W)`` from a size ``(H, W)`` or ``(B, C, H, W)``; check positivity and, when
    ``batch`` is given, that a 4-value size has that batch size.

    Example:
        >>> check_image_size((2, 1, 5, 7), batch=2)
        (5, 7)
    """
    if isinstance(size, Tensor) or not isinstance(size, Sequence):
        raise TypeError(
            f"{name} must be a sequence of ints (H, W) or (B, C, H, W), got {type(size).__name__}"
        )
    values = tuple(size)
    if len(values) not in (2, 4) or not _all_ints(values):
        raise ValueError(f"{name} must be (H, W) or (B, C, H, W) of ints, got {values}")
    height, width = _positive_hw(values, name)
    if len(values) == 4 and batch is not None and values[0] != batch:
        raise ValueError(
            f"{name} has batch size {values[0]} but theta has batch size {batch} ({values})"
        )
    return height, width


def check_points(points: object, name: str) -> Tensor:
    """Check a floating tensor of points ``(..., 2)`` with ``(x, y)`` in the last axis."""
    if not isinstance(points, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (..., 2), got {type(points)}")
    if points.dim() == 0 or points.shape[-1] != 2:
        raise ValueError(
            f"{name} must have shape (..., 2) with (x, y) in the last axis, "
            f"got shape {tuple(points.shape)}"
        )
    if not points.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {points.dtype}")
    return points


def check_theta(theta: object, shapes: Sequence[tuple[int, ...]], layout: str) -> Tensor:
    """Check that ``theta`` is a floating ``(B, *s)`` tensor for one ``s`` in ``shapes``."""
    ranks = sorted({len(s) + 1 for s in shapes})
    theta = check_tensor(theta, "theta", ndim=ranks, layout=layout)
    if tuple(theta.shape[1:]) not in [tuple(s) for s in shapes]:
        raise ValueError(f"theta must have shape {layout}, got shape {tuple(theta.shape)}")
    return theta
