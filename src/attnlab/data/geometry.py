"""Pointer-network tasks with exact labels: planar convex hull, small TSP and number sorting.

The three problems of Vinyals, Fortunato and Jaitly, "Pointer Networks",
https://arxiv.org/abs/1506.03134 (section 4): the input is a set of ``n`` points drawn uniformly
in the unit square ``[0, 1]^2`` (or ``n`` numbers in ``[0, 1)`` for sorting), the output a
sequence of *indices into the input*.

* **Convex hull** (section 4.2): the hull vertices, counter-clockwise, starting from the vertex
  with the lowest index (the paper's convention). Computed with Andrew's monotone chain whose
  orientation test is exact: a floating-point determinant is trusted only when it exceeds a
  forward error bound (Shewchuk, "Adaptive Precision Floating-Point Arithmetic and Fast Robust
  Geometric Predicates", 1997, ``ccwerrboundA``), otherwise it is recomputed in rational
  arithmetic. Collinear points on a hull edge are not vertices.
* **Travelling salesman** (section 4.4): the exact optimal closed tour by Held-Karp dynamic
  programming (``O(2^n n^2)``, meant for ``n <= 10``), written canonically: it starts at point 0
  and, of its two directions, the one whose second point has the smaller index.
* **Sorting**: the pointer targets are the ``argsort`` of the numbers (ascending, stable).

Determinism: instance ``i`` of a generator depends only on ``(seed, task, i)`` (one
:class:`numpy.random.Generator` per instance, seeded from a :class:`numpy.random.SeedSequence`),
so the first ``m`` instances of a set of ``N`` are the set of ``m``. Coordinates are rounded to
float32 *before* the labels are computed, so the labels are exact for the values a float32 model
reads.

Batching: :func:`pad_batch` pads instances of different ``n`` into a :class:`PointerBatch`
(inputs padded with zeros, lengths, targets padded with :data:`IGNORE_INDEX`), optionally with the
end-of-output pointer of :class:`attnlab.architectures.pointer.PointerNetwork` (index 0 = stop,
index ``j + 1`` = input ``j``).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "IGNORE_INDEX",
    "MAX_TSP_POINTS",
    "TASKS",
    "PointerBatch",
    "PointerInstance",
    "convex_hull",
    "convex_hull_instances",
    "hull_area_coverage",
    "is_simple_polygon",
    "make_instances",
    "optimal_tour",
    "pad_batch",
    "polygon_area",
    "sorting_instances",
    "sorting_targets",
    "tour_length",
    "tsp_instances",
    "uniform_points",
]

IGNORE_INDEX = -100
"""Target value of padded output steps (the default ``ignore_index`` of PyTorch's losses)."""

TASKS: tuple[str, ...] = ("convex_hull", "tsp", "sort")
"""Task names accepted by :func:`make_instances`."""

MAX_TSP_POINTS = 12
"""Largest ``n`` :func:`optimal_tour` accepts (Held-Karp memory grows as ``2^n n``)."""

# Shewchuk's ccwerrboundA = (3 + 16 eps) eps with eps = 2^-53: when |det| exceeds this factor
# times the sum of the absolute products, the sign of the floating-point determinant is exact.
_CCW_ERRBOUND = (3.0 + 16.0 * 2.0**-53) * 2.0**-53


class PointerInstance(NamedTuple):
    """One problem instance.

    Attributes:
        inputs: ``(n, D)`` float64 array (``D = 2`` for points, ``1`` for numbers), values
            representable in float32.
        target: the output sequence, indices into ``inputs`` (0-based).
    """

    inputs: np.ndarray
    target: list[int]


class PointerBatch(NamedTuple):
    """Padded instances of possibly different ``n``.

    Attributes:
        inputs: ``(B, N, D)`` float32, zero beyond each instance's length.
        lengths: ``(B,)`` int64, the ``n`` of each instance.
        targets: ``(B, T)`` int64 pointer targets, :data:`IGNORE_INDEX` beyond each instance's
            output length. With ``end_token=True`` index 0 is the stop pointer and input ``j`` is
            ``j + 1``; every target sequence then ends with 0.
    """

    inputs: Tensor
    lengths: Tensor
    targets: Tensor


# --------------------------------------------------------------------------------------------
# Exact geometry
# --------------------------------------------------------------------------------------------


def _orientation(a: Sequence[float], b: Sequence[float], c: Sequence[float]) -> int:
    """Sign of the cross product ``(b - a) x (c - a)``: +1 left turn (ccw), -1 right, 0 collinear.

    Exact for any finite floats: the fast floating-point value is used when its error bound
    certifies its sign, otherwise the determinant is evaluated in rational arithmetic.
    """
    left = (b[0] - a[0]) * (c[1] - a[1])
    right = (b[1] - a[1]) * (c[0] - a[0])
    det = left - right
    bound = _CCW_ERRBOUND * (abs(left) + abs(right))
    if det > bound:
        return 1
    if -det > bound:
        return -1
    ax, ay, bx, by, cx, cy = (Fraction(float(v)) for v in (a[0], a[1], b[0], b[1], c[0], c[1]))
    exact = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    return (exact > 0) - (exact < 0)


def _check_points(points: object, name: str = "points") -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array


def convex_hull(points: object) -> list[int]:
    """Indices of the convex-hull vertices, counter-clockwise from the lowest index.

    Andrew's monotone chain with an exact orientation test; points on a hull edge (collinear) and
    duplicates are not vertices. Fewer than 3 non-collinear points give the extreme points.

    Args:
        points: ``(n, 2)`` coordinates.

    Returns:
        The vertex indices, starting at the smallest index, counter-clockwise (the ordering of
        Vinyals et al. 2015, section 4.2).

    Example:
        >>> convex_hull([[0.5, 0.5], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
        [1, 2, 3, 4]
    """
    xy = _check_points(points)
    n = xy.shape[0]
    order = sorted(range(n), key=lambda i: (xy[i, 0], xy[i, 1], i))
    unique: list[int] = []
    for i in order:  # drop exact duplicates, keeping the lowest index
        if unique and xy[unique[-1], 0] == xy[i, 0] and xy[unique[-1], 1] == xy[i, 1]:
            if i < unique[-1]:
                unique[-1] = i
            continue
        unique.append(i)
    if len(unique) <= 2:
        return sorted(unique)
    pts = [(float(xy[i, 0]), float(xy[i, 1])) for i in range(n)]

    def chain(seq: list[int]) -> list[int]:
        out: list[int] = []
        for i in seq:
            while len(out) >= 2 and _orientation(pts[out[-2]], pts[out[-1]], pts[i]) <= 0:
                out.pop()
            out.append(i)
        return out

    lower = chain(unique)
    upper = chain(unique[::-1])
    hull = lower[:-1] + upper[:-1]  # counter-clockwise
    if len(hull) < 3:  # all points collinear: the two extremes
        return sorted(set(hull))
    start = hull.index(min(hull))
    return hull[start:] + hull[:start]


def polygon_area(points: object, order: Sequence[int]) -> float:
    """Signed area of the polygon visiting ``points[order]`` (shoelace; > 0 when ccw).

    Example:
        >>> polygon_area([[0, 0], [1, 0], [1, 1], [0, 1]], [0, 1, 2, 3])
        1.0
    """
    xy = _check_points(points)
    if len(order) < 3:
        return 0.0
    p = xy[list(order)]
    q = np.roll(p, -1, axis=0)
    return float(0.5 * np.sum(p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]))


def _segments_cross(a: tuple[float, float], b: tuple[float, float],
                    c: tuple[float, float], d: tuple[float, float]) -> bool:
    """Whether the closed segments ``ab`` and ``cd`` intersect (exact orientation tests)."""
    o1, o2 = _orientation(a, b, c), _orientation(a, b, d)
    o3, o4 = _orientation(c, d, a), _orientation(c, d, b)
    if o1 != o2 and o3 != o4 and 0 not in (o1, o2, o3, o4):
        return True

    def on_segment(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> bool:
        return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(
            p[1], q[1]
        )

    return (
        (o1 == 0 and on_segment(a, b, c))
        or (o2 == 0 and on_segment(a, b, d))
        or (o3 == 0 and on_segment(c, d, a))
        or (o4 == 0 and on_segment(c, d, b))
    )


def is_simple_polygon(points: object, order: Sequence[int]) -> bool:
    """Whether ``points[order]`` is a simple polygon: >= 3 distinct vertices, no edge crossings.

    Example:
        >>> square = [[0, 0], [1, 0], [1, 1], [0, 1]]
        >>> is_simple_polygon(square, [0, 1, 2, 3]), is_simple_polygon(square, [0, 2, 1, 3])
        (True, False)
    """
    xy = _check_points(points)
    order = list(order)
    m = len(order)
    if m < 3 or len(set(order)) != m or any(not 0 <= i < len(xy) for i in order):
        return False
    pts = [(float(xy[i, 0]), float(xy[i, 1])) for i in order]
    edges = [(pts[k], pts[(k + 1) % m]) for k in range(m)]
    for i in range(m):
        for j in range(i + 1, m):
            if j == i + 1 or (i == 0 and j == m - 1):  # neighbours share a vertex
                continue
            if _segments_cross(*edges[i], *edges[j]):
                return False
    return abs(polygon_area(xy, order)) > 0


def hull_area_coverage(points: object, predicted: Sequence[int], hull: Sequence[int]) -> float:
    """Area of the predicted polygon over the area of the true hull; 0 for an invalid polygon.

    Vinyals et al. (section 4.2) report the area covered by the predicted hull. A prediction that
    is not a simple polygon (crossing edges, repeated or out-of-range indices, fewer than 3
    vertices) covers 0 here. Every polygon on the input points lies inside the hull, so the
    coverage is in ``[0, 1]`` and equals 1 for the correct hull in either orientation.

    Example:
        >>> pts = [[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]]
        >>> hull_area_coverage(pts, [0, 1, 2, 3], [0, 1, 2, 3]), hull_area_coverage(pts, [0, 1, 2], [0, 1, 2, 3])
        (1.0, 0.5)
    """  # noqa: E501
    xy = _check_points(points)
    true_area = abs(polygon_area(xy, hull))
    if true_area == 0 or not is_simple_polygon(xy, predicted):
        return 0.0
    return abs(polygon_area(xy, predicted)) / true_area


def tour_length(points: object, tour: Sequence[int]) -> float:
    """Length of the closed tour visiting ``points[tour]`` and returning to the start.

    Example:
        >>> tour_length([[0, 0], [1, 0], [1, 1], [0, 1]], [0, 1, 2, 3])
        4.0
    """
    xy = _check_points(points)
    if len(tour) < 2:
        return 0.0
    p = xy[list(tour)]
    return float(np.sum(np.linalg.norm(p - np.roll(p, -1, axis=0), axis=1)))


def optimal_tour(points: object) -> list[int]:
    """The exact shortest closed tour (Held-Karp), canonical: starts at 0, ``t[1] < t[-1]``.

    Bellman (1962) / Held and Karp (1962) dynamic programming over subsets,
    ``C(S, j) = min_{k in S \\ {j}} C(S \\ {j}, k) + d(k, j)``, in ``O(2^n n^2)`` time.

    Args:
        points: ``(n, 2)`` coordinates, ``1 <= n <=`` :data:`MAX_TSP_POINTS`.

    Example:
        >>> optimal_tour([[0, 0], [1, 1], [1, 0], [0, 1]])
        [0, 2, 1, 3]
    """
    xy = _check_points(points)
    n = xy.shape[0]
    if not 1 <= n <= MAX_TSP_POINTS:
        raise ValueError(f"points must hold 1 to {MAX_TSP_POINTS} points for Held-Karp, got {n}")
    if n <= 3:
        return list(range(n))
    dist = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1)
    m = n - 1  # cities 1..n-1 as bits 0..m-1; the tour starts and ends at city 0
    full = 1 << m
    subsets = np.arange(full)
    member = (subsets[:, None] >> np.arange(m)[None, :]) & 1 == 1  # (2^m, m)
    cost = np.full((full, m), np.inf)
    parent = np.full((full, m), -1, dtype=np.int64)
    cost[1 << np.arange(m), np.arange(m)] = dist[0, 1:]
    sizes = member.sum(1)
    inner = dist[1:, 1:]  # (k, j)
    for size in range(2, m + 1):  # subsets of one size at once: C(S, j) from C(S - {j}, k)
        level = subsets[sizes == size]
        for j in range(m):
            with_j = level[member[level, j]]
            prev = with_j ^ (1 << j)
            candidates = cost[prev] + inner[:, j][None, :]  # (s, k); k outside prev is inf
            best = np.argmin(candidates, axis=1)
            cost[with_j, j] = candidates[np.arange(len(with_j)), best]
            parent[with_j, j] = best
    closing = cost[full - 1] + dist[1:, 0]
    last = int(np.argmin(closing))
    path = []
    subset, j = full - 1, last
    while j >= 0:
        path.append(j + 1)
        subset, j = subset ^ (1 << j), int(parent[subset, j])
    tour = [0, *path[::-1]]
    if tour[1] > tour[-1]:
        tour = [0, *tour[1:][::-1]]
    return tour


def sorting_targets(values: object) -> list[int]:
    """Pointer targets of sorting: the stable ascending ``argsort``.

    Example:
        >>> sorting_targets([0.3, 0.1, 0.2])
        [1, 2, 0]
    """
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    return [int(i) for i in np.argsort(array, kind="stable")]


# --------------------------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------------------------


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _sizes(n: int | tuple[int, int], name: str = "n") -> tuple[int, int]:
    if isinstance(n, tuple):
        if len(n) != 2:
            raise ValueError(f"{name} must be an int or a (min, max) pair, got {n!r}")
        low, high = _check_count(n[0], name, 1), _check_count(n[1], name, 1)
        if low > high:
            raise ValueError(f"{name} must satisfy min <= max, got {n!r}")
        return low, high
    size = _check_count(n, name, 1)
    return size, size


def _instance_rng(seed: int, task: str, index: int) -> np.random.Generator:
    entropy = [seed & 0xFFFFFFFF, seed >> 32, zlib.crc32(task.encode()), index]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def uniform_points(n: int, *, seed: int, index: int = 0, dim: int = 2,
                   task: str = "points") -> np.ndarray:
    """``n`` points uniform in ``[0, 1)^dim``, rounded to float32, as float64; deterministic.

    Example:
        >>> p = uniform_points(5, seed=0)
        >>> p.shape, bool((p == p.astype("float32")).all()), bool((uniform_points(5, seed=0) == p).all())
        ((5, 2), True, True)
    """  # noqa: E501
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    n = _check_count(n, "n", 1)
    rng = _instance_rng(int(seed), task, index)
    return rng.random((n, dim)).astype(np.float32).astype(np.float64)


def _generate(task: str, num_samples: int, n: int | tuple[int, int], seed: int,
              start: int) -> list[PointerInstance]:
    num_samples = _check_count(num_samples, "num_samples", 0)
    start = _check_count(start, "start", 0)
    low, high = _sizes(n)
    if task == "tsp" and high > MAX_TSP_POINTS:
        raise ValueError(f"n must be <= {MAX_TSP_POINTS} for exact TSP labels, got {n!r}")
    out = []
    for index in range(start, start + num_samples):
        rng = _instance_rng(seed, task + "/size", index)
        size = int(rng.integers(low, high + 1))
        dim = 1 if task == "sort" else 2
        x = uniform_points(size, seed=seed, index=index, dim=dim, task=task)
        if task == "convex_hull":
            target = convex_hull(x)
        elif task == "tsp":
            target = optimal_tour(x)
        else:
            target = sorting_targets(x[:, 0])
        out.append(PointerInstance(x, target))
    return out


def convex_hull_instances(num_samples: int, n: int | tuple[int, int], *, seed: int,
                          start: int = 0) -> list[PointerInstance]:
    """Convex-hull instances: uniform points in the unit square and their exact hull.

    Args:
        num_samples: number of instances.
        n: points per instance, or a ``(min, max)`` range drawn uniformly per instance.
        seed: the seed; instance ``i`` depends only on ``(seed, i)``.
        start: index of the first instance (disjoint ranges give disjoint sets).

    Example:
        >>> inst = convex_hull_instances(2, 6, seed=0)
        >>> inst[0].inputs.shape, inst[0].target == convex_hull(inst[0].inputs)
        ((6, 2), True)
    """
    return _generate("convex_hull", num_samples, n, seed, start)


def tsp_instances(num_samples: int, n: int | tuple[int, int], *, seed: int,
                  start: int = 0) -> list[PointerInstance]:
    """TSP instances with the exact optimal tour (``n <= 12``); arguments as
    :func:`convex_hull_instances`.

    Example:
        >>> inst = tsp_instances(1, 5, seed=0)[0]
        >>> inst.target[0], sorted(inst.target) == list(range(5))
        (0, True)
    """
    return _generate("tsp", num_samples, n, seed, start)


def sorting_instances(num_samples: int, n: int | tuple[int, int], *, seed: int,
                      start: int = 0) -> list[PointerInstance]:
    """Sorting instances: ``n`` numbers uniform in ``[0, 1)`` (inputs ``(n, 1)``) and their
    ascending ``argsort``; arguments as :func:`convex_hull_instances`.

    Example:
        >>> inst = sorting_instances(1, 4, seed=0)[0]
        >>> bool((inst.inputs[inst.target, 0][1:] >= inst.inputs[inst.target, 0][:-1]).all())
        True
    """
    return _generate("sort", num_samples, n, seed, start)


def make_instances(task: str, num_samples: int, n: int | tuple[int, int], *, seed: int,
                   start: int = 0) -> list[PointerInstance]:
    """Instances of ``task`` (one of :data:`TASKS`).

    Example:
        >>> len(make_instances("sort", 3, (2, 4), seed=1))
        3
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return _generate(task, num_samples, n, seed, start)


def pad_batch(instances: Sequence[PointerInstance], *, end_token: bool = False,
              max_length: int | None = None) -> PointerBatch:
    """Pad instances of different ``n`` into one :class:`PointerBatch`.

    Args:
        instances: the instances (at least one).
        end_token: shift targets by one and append the stop pointer 0 (the convention of
            :class:`~attnlab.architectures.pointer.PointerNetwork` with ``end_token=True``).
        max_length: pad the inputs to this ``N`` (default: the largest ``n``).

    Example:
        >>> b = pad_batch(convex_hull_instances(3, (4, 6), seed=0), end_token=True)
        >>> b.inputs.dtype, tuple(b.lengths.shape), int(b.targets[0, len(convex_hull(
        ...     convex_hull_instances(1, (4, 6), seed=0)[0].inputs))])
        (torch.float32, (3,), 0)
    """
    if len(instances) == 0:
        raise ValueError("instances must hold at least one instance")
    lengths = [inst.inputs.shape[0] for inst in instances]
    dim = instances[0].inputs.shape[1]
    width = max(lengths) if max_length is None else _check_count(max_length, "max_length", 1)
    if width < max(lengths):
        raise ValueError(f"max_length={width} is shorter than the longest instance {max(lengths)}")
    shift = 1 if end_token else 0
    targets = [[t + shift for t in inst.target] + ([0] if end_token else []) for inst in instances]
    steps = max(len(t) for t in targets)
    x = torch.zeros(len(instances), width, dim, dtype=torch.float32)
    y = torch.full((len(instances), steps), IGNORE_INDEX, dtype=torch.long)
    for b, (inst, target) in enumerate(zip(instances, targets, strict=True)):
        if inst.inputs.shape[1] != dim:
            raise ValueError(f"instances[{b}] has inputs of size {inst.inputs.shape[1]}, not {dim}")
        x[b, : lengths[b]] = torch.from_numpy(inst.inputs.astype(np.float32))
        y[b, : len(target)] = torch.tensor(target, dtype=torch.long)
    return PointerBatch(x, torch.tensor(lengths, dtype=torch.long), y)
