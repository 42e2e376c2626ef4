"""How many CPU threads a run uses, decided once and recorded in ``run.json``.

PyTorch's default (one OpenMP thread per core) collapses on a small or busy machine: with the
small models of the ``smoke`` and ``quick`` scales a training step spends most of its time
synchronising threads, and two such processes on two cores each spinning two threads run many
times slower than with one thread each. The policy, in order:

1. ``--threads N`` (``threads=N``) when given;
2. ``OMP_NUM_THREADS`` when the environment sets it (the user's own choice);
3. one thread for the ``smoke`` and ``quick`` scales (their models are too small to gain from
   more, and one thread is what their recorded timings used);
4. for the larger scales (``full`` and the optional ``paper``), the cores this process may use,
   shared out among the ``torchrun`` processes of this machine (``LOCAL_WORLD_SIZE``).

Reproducibility: with the same seed, scale and thread count, a CPU run repeats exactly. Across
thread counts the floating-point reductions of matrix products and convolutions are split
differently, so losses differ in the last bits from the first step and the differences grow
with training; final metrics can differ in their decimals, and a claim decided by a margin that
small is reported as not shown rather than met.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from attnlab.bench.timing import num_threads

__all__ = ["ThreadPolicy", "available_cores", "resolve_threads", "use_threads"]

#: Scales whose models are small enough that one thread is the fastest choice.
ONE_THREAD_SCALES = ("smoke", "quick")


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPolicy:
    """The intra-op thread count of a run and where it came from (for ``run.json``)."""

    threads: int
    source: str

    def to_dict(self) -> dict[str, object]:
        return {"threads": self.threads, "source": self.source}


def _positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def resolve_threads(threads: int | None, scale: str) -> ThreadPolicy:
    """The thread policy of a run at ``scale`` (see the module docstring).

    Example:
        >>> resolve_threads(3, "quick")
        ThreadPolicy(threads=3, source='--threads')
    """
    if threads is not None:
        return ThreadPolicy(_positive(threads, "threads"), "--threads")
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        if value >= 1:
            return ThreadPolicy(value, "OMP_NUM_THREADS")
    if scale in ONE_THREAD_SCALES:
        return ThreadPolicy(1, f"default for the {scale} scale")
    try:
        local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        local = 1
    return ThreadPolicy(max(1, available_cores() // local), "default: the available cores")


#: Run a block with a given torch thread count and restore the previous one afterwards (the
#: bench's context manager: one implementation for runs and benchmarks).
use_threads = num_threads
