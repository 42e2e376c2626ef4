"""Inference timing of several models on the same input, and the machine the times come from.

Convention:
    * :func:`time_models` measures wall-clock seconds per forward pass with
      :func:`time.perf_counter`, the models in ``eval()`` mode under
      :func:`torch.inference_mode`, in one process. The models are measured round-robin, one
      call each per round, with the order reversed every other round: a change in machine load
      or clock speed during the measurement then hits every model alike, and no model always
      runs on the caches the previous one left. Warm-up rounds (the first calls allocate memory
      and pick kernels) are run the same way and discarded.
    * Compare models by the **median** of their calls (robust to the occasional call delayed by
      another process); the inter-quartile range says how far to trust it. On CUDA inputs each
      call is bracketed by ``torch.cuda.synchronize``.
    * A time is only meaningful with the machine it was measured on: :func:`describe_machine`
      gives the CPU model, the logical CPUs, the threads torch uses and the load average (the
      number of processes competing for the CPUs, which on a shared machine inflates times).
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "Machine",
    "Timing",
    "cpu_model",
    "describe_machine",
    "num_threads",
    "time_calls",
    "time_models",
]


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one model, in the order measured.

    Attributes:
        name: the model's name.
        seconds: one entry per timed call.

    Example:
        >>> t = Timing("m", (0.3, 0.1, 0.2, 0.4))
        >>> t.median, t.best
        (0.25, 0.1)
    """

    name: str
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        """Median seconds per call."""
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        """Fastest call, in seconds (the least disturbed by other processes)."""
        return min(self.seconds)

    @property
    def quartiles(self) -> tuple[float, float]:
        """First and third quartiles of the seconds per call (both the value for one call)."""
        if len(self.seconds) < 2:
            return self.seconds[0], self.seconds[0]
        q1, _, q3 = statistics.quantiles(self.seconds, n=4, method="inclusive")
        return q1, q3


def _synchronize(args: Sequence[Any]) -> None:
    if any(isinstance(a, Tensor) and a.is_cuda for a in args):
        torch.cuda.synchronize()


def time_models(
    models: Mapping[str, Callable[..., Any]],
    inputs: Tensor | Sequence[Any],
    *,
    repeats: int,
    warmup: int = 3,
) -> dict[str, Timing]:
    """Seconds per forward pass of each model on ``inputs``, measured round-robin.

    See the module Convention: ``eval()`` mode, :func:`torch.inference_mode`, ``warmup``
    discarded rounds, then ``repeats`` rounds in which every model runs once, the order reversed
    every other round. Modules get their previous ``training`` flag back afterwards.

    Args:
        models: name -> model (an ``nn.Module`` or any callable taking ``inputs``).
        inputs: one tensor, or the positional arguments of every model.
        repeats: timed calls per model.
        warmup: untimed calls per model before the timed ones.

    Returns:
        name -> :class:`Timing` with ``repeats`` entries, in the order of ``models``.

    Raises:
        ValueError: no model, ``repeats < 1`` or ``warmup < 0``.

    Example:
        >>> models = {"small": torch.nn.Linear(8, 8), "large": torch.nn.Linear(8, 512)}
        >>> times = time_models(models, torch.randn(4, 8), repeats=3, warmup=1)
        >>> [(name, len(t.seconds)) for name, t in times.items()]
        [('small', 3), ('large', 3)]
    """
    if not models:
        raise ValueError("models must name at least one model")
    args: tuple[Any, ...] = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    modes = {name: m.training for name, m in models.items() if isinstance(m, nn.Module)}
    calls = {name: (lambda model=model: model(*args)) for name, model in models.items()}
    try:
        for name in modes:
            models[name].eval()  # type: ignore[attr-defined]
        with torch.inference_mode():
            return time_calls(calls, repeats=repeats, warmup=warmup,
                              synchronize=lambda: _synchronize(args))
    finally:
        for name, training in modes.items():
            models[name].train(training)  # type: ignore[attr-defined]


def time_calls(
    calls: Mapping[str, Callable[[], object]],
    *,
    repeats: int,
    warmup: int = 1,
    synchronize: Callable[[], None] | None = None,
) -> dict[str, Timing]:
    """Seconds per call of every zero-argument callable, measured round-robin.

    One round calls every callable once, the order reversed every other round (a change in
    machine load hits all alike, and no callable always runs on the caches the previous one
    left). ``warmup`` rounds are run the same way and discarded.

    Args:
        calls: name -> zero-argument callable (which sets up its own grad mode).
        repeats: timed calls per callable.
        warmup: untimed calls per callable first.
        synchronize: called before the clock starts and before it stops (a device queue to
            drain); not timed before the call.

    Returns:
        name -> :class:`Timing` with ``repeats`` entries, in the order of
        ``calls``.

    Raises:
        ValueError: no callable, ``repeats < 1`` or ``warmup < 0``.

    Example:
        >>> times = time_calls({"a": lambda: sum(range(100)), "b": lambda: None}, repeats=3)
        >>> [(name, len(t.seconds)) for name, t in times.items()]
        [('a', 3), ('b', 3)]
    """
    if not calls:
        raise ValueError("calls must name at least one callable")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
    names = list(calls)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            if synchronize is not None:
                synchronize()
            start = time.perf_counter()
            calls[name]()
            if synchronize is not None:
                synchronize()
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                seconds[name].append(elapsed)
    return {name: Timing(name, tuple(seconds[name])) for name in names}



@contextlib.contextmanager
def num_threads(threads: int | None) -> Iterator[int]:
    """Run the ``with`` block with ``torch.set_num_threads(threads)``, then restore the previous
    count; ``None`` keeps the current count. Yields the count in use.

    Example:
        >>> with num_threads(1) as n:
        ...     n, torch.get_num_threads()
        (1, 1)
    """
    previous = torch.get_num_threads()
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1 or None, got {threads!r}")
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`).

    Example:
        >>> isinstance(cpu_model(), str) and len(cpu_model()) > 0
        True
    """
    with (
        contextlib.suppress(OSError),
        open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle,
    ):
        for line in handle:
            if line.startswith(("model name", "Model", "Hardware")) and ":" in line:
                name = line.split(":", 1)[1].strip()
                if name:
                    return name
    return platform.processor() or platform.machine() or "unknown CPU"


@dataclass(frozen=True)
class Machine:
    """What a timing depends on.

    Attributes:
        cpu: the CPU model name.
        logical_cpus: logical CPUs the operating system reports (``os.cpu_count()``).
        torch_threads: intra-op threads torch uses (``torch.get_num_threads()``).
        load_average: 1-, 5- and 15-minute load averages (``os.getloadavg()``), ``None`` where
            the platform has none.
        platform: operating system and architecture.
    """

    cpu: str
    logical_cpus: int
    torch_threads: int
    load_average: tuple[float, float, float] | None
    platform: str

    def describe(self) -> str:
        """One line for logs and captions.

        Example:
            >>> Machine("X CPU", 2, 1, (1.5, 1.0, 0.5), "Linux").describe()
            'X CPU, 2 logical CPUs, 1 torch thread, load average 1.50 / 1.00 / 0.50 (Linux)'
        """
        threads = f"{self.torch_threads} torch thread{'s' if self.torch_threads != 1 else ''}"
        load = (
            "load average unknown"
            if self.load_average is None
            else "load average " + " / ".join(f"{v:.2f}" for v in self.load_average)
        )
        return f"{self.cpu}, {self.logical_cpus} logical CPUs, {threads}, {load} ({self.platform})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "cpu": self.cpu,
            "logical_cpus": self.logical_cpus,
            "torch_threads": self.torch_threads,
            "load_average": None if self.load_average is None else list(self.load_average),
            "platform": self.platform,
        }


def describe_machine() -> Machine:
    """The CPU, threads and current load of this process's machine.

    Example:
        >>> describe_machine().torch_threads == torch.get_num_threads()
        True
    """
    load: tuple[float, float, float] | None = None
    with contextlib.suppress(OSError, AttributeError):
        one, five, fifteen = os.getloadavg()
        load = (one, five, fifteen)
    return Machine(
        cpu=cpu_model(),
        logical_cpus=os.cpu_count() or 1,
        torch_threads=torch.get_num_threads(),
        load_average=load,
        platform=f"{platform.system()} {platform.machine()}".strip() or "unknown",
    )
