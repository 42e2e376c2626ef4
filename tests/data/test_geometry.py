"""Pointer-network task generators: exact labels against brute-force oracles, determinism."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.data.geometry import (
    IGNORE_INDEX,
    _orientation,
    convex_hull,
    convex_hull_instances,
    hull_area_coverage,
    is_simple_polygon,
    make_instances,
    optimal_tour,
    pad_batch,
    polygon_area,
    sorting_instances,
    sorting_targets,
    tour_length,
    tsp_instances,
    uniform_points,
)


def _exact_orientation(a, b, c) -> int:
    ax, ay, bx, by, cx, cy = (Fraction(float(v)) for v in (*a, *b, *c))
    det = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    return (det > 0) - (det < 0)


def _brute_force_hull(points: np.ndarray) -> list[int]:
    """Hull vertices by definition: ``i -> j`` is a ccw hull edge when every other point lies
    strictly left of it, or on the segment between them (then it is not a vertex)."""
    n = len(points)
    nxt: dict[int, int] = {}
    for i, j in itertools.permutations(range(n), 2):
        ok = True
        for k in range(n):
            if k in (i, j):
                continue
            o = _exact_orientation(points[i], points[j], points[k])
            if o < 0:
                ok = False
                break
            if o == 0:  # collinear: must lie between i and j
                lo, hi = np.minimum(points[i], points[j]), np.maximum(points[i], points[j])
                if not ((lo <= points[k]).all() and (points[k] <= hi).all()):
                    ok = False
                    break
        if ok:
            nxt[i] = j
    start = min(nxt)
    hull = [start]
    while nxt[hull[-1]] != start:
        hull.append(nxt[hull[-1]])
    return hull


# -- convex hull -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 5, 8, 12])
def test_hull_matches_brute_force(n: int) -> None:
    for inst in convex_hull_instances(20, n, seed=n):
        assert inst.target == _brute_force_hull(inst.inputs)
        assert inst.target[0] == min(inst.target)
        assert polygon_area(inst.inputs, inst.target) > 0  # counter-clockwise


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=3, max_size=9,
                unique=True))
def test_hull_on_a_grid_with_collinear_points(cells) -> None:
    points = np.array(cells, dtype=np.float64) / 4
    if np.linalg.matrix_rank(points - points[0]) < 2:  # all collinear: the two extremes
        assert len(convex_hull(points)) == 2
        return
    assert convex_hull(points) == _brute_force_hull(points)


def test_duplicates_keep_the_lowest_index() -> None:
    pts = [[1, 1], [0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    assert convex_hull(pts) == [0, 4, 1, 2]


def test_hull_of_square_ignores_edge_midpoints_and_interior() -> None:
    pts = [[0.5, 0.5], [1, 0], [0.5, 0], [1, 1], [0, 1], [0, 0], [0, 0.5]]
    assert convex_hull(pts) == [1, 3, 4, 5]


def test_orientation_is_exact_near_degenerate_points() -> None:
    rng = np.random.default_rng(0)
    a = np.array([0.5, 0.5])
    c = np.array([12.0, 12.0])
    disagreements_with_naive = 0
    for _ in range(300):
        b = a + (c - a) * rng.random() + rng.integers(-3, 4, 2) * np.spacing(1.0)
        exact = _exact_orientation(a, b, c)
        assert _orientation(a, b, c) == exact
        naive = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        disagreements_with_naive += int(np.sign(naive) != exact)
    assert disagreements_with_naive > 0  # the test does reach the hard cases


def test_area_coverage_and_simple_polygons() -> None:
    pts = [[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]]
    hull = convex_hull(pts)
    assert hull_area_coverage(pts, hull, hull) == 1.0
    assert hull_area_coverage(pts, hull[::-1], hull) == 1.0  # orientation does not matter
    assert hull_area_coverage(pts, [0, 2, 1, 3], hull) == 0.0  # bow tie: not simple
    assert hull_area_coverage(pts, [0, 1], hull) == 0.0
    assert hull_area_coverage(pts, [0, 1, 1, 2], hull) == 0.0
    assert hull_area_coverage(pts, [0, 1, 4], hull) == pytest.approx(0.25)
    assert is_simple_polygon(pts, [0, 1, 2, 4, 3]) and not is_simple_polygon(pts, [0, 1, 9])


# -- TSP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [4, 6, 7])
def test_held_karp_equals_brute_force(n: int) -> None:
    for inst in tsp_instances(4, n, seed=1):
        best = min(tour_length(inst.inputs, [0, *p]) for p in itertools.permutations(range(1, n)))
        assert tour_length(inst.inputs, inst.target) == pytest.approx(best, rel=1e-12)
        assert inst.target[0] == 0 and inst.target[1] < inst.target[-1]
        assert sorted(inst.target) == list(range(n))


def test_tsp_small_and_too_large() -> None:
    assert optimal_tour([[0.1, 0.2]]) == [0]
    assert optimal_tour([[0, 0], [1, 0], [0, 1]]) == [0, 1, 2]
    with pytest.raises(ValueError, match="points"):
        optimal_tour(np.zeros((13, 2)))
    with pytest.raises(ValueError, match="n must be"):
        tsp_instances(1, 13, seed=0)


# -- sorting, determinism, batching ----------------------------------------------------------


def test_sorting_targets() -> None:
    assert sorting_targets([0.3, 0.1, 0.2, 0.1]) == [1, 3, 2, 0]  # stable
    for inst in sorting_instances(10, (2, 9), seed=4):
        v = inst.inputs[:, 0]
        assert (np.diff(v[inst.target]) >= 0).all()


def test_generators_are_deterministic_and_prefix_stable() -> None:
    a = convex_hull_instances(6, (4, 9), seed=3)
    b = convex_hull_instances(3, (4, 9), seed=3)
    c = convex_hull_instances(3, (4, 9), seed=3, start=3)
    for x, y in zip(a, [*b, *c], strict=True):
        assert np.array_equal(x.inputs, y.inputs) and x.target == y.target
    other = convex_hull_instances(6, (4, 9), seed=4)
    assert not all(np.array_equal(x.inputs, y.inputs) for x, y in zip(a, other, strict=True)
                   if x.inputs.shape == y.inputs.shape)
    sizes = {inst.inputs.shape[0] for inst in convex_hull_instances(40, (4, 9), seed=0)}
    assert sizes <= set(range(4, 10)) and len(sizes) > 3
    p = uniform_points(7, seed=11)
    assert np.array_equal(p, p.astype(np.float32).astype(np.float64))


def test_pad_batch() -> None:
    insts = make_instances("convex_hull", 4, (3, 7), seed=2)
    batch = pad_batch(insts, end_token=True)
    n = max(i.inputs.shape[0] for i in insts)
    assert batch.inputs.shape == (4, n, 2) and batch.inputs.dtype == torch.float32
    for b, inst in enumerate(insts):
        m = len(inst.target)
        assert batch.targets[b, :m].tolist() == [t + 1 for t in inst.target]
        assert int(batch.targets[b, m]) == 0
        assert bool((batch.targets[b, m + 1:] == IGNORE_INDEX).all())
        assert bool(batch.inputs[b, inst.inputs.shape[0]:].eq(0).all())
        assert int(batch.lengths[b]) == inst.inputs.shape[0]
    plain = pad_batch(insts, max_length=10)
    assert plain.inputs.shape[1] == 10
    assert plain.targets[0, : len(insts[0].target)].tolist() == insts[0].target


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ValueError, match="points"):
        convex_hull(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="points"):
        convex_hull([[0.0, math.nan]])
    with pytest.raises(ValueError, match="task"):
        make_instances("delaunay", 1, 5, seed=0)
    with pytest.raises(ValueError, match="num_samples"):
        convex_hull_instances(-1, 5, seed=0)
    with pytest.raises(ValueError, match="n must"):
        convex_hull_instances(1, (6, 4), seed=0)
    with pytest.raises(ValueError, match="seed"):
        uniform_points(3, seed=-1)
    with pytest.raises(ValueError, match="instances"):
        pad_batch([])
    with pytest.raises(ValueError, match="max_length"):
        pad_batch(convex_hull_instances(1, 5, seed=0), max_length=3)


def test_ignore_index_matches_the_pointer_network() -> None:
    from attnlab.architectures.pointer import IGNORE_INDEX as POINTER_IGNORE

    assert POINTER_IGNORE == IGNORE_INDEX == -100
