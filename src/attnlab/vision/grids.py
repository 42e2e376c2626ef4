"""Parameterised sampling grids of spatial transformer networks, and coordinate conversions.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, section 3.2. A grid generator turns the parameters ``theta``
regressed by the localisation network into a sampling grid ``T_theta(G)``: for every point
``(x_t, y_t)`` of the regular output grid ``G`` it gives the point ``(x_s, y_s)`` of the input that
is sampled there. The affine case is eq. (1):

.. math::

    \\begin{pmatrix} x^s_i \\\\ y^s_i \\end{pmatrix}
    = A_\\theta \\begin{pmatrix} x^t_i \\\\ y^t_i \\\\ 1 \\end{pmatrix},
    \\qquad A_\\theta = \\begin{bmatrix} \\theta_{11} & \\theta_{12} & \\theta_{13} \\\\
    \\theta_{21} & \\theta_{22} & \\theta_{23} \\end{bmatrix}.

This module provides that case, the constrained families of section 3.2 (translation, the
paper's *attention* form ``[[s, 0, t_x], [0, s, t_y]]``, and rotation-scale-translation), the
projective (8-parameter homography) and the thin-plate-spline transformations used in the
distorted-MNIST experiments (section 4.1, "Aff", "Proj" and 16-point "TPS"; the spline itself
is in :mod:`attnlab.vision.tps`, whose public names this module re-exports, as it does those of
:mod:`attnlab.vision.coordinates`, the conversions between pixels and the normalised frame).

Convention:
    * A grid is a ``(B, H, W, 2)`` tensor. ``grid[b, i, j] = (x, y)`` is the point of the
      **input** sampled for the output pixel in row ``i``, column ``j``. The last axis is in
      ``(x, y)`` order: ``x`` runs along the width (columns), ``y`` along the height (rows), as in
      :func:`torch.nn.functional.grid_sample` and :func:`torch.nn.functional.affine_grid`.
    * Coordinates are normalised: ``x = -1`` is the left and ``x = +1`` the right of the image,
      ``y = -1`` the top and ``y = +1`` the bottom, whatever the resolution. Parameters are in
      the same normalised frame, so a ``theta`` means the same warp at any image size.
    * ``align_corners=False`` (the default, as in PyTorch): ``-1`` and ``+1`` are the outer
      *edges* of the border pixels, and pixel centre ``c`` (0-based) is at ``(2c + 1) / W - 1``.
      ``align_corners=True``: ``-1`` and ``+1`` are the *centres* of the corner pixels, and pixel
      ``c`` is at ``2c / (W - 1) - 1``. A size-1 axis puts its only pixel at ``0`` under both.
      Pass the same value to the grid generator and to the sampler.
    * Every transform maps **output** (target) coordinates to **input** (source) coordinates,
      the direction of eq. (1). Shifting the grid right (``t_x > 0``) therefore moves the image
      content left.
    * A pixel-space transform ``M`` (output pixel to input pixel) becomes the normalised one
      ``N_in @ M @ inv(N_out)`` with ``N = normalization_matrix(size, align_corners=...)``;
      :func:`pixel_to_normalized` and :func:`normalized_to_pixel` convert points.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from attnlab.core.checks import check_tensor
from attnlab.core.init_args import AttnModule
from attnlab.vision._validation import (
    check_align_corners,
    check_image_size,
    check_theta,
)
from attnlab.vision.coordinates import (
    Size,
    homogeneous_meshgrid,
    normalization_matrix,
    normalized_meshgrid,
    normalized_to_pixel,
    pixel_centres,
    pixel_to_normalized,
)
from attnlab.vision.tps import (
    check_control_points,
    regular_control_points,
    tps_apply,
    tps_coefficients,
    tps_solve_matrix,
    tps_targets,
    tps_transform_points,
)

__all__ = [
    "GRID_GENERATORS",
    "AffineGrid",
    "AttentionGrid",
    "GridGenerator",
    "ProjectiveGrid",
    "SimilarityGrid",
    "TPSGrid",
    "ThinPlateSplineGrid",
    "TranslationGrid",
    "affine_grid",
    "attention_grid",
    "attention_matrix",
    "make_grid_generator",
    "normalization_matrix",
    "normalized_meshgrid",
    "normalized_to_pixel",
    "pixel_to_normalized",
    "projective_grid",
    "regular_control_points",
    "similarity_grid",
    "similarity_matrix",
    "tps_coefficients",
    "tps_grid",
    "tps_transform_points",
    "translation_grid",
    "translation_matrix",
]

# ---------------------------------------------------------------------------------------------
# affine family


def affine_grid(theta: Tensor, size: Size, align_corners: bool = False) -> Tensor:
    """Sampling grid of the affine transformation of eq. (1): ``A_theta (x_t, y_t, 1)``.

    Equal to :func:`torch.nn.functional.affine_grid` (same arguments, same values), with
    argument checks that name the argument, and ``size`` given as ``(B, C, H, W)`` or ``(H, W)``.

    Args:
        theta: ``A_theta``, 6 parameters per sample, row-major
            ``[theta11, theta12, theta13, theta21, theta22, theta23]``.
        size: output size ``(B, C, H, W)`` or ``(H, W)``.
        align_corners: see the module's Convention block.

    Shape:
        - theta: ``(B, 2, 3)`` or ``(B, 6)``
        - output: ``(B, H, W, 2)``

    Example:
        >>> import torch
        >>> theta = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]])
        >>> grid = affine_grid(theta, (1, 1, 3, 4))
        >>> torch.allclose(grid[0], normalized_meshgrid((3, 4)))
        True
    """
    theta = check_theta(theta, [(2, 3), (6,)], "(B, 2, 3) or (B, 6)")
    matrix = theta.reshape(-1, 2, 3)
    height, width = check_image_size(size, batch=theta.shape[0])
    align_corners = check_align_corners(align_corners)
    xs = pixel_centres(width, align_corners, theta.device, theta.dtype)  # (w,)
    ys = pixel_centres(height, align_corners, theta.device, theta.dtype)  # (h,)
    # eq. (1): every output point (x_t, y_t, 1) is mapped by A_theta. The map is separable:
    # (theta_1 x_t + theta_3) depends on the column only and theta_2 y_t on the row only, so
    # two broadcast products and one sum write the grid once, contiguous in (b, h, w, 2)
    # (grid_sample reads a contiguous grid markedly faster than a permuted one).
    cols = xs.view(1, 1, width, 1) * matrix[:, None, None, :, 0] + matrix[:, None, None, :, 2]
    rows = ys.view(1, height, 1, 1) * matrix[:, None, None, :, 1]
    return cols + rows  # (b, 1, w, 2) + (b, h, 1, 2) -> (b, h, w, 2)


def translation_matrix(params: Tensor) -> Tensor:
    """``A_theta = [[1, 0, t_x], [0, 1, t_y]]`` from ``params = (t_x, t_y)``.

    Shape:
        - params: ``(B, 2)``
        - output: ``(B, 2, 3)``

    Example:
        >>> import torch
        >>> translation_matrix(torch.tensor([[0.5, -0.25]]))
        tensor([[[ 1.0000,  0.0000,  0.5000],
                 [ 0.0000,  1.0000, -0.2500]]])
    """
    params = check_theta(params, [(2,)], "(B, 2) = (t_x, t_y)")
    ones = torch.ones_like(params[:, 0])
    zeros = torch.zeros_like(params[:, 0])
    rows = (ones, zeros, params[:, 0], zeros, ones, params[:, 1])
    return torch.stack(rows, dim=-1).reshape(-1, 2, 3)


def attention_matrix(params: Tensor) -> Tensor:
    """The paper's attention transform ``A_theta = [[s, 0, t_x], [0, s, t_y]]`` (section 3.2).

    Isotropic scale ``s`` and translation ``(t_x, t_y)``: cropping (``s < 1``), translation and
    isotropic scaling, as in the paper's constrained example.

    Shape:
        - params: ``(B, 3)`` = ``(s, t_x, t_y)``
        - output: ``(B, 2, 3)``

    Example:
        >>> import torch
        >>> attention_matrix(torch.tensor([[0.5, 0.1, 0.2]]))
        tensor([[[0.5000, 0.0000, 0.1000],
                 [0.0000, 0.5000, 0.2000]]])
    """
    params = check_theta(params, [(3,)], "(B, 3) = (s, t_x, t_y)")
    s, tx, ty = params.unbind(dim=-1)
    zeros = torch.zeros_like(s)
    return torch.stack((s, zeros, tx, zeros, s, ty), dim=-1).reshape(-1, 2, 3)


def similarity_matrix(params: Tensor) -> Tensor:
    """Rotation-scale-translation ``A_theta = [[s cos a, -s sin a, t_x], [s sin a, s cos a, t_y]]``.

    Parameters ``(s, a, t_x, t_y)``: scale, angle in radians, translation. The sampling grid
    turns by ``a`` from the ``x`` axis towards the ``y`` axis (clockwise on screen, since ``y``
    points down); the image content therefore turns the other way.

    Note:
        The rotation acts in normalised coordinates, so on a non-square image it is a rotation
        of the normalised frame, not a rigid rotation in pixels.

    Shape:
        - params: ``(B, 4)``
        - output: ``(B, 2, 3)``

    Example:
        >>> import torch
        >>> similarity_matrix(torch.tensor([[2.0, 0.0, 0.0, 0.5]]))
        tensor([[[2.0000, -0.0000, 0.0000],
                 [0.0000, 2.0000, 0.5000]]])
    """
    params = check_theta(params, [(4,)], "(B, 4) = (s, angle, t_x, t_y)")
    s, angle, tx, ty = params.unbind(dim=-1)
    cos, sin = s * torch.cos(angle), s * torch.sin(angle)
    return torch.stack((cos, -sin, tx, sin, cos, ty), dim=-1).reshape(-1, 2, 3)


def translation_grid(params: Tensor, size: Size, align_corners: bool = False) -> Tensor:
    """Grid of :func:`translation_matrix`; ``params`` ``(B, 2)``, output ``(B, H, W, 2)``.

    Example:
        >>> import torch
        >>> translation_grid(torch.zeros(2, 2), (3, 5)).shape
        torch.Size([2, 3, 5, 2])
    """
    return affine_grid(translation_matrix(params), size, align_corners)


def attention_grid(params: Tensor, size: Size, align_corners: bool = False) -> Tensor:
    """Grid of :func:`attention_matrix`; ``params`` ``(B, 3)``, output ``(B, H, W, 2)``.

    Example:
        >>> import torch
        >>> attention_grid(torch.tensor([[1.0, 0.0, 0.0]]), (3, 5)).shape
        torch.Size([1, 3, 5, 2])
    """
    return affine_grid(attention_matrix(params), size, align_corners)


def similarity_grid(params: Tensor, size: Size, align_corners: bool = False) -> Tensor:
    """Grid of :func:`similarity_matrix`; ``params`` ``(B, 4)``, output ``(B, H, W, 2)``.

    Example:
        >>> import torch
        >>> similarity_grid(torch.tensor([[1.0, 0.0, 0.0, 0.0]]), (3, 5)).shape
        torch.Size([1, 3, 5, 2])
    """
    return affine_grid(similarity_matrix(params), size, align_corners)


# ---------------------------------------------------------------------------------------------
# projective


def projective_grid(
    theta: Tensor, size: Size, align_corners: bool = False, *, eps: float = 1e-8
) -> Tensor:
    """Sampling grid of a projective transformation (homography) in normalised coordinates.

    .. math::

        x_s = \\frac{h_1 x_t + h_2 y_t + h_3}{h_7 x_t + h_8 y_t + h_9}, \\qquad
        y_s = \\frac{h_4 x_t + h_5 y_t + h_6}{h_7 x_t + h_8 y_t + h_9}

    with ``H = [[h1, h2, h3], [h4, h5, h6], [h7, h8, h9]]`` mapping output to input. Given 8
    parameters, ``h9 = 1`` (the paper's 8-parameter "Proj" transformation, section 4.1).

    Convention:
        ``H`` maps **normalised output** coordinates to **normalised input** coordinates. A
        pixel homography ``M`` from input pixels to output pixels (the direction of
        :func:`kornia.geometry.transform.warp_perspective`) corresponds to
        ``H = N_in @ inv(M) @ inv(N_out)`` with :func:`normalization_matrix`.

    Args:
        theta: ``(h1, ..., h8)`` or the full ``3 x 3`` matrix (any non-zero scale).
        size: output size ``(B, C, H, W)`` or ``(H, W)``.
        align_corners: see the module's Convention block.
        eps: denominators with magnitude below ``eps`` are replaced by ``+-eps`` so that a
            degenerate homography sends points far outside the image instead of giving
            ``inf``/``NaN``.

    Shape:
        - theta: ``(B, 8)`` or ``(B, 3, 3)``
        - output: ``(B, H, W, 2)``

    Example:
        >>> import torch
        >>> theta = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])
        >>> torch.allclose(projective_grid(theta, (3, 4))[0], normalized_meshgrid((3, 4)))
        True
    """
    theta = check_theta(theta, [(8,), (3, 3)], "(B, 8) or (B, 3, 3)")
    height, width = check_image_size(size, batch=theta.shape[0])
    align_corners = check_align_corners(align_corners)
    if theta.dim() == 2:
        matrix = torch.cat((theta, torch.ones_like(theta[:, :1])), dim=1).reshape(-1, 3, 3)
    else:
        matrix = theta
    base = homogeneous_meshgrid((height, width), align_corners, theta.device, theta.dtype)
    points = torch.einsum("hwk,bjk->bhwj", base, matrix)  # (b, h, w, 3) homogeneous
    denom = points[..., 2:]
    small = denom.abs() < eps
    denom = torch.where(small, torch.where(denom < 0, -eps, eps), denom)
    return points[..., :2] / denom


# ---------------------------------------------------------------------------------------------
# thin-plate spline (the spline itself is in attnlab.vision.tps)


def tps_grid(
    theta: Tensor,
    size: Size,
    align_corners: bool = False,
    *,
    control_points: Tensor | None = None,
) -> Tensor:
    """Sampling grid of a thin-plate-spline transformation with ``K`` control points.

    The spline of :func:`tps_coefficients` evaluated at every output pixel: control point
    ``p_k`` of the output samples the input at ``theta_k``. The paper's "TPS" uses 16 control
    points (section 4.1), the default 4 x 4 :func:`regular_control_points` on ``[-1, 1]^2``.
    ``theta = control_points`` is the identity.

    Args:
        theta: input-frame positions ``theta_k`` of the control points (normalised).
        size: output size ``(B, C, H, W)`` or ``(H, W)``.
        align_corners: see the module's Convention block (it places the pixel centres; the
            control points stay where they are in the normalised frame).
        control_points: ``(K, 2)`` output-frame control points, 4 x 4 regular grid when ``None``.

    Shape:
        - theta: ``(B, K, 2)`` or ``(B, 2K)``
        - output: ``(B, H, W, 2)``

    Example:
        >>> import torch
        >>> theta = regular_control_points().reshape(1, 32)
        >>> grid = tps_grid(theta, (1, 1, 5, 6))
        >>> torch.allclose(grid[0], normalized_meshgrid((5, 6)), atol=1e-5)
        True
    """
    theta = check_tensor(theta, "theta", ndim=(2, 3), layout="(B, K, 2) or (B, 2K)")
    if control_points is None:
        control_points = regular_control_points(device=theta.device, dtype=theta.dtype)
    control_points = check_control_points(control_points)
    targets = tps_targets(theta, control_points.shape[0])
    height, width = check_image_size(size, batch=targets.shape[0])
    align_corners = check_align_corners(align_corners)
    solve = tps_solve_matrix(control_points)
    return _tps_grid(targets, (height, width), align_corners, control_points, solve)


def _tps_grid(
    targets: Tensor,
    size: tuple[int, int],
    align_corners: bool,
    control_points: Tensor,
    solve: Tensor,
) -> Tensor:
    mesh = normalized_meshgrid(
        size, align_corners=align_corners, device=targets.device, dtype=solve.dtype
    )
    points = mesh.reshape(-1, 2)  # (h * w, 2)
    grid = tps_apply(points, targets, control_points, solve)  # (b, h * w, 2)
    return grid.reshape(targets.shape[0], size[0], size[1], 2)


# ---------------------------------------------------------------------------------------------
# modules


class GridGenerator(AttnModule):
    """Base class of grid generators: ``forward(theta, size, *, align_corners) -> (B, H, W, 2)``.

    Subclasses set :attr:`num_params` (the length of the flat parameter vector a localisation
    network regresses) and implement :meth:`identity` (the parameters of the identity
    transformation, used to initialise the regression layer) and :meth:`forward`.
    """

    num_params: int

    def identity(
        self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Tensor:
        """The flat ``(num_params,)`` parameters of the identity transformation."""
        raise NotImplementedError

    def forward(self, theta: Tensor, size: Size, *, align_corners: bool = False) -> Tensor:
        """The sampling grid ``(B, H, W, 2)`` of the transformations ``theta`` ``(B, P)``."""
        raise NotImplementedError


class _FunctionGrid(GridGenerator):
    """A grid generator without state: :attr:`grid_function` ``(theta, size, align_corners)``,
    with the identity transformation at :attr:`identity_params`."""

    identity_params: ClassVar[tuple[float, ...]]
    grid_function: ClassVar[staticmethod[[Tensor, Size, bool], Tensor]]

    def identity(
        self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Tensor:
        return torch.tensor(self.identity_params, device=device, dtype=dtype)

    def forward(self, theta: Tensor, size: Size, *, align_corners: bool = False) -> Tensor:
        return type(self).grid_function(theta, size, align_corners)


class AffineGrid(_FunctionGrid):
    """Affine grid generator (6 parameters, eq. (1)); see :func:`affine_grid`.

    Example:
        >>> import torch
        >>> gen = AffineGrid()
        >>> gen(gen.identity().unsqueeze(0), (2, 3)).shape
        torch.Size([1, 2, 3, 2])
    """

    num_params = 6
    identity_params = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    grid_function = staticmethod(affine_grid)


class TranslationGrid(_FunctionGrid):
    """Translation-only grid generator (2 parameters ``(t_x, t_y)``); see :func:`translation_grid`.

    Example:
        >>> import torch
        >>> TranslationGrid()(torch.zeros(1, 2), (2, 3)).shape
        torch.Size([1, 2, 3, 2])
    """

    num_params = 2
    identity_params = (0.0, 0.0)
    grid_function = staticmethod(translation_grid)


class AttentionGrid(_FunctionGrid):
    """The paper's attention grid generator (3 parameters ``(s, t_x, t_y)``, section 3.2).

    See :func:`attention_matrix`.

    Example:
        >>> AttentionGrid().identity()
        tensor([1., 0., 0.])
    """

    num_params = 3
    identity_params = (1.0, 0.0, 0.0)
    grid_function = staticmethod(attention_grid)


class SimilarityGrid(_FunctionGrid):
    """Rotation-scale-translation grid generator (4 parameters ``(s, angle, t_x, t_y)``).

    See :func:`similarity_matrix`.

    Example:
        >>> SimilarityGrid().identity()
        tensor([1., 0., 0., 0.])
    """

    num_params = 4
    identity_params = (1.0, 0.0, 0.0, 0.0)
    grid_function = staticmethod(similarity_grid)


class ProjectiveGrid(_FunctionGrid):
    """Projective grid generator (8 parameters, ``h9 = 1``); see :func:`projective_grid`.

    Example:
        >>> ProjectiveGrid().identity()
        tensor([1., 0., 0., 0., 1., 0., 0., 0.])
    """

    num_params = 8
    identity_params = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    grid_function = staticmethod(projective_grid)


class ThinPlateSplineGrid(GridGenerator):
    """Thin-plate-spline grid generator with ``K`` fixed control points; see :func:`tps_grid`.

    ``theta`` holds the ``2K`` input-frame coordinates ``(x0, y0, x1, y1, ...)`` of the control
    points, so the identity is the control points themselves. The inverse of the spline system
    depends only on the control points and is computed once (in float64) and cached.

    Args:
        grid_shape: ``(rows, cols)`` of the regular control grid on ``[-1, 1]^2``; ``(4, 4)``
            gives the paper's 16 points (section 4.1).
        control_points: explicit ``(K, 2)`` output-frame control points (overrides
            ``grid_shape``).
        device: device of the buffers.
        dtype: dtype of the buffers.

    Attributes:
        control_points: ``(K, 2)`` buffer.
        num_params: ``2K``.

    Example:
        >>> import torch
        >>> tps = ThinPlateSplineGrid()
        >>> tps.num_params
        32
        >>> grid = tps(tps.identity().unsqueeze(0), (7, 7))
        >>> torch.allclose(grid[0], normalized_meshgrid((7, 7)), atol=1e-5)
        True
    """

    control_points: Tensor

    def __init__(
        self,
        grid_shape: tuple[int, int] = (4, 4),
        *,
        control_points: Tensor | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if control_points is None:
            points = regular_control_points(grid_shape, device=device, dtype=dtype)
        else:
            points = check_control_points(control_points).detach().to(device=device, dtype=dtype)
        tps_solve_matrix(points)  # fail now on a singular configuration
        self.register_buffer("control_points", points.clone())
        self.num_params = 2 * points.shape[0]
        self._solve_cache: tuple[tuple[object, ...], Tensor] | None = None

    def solve_matrix(self) -> Tensor:
        """The first ``K`` columns of the inverse spline system ``L^{-1}``, ``(K + 3, K)``.

        Computed and returned in float64 from the current control points, and cached until
        they change (new dtype, device, storage, or an in-place update such as
        ``load_state_dict``). While tracing (``torch.compile``, ``torch.export``) there is no
        storage to key the cache on: the traced graph computes it.
        """
        points = self.control_points
        if torch.compiler.is_compiling():
            with torch.no_grad():
                return tps_solve_matrix(points)
        key = (points.data_ptr(), points._version, points.dtype, points.device)
        if self._solve_cache is None or self._solve_cache[0] != key:
            with torch.no_grad():
                self._solve_cache = (key, tps_solve_matrix(points))
        return self._solve_cache[1]

    def identity(
        self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Tensor:
        """The ``theta`` ``(2 K,)`` of the identity transformation: the flattened control points."""
        return self.control_points.reshape(-1).to(device=device, dtype=dtype).clone()

    def forward(self, theta: Tensor, size: Size, *, align_corners: bool = False) -> Tensor:
        """The sampling grid ``(B, H, W, 2)`` of the transformations ``theta`` ``(B, 2 K)``."""
        targets = tps_targets(theta, self.control_points.shape[0])
        height, width = check_image_size(size, batch=targets.shape[0])
        align_corners = check_align_corners(align_corners)
        return _tps_grid(
            targets, (height, width), align_corners, self.control_points, self.solve_matrix()
        )

    def extra_repr(self) -> str:
        return f"num_control_points={self.control_points.shape[0]}"


TPSGrid = ThinPlateSplineGrid
"""Alias of :class:`ThinPlateSplineGrid`."""


GRID_GENERATORS: dict[str, type[GridGenerator]] = {
    "affine": AffineGrid,
    "translation": TranslationGrid,
    "attention": AttentionGrid,
    "similarity": SimilarityGrid,
    "projective": ProjectiveGrid,
    "tps": ThinPlateSplineGrid,
}
"""Grid generator classes by name: the ``grid=`` values of :class:`SpatialTransformer`."""


def make_grid_generator(
    grid: str | GridGenerator,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> GridGenerator:
    """Return ``grid`` if it is a :class:`GridGenerator`, else build the one named ``grid``.

    Example:
        >>> make_grid_generator("tps").num_params
        32
        >>> make_grid_generator("elastic")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: grid must be a GridGenerator or one of ('affine', ..., 'tps'), got 'elastic'
    """
    if isinstance(grid, GridGenerator):
        return grid
    if not isinstance(grid, str) or grid not in GRID_GENERATORS:
        raise ValueError(
            f"grid must be a GridGenerator or one of {tuple(GRID_GENERATORS)}, got {grid!r}"
        )
    cls = GRID_GENERATORS[grid]
    if cls is ThinPlateSplineGrid:
        return ThinPlateSplineGrid(device=device, dtype=dtype)
    return cls()

