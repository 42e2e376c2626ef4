"""Coordinates of sampling grids: pixel <-> normalised conversions and the identity grid.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, section 3.2: grids live in normalised coordinates, ``-1`` and
``+1`` at the borders of the image. This module holds the conversions between that frame and
pixels, and the regular grid ``G`` itself; :mod:`attnlab.vision.grids` (which re-exports the
public names and states the Convention in full) and :mod:`attnlab.vision.tps` build on it.

Convention:
    Points are ``(x, y)``: ``x`` along the width, ``y`` along the height. ``align_corners=False``
    puts ``-1`` and ``+1`` at the outer edges of the border pixels, ``align_corners=True`` at the
    centres of the corner pixels, as in :func:`torch.nn.functional.grid_sample`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from attnlab.vision._validation import check_align_corners, check_image_size, check_points

__all__ = [
    "normalization_matrix",
    "normalized_meshgrid",
    "normalized_to_pixel",
    "pixel_to_normalized",
]

Size = Sequence[int]


def _axis_scale_offset(size: int, align_corners: bool) -> tuple[float, float]:
    """``(a, b)`` with ``normalised = a * pixel + b`` along one axis of ``size`` pixels."""
    if align_corners:
        if size == 1:
            return 0.0, 0.0
        return 2.0 / (size - 1), -1.0
    return 2.0 / size, 1.0 / size - 1.0


def _scales_offsets(height: int, width: int, align_corners: bool) -> tuple[float, ...]:
    """``(a_x, b_x, a_y, b_y)``: :func:`_axis_scale_offset` of the width, then of the height."""
    return (*_axis_scale_offset(width, align_corners), *_axis_scale_offset(height, align_corners))


def _checked(points: Tensor, size: Size, align_corners: bool) -> tuple[Tensor, tuple[int, int]]:
    """Checked ``(..., 2)`` points and image ``(H, W)`` (``align_corners`` checked too)."""
    points = check_points(points, "points")
    height_width = check_image_size(size)
    check_align_corners(align_corners)
    return points, height_width


def pixel_to_normalized(points: Tensor, size: Size, *, align_corners: bool = False) -> Tensor:
    """Convert pixel coordinates ``(x, y)`` to the normalised ``[-1, 1]`` frame of grids.

    Pixel ``(x, y)`` is column ``x``, row ``y``, 0-based, with integer values at pixel centres.

    .. math::

        x_n = \\frac{2x + 1}{W} - 1 \\;\\; (\\text{align\\_corners=False}), \\qquad
        x_n = \\frac{2x}{W - 1} - 1 \\;\\; (\\text{align\\_corners=True})

    and the same for ``y`` with ``H``. Under ``align_corners=True`` a size-1 axis maps every
    coordinate to ``0`` (its only pixel), which cannot be inverted.

    Args:
        points: pixel coordinates, last axis ``(x, y)``.
        size: the image size ``(H, W)`` (or ``(B, C, H, W)``).
        align_corners: see the module's Convention block.

    Shape:
        - points: ``(..., 2)``
        - output: ``(..., 2)``

    Example:
        >>> import torch
        >>> pixel_to_normalized(torch.tensor([[0.0, 0.0], [3.0, 1.0]]), (2, 4))
        tensor([[-0.7500, -0.5000],
                [ 0.7500,  0.5000]])
        >>> pixel_to_normalized(torch.tensor([[0.0, 0.0], [3.0, 1.0]]), (2, 4), align_corners=True)
        tensor([[-1., -1.],
                [ 1.,  1.]])
    """
    points, (height, width) = _checked(points, size, align_corners)
    ax, bx, ay, by = _scales_offsets(height, width, align_corners)
    scale = points.new_tensor([ax, ay])
    offset = points.new_tensor([bx, by])
    return points * scale + offset


def normalized_to_pixel(points: Tensor, size: Size, *, align_corners: bool = False) -> Tensor:
    """Convert normalised ``[-1, 1]`` coordinates ``(x, y)`` to pixel coordinates.

    The inverse of :func:`pixel_to_normalized`:

    .. math::

        x = \\frac{(x_n + 1) W - 1}{2} \\;\\; (\\text{align\\_corners=False}), \\qquad
        x = \\frac{(x_n + 1)(W - 1)}{2} \\;\\; (\\text{align\\_corners=True}).

    This is the unnormalisation :func:`torch.nn.functional.grid_sample` applies to a grid.

    Args:
        points: normalised coordinates, last axis ``(x, y)``.
        size: the image size ``(H, W)`` (or ``(B, C, H, W)``).
        align_corners: see the module's Convention block.

    Shape:
        - points: ``(..., 2)``
        - output: ``(..., 2)``

    Example:
        >>> import torch
        >>> normalized_to_pixel(torch.tensor([[-1.0, -1.0], [1.0, 1.0]]), (2, 4))
        tensor([[-0.5000, -0.5000],
                [ 3.5000,  1.5000]])
    """
    points, (height, width) = _checked(points, size, align_corners)
    if align_corners:
        half = points.new_tensor([(width - 1) / 2.0, (height - 1) / 2.0])
        return (points + 1.0) * half
    extent = points.new_tensor([float(width), float(height)])
    return ((points + 1.0) * extent - 1.0) / 2.0


def normalization_matrix(
    size: Size,
    *,
    align_corners: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """The ``(3, 3)`` matrix ``N`` with ``[x_n, y_n, 1]^T = N [x, y, 1]^T`` (pixel to normalised).

    Use it to move a pixel-space transform ``M`` (output pixel to input pixel) into the
    normalised frame of the grids: ``N_in @ M @ inv(N_out)``. Under ``align_corners=True`` a
    size-1 axis gives a singular ``N``.

    Example:
        >>> normalization_matrix((2, 4))
        tensor([[ 0.5000,  0.0000, -0.7500],
                [ 0.0000,  1.0000, -0.5000],
                [ 0.0000,  0.0000,  1.0000]])
    """
    height, width = check_image_size(size)
    check_align_corners(align_corners)
    ax, bx, ay, by = _scales_offsets(height, width, align_corners)
    return torch.tensor(
        [[ax, 0.0, bx], [0.0, ay, by], [0.0, 0.0, 1.0]], device=device, dtype=dtype
    )


def pixel_centres(
    steps: int, align_corners: bool, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """The normalised coordinates of ``steps`` pixel centres along one axis (the values
    ``F.affine_grid`` uses)."""
    if steps == 1:
        return torch.zeros(1, device=device, dtype=dtype)
    line = torch.linspace(-1.0, 1.0, steps, device=device, dtype=dtype)
    return line if align_corners else line * ((steps - 1) / steps)


def normalized_meshgrid(
    size: Size,
    *,
    align_corners: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """The identity grid ``G``: the normalised ``(x, y)`` of every pixel centre.

    Shape:
        - output: ``(H, W, 2)``; ``out[i, j] = (x_j, y_i)``.

    Example:
        >>> normalized_meshgrid((1, 2))
        tensor([[[-0.5000,  0.0000],
                 [ 0.5000,  0.0000]]])
    """
    height, width = check_image_size(size)
    check_align_corners(align_corners)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    dt = dtype if dtype is not None else torch.get_default_dtype()
    xs = pixel_centres(width, align_corners, dev, dt)
    ys = pixel_centres(height, align_corners, dev, dt)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (h, w) each
    return torch.stack((grid_x, grid_y), dim=-1)  # (h, w, 2)


def homogeneous_meshgrid(
    size: Size, align_corners: bool, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """:func:`normalized_meshgrid` with a third coordinate 1: ``(H, W, 3)`` points ``(x, y, 1)``."""
    mesh = normalized_meshgrid(size, align_corners=align_corners, device=device, dtype=dtype)
    ones = torch.ones((*mesh.shape[:-1], 1), device=device, dtype=dtype)
    return torch.cat((mesh, ones), dim=-1)  # (h, w, 3)
