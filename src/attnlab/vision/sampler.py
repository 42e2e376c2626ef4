"""The differentiable bilinear sampler of spatial transformer networks.

Jaderberg et al., "Spatial Transformer Networks", https://arxiv.org/abs/1506.02025, section 3.3.
Each output pixel ``i`` reads the input ``U`` at the (generally fractional) grid point
``(x^s_i, y^s_i)`` through the bilinear kernel, eq. (5):

.. math::

    V^c_i = \\sum_{n}^{H} \\sum_{m}^{W} U^c_{nm}
    \\max(0, 1 - |x^s_i - m|) \\max(0, 1 - |y^s_i - n|)

with ``(x^s_i, y^s_i)`` in input pixel units. The kernel weights of one output pixel are
non-negative and sum to 1 whenever the point lies inside the image: they are a soft attention
over the input pixels, concentrated on at most four neighbours. Eq. (6)-(7) give the
(sub-)gradients with respect to ``U`` and to the grid, which autograd reproduces.

Convention:
    * ``grid`` is ``(B, H_out, W_out, 2)`` in normalised ``(x, y)`` coordinates, as produced by
      :mod:`attnlab.vision.grids` (see its Convention block for ``align_corners``).
    * ``padding_mode`` decides what lies outside the input: ``"zeros"`` (eq. (5) literally, the
      sum runs over the image only), ``"border"`` (the point is clamped to the image) or
      ``"reflection"`` (the point is reflected at the border).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from attnlab.core.checks import check_tensor
from attnlab.vision._validation import check_align_corners, check_feature_map

__all__ = ["PADDING_MODES", "bilinear_sample"]

PADDING_MODES: tuple[str, ...] = ("zeros", "border", "reflection")
"""Values accepted by ``padding_mode``."""


def bilinear_sample(
    image: Tensor,
    grid: Tensor,
    align_corners: bool = False,
    padding_mode: str = "zeros",
) -> Tensor:
    """Sample ``image`` at the points of ``grid`` with the bilinear kernel of eq. (5).

    The fast path is :func:`torch.nn.functional.grid_sample` in bilinear mode; this function
    validates the arguments first so that a wrong layout fails with a message instead of
    broadcasting. The slow, literal eq. (5) lives in the test suite as the reference.

    Args:
        image: the input feature map ``U``.
        grid: the sampling grid ``T_theta(G)`` in normalised ``(x, y)`` coordinates.
        align_corners: see the Convention block of :mod:`attnlab.vision.grids`; must match the
            value the grid was generated with.
        padding_mode: ``"zeros"``, ``"border"`` or ``"reflection"``.

    Shape:
        - image: ``(B, C, H, W)``
        - grid: ``(B, H_out, W_out, 2)``
        - output: ``(B, C, H_out, W_out)``

    Example:
        >>> import torch
        >>> from attnlab.vision.grids import normalized_meshgrid
        >>> image = torch.arange(12.0).reshape(1, 1, 3, 4)
        >>> grid = normalized_meshgrid((3, 4)).unsqueeze(0)
        >>> torch.equal(bilinear_sample(image, grid), image)
        True
    """
    image = check_feature_map(image, "image")
    grid = check_tensor(grid, "grid", ndim=4, layout="(B, H_out, W_out, 2)")
    if grid.shape[-1] != 2:
        raise ValueError(
            f"grid must have shape (B, H_out, W_out, 2) with (x, y) in the last axis, "
            f"got shape {tuple(grid.shape)}"
        )
    if grid.shape[0] != image.shape[0]:
        raise ValueError(
            f"grid has batch size {grid.shape[0]} but image has batch size {image.shape[0]}"
        )
    if grid.dtype != image.dtype:
        raise TypeError(f"grid has dtype {grid.dtype} but image has dtype {image.dtype}")
    if grid.device != image.device:
        raise ValueError(f"grid is on {grid.device} but image is on {image.device}")
    check_align_corners(align_corners)
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    # grid_sample walks the grid point by point: a permuted (non-contiguous) grid, as an einsum
    # or a user's transpose leaves it, is sampled markedly slower on CPU (BENCHMARKS.md) than
    # after the one copy made here
    return F.grid_sample(
        image,
        grid.contiguous(),
        mode="bilinear",
        padding_mode=padding_mode,
        align_corners=align_corners,
    )
