"""Grid generators and coordinate conventions of the spatial transformer.

Oracles: torch.nn.functional.affine_grid, kornia's warp_perspective and thin-plate-spline
functions, and a literal numpy thin-plate spline (tests/reference/thin_plate_spline.py).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.vision.grids import (
    GRID_GENERATORS,
    AffineGrid,
    AttentionGrid,
    ProjectiveGrid,
    SimilarityGrid,
    ThinPlateSplineGrid,
    TPSGrid,
    TranslationGrid,
    affine_grid,
    attention_grid,
    attention_matrix,
    make_grid_generator,
    normalization_matrix,
    normalized_meshgrid,
    normalized_to_pixel,
    pixel_to_normalized,
    projective_grid,
    regular_control_points,
    similarity_grid,
    similarity_matrix,
    tps_coefficients,
    tps_grid,
    tps_transform_points,
    translation_grid,
    translation_matrix,
)
from helpers import assert_close, gradcheck
from reference.thin_plate_spline import tps_evaluate

kornia_transform = pytest.importorskip("kornia.geometry.transform")
kornia_conversions = pytest.importorskip("kornia.geometry.conversions")

F64 = torch.float64
SIZES = [(1, 1), (1, 4), (3, 4), (4, 4), (5, 7), (6, 3)]
ALIGN = [False, True]


def _pixel_mesh(height: int, width: int, dtype: torch.dtype = F64) -> torch.Tensor:
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=dtype), torch.arange(width, dtype=dtype), indexing="ij"
    )
    return torch.stack((xs, ys), dim=-1)  # (h, w, 2) in (x, y)


def _perturbed_control_points(scale: float = 0.1, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    points = regular_control_points(dtype=F64)
    return (points + scale * torch.randn(points.shape, generator=g, dtype=F64)).unsqueeze(0)


# ------------------------------------------------------------------ coordinate conventions


@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 4), (7, 7)])
def test_pixel_normalized_round_trip(size: tuple[int, int], align_corners: bool) -> None:
    height, width = size
    points = torch.rand(10, 2, dtype=F64) * torch.tensor([width - 1, height - 1], dtype=F64)
    normalised = pixel_to_normalized(points, size, align_corners=align_corners)
    back = normalized_to_pixel(normalised, size, align_corners=align_corners)
    if align_corners and 1 in size:
        # a singleton axis is not invertible under align_corners=True: everything maps to 0
        axis = [width, height].index(1)
        assert (normalised[:, axis] == 0).all()
        keep = 1 - axis
        if [width, height][keep] > 1:
            assert_close(back[:, keep], points[:, keep])
        return
    assert_close(back, points)
    # and the other way round, normalised -> pixel -> normalised
    grid_points = torch.rand(10, 2, dtype=F64) * 2 - 1
    again = pixel_to_normalized(
        normalized_to_pixel(grid_points, size, align_corners=align_corners),
        size,
        align_corners=align_corners,
    )
    assert_close(again, grid_points)


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(2, 50),
    width=st.integers(2, 50),
    align_corners=st.booleans(),
    x=st.floats(-5, 60),
    y=st.floats(-5, 60),
)
def test_pixel_normalized_round_trip_property(
    height: int, width: int, align_corners: bool, x: float, y: float
) -> None:
    point = torch.tensor([[x, y]], dtype=F64)
    size = (height, width)
    back = normalized_to_pixel(
        pixel_to_normalized(point, size, align_corners=align_corners),
        size,
        align_corners=align_corners,
    )
    assert_close(back, point, atol=1e-9, rtol=1e-9)


def test_pixel_to_normalized_known_values() -> None:
    # W = 4, H = 2: pixel centres at (2c + 1) / W - 1 (False) or 2c / (W - 1) - 1 (True)
    corners = torch.tensor([[0.0, 0.0], [3.0, 1.0]])
    assert torch.equal(
        pixel_to_normalized(corners, (2, 4)), torch.tensor([[-0.75, -0.5], [0.75, 0.5]])
    )
    assert torch.equal(
        pixel_to_normalized(corners, (2, 4), align_corners=True),
        torch.tensor([[-1.0, -1.0], [1.0, 1.0]]),
    )
    # the outer pixel edges are -1 and +1 under align_corners=False
    edges = torch.tensor([[-0.5, -0.5], [3.5, 1.5]])
    assert torch.equal(pixel_to_normalized(edges, (2, 4)), torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))


@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize("size", SIZES)
def test_meshgrid_is_the_normalised_pixel_centres(size: tuple[int, int], align_corners) -> None:
    mesh = normalized_meshgrid(size, align_corners=align_corners, dtype=F64)
    expected = pixel_to_normalized(_pixel_mesh(*size), size, align_corners=align_corners)
    assert_close(mesh, expected)
    matrix = normalization_matrix(size, align_corners=align_corners, dtype=F64)
    homogeneous = torch.cat((_pixel_mesh(*size), torch.ones(*size, 1, dtype=F64)), dim=-1)
    assert_close((homogeneous @ matrix.T)[..., :2], expected)


@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize("size", SIZES)
def test_meshgrid_matches_kornia_create_meshgrid(size: tuple[int, int], align_corners) -> None:
    from kornia.geometry.grid import create_meshgrid

    theirs = create_meshgrid(*size, align_corners=align_corners, dtype=F64)[0]
    assert_close(normalized_meshgrid(size, align_corners=align_corners, dtype=F64), theirs)


# ------------------------------------------------------------------ affine family


@pytest.mark.filterwarnings("ignore:Since version 1.3.0:UserWarning")
@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize("size", SIZES)
def test_affine_grid_equals_torch(size: tuple[int, int], align_corners: bool, dtype) -> None:
    theta = torch.randn(3, 2, 3, dtype=dtype)
    full = (3, 2, *size)
    expected = F.affine_grid(theta, full, align_corners=align_corners)
    assert_close(affine_grid(theta, full, align_corners), expected)
    assert_close(affine_grid(theta.reshape(3, 6), size, align_corners), expected)


def test_constrained_families_build_the_documented_matrices() -> None:
    p = torch.tensor([[0.3, -0.2]])
    assert torch.equal(translation_matrix(p), torch.tensor([[[1.0, 0.0, 0.3], [0.0, 1.0, -0.2]]]))
    p = torch.tensor([[0.5, 0.1, 0.2]])
    assert torch.equal(attention_matrix(p), torch.tensor([[[0.5, 0.0, 0.1], [0.0, 0.5, 0.2]]]))
    p = torch.tensor([[2.0, math.pi / 2, 0.1, 0.2]], dtype=F64)
    expected = torch.tensor([[[0.0, -2.0, 0.1], [2.0, 0.0, 0.2]]], dtype=F64)
    assert_close(similarity_matrix(p), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("align_corners", ALIGN)
def test_constrained_grids_equal_affine_grids(align_corners: bool) -> None:
    size = (2, 1, 5, 6)
    t = torch.randn(2, 2, dtype=F64)
    a = torch.randn(2, 3, dtype=F64)
    s = torch.randn(2, 4, dtype=F64)
    for grid_fn, matrix_fn, params in [
        (translation_grid, translation_matrix, t),
        (attention_grid, attention_matrix, a),
        (similarity_grid, similarity_matrix, s),
    ]:
        expected = F.affine_grid(matrix_fn(params), size, align_corners=align_corners)
        assert_close(grid_fn(params, size, align_corners), expected)


def test_similarity_is_scaled_rotation() -> None:
    # the linear part of a similarity is s * (an orthogonal matrix with determinant 1)
    params = torch.tensor([[1.7, 0.4, 0.0, 0.0], [0.5, -2.0, 0.3, 0.1]], dtype=F64)
    linear = similarity_matrix(params)[:, :, :2]
    s = params[:, 0, None, None]
    gram = linear.transpose(1, 2) @ linear / s**2
    assert_close(gram, torch.eye(2, dtype=F64).expand(2, 2, 2))
    assert_close(torch.linalg.det(linear), params[:, 0] ** 2)


# ------------------------------------------------------------------ identity for every grid


@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize("size", [(1, 1), (4, 4), (5, 7), (6, 3)])
@pytest.mark.parametrize("name", list(GRID_GENERATORS))
def test_identity_parameters_give_the_identity_grid(
    name: str, size: tuple[int, int], align_corners: bool, dtype
) -> None:
    generator = make_grid_generator(name, dtype=dtype)
    theta = generator.identity(dtype=dtype).expand(2, -1)
    assert theta.shape == (2, generator.num_params)
    grid = generator(theta, size, align_corners=align_corners)
    mesh = normalized_meshgrid(size, align_corners=align_corners, dtype=dtype)
    expected = mesh.expand(2, -1, -1, -1)
    assert grid.dtype == dtype
    assert_close(grid, expected, atol=1e-6 if dtype == torch.float32 else 1e-12)


def test_grid_modules_match_functions() -> None:
    size = (2, 3, 5, 4)
    cases = [
        (AffineGrid(), affine_grid, torch.randn(2, 6, dtype=F64)),
        (TranslationGrid(), translation_grid, torch.randn(2, 2, dtype=F64)),
        (AttentionGrid(), attention_grid, torch.randn(2, 3, dtype=F64)),
        (SimilarityGrid(), similarity_grid, torch.randn(2, 4, dtype=F64)),
        (ProjectiveGrid(), projective_grid, _random_homography(2)),
        (ThinPlateSplineGrid(dtype=F64), tps_grid, _perturbed_control_points().expand(2, -1, -1)
         .reshape(2, 32)),
    ]
    for module, fn, theta in cases:
        for align_corners in ALIGN:
            assert_close(module(theta, size, align_corners=align_corners),
                         fn(theta, size, align_corners))
    assert TPSGrid is ThinPlateSplineGrid
    assert [GRID_GENERATORS[n]().num_params for n in GRID_GENERATORS] == [6, 2, 3, 4, 8, 32]


# ------------------------------------------------------------------ projective


def _random_homography(batch: int, scale: float = 0.1, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    identity = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], dtype=F64)
    return identity + scale * torch.randn(batch, 8, generator=g, dtype=F64)


@pytest.mark.parametrize("align_corners", ALIGN)
def test_projective_with_zero_perspective_is_affine(align_corners: bool) -> None:
    theta = torch.randn(2, 6, dtype=F64)
    homography = torch.cat((theta, torch.zeros(2, 2, dtype=F64)), dim=1)
    size = (2, 1, 5, 6)
    assert_close(projective_grid(homography, size, align_corners),
                 affine_grid(theta, size, align_corners))
    # the 3 x 3 form is accepted, and any non-zero scale of it gives the same grid
    full = torch.cat((homography, torch.ones(2, 1, dtype=F64)), dim=1).reshape(2, 3, 3)
    assert_close(projective_grid(3.0 * full, size, align_corners),
                 affine_grid(theta, size, align_corners))


@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize("out_size", [(9, 11), (6, 7)])
def test_projective_matches_kornia_warp_perspective(
    out_size: tuple[int, int], align_corners: bool
) -> None:
    from attnlab.vision.sampler import bilinear_sample

    image = torch.rand(2, 3, 9, 11, dtype=F64)
    theta = _random_homography(2)
    # ours: normalised output -> normalised input. kornia: pixel input -> pixel output, so
    # M = denormalize(inv(H)) with the same align_corners on both sides.
    H = torch.cat((theta, torch.ones(2, 1, dtype=F64)), dim=1).reshape(2, 3, 3)
    M = kornia_conversions.denormalize_homography(
        torch.linalg.inv(H), (9, 11), out_size, align_corners=align_corners
    )
    theirs = kornia_transform.warp_perspective(image, M, out_size, align_corners=align_corners)
    ours = bilinear_sample(image, projective_grid(theta, out_size, align_corners), align_corners)
    assert_close(ours, theirs, atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("align_corners", ALIGN)
def test_pixel_homography_converts_with_normalization_matrix(align_corners: bool) -> None:
    # a pixel-space map "output pixel (x, y) reads input pixel (x + 2, y - 1)" must shift the
    # content by exactly two columns left and one row down, under both conventions
    from attnlab.vision.sampler import bilinear_sample

    size = (6, 9)
    image = torch.rand(1, 1, *size, dtype=F64)
    M = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0], [0.0, 0.0, 1.0]], dtype=F64)
    N = normalization_matrix(size, align_corners=align_corners, dtype=F64)
    H = N @ M @ torch.linalg.inv(N)
    out = bilinear_sample(image, projective_grid(H[None], size, align_corners), align_corners)
    assert_close(out[..., 1:, :-2], image[..., :-1, 2:])
    # outside the input: zero padding (up to rounding of the matrix product)
    assert out[..., 0, :].abs().max() < 1e-12 and out[..., :, -2:].abs().max() < 1e-12


# ------------------------------------------------------------------ thin-plate spline


def test_regular_control_points_are_the_papers_sixteen() -> None:
    points = regular_control_points()
    assert points.shape == (16, 2)
    values = torch.tensor([-1.0, -1.0 / 3.0, 1.0 / 3.0, 1.0])
    assert_close(points[:4, 0], values)  # first row: x varies
    assert_close(points[::4, 1], values)  # first column: y varies
    assert ThinPlateSplineGrid().num_params == 32


def test_tps_maps_control_points_to_theta() -> None:
    control = regular_control_points(dtype=F64)
    theta = _perturbed_control_points(0.2)
    assert_close(tps_transform_points(control, theta, control), theta)
    # flat (B, 2K) parameters mean (x0, y0, x1, y1, ...)
    assert_close(tps_transform_points(control, theta.reshape(1, 32)), theta)


@pytest.mark.parametrize("size", [(4, 4), (7, 10)])
def test_tps_grid_passes_through_control_points(size: tuple[int, int]) -> None:
    # under align_corners=True, linspace(-1, 1, n) pixel centres contain the 4 x 4 control grid
    # when n - 1 is a multiple of 3
    height, width = size
    theta = _perturbed_control_points(0.2)
    grid = tps_grid(theta, size, True)[0]
    rows = [round(i * (height - 1) / 3) for i in range(4)]
    cols = [round(j * (width - 1) / 3) for j in range(4)]
    at_control = grid[rows][:, cols].reshape(16, 2)
    assert_close(at_control, theta[0])


@pytest.mark.parametrize("align_corners", ALIGN)
def test_tps_grid_matches_literal_reference(align_corners: bool) -> None:
    control = regular_control_points((3, 4), dtype=F64)
    g = torch.Generator().manual_seed(1)
    theta = control + 0.15 * torch.randn(control.shape, generator=g, dtype=F64)
    size = (5, 6)
    ours = tps_grid(theta[None], size, align_corners, control_points=control)[0]
    mesh = normalized_meshgrid(size, align_corners=align_corners, dtype=F64).reshape(-1, 2)
    expected = tps_evaluate(mesh.numpy(), control.numpy(), theta.numpy()).reshape(*size, 2)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-9, atol=1e-10)


def test_tps_with_affine_targets_is_that_affine_map() -> None:
    control = regular_control_points(dtype=F64)
    A = torch.tensor([[0.9, 0.2, 0.05], [-0.1, 1.1, -0.2]], dtype=F64)
    theta = (control @ A[:, :2].T + A[:, 2]).unsqueeze(0)
    weights, affine = tps_coefficients(theta, control)
    assert weights.abs().max() < 1e-12
    assert_close(affine[0], torch.cat((A[:, 2:].T, A[:, :2].T)))
    for align_corners in ALIGN:
        assert_close(tps_grid(theta, (5, 7), align_corners),
                     affine_grid(A[None], (5, 7), align_corners))


def test_tps_kernel_weights_satisfy_side_conditions() -> None:
    control = regular_control_points(dtype=F64)
    weights, _ = tps_coefficients(_perturbed_control_points(0.3), control)
    assert weights.abs().max() > 1e-3  # a real bending
    assert_close(weights[0].sum(0), torch.zeros(2, dtype=F64), atol=1e-12, rtol=0)
    assert_close(weights[0].T @ control, torch.zeros(2, 2, dtype=F64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("align_corners", ALIGN)
def test_tps_matches_kornia_evaluation_of_the_same_spline(align_corners: bool) -> None:
    # kornia's warp_image_tps evaluates f(x) = a_0 + A x + sum_k w_k U(|x - c_k|) with
    # U = r^2 log r (half of ours, r^2 log r^2), at the same normalised pixel centres, then
    # grid_samples. Fed our centres and coefficients (kernel weights doubled), it must agree.
    from attnlab.vision.sampler import bilinear_sample

    control = regular_control_points(dtype=F64)
    theta = _perturbed_control_points(0.15)
    image = torch.rand(1, 2, 9, 11, dtype=F64)
    weights, affine = tps_coefficients(theta, control)
    theirs = kornia_transform.warp_image_tps(
        image, control[None], 2.0 * weights, affine, align_corners=align_corners
    )
    ours = bilinear_sample(image, tps_grid(theta, (9, 11), align_corners), align_corners)
    assert_close(ours, theirs, atol=1e-10, rtol=1e-9)


# kornia's thin-plate spline: ``get_tps_transform(points_src, points_dst)`` centres the kernels
# at its FIRST argument, and that tensor is the ``kernel_centers`` every kornia warp function
# must receive. Our ``tps_grid(theta)`` maps the output-frame control points onto the
# input-frame points ``theta``, so kornia's composition is ``get_tps_transform(control, theta)``
# with ``kernel_centers=control`` (kornia's documented reversed order for warp_image_tps:
# output-frame points first). Both splines are Bookstein's, so they agree everywhere.
_KORNIA_TPS_NOTICE = "ignore:`get_tps_transform` centres its kernels:FutureWarning"


def _kornia_tps(control: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    kernel_weights, affine_weights = kornia_transform.get_tps_transform(control, theta)
    # kornia's own check that the centres are the ones the weights were fitted at
    assert_close(kernel_weights.mT @ control, torch.zeros(1, 2, 2, dtype=F64), atol=1e-10,
                 rtol=0)
    return kernel_weights, affine_weights


@pytest.mark.filterwarnings(_KORNIA_TPS_NOTICE)
@pytest.mark.parametrize("align_corners", ALIGN)
def test_kornia_warp_image_tps_agrees_for_affine_targets(align_corners: bool) -> None:
    # for targets that are an affine image of the control points both splines are that affine map
    from attnlab.vision.sampler import bilinear_sample

    control = regular_control_points(dtype=F64)[None]
    A = torch.tensor([[0.9, 0.1, 0.05], [-0.2, 1.1, 0.1]], dtype=F64)
    theta = control @ A[:, :2].T + A[:, 2]
    image = torch.rand(1, 1, 8, 9, dtype=F64)
    kw, aw = _kornia_tps(control, theta)
    theirs = kornia_transform.warp_image_tps(image, control, kw, aw, align_corners=align_corners)
    ours = bilinear_sample(image, tps_grid(theta, (8, 9), align_corners), align_corners)
    assert_close(ours, theirs, atol=1e-10, rtol=1e-9)


@pytest.mark.filterwarnings(_KORNIA_TPS_NOTICE)
@pytest.mark.parametrize("align_corners", ALIGN)
def test_kornia_warp_image_tps_agrees_for_non_affine_targets(align_corners: bool) -> None:
    from attnlab.vision.sampler import bilinear_sample

    control = regular_control_points(dtype=F64)[None]
    theta = _perturbed_control_points(0.15)
    image = torch.rand(2, 3, 8, 9, dtype=F64)
    kw, aw = _kornia_tps(control, theta)
    kw, aw = kw.expand(2, -1, -1), aw.expand(2, -1, -1)
    theirs = kornia_transform.warp_image_tps(
        image, control.expand(2, -1, -1), kw, aw, align_corners=align_corners
    )
    grid = tps_grid(theta.expand(2, -1, -1), (8, 9), align_corners)
    ours = bilinear_sample(image, grid, align_corners)
    assert_close(ours, theirs, atol=1e-10, rtol=1e-9)


@pytest.mark.filterwarnings(_KORNIA_TPS_NOTICE)
def test_kornia_get_tps_transform_agrees_at_control_points() -> None:
    control = regular_control_points(dtype=F64)[None]
    theta = _perturbed_control_points(0.15)
    kw, aw = _kornia_tps(control, theta)
    theirs = kornia_transform.warp_points_tps(control, control, kw, aw)
    assert_close(theirs, theta, atol=1e-12, rtol=0)
    assert_close(tps_transform_points(control, theta), theta, atol=1e-12, rtol=0)


@pytest.mark.filterwarnings(_KORNIA_TPS_NOTICE)
def test_kornia_get_tps_transform_between_control_points() -> None:
    # between the control points too: the same spline, not only the same interpolation values
    control = regular_control_points(dtype=F64)[None]
    theta = _perturbed_control_points(0.15)
    mesh = normalized_meshgrid((9, 11), dtype=F64).reshape(1, -1, 2)
    kw, aw = _kornia_tps(control, theta)
    theirs = kornia_transform.warp_points_tps(mesh, control, kw, aw)
    assert_close(tps_transform_points(mesh, theta), theirs, atol=1e-12, rtol=0)


def test_tps_module_buffers_follow_dtype_and_state_dict() -> None:
    tps = ThinPlateSplineGrid((3, 3))
    assert tps.num_params == 18
    assert list(tps.state_dict()) == ["control_points"]
    tps = tps.to(F64)
    assert tps.control_points.dtype == F64 and tps.solve_matrix().dtype == F64
    assert tps.solve_matrix() is tps.solve_matrix()  # cached
    grid = tps(tps.identity(dtype=F64)[None], (4, 5))
    assert grid.dtype == F64
    assert_close(grid[0], normalized_meshgrid((4, 5), dtype=F64))
    # the cached system follows in-place updates of the control points (load_state_dict)
    moved = ThinPlateSplineGrid((3, 3), dtype=F64)
    moved.load_state_dict({"control_points": 0.5 * moved.control_points})
    theta = moved.identity()[None]
    assert_close(moved(theta, (4, 5)), tps_grid(theta, (4, 5), control_points=moved.control_points))
    custom = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [0.0, 1.0], [0.2, 0.1]])
    assert ThinPlateSplineGrid(control_points=custom).num_params == 8


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("align_corners", ALIGN)
def test_gradcheck_every_grid(align_corners: bool) -> None:
    size = (1, 1, 3, 4)
    cases = [
        (affine_grid, torch.randn(1, 6, dtype=F64)),
        (translation_grid, torch.randn(1, 2, dtype=F64)),
        (attention_grid, torch.randn(1, 3, dtype=F64)),
        (similarity_grid, torch.randn(1, 4, dtype=F64)),
        (projective_grid, _random_homography(1)),
    ]
    control = regular_control_points((2, 3), dtype=F64)  # few points keep gradcheck fast
    small_tps = partial(tps_grid, control_points=control)
    cases.append((small_tps, (control + 0.1 * torch.randn(6, 2, dtype=F64)).reshape(1, 12)))
    for fn, theta in cases:
        theta = theta.clone().requires_grad_()
        assert gradcheck(lambda t, fn=fn: fn(t, size, align_corners), [theta]), fn


def test_gradcheck_tps_control_points() -> None:
    control = regular_control_points((2, 3), dtype=F64).requires_grad_()
    theta = (control.detach() + 0.1 * torch.randn(6, 2, dtype=F64))[None].requires_grad_()
    assert gradcheck(
        lambda t, c: tps_grid(t, (3, 4), True, control_points=c), [theta, control]
    )


# ------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(
    ("fn", "theta"),
    [
        (affine_grid, torch.zeros(2, 5)),
        (affine_grid, torch.zeros(2, 3, 2)),
        (affine_grid, torch.zeros(6)),
        (translation_grid, torch.zeros(2, 3)),
        (attention_grid, torch.zeros(2, 2)),
        (similarity_grid, torch.zeros(2, 6)),
        (projective_grid, torch.zeros(2, 9)),
        (tps_grid, torch.zeros(2, 30)),
        (tps_grid, torch.zeros(2, 16, 3)),
    ],
)
def test_wrong_theta_shape_raises(fn, theta: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="theta"):
        fn(theta, (3, 4))


def test_bad_sizes_raise() -> None:
    theta = torch.zeros(2, 6)
    for size in [(0, 4), (3, 0), (2, 1, 0, 4), (-1, 3)]:
        with pytest.raises(ValueError, match="size"):
            affine_grid(theta, size)
    with pytest.raises(ValueError, match="size"):
        affine_grid(theta, (3,))
    with pytest.raises(ValueError, match="size"):
        affine_grid(theta, (3, 4.0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="size"):
        affine_grid(theta, 12)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch size"):
        affine_grid(theta, (3, 1, 3, 4))
    with pytest.raises(ValueError, match="size"):
        tps_grid(torch.zeros(1, 32), (0, 0))
    with pytest.raises(ValueError, match="size"):
        pixel_to_normalized(torch.zeros(1, 2), (0, 3))


def test_bad_theta_types_and_points_raise() -> None:
    with pytest.raises(TypeError, match="theta"):
        affine_grid([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]], (3, 4))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="theta"):
        affine_grid(torch.zeros(1, 6, dtype=torch.long), (3, 4))
    with pytest.raises(ValueError, match="points"):
        pixel_to_normalized(torch.zeros(4, 3), (3, 4))
    with pytest.raises(TypeError, match="align_corners"):
        affine_grid(torch.zeros(1, 6), (3, 4), 1)  # type: ignore[arg-type]


def test_bad_control_points_raise() -> None:
    collinear = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    with pytest.raises(ValueError, match="control_points"):
        tps_grid(collinear[None], (3, 4), control_points=collinear)
    with pytest.raises(ValueError, match="control_points"):
        ThinPlateSplineGrid(control_points=torch.zeros(4, 3))
    with pytest.raises(ValueError, match="grid_shape"):
        ThinPlateSplineGrid((1, 4))


def test_unknown_grid_name_raises() -> None:
    with pytest.raises(ValueError, match="grid"):
        make_grid_generator("elastic")
    generator = AffineGrid()
    assert make_grid_generator(generator) is generator
