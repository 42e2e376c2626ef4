"""The warps of distorted MNIST: per-sample random parameters, and rendering by resampling.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, section 4.1: the rotation-scale-translation, projective,
elastic (thin-plate spline) and translation distortions of :mod:`attnlab.data.distortions`,
which documents the variants, their parameters and the determinism these functions keep.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from attnlab.data._random import BlockDraw
from attnlab.vision.grids import normalization_matrix, regular_control_points, tps_grid
from attnlab.vision.sampler import bilinear_sample

if TYPE_CHECKING:  # pragma: no cover
    from attnlab.data.distortions import DistortionSpec

__all__ = [
    "crop",
    "draw_elastic",
    "draw_projective",
    "draw_similarity",
    "draw_translation",
    "ink_boxes",
    "paste",
    "render_elastic",
    "render_projective",
    "render_similarity",
]


# ---------------------------------------------------------------------------------------------
# random parameters (drawn per block of samples; see attnlab.data._random)


def draw_similarity(spec: DistortionSpec) -> BlockDraw:
    digits = spec.num_digits
    low, high = spec.scale_range
    max_angle = math.radians(spec.max_angle)

    def draw(generator: torch.Generator, n: int) -> dict[str, Tensor]:
        u = torch.rand(n, digits, 5, generator=generator, dtype=torch.float64)
        angle = (2.0 * u[..., 0] - 1.0) * max_angle
        return {
            "angle": angle.float(),
            "cos": torch.cos(angle).float(),
            "sin": torch.sin(angle).float(),
            "scale": (low + (high - low) * u[..., 1]).float(),
            "u_place": u[..., 2:4].float(),
            "u_index": u[..., 4],
        }

    return draw


def _homography_to_input(corners_out: Tensor, corners_in: Tensor) -> Tensor:
    """``(n, 3, 3)`` homographies mapping ``corners_out[k]`` to ``corners_in[k]`` (``h33 = 1``)."""
    u, v = corners_out[..., 0], corners_out[..., 1]  # (n, 4)
    x, y = corners_in[..., 0], corners_in[..., 1]
    zero, one = torch.zeros_like(u), torch.ones_like(u)
    rows_x = torch.stack((u, v, one, zero, zero, zero, -u * x, -v * x), -1)
    rows_y = torch.stack((zero, zero, zero, u, v, one, -u * y, -v * y), -1)
    system = torch.cat((rows_x, rows_y), dim=1)  # (n, 8, 8)
    rhs = torch.cat((x, y), dim=1).unsqueeze(-1)  # (n, 8, 1)
    h = torch.linalg.solve(system, rhs)[..., 0]
    return torch.cat((h, torch.ones_like(h[:, :1])), dim=1).reshape(-1, 3, 3)


def draw_projective(spec: DistortionSpec, height: int, width: int) -> BlockDraw:
    frame = torch.tensor(
        [[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5], [-0.5, height - 0.5]],
        dtype=torch.float64,
    )
    limit = spec.corner_clip * spec.corner_sigma

    def draw(generator: torch.Generator, n: int) -> dict[str, Tensor]:
        offsets = torch.randn(n, 4, 2, generator=generator, dtype=torch.float64)
        offsets = (offsets * spec.corner_sigma).clamp(-limit, limit)
        corners = frame + offsets  # where the image corners land in the output
        homography = _homography_to_input(corners, frame.expand_as(corners))
        return {"corners": corners.float(), "homography": homography.float()}

    return draw


def draw_elastic(spec: DistortionSpec, height: int, width: int) -> BlockDraw:
    control = regular_control_points(spec.control_grid, dtype=torch.float64)  # (k, 2)
    to_normalised = torch.tensor([2.0 / width, 2.0 / height], dtype=torch.float64)

    def draw(generator: torch.Generator, n: int) -> dict[str, Tensor]:
        offsets = torch.randn(n, control.shape[0], 2, generator=generator, dtype=torch.float64)
        offsets = offsets * spec.control_sigma  # pixels
        theta = control + offsets * to_normalised
        return {"offsets": offsets.float(), "theta": theta.float()}

    return draw


def draw_translation(spec: DistortionSpec) -> BlockDraw:
    clutter = spec.num_clutter

    def draw(generator: torch.Generator, n: int) -> dict[str, Tensor]:
        place = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        u = torch.rand(n, clutter, 5, generator=generator, dtype=torch.float64)
        return {"u_place": place, "u_clutter": u}

    return draw


# ---------------------------------------------------------------------------------------------
# rendering: every grid is built with element-wise + - * / only, so a sample's pixels do not
# depend on the batch it is rendered in


def _pixel_coordinates(size: int) -> Tensor:
    return torch.arange(size, dtype=torch.float32)


def _to_grid(qx: Tensor, qy: Tensor, height: int, width: int) -> Tensor:
    """Input pixel coordinates ``(b, H, W)`` each -> normalised sampling grid ``(b, H, W, 2)``."""
    norm = normalization_matrix((height, width))  # pixel -> normalised, align_corners=False
    ax, bx, ay, by = (float(norm[0, 0]), float(norm[0, 2]), float(norm[1, 1]), float(norm[1, 2]))
    return torch.stack((qx * ax + bx, qy * ay + by), dim=-1)


def ink_boxes(images: Tensor) -> Tensor:
    """``(n, 4)`` = ``(x0, y0, x1, y1)``: pixel bounds of the ink (the whole frame if none)."""
    height, width = images.shape[-2:]
    ink = images > 0
    cols, rows = ink.any(dim=-2), ink.any(dim=-1)  # (n, w), (n, h)
    xs, ys = torch.arange(width), torch.arange(height)
    x0 = torch.where(cols, xs, width).amin(-1)
    x1 = torch.where(cols, xs, -1).amax(-1)
    y0 = torch.where(rows, ys, height).amin(-1)
    y1 = torch.where(rows, ys, -1).amax(-1)
    empty = x1 < 0
    x0, y0 = torch.where(empty, 0, x0), torch.where(empty, 0, y0)
    x1, y1 = torch.where(empty, width - 1, x1), torch.where(empty, height - 1, y1)
    return torch.stack((x0, y0, x1, y1), -1).float()


def render_similarity(
    images: Tensor, boxes: Tensor, p: dict[str, Tensor], spec: DistortionSpec
) -> tuple[Tensor, Tensor]:
    """Rotate, scale and place one digit per sample; returns ``(images (b, C, C), centre)``.

    ``images`` ``(b, h, w)``; ``p`` holds per-sample ``cos, sin, scale, u_place`` ``(b,)``.
    The input centre ``c_in`` lands on ``centre``: ``p_out = centre + s R(a) (q - c_in)`` with
    ``R(a) = [[cos, sin], [-sin, cos]]`` (counter-clockwise on screen, ``y`` down).
    """
    height, width = images.shape[-2:]
    canvas = spec.canvas_size or max(height, width)
    cos, sin, scale = p["cos"], p["sin"], p["scale"]
    cx_in, cy_in = (width - 1) / 2.0, (height - 1) / 2.0
    if spec.random_placement:
        # footprint of the bilinear interpolant: one pixel around the ink box
        ex = torch.stack((boxes[:, 0] - 1.0, boxes[:, 2] + 1.0), -1) - cx_in  # (b, 2)
        ey = torch.stack((boxes[:, 1] - 1.0, boxes[:, 3] + 1.0), -1) - cy_in
        ex, ey = ex.unsqueeze(-1), ey.unsqueeze(-2)  # corners: (b, 2, 1) x (b, 1, 2)
        s, c, n = scale.view(-1, 1, 1), cos.view(-1, 1, 1), sin.view(-1, 1, 1)
        ox = (s * (c * ex + n * ey)).flatten(1)  # (b, 4)
        oy = (s * (c * ey - n * ex)).flatten(1)
        low = torch.stack((-ox.amin(-1), -oy.amin(-1)), -1)
        high = torch.stack(((canvas - 1) - ox.amax(-1), (canvas - 1) - oy.amax(-1)), -1)
        fits = high >= low
        centre = torch.where(fits, low + p["u_place"] * (high - low), (low + high) / 2.0)
    else:
        centre = torch.full((cos.shape[0], 2), (canvas - 1) / 2.0)
    coords = _pixel_coordinates(canvas)
    dx = coords.view(1, 1, -1) - centre[:, 0].view(-1, 1, 1)  # (b, 1, C)
    dy = coords.view(1, -1, 1) - centre[:, 1].view(-1, 1, 1)  # (b, C, 1)
    c, n, s = cos.view(-1, 1, 1), sin.view(-1, 1, 1), scale.view(-1, 1, 1)
    # inverse map: q = c_in + R(-a) (p - centre) / s
    qx = (c * dx - n * dy) / s + cx_in
    qy = (n * dx + c * dy) / s + cy_in
    grid = _to_grid(qx, qy, height, width)
    out = bilinear_sample(images.unsqueeze(1), grid)[:, 0]
    return out, centre


def render_projective(images: Tensor, homography: Tensor) -> Tensor:
    height, width = images.shape[-2:]
    h = [homography[:, i, j].view(-1, 1, 1) for i in range(3) for j in range(3)]
    px = _pixel_coordinates(width).view(1, 1, -1)
    py = _pixel_coordinates(height).view(1, -1, 1)
    denominator = h[6] * px + h[7] * py + h[8]
    qx = (h[0] * px + h[1] * py + h[2]) / denominator
    qy = (h[3] * px + h[4] * py + h[5]) / denominator
    return bilinear_sample(images.unsqueeze(1), _to_grid(qx, qy, height, width))[:, 0]


@functools.lru_cache(maxsize=8)
def _tps_weights(height: int, width: int, grid_shape: tuple[int, int]) -> Tensor:
    """``(K, H, W)``: a TPS grid is ``sum_k weights[k] * theta_k`` (it is linear in theta)."""
    control = regular_control_points(grid_shape)
    num = control.shape[0]
    unit = torch.zeros(num, num, 2)
    unit[torch.arange(num), torch.arange(num), 0] = 1.0  # theta = e_k in x, zero in y
    return tps_grid(unit, (height, width))[..., 0].contiguous()


def render_elastic(images: Tensor, theta: Tensor, spec: DistortionSpec) -> Tensor:
    height, width = images.shape[-2:]
    weights = _tps_weights(height, width, spec.control_grid)  # (k, h, w)
    gx = torch.zeros(theta.shape[0], height, width)
    gy = torch.zeros(theta.shape[0], height, width)
    for k in range(weights.shape[0]):  # a fixed-order sum: exact per sample
        gx = gx + weights[k] * theta[:, k, 0].view(-1, 1, 1)
        gy = gy + weights[k] * theta[:, k, 1].view(-1, 1, 1)
    grid = torch.stack((gx, gy), dim=-1)
    return bilinear_sample(images.unsqueeze(1), grid)[:, 0]


def paste(canvas: Tensor, patch: Tensor, x: Tensor, y: Tensor) -> None:
    """``canvas[b, y:y+h, x:x+w] = max(canvas[...], patch[b])`` for every ``b``, in place."""
    ph, pw = patch.shape[-2:]
    batch = torch.arange(canvas.shape[0]).view(-1, 1, 1)
    rows = (y.view(-1, 1) + torch.arange(ph)).unsqueeze(-1)  # (b, ph, 1)
    cols = (x.view(-1, 1) + torch.arange(pw)).unsqueeze(-2)  # (b, 1, pw)
    canvas[batch, rows, cols] = torch.maximum(canvas[batch, rows, cols], patch)


def crop(images: Tensor, x: Tensor, y: Tensor, size: int) -> Tensor:
    batch = torch.arange(images.shape[0]).view(-1, 1, 1)
    rows = (y.view(-1, 1) + torch.arange(size)).unsqueeze(-1)
    cols = (x.view(-1, 1) + torch.arange(size)).unsqueeze(-2)
    return images[batch, rows, cols]
