"""Measurement primitives: round-robin timing, peak memory of a known allocation, fits."""

from __future__ import annotations

import math

import pytest

from attnlab.bench.measure import (
    allocation_workload,
    crossover_length,
    fit_exponent,
    matmul_gflops,
    peak_memory_mib,
    peak_memory_supported,
    time_calls,
)


def test_time_calls_round_robin_order_and_counts() -> None:
    order: list[str] = []
    calls = {name: (lambda n=name: order.append(n)) for name in ("a", "b", "c")}
    times = time_calls(calls, repeats=3, warmup=1)
    assert list(times) == ["a", "b", "c"]
    assert all(len(t.seconds) == 3 and min(t.seconds) >= 0 for t in times.values())
    # 4 rounds, the order reversed every other round
    assert order == ["a", "b", "c", "c", "b", "a", "a", "b", "c", "c", "b", "a"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"repeats": 0}, "repeats"), ({"repeats": 2, "warmup": -1}, "warmup")],
)
def test_time_calls_rejects_bad_counts(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        time_calls({"a": lambda: None}, **kwargs)
    with pytest.raises(ValueError, match="calls"):
        time_calls({}, repeats=1)


@pytest.mark.skipif(not peak_memory_supported(), reason="needs Linux /proc/self/clear_refs")
def test_peak_memory_of_a_known_allocation() -> None:
    # the child fills a 200 MiB tensor: its peak resident growth must count every page of it
    peak = peak_memory_mib(allocation_workload, {"mib": 200}, threads=1)
    assert 200 <= peak < 300


def test_peak_memory_rejects_workloads_the_child_cannot_import() -> None:
    if not peak_memory_supported():
        pytest.skip("needs Linux /proc/self/clear_refs")

    def local_workload(mib: int) -> object:  # not importable by name
        return allocation_workload(mib)

    with pytest.raises(ValueError, match="workload"):
        peak_memory_mib(local_workload, {"mib": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workload"):
        peak_memory_mib(lambda: (lambda: None), {})
    with pytest.raises(ValueError, match="kwargs"):
        peak_memory_mib(allocation_workload, {"mib": object()})


def test_fit_exponent_recovers_power_laws() -> None:
    sizes = [256, 512, 1024, 2048]
    for k in (0.5, 1.0, 2.0, 3.0):
        times = [3e-4 * n**k for n in sizes]
        assert fit_exponent(sizes, times) == pytest.approx(k, abs=1e-9)
    # multiplicative noise of +-5% moves the exponent by little
    noisy = [1e-6 * n**2 * f for n, f in zip(sizes, (1.05, 0.95, 1.05, 0.95), strict=True)]
    assert fit_exponent(sizes, noisy) == pytest.approx(2.0, abs=0.06)
    # a constant overhead flattens the small sizes: the fit is the log-log slope, below 1
    assert 0 < fit_exponent(sizes, [0.1 + 1e-6 * n for n in sizes]) < 0.5


@pytest.mark.parametrize(
    ("sizes", "times", "match"),
    [
        ([1, 2], [1.0], "length"),
        ([4, 4], [1.0, 2.0], "distinct"),
        ([1, 2], [1.0, 0.0], "times"),
        ([0, 2], [1.0, 2.0], "sizes"),
    ],
)
def test_fit_exponent_rejects_bad_data(sizes: list[float], times: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_exponent(sizes, times)


def test_crossover_of_a_linear_and_a_quadratic_cost() -> None:
    sizes = [256, 512, 1024, 2048, 4096]
    linear = [2e-3 * n for n in sizes]  # slower below n = 1000
    quadratic = [2e-6 * n * n for n in sizes]
    assert crossover_length(sizes, linear, quadratic) == pytest.approx(1000.0, rel=1e-9)
    # unsorted input gives the same answer
    order = [3, 0, 4, 1, 2]
    assert crossover_length(
        [sizes[i] for i in order], [linear[i] for i in order], [quadratic[i] for i in order]
    ) == pytest.approx(1000.0, rel=1e-9)
    # always faster, or always slower: no crossing among the measured sizes
    assert crossover_length(sizes, [1e-9] * 5, quadratic) is None
    assert crossover_length(sizes, [1e9] * 5, quadratic) is None


def test_matmul_roofline_is_positive() -> None:
    roof = matmul_gflops(128, repeats=3, warmup=1)
    assert roof.size == 128 and len(roof.timing.seconds) == 3
    assert math.isfinite(roof.median_gflops) and roof.best_gflops >= roof.median_gflops > 0
    assert roof.to_dict()["dtype"] == "float32"
    with pytest.raises(ValueError, match="size"):
        matmul_gflops(0)
