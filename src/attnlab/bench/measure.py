"""Measurement primitives of ``attnlab bench``: round-robin timing of arbitrary calls, peak memory
of one call in a fresh process, the machine's matmul roofline, and power-law fits.

Convention:
    * :func:`time_calls` times zero-argument callables with :func:`time.perf_counter`, round-robin
      with the order reversed every other round, exactly as
      :func:`attnlab.bench.timing.time_models` does for models, but without imposing ``eval()``
      or :func:`torch.inference_mode` (a callable may run a training step). It returns the same
      :class:`~attnlab.bench.timing.Timing` records: read the median, trust it as far as the
      inter-quartile range allows.
    * :func:`peak_memory_mib` runs one call of a *workload* in a fresh Python process. A workload
      is a module-level function ``workload(**kwargs) -> run`` that allocates everything the call
      needs (inputs, parameters, upstream gradients) and returns the zero-argument ``run``. The
      child builds and runs a small warm-up workload first (kernels loaded, thread pool started),
      then builds the measured one, reads its resident set size (``VmRSS``), resets its peak mark
      by writing ``5`` to ``/proc/self/clear_refs`` (which sets ``VmHWM`` to the current resident
      size), runs the call once and reads ``VmHWM``. The difference counts every page the call
      touched, whichever allocator served it: the extra memory the call needed, as the operating
      system saw it. A fresh process per call keeps pages freed by earlier calls (which an
      allocator keeps resident and reuses) from hiding a call's growth; ``getrusage`` is not used
      because on Linux a child inherits its parent's high-water mark across ``fork``/``exec``.
      Linux only (:func:`peak_memory_supported`).
    * :func:`matmul_gflops` measures the float32 ``n x n`` matrix product, ``2 n^3`` floating-point
      operations per call: the compute roofline against which attention figures are read.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch

from attnlab.bench.timing import Timing, time_calls

__all__ = [
    "Roofline",
    "Workload",
    "allocation_workload",
    "crossover_length",
    "fit_exponent",
    "matmul_gflops",
    "peak_memory_mib",
    "peak_memory_supported",
    "time_calls",
]

Workload = Callable[..., Callable[[], object]]
"""A module-level function ``(**kwargs) -> run`` whose ``run()`` is the call to measure."""

_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"


# ---------------------------------------------------------------------------------------------
# peak memory


def peak_memory_supported() -> bool:
    """Whether :func:`peak_memory_mib` can run here (Linux ``/proc`` with ``clear_refs``).

    Example:
        >>> isinstance(peak_memory_supported(), bool)
        True
    """
    return sys.platform.startswith("linux") and os.path.exists(_CLEAR_REFS)


def _status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    with open(_STATUS, encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # "VmHWM:   123456 kB"
    raise RuntimeError(f"{field} not found in {_STATUS}")


def _qualified_name(workload: Workload) -> tuple[str, str]:
    module_name = getattr(workload, "__module__", None)
    qualname = getattr(workload, "__qualname__", None)
    if not module_name or not qualname or module_name == "__main__" or "<" in qualname:
        raise ValueError(
            "workload must be a function defined at module level of an importable module, got "
            f"{workload!r}"
        )
    with contextlib.suppress(ImportError, AttributeError):
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
        if found is workload:
            return module_name, qualname
    raise ValueError(
        f"workload {module_name}.{qualname} cannot be imported back by name; define it at "
        "module level of an importable module"
    )


def peak_memory_mib(
    workload: Workload,
    kwargs: Mapping[str, Any] | None = None,
    *,
    warmup_kwargs: Mapping[str, Any] | None = None,
    threads: int | None = None,
    timeout: float | None = 1800.0,
) -> float:
    """Growth of the peak resident set size during one ``workload(**kwargs)()`` call, in MiB.

    Runs in a fresh Python process; see the module Convention for what is counted.

    Args:
        workload: a module-level function returning the zero-argument call to measure.
        kwargs: JSON-serialisable keyword arguments of ``workload``.
        warmup_kwargs: keyword arguments of a small warm-up workload run first in the child
            (``None``: no warm-up).
        threads: ``torch.set_num_threads`` in the child (``None``: torch's default).
        timeout: seconds before the child is killed.

    Returns:
        Peak resident set size during the call minus the resident size just before it, MiB.

    Raises:
        ValueError: ``workload`` is not importable by name, or ``kwargs`` not JSON-serialisable.
        RuntimeError: the platform has no ``/proc/self/clear_refs``, or the child failed.

    Example:
        >>> peak = peak_memory_mib(allocation_workload, {"mib": 64})  # doctest: +SKIP
        >>> peak >= 64  # doctest: +SKIP
        True
    """
    if not peak_memory_supported():
        raise RuntimeError("peak memory needs Linux /proc/self/clear_refs")
    module_name, qualname = _qualified_name(workload)
    try:
        payload = json.dumps(
            {
                "module": module_name,
                "qualname": qualname,
                "kwargs": dict(kwargs or {}),
                "warmup_kwargs": None if warmup_kwargs is None else dict(warmup_kwargs),
                "threads": threads,
            }
        )
    except TypeError as error:
        raise ValueError(f"kwargs must be JSON-serialisable: {error}") from error
    completed = subprocess.run(
        [sys.executable, "-m", "attnlab.bench.measure", payload],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-5:]
        raise RuntimeError(
            f"memory child for {module_name}.{qualname} failed (exit {completed.returncode}): "
            + " | ".join(tail)
        )
    lines = completed.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"memory child for {module_name}.{qualname} printed nothing")
    return float(json.loads(lines[-1])["peak_mib"])


def _child(payload: str) -> None:
    """Body of the memory child: build, warm up, reset ``VmHWM``, run once, print JSON."""
    spec = json.loads(payload)
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    found: Any = importlib.import_module(spec["module"])
    for part in spec["qualname"].split("."):
        found = getattr(found, part)
    workload: Workload = found
    if spec.get("warmup_kwargs") is not None:
        workload(**spec["warmup_kwargs"])()
    run = workload(**spec["kwargs"])
    gc.collect()
    with open(_CLEAR_REFS, "w", encoding="ascii") as handle:
        handle.write("5")  # reset VmHWM to the current resident size
    resident_before = _status_kib("VmRSS")
    run()
    peak_after = _status_kib("VmHWM")
    print(json.dumps({"peak_mib": (peak_after - resident_before) / 1024}))


def allocation_workload(mib: int) -> Callable[[], object]:
    """A call that allocates and fills ``mib`` MiB (a float32 tensor): the known allocation
    against which :func:`peak_memory_mib` is checked.

    Example:
        >>> allocation_workload(1)().numel() * 4 == 2**20
        True
    """
    numel = int(mib) * (2**20 // 4)

    def run() -> torch.Tensor:
        return torch.ones(numel)  # filled: every page is touched

    return run


# ---------------------------------------------------------------------------------------------
# roofline and fits


class Roofline(NamedTuple):
    """Float32 matrix-product throughput of this machine.

    Attributes:
        size: ``n`` of the ``n x n`` product.
        median_gflops: ``2 n^3`` / median seconds, in GFLOP/s.
        best_gflops: ``2 n^3`` / fastest call, in GFLOP/s.
        timing: the seconds per call.
    """

    size: int
    median_gflops: float
    best_gflops: float
    timing: Timing

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "size": self.size,
            "dtype": "float32",
            "median_gflops": self.median_gflops,
            "best_gflops": self.best_gflops,
            "median_s": self.timing.median,
            "runs": len(self.timing.seconds),
        }


def matmul_gflops(size: int = 2048, *, repeats: int = 5, warmup: int = 2) -> Roofline:
    """GFLOP/s of the float32 ``size x size`` matrix product on the CPU (``2 n^3`` FLOPs).

    Example:
        >>> roof = matmul_gflops(64, repeats=2, warmup=1)
        >>> roof.size, roof.best_gflops >= roof.median_gflops > 0
        (64, True)
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    out = torch.empty(size, size)
    timing = time_calls(
        {"matmul": lambda: torch.mm(a, b, out=out)}, repeats=repeats, warmup=warmup
    )["matmul"]
    flops = 2.0 * size**3
    return Roofline(size, flops / timing.median / 1e9, flops / timing.best / 1e9, timing)


def _positive_pairs(
    sizes: Sequence[float], values: Sequence[float], name: str
) -> tuple[list[float], list[float]]:
    if len(sizes) != len(values):
        raise ValueError(f"sizes and {name} differ in length: {len(sizes)} vs {len(values)}")
    xs, ys = [float(s) for s in sizes], [float(v) for v in values]
    if any(not (math.isfinite(x) and x > 0) for x in xs):
        raise ValueError(f"sizes must be finite and > 0, got {list(sizes)}")
    if any(not (math.isfinite(y) and y > 0) for y in ys):
        raise ValueError(f"{name} must be finite and > 0, got {list(values)}")
    return xs, ys


def fit_exponent(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Exponent ``k`` of the least-squares fit ``time = c * size^k`` (a line in log-log).

    Args:
        sizes: at least two distinct positive sizes.
        times: positive measurements, one per size.

    Raises:
        ValueError: fewer than two distinct sizes, or a non-positive value.

    Example:
        >>> round(fit_exponent([256, 512, 1024, 2048], [1.0, 4.0, 16.0, 64.0]), 6)
        2.0
    """
    xs, ys = _positive_pairs(sizes, times, "times")
    if len(set(xs)) < 2:
        raise ValueError(f"sizes must hold at least two distinct values, got {list(sizes)}")
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    sxx = sum((x - mx) ** 2 for x in lx)
    sxy = sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True))
    return sxy / sxx


def crossover_length(
    sizes: Sequence[float], times: Sequence[float], other_times: Sequence[float]
) -> float | None:
    """The size from which ``times`` stops being slower than ``other_times``.

    The sizes are taken in increasing order; at the first pair of neighbours where ``times``
    goes from slower to not slower, the crossing is interpolated on the log-log lines between
    them. Returns ``None`` when no such change happens among the measured sizes (the caller
    says which side it stayed on).

    Example:
        >>> crossover_length([1, 2, 4, 8], [4, 4, 4, 4], [1, 2, 4, 8])  # equal at 4
        4.0
        >>> crossover_length([1, 2], [1, 1], [2, 2]) is None  # never slower
        True
    """
    xs, ys = _positive_pairs(sizes, times, "times")
    _, zs = _positive_pairs(sizes, other_times, "other_times")
    points = sorted(zip(xs, ys, zs, strict=True))
    gaps = [(x, math.log(y) - math.log(z)) for x, y, z in points]  # > 0: slower
    for (x0, g0), (x1, g1) in itertools.pairwise(gaps):
        if g0 > 0 >= g1:
            fraction = g0 / (g0 - g1)
            return math.exp(math.log(x0) + fraction * (math.log(x1) - math.log(x0)))
    return None


if __name__ == "__main__":  # the memory child of peak_memory_mib
    _child(sys.argv[1])
