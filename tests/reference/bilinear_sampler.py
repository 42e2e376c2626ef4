"""Slow, literal bilinear sampler of Jaderberg et al. 2015, eq. (5).

"Spatial Transformer Networks", https://arxiv.org/abs/1506.02025, section 3.3:

    V_i^c = sum_n^H sum_m^W U_nm^c max(0, 1 - |x_i^s - m|) max(0, 1 - |y_i^s - n|)

The double sum runs over every input pixel (n, m) for every output point i, as written; only the
output points are vectorised. Coordinates come in normalised (x, y) form and are unnormalised
with the align_corners rule; "border" and "reflection" move the point before the sum (clamp to the
image, or mirror at its boundary), which is how those padding modes are defined for
torch.nn.functional.grid_sample.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _unnormalise(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    # normalised [-1, 1] -> pixel index units (pixel centres at integers)
    if align_corners:
        return (coord + 1.0) / 2.0 * (size - 1)
    return ((coord + 1.0) * size - 1.0) / 2.0


def _reflect(coord: Tensor, low: float, high: float) -> Tensor:
    # mirror coord into [low, high] by repeated reflection at both ends
    span = high - low
    if span <= 0:
        return torch.zeros_like(coord)
    distance = (coord - low).abs()
    flips = torch.floor(distance / span)
    extra = distance - flips * span
    even = torch.remainder(flips, 2) == 0
    return torch.where(even, low + extra, high - extra)


def _pad(coord: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    if padding_mode == "zeros":
        return coord
    if padding_mode == "reflection":
        if align_corners:
            coord = _reflect(coord, 0.0, size - 1.0)
        else:
            coord = _reflect(coord, -0.5, size - 0.5)
    elif padding_mode != "border":
        raise ValueError(padding_mode)
    return coord.clamp(0, size - 1)


def bilinear_sample_reference(
    image: Tensor, grid: Tensor, *, align_corners: bool = False, padding_mode: str = "zeros"
) -> Tensor:
    """``V`` of eq. (5): image ``(B, C, H, W)``, grid ``(B, Ho, Wo, 2)`` -> ``(B, C, Ho, Wo)``."""
    batch, channels, height, width = image.shape
    x_s = _pad(_unnormalise(grid[..., 0], width, align_corners), width, padding_mode,
               align_corners)  # (b, ho, wo)
    y_s = _pad(_unnormalise(grid[..., 1], height, align_corners), height, padding_mode,
               align_corners)
    V = image.new_zeros(batch, channels, grid.shape[1], grid.shape[2])
    for n in range(height):
        for m in range(width):
            # max(0, 1 - |x_i^s - m|) max(0, 1 - |y_i^s - n|)
            kernel = (1 - (x_s - m).abs()).clamp(min=0) * (1 - (y_s - n).abs()).clamp(min=0)
            V = V + image[:, :, n, m, None, None] * kernel[:, None]
    return V


def sampling_weights_reference(
    grid: Tensor, input_size: tuple[int, int], *, align_corners: bool = False
) -> Tensor:
    """The kernel of eq. (5) as an attention matrix ``(B, Ho * Wo, H * W)`` (zero padding)."""
    height, width = input_size
    x_s = _unnormalise(grid[..., 0], width, align_corners).flatten(1)  # (b, i)
    y_s = _unnormalise(grid[..., 1], height, align_corners).flatten(1)
    n = torch.arange(height, dtype=grid.dtype).repeat_interleave(width)  # (j,)
    m = torch.arange(width, dtype=grid.dtype).repeat(height)
    kx = (1 - (x_s[..., None] - m).abs()).clamp(min=0)
    ky = (1 - (y_s[..., None] - n).abs()).clamp(min=0)
    return kx * ky  # (b, i, j)
