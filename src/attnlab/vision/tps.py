"""Thin-plate splines: the smooth map through control points used as a spatial transformation.

Bookstein, "Principal warps: thin-plate splines and the decomposition of deformations", TPAMI
1989; the 16-point "TPS" transformation of Jaderberg et al., "Spatial Transformer Networks",
https://arxiv.org/abs/1506.02025, section 4.1. Points are ``(x, y)`` in the normalised frame of
:mod:`attnlab.vision.grids` (see its Convention block); control points ``p_k`` live in the
**output** frame and their targets ``theta_k`` in the **input** frame. The sampling grid of a
spline is :func:`attnlab.vision.grids.tps_grid`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from attnlab.core.checks import check_tensor
from attnlab.vision._validation import check_points, check_theta
from attnlab.vision.coordinates import normalized_meshgrid

__all__ = ["regular_control_points", "tps_coefficients", "tps_transform_points"]

# check_control_points, tps_targets, tps_solve_matrix and tps_apply are for the grid generators of
# attnlab.vision.grids, not part of the public API.


def regular_control_points(
    grid_shape: tuple[int, int] = (4, 4),
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Control points on a regular ``rows x cols`` grid spanning ``[-1, 1]^2``, in ``(x, y)``.

    The default is the paper's 16 control points (4 x 4, section 4.1). Points are listed row by
    row (``y`` outer, ``x`` inner).

    Shape:
        - output: ``(rows * cols, 2)``

    Example:
        >>> regular_control_points((2, 2))
        tensor([[-1., -1.],
                [ 1., -1.],
                [-1.,  1.],
                [ 1.,  1.]])
    """
    if (
        not isinstance(grid_shape, Sequence)
        or len(grid_shape) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 2 for v in grid_shape)
    ):
        raise ValueError(f"grid_shape must be two ints >= 2 (rows, cols), got {grid_shape!r}")
    # both >= 2 points per axis: -1 and +1 are the first and the last point (align_corners)
    grid = normalized_meshgrid(grid_shape, align_corners=True, device=device, dtype=dtype)
    return grid.reshape(-1, 2)  # (rows * cols, 2), row by row


def _tps_kernel(squared_distance: Tensor) -> Tensor:
    # U(r) = r^2 log r^2 (Bookstein 1989), continuous with U(0) = 0; the safe log keeps the
    # gradient finite (and zero) at r = 0.
    positive = squared_distance > 0
    safe = torch.where(positive, squared_distance, torch.ones_like(squared_distance))
    return torch.where(positive, squared_distance * torch.log(safe), torch.zeros_like(safe))


def check_control_points(control_points: object) -> Tensor:
    """Check ``(K, 2)`` control points with ``K >= 3``."""
    points = check_tensor(control_points, "control_points", ndim=2, layout="(K, 2)")
    if points.shape[1] != 2 or points.shape[0] < 3:
        raise ValueError(
            f"control_points must have shape (K, 2) with K >= 3, got {tuple(points.shape)}"
        )
    return points


def _wide_dtype(device: torch.device) -> torch.dtype:
    # the spline is assembled in float64 (float32 where the backend has no float64)
    return torch.float32 if device.type == "mps" else torch.float64


def tps_solve_matrix(control_points: Tensor) -> Tensor:
    """The first ``K`` columns of ``L^{-1}``, ``(K + 3, K)``: coefficients = this @ targets.

    ``L = [[K, P], [P^T, 0]]`` with ``K_ij = U(|p_i - p_j|)`` and ``P = [1, p]``; solved and
    returned in float64 (the system is small and its conditioning grows with ``K``).
    """
    p = control_points.to(_wide_dtype(control_points.device))
    num = p.shape[0]
    kernel = _tps_kernel((p.unsqueeze(1) - p.unsqueeze(0)).square().sum(-1))  # (k, k)
    poly = torch.cat((torch.ones(num, 1, dtype=p.dtype, device=p.device), p), dim=1)  # (k, 3)
    top = torch.cat((kernel, poly), dim=1)
    bottom = torch.cat((poly.T, torch.zeros(3, 3, dtype=p.dtype, device=p.device)), dim=1)
    system = torch.cat((top, bottom), dim=0)  # (k + 3, k + 3)
    rhs = torch.eye(num + 3, num, dtype=p.dtype, device=p.device)
    try:
        solve = torch.linalg.solve(system, rhs)
    except RuntimeError as error:  # singular: collinear or repeated control points
        raise ValueError(
            "control_points define a singular thin-plate-spline system; they must be distinct "
            "and not all on one line"
        ) from error
    return solve


def tps_targets(theta: object, num_points: int) -> Tensor:
    """``theta`` ``(B, K, 2)`` or ``(B, 2K)`` as the ``(B, K, 2)`` targets of the control points."""
    layout = f"(B, {num_points}, 2) or (B, {2 * num_points})"
    theta = check_theta(theta, [(num_points, 2), (2 * num_points,)], layout)
    return theta.reshape(theta.shape[0], num_points, 2)


def _tps_basis(points: Tensor, control_points: Tensor) -> Tensor:
    """``[U(|x - p_1|), ..., U(|x - p_K|), 1, x, y]`` for every point; ``(..., K + 3)``."""
    diff = points.unsqueeze(-2) - control_points  # (..., k, 2)
    kernel = _tps_kernel(diff.square().sum(-1))  # (..., k)
    ones = torch.ones_like(points[..., :1])
    return torch.cat((kernel, ones, points), dim=-1)


def tps_coefficients(theta: Tensor, control_points: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Thin-plate-spline coefficients interpolating ``control_points[k] -> theta[:, k]``.

    Solves Bookstein's system (F. L. Bookstein, "Principal warps: thin-plate splines and the
    decomposition of deformations", TPAMI 1989) with the kernel centred at the control points:

    .. math::

        T(x) = a_0 + a_x x + a_y y + \\sum_k w_k\\, U(\\lVert x - p_k \\rVert), \\quad
        U(r) = r^2 \\log r^2, \\quad T(p_k) = \\theta_k, \\quad
        \\sum_k w_k = 0, \\; \\sum_k w_k p_k = 0.

    Convention:
        ``control_points`` ``p_k`` live in the **output** frame and ``theta_k`` in the **input**
        frame, both normalised. ``kernel_weights`` use ``U(r) = r^2 log r^2``; libraries with
        ``U(r) = r^2 log r`` (kornia) need ``2 * kernel_weights``. ``affine_weights`` rows are
        ``(a_0, a_x, a_y)``, columns the ``x`` and ``y`` components.

    Args:
        theta: the points ``theta_k`` of the input that the control points map to.
        control_points: ``p_k``; :func:`regular_control_points` (4 x 4) when ``None``.

    Shape:
        - theta: ``(B, K, 2)`` or ``(B, 2K)`` (``x0, y0, x1, y1, ...``)
        - control_points: ``(K, 2)``
        - output: ``kernel_weights`` ``(B, K, 2)``, ``affine_weights`` ``(B, 3, 2)``

    Example:
        >>> import torch
        >>> points = regular_control_points((3, 3))
        >>> w, a = tps_coefficients(points.unsqueeze(0), points)
        >>> bool(w.abs().max() < 1e-6), torch.allclose(a[0], torch.eye(3)[:, 1:], atol=1e-6)
        (True, True)
    """
    theta = check_tensor(theta, "theta", ndim=(2, 3), layout="(B, K, 2) or (B, 2K)")
    if control_points is None:
        control_points = regular_control_points(device=theta.device, dtype=theta.dtype)
    control_points = check_control_points(control_points)
    num = control_points.shape[0]
    targets = tps_targets(theta, num)
    solve = tps_solve_matrix(control_points)  # (k + 3, k)
    coefficients = torch.einsum("ck,bkj->bcj", solve, targets.to(solve.dtype)).to(targets.dtype)
    return coefficients[:, :num], coefficients[:, num:]


def tps_transform_points(
    points: Tensor, theta: Tensor, control_points: Tensor | None = None
) -> Tensor:
    """Map points of the output frame through the thin-plate spline of :func:`tps_coefficients`.

    ``tps_transform_points(control_points, theta, control_points) == theta`` up to rounding.

    Shape:
        - points: ``(B, N, 2)`` or ``(N, 2)`` (shared by the batch)
        - theta: ``(B, K, 2)`` or ``(B, 2K)``
        - output: ``(B, N, 2)``

    Example:
        >>> import torch
        >>> p = regular_control_points()
        >>> theta = (p + 0.1 * torch.randn(16, 2)).unsqueeze(0)
        >>> torch.allclose(tps_transform_points(p, theta, p), theta, atol=1e-5)
        True
    """
    points = check_points(points, "points")
    if points.dim() not in (2, 3):
        raise ValueError(f"points must have shape (B, N, 2) or (N, 2), got {tuple(points.shape)}")
    if control_points is None:
        control_points = regular_control_points(device=points.device, dtype=points.dtype)
    control_points = check_control_points(control_points)
    targets = tps_targets(theta, control_points.shape[0])
    return tps_apply(points, targets, control_points, tps_solve_matrix(control_points))


def tps_apply(points: Tensor, targets: Tensor, control_points: Tensor, solve: Tensor) -> Tensor:
    """The spline through ``control_points -> targets`` at ``points`` ``(N, 2)`` or ``(B, N, 2)``,
    with ``solve`` from :func:`tps_solve_matrix`: ``(B, N, 2)``."""
    # T(x) = basis(x) @ L^{-1}[:, :K] @ theta: linear in theta. The (..., n, k) mapping does
    # not depend on theta; it is assembled in the solve's wide dtype, where the cancellations
    # between the kernel and the affine terms are harmless, then cast to theta's dtype.
    basis = _tps_basis(points.to(solve.dtype), control_points.to(solve.dtype))
    mapping = (basis @ solve).to(targets.dtype)  # (..., n, k)
    if mapping.dim() == 2:
        return torch.einsum("nk,bkj->bnj", mapping, targets)
    if mapping.shape[0] != targets.shape[0]:
        raise ValueError(
            f"points has batch size {mapping.shape[0]} but theta has batch size {targets.shape[0]}"
        )
    return torch.einsum("bnk,bkj->bnj", mapping, targets)
