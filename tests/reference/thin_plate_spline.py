"""Slow, literal thin-plate spline (Bookstein 1989), as used by the TPS spatial transformer.

F. L. Bookstein, "Principal warps: thin-plate splines and the decomposition of deformations",
IEEE TPAMI 11(6), 1989. Given control points p_k and targets q_k, the spline

    f(x) = a_0 + a_x x + a_y y + sum_k w_k U(|x - p_k|),   U(r) = r^2 log r^2, U(0) = 0,

satisfies f(p_k) = q_k and sum_k w_k = 0, sum_k w_k p_k = 0. The system is built entry by
entry with Python loops and solved with numpy in float64.
"""

from __future__ import annotations

import math

import numpy as np


def _kernel(r2: float) -> float:
    return 0.0 if r2 == 0.0 else r2 * math.log(r2)


def tps_fit(control: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """control (K, 2), targets (K, 2) -> w (K, 2), a (3, 2) (rows a_0, a_x, a_y)."""
    K = control.shape[0]
    L = np.zeros((K + 3, K + 3))
    for i in range(K):
        for j in range(K):
            dx = control[i, 0] - control[j, 0]
            dy = control[i, 1] - control[j, 1]
            L[i, j] = _kernel(dx * dx + dy * dy)
        L[i, K] = L[K, i] = 1.0
        L[i, K + 1] = L[K + 1, i] = control[i, 0]
        L[i, K + 2] = L[K + 2, i] = control[i, 1]
    rhs = np.zeros((K + 3, 2))
    rhs[:K] = targets
    solution = np.linalg.solve(L, rhs)
    return solution[:K], solution[K:]


def tps_evaluate(points: np.ndarray, control: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """f(x) for every row of points (N, 2) -> (N, 2)."""
    w, a = tps_fit(control, targets)
    out = np.zeros((points.shape[0], 2))
    for i in range(points.shape[0]):
        x, y = points[i]
        value = a[0] + a[1] * x + a[2] * y
        for k in range(control.shape[0]):
            dx, dy = x - control[k, 0], y - control[k, 1]
            value = value + w[k] * _kernel(dx * dx + dy * dy)
        out[i] = value
    return out
