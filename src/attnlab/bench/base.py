"""The building blocks of a benchmark suite: what it declares, the rows and targets it produces,
and the run of one suite.

A :class:`Suite` names the peers it compares attnlab against (optional extras such as kornia: a
peer that is not installed gets the ratio ``"not installed"``), its sizes at the ``quick`` and
``full`` scales, and a function that runs :class:`Case` s through a :class:`SuiteRun`. A case
lists :class:`Variant` s (attnlab's implementation and each peer's) built from module-level
*workloads* (see :mod:`attnlab.bench.measure`), so that the same variant can be timed in this
process and rebuilt in a fresh process for its peak memory. Every attnlab row of a case carries
its ratio against every peer of the suite: the peer's median time divided by attnlab's
(``> 1``: attnlab is faster). A target line (:class:`TargetCheck`) is judged by
:class:`attnlab.report.checks.Target`, the one type for a metric compared with a threshold.

The registry of suites (built-in and registered) is :mod:`attnlab.bench.suite`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from attnlab.bench.measure import Workload, peak_memory_mib, peak_memory_supported, time_calls
from attnlab.bench.timing import Timing
from attnlab.report.checks import Target

__all__ = [
    "NOT_INSTALLED",
    "SCALES",
    "Case",
    "CaseResult",
    "Peer",
    "Row",
    "Suite",
    "SuiteResult",
    "SuiteRun",
    "TargetCheck",
    "Variant",
    "run_suite",
]

SCALES: tuple[str, ...] = ("quick", "full")
"""The two size sets of every suite: ``quick`` (the whole tool in about two minutes) and
``full`` (the sizes the targets are stated for)."""

NOT_INSTALLED = "not installed"


@dataclass(frozen=True)
class Peer:
    """A library (or a baseline formula) attnlab is compared against.

    Args:
        name: the column name (``"nn.MHA"``, ``"kornia"``).
        description: what exactly is run.
        requires: importable module the peer needs (``"kornia"``); ``None``: always present.

    Example:
        >>> Peer("kornia", "kornia.geometry.transform", requires="kornia").name
        'kornia'
    """

    name: str
    description: str
    requires: str | None = None

    def installed(self) -> bool:
        """Whether :attr:`requires` can be imported."""
        if self.requires is None:
            return True
        try:
            return importlib.util.find_spec(self.requires) is not None
        except (ImportError, ValueError):
            return False


@dataclass(frozen=True)
class Variant:
    """One implementation timed in a case.

    Args:
        name: the row label.
        workload: module-level function ``(**kwargs) -> run`` (see :mod:`attnlab.bench.measure`).
        kwargs: JSON-serialisable keyword arguments of ``workload``.
        peer: the :class:`Peer` this variant stands for; ``None``: attnlab's own.
        flops: floating-point operations of one call (for GFLOP/s and the roofline fraction).
        memory: measure the call's peak memory in a fresh process.
        warmup_kwargs: keyword arguments of the warm-up workload of the memory child.
        skip: a reason not to run the variant (e.g. a working set too large), shown in its row.
    """

    name: str
    workload: Workload
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    peer: str | None = None
    flops: float | None = None
    memory: bool = False
    warmup_kwargs: Mapping[str, Any] | None = None
    skip: str | None = None


@dataclass(frozen=True)
class Case:
    """Variants timed together (round-robin) on the same problem.

    Args:
        name: the case label (``"no weights B4 L1024 dim512 h8"``).
        variants: the implementations; names unique within the case.
        repeats: timed calls per variant (at least).
        warmup: untimed calls per variant first.
        params: the problem's sizes, recorded in the JSON.
        min_seconds: raise ``repeats`` (up to ``max_repeats``) so that the slowest variant is
            timed for about this long: fast calls need many runs for a stable median. The
            slowest variant's first warm-up call gives the estimate.
        max_repeats: the cap of that raise.
    """

    name: str
    variants: tuple[Variant, ...]
    repeats: int = 5
    warmup: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)
    min_seconds: float = 0.0
    max_repeats: int = 200

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"variants of case {self.name!r} must be unique and non-empty")


@dataclass(frozen=True)
class Row:
    """The measurement of one variant in one case.

    Attributes:
        case: the case label.
        variant: the variant label.
        peer: the peer it stands for, ``None`` for attnlab.
        status: ``"ok"``, ``"not installed"``, ``"skipped: <why>"`` or ``"failed: <why>"``.
        params: the case's sizes.
        timing: seconds per call (``None`` unless ``status == "ok"``).
        peak_mib: peak-memory growth of one call in a fresh process, MiB (``None``: not
            measured).
        flops: floating-point operations of one call, if known.
        ratios: peer -> peer median / this median (attnlab rows only), or the peer's status
            (``"not installed"``, ``"skipped: ..."``) when it has no time.
        memory_error: why the peak memory is missing although it was asked for.
    """

    case: str
    variant: str
    peer: str | None
    status: str
    params: Mapping[str, Any] = field(default_factory=dict)
    timing: Timing | None = None
    peak_mib: float | None = None
    flops: float | None = None
    ratios: Mapping[str, float | str] = field(default_factory=dict)
    memory_error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the variant was timed."""
        return self.status == "ok" and self.timing is not None

    @property
    def median(self) -> float | None:
        """Median seconds per call."""
        return None if self.timing is None else self.timing.median

    @property
    def gflops(self) -> float | None:
        """Achieved GFLOP/s (``flops`` / median), if the FLOPs are known."""
        if self.flops is None or self.timing is None or self.timing.median <= 0:
            return None
        return self.flops / self.timing.median / 1e9

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (seconds, MiB)."""
        data: dict[str, Any] = {
            "case": self.case,
            "variant": self.variant,
            "peer": self.peer,
            "status": self.status,
            "params": dict(self.params),
            "median_s": None,
            "q1_s": None,
            "q3_s": None,
            "best_s": None,
            "runs": 0,
            "seconds": [],
            "peak_mib": self.peak_mib,
            "flops": self.flops,
            "gflops": self.gflops,
            "ratios": dict(self.ratios),
        }
        if self.timing is not None:
            q1, q3 = self.timing.quartiles
            data.update(
                median_s=self.timing.median,
                q1_s=q1,
                q3_s=q3,
                best_s=self.timing.best,
                runs=len(self.timing.seconds),
                seconds=list(self.timing.seconds),
            )
        if self.memory_error is not None:
            data["memory_error"] = self.memory_error
        return data


@dataclass(frozen=True)
class TargetCheck:
    """A target line of the issue next to what was measured, in the fields of the JSON document.

    The bound is judged by :attr:`target`, a :class:`~attnlab.report.checks.Target` whose paper
    value is ``threshold`` with no tolerance (the experiments' targets use the same type).

    Args:
        description: the target in words (``"no weights >= 1.00x nn.MHA"``).
        measured: the measured value (``None``: could not be measured).
        threshold: the bound.
        direction: ``"higher"`` (met when ``measured >= threshold``) or ``"lower"``
            (met when ``measured <= threshold``).
        unit: printed after the numbers (``"x"``, ``""``).
        checked: ``False`` when the run's sizes are not the ones the target is stated for
            (a quick run): the value is shown, the target is not judged.

    Example:
        >>> TargetCheck("speed-up", 1.4, 1.0, "higher").status
        'met'
        >>> TargetCheck("speed-up", 1.4, 20.0, "higher", checked=False).status
        'not checked'
        >>> TargetCheck("speed-up", 1.4, 1.0, "higher").target.criterion
        '>= 1'
    """

    description: str
    measured: float | None
    threshold: float
    direction: Literal["higher", "lower"]
    unit: str = "x"
    checked: bool = True
    target: Target = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.direction not in ("higher", "lower"):
            raise ValueError(f"direction must be 'higher' or 'lower', got {self.direction!r}")
        target = Target(
            self.description, paper=self.threshold, tolerance=0.0, direction=self.direction
        )
        object.__setattr__(self, "target", target)

    @property
    def status(self) -> str:
        """``"met"``, ``"missed"``, ``"not measured"`` or ``"not checked"``."""
        if not self.checked:
            return "not checked"
        if self.measured is None or not math.isfinite(self.measured):
            return "not measured"
        return "met" if self.target.passes(self.measured) else "missed"

    @property
    def met(self) -> bool | None:
        """``True``/``False`` when judged, ``None`` otherwise."""
        status = self.status
        return None if status in ("not measured", "not checked") else status == "met"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "description": self.description,
            "measured": self.measured,
            "threshold": self.threshold,
            "direction": self.direction,
            "unit": self.unit,
            "status": self.status,
            "met": self.met,
        }


@dataclass
class SuiteResult:
    """Everything one suite produced.

    Attributes:
        name: the suite.
        description: what it measures.
        status: ``"ok"``, ``"unavailable: <why>"`` or ``"failed: <why>"``.
        scale: ``"quick"`` or ``"full"``.
        sizes: the sizes of that scale.
        peers: peer name -> installed.
        rows: one per (case, variant).
        targets: the target lines.
        metrics: named figures (fitted exponents, crossover lengths, errors).
        notes: free text lines.
        seconds: wall-clock time of the suite.
    """

    name: str
    description: str
    status: str
    scale: str
    sizes: Mapping[str, Any] = field(default_factory=dict)
    peers: dict[str, bool] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    targets: list[TargetCheck] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "scale": self.scale,
            "sizes": _jsonable(self.sizes),
            "peers": dict(self.peers),
            "rows": [r.to_dict() for r in self.rows],
            "targets": [t.to_dict() for t in self.targets],
            "metrics": dict(self.metrics),
            "notes": list(self.notes),
            "seconds": self.seconds,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class CaseResult(Mapping[str, Row]):
    """The rows of one case by variant name, with ratio helpers.

    Example:
        >>> fast = Row("c", "ours", None, "ok", timing=Timing("ours", (1.0,)))
        >>> slow = Row("c", "theirs", "t", "ok", timing=Timing("theirs", (3.0,)))
        >>> CaseResult([fast, slow]).speedup("ours", "theirs")
        3.0
    """

    def __init__(self, rows: Sequence[Row]) -> None:
        self._rows = {row.variant: row for row in rows}

    def __getitem__(self, variant: str) -> Row:
        return self._rows[variant]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def median(self, variant: str) -> float | None:
        """Median seconds of ``variant`` (``None``: not timed or absent)."""
        row = self._rows.get(variant)
        return None if row is None or not row.ok else row.median

    def speedup(self, ours: str, other: str) -> float | None:
        """``other``'s median / ``ours``' median (``> 1``: ``ours`` is faster)."""
        a, b = self.median(ours), self.median(other)
        return None if a is None or b is None or a <= 0 else b / a

    def memory_fraction(self, ours: str, other: str) -> float | None:
        """``ours``' peak memory / ``other``'s (``< 1``: ``ours`` needs less)."""
        a, b = self._rows.get(ours), self._rows.get(other)
        if a is None or b is None or a.peak_mib is None or b.peak_mib is None:
            return None
        return a.peak_mib / b.peak_mib if b.peak_mib > 0 else None


Progress = Callable[[str], None]


def _no_progress(message: str) -> None:
    """Default progress sink: silent."""


class SuiteRun:
    """What a suite's function works with: its sizes, and sinks for rows, targets and notes.

    Args:
        suite: the suite being run.
        scale: ``"quick"`` or ``"full"``.
        memory: whether peak memory is measured where variants ask for it.
        threads: torch threads of the memory children (``None``: torch's default).
        progress: called with a short message before each case.
    """

    def __init__(
        self,
        suite: Suite,
        *,
        scale: str = "full",
        memory: bool = True,
        threads: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        self.suite = suite
        self.scale = scale
        self.memory = memory and peak_memory_supported()
        self.memory_requested = memory
        self.threads = threads
        self.progress = progress or _no_progress
        self.rows: list[Row] = []
        self.targets: list[TargetCheck] = []
        self.metrics: dict[str, float | None] = {}
        self.notes: list[str] = []
        self._installed = {p.name: p.installed() for p in suite.peers}

    @property
    def quick(self) -> bool:
        """Whether this is a quick run."""
        return self.scale == "quick"

    @property
    def sizes(self) -> Mapping[str, Any]:
        """The suite's sizes at this scale."""
        return self.suite.sizes.get(self.scale, {})

    def installed(self, peer: str) -> bool:
        """Whether ``peer`` (a name of the suite's peers) is installed."""
        if peer not in self._installed:
            raise ValueError(f"peer must be one of {sorted(self._installed)}, got {peer!r}")
        return self._installed[peer]

    def run_case(self, case: Case) -> CaseResult:
        """Time the case's variants round-robin, measure peak memory where asked, add the rows.

        A variant of a peer that is not installed, or with a ``skip`` reason, gets a row with
        that status and no time; a variant whose workload raises gets ``"failed: ..."``.
        """
        self.progress(f"{self.suite.name}: {case.name}")
        status: dict[str, str] = {}
        calls: dict[str, Callable[[], object]] = {}
        for variant in case.variants:
            if variant.peer is not None and not self.installed(variant.peer):
                status[variant.name] = NOT_INSTALLED
            elif variant.skip is not None:
                status[variant.name] = f"skipped: {variant.skip}"
            else:
                try:
                    calls[variant.name] = variant.workload(**variant.kwargs)
                    status[variant.name] = "ok"
                except Exception as error:  # a broken variant must not sink the suite
                    status[variant.name] = f"failed: {type(error).__name__}: {error}"
        timings: dict[str, Timing] = {}
        if calls:
            try:
                repeats, warmup = case.repeats, case.warmup
                if case.min_seconds > 0:
                    probe = time_calls(calls, repeats=1, warmup=0)  # counts as one warm-up
                    slowest = max(t.median for t in probe.values())
                    wanted = math.ceil(case.min_seconds / max(slowest, 1e-9))
                    repeats = max(repeats, min(case.max_repeats, wanted))
                    warmup = max(0, warmup - 1)
                timings = time_calls(calls, repeats=repeats, warmup=warmup)
            except Exception as error:
                for name in calls:
                    status[name] = f"failed: {type(error).__name__}: {error}"
        calls.clear()  # free the inputs before the memory children start
        rows = []
        for variant in case.variants:
            peak, memory_error = None, None
            timed = status[variant.name] == "ok" and variant.name in timings
            if timed and variant.memory and self.memory_requested:
                if not self.memory:
                    memory_error = "needs Linux /proc/self/clear_refs"
                else:
                    try:
                        peak = peak_memory_mib(
                            variant.workload,
                            variant.kwargs,
                            warmup_kwargs=variant.warmup_kwargs,
                            threads=self.threads,
                        )
                    except Exception as error:
                        memory_error = f"{type(error).__name__}: {error}"
            rows.append(
                Row(
                    case=case.name,
                    variant=variant.name,
                    peer=variant.peer,
                    status=status[variant.name],
                    params=dict(case.params),
                    timing=timings.get(variant.name) if timed else None,
                    peak_mib=peak,
                    flops=variant.flops,
                    memory_error=memory_error,
                )
            )
        rows = self._with_ratios(rows)
        self.rows.extend(rows)
        return CaseResult(rows)

    def _with_ratios(self, rows: list[Row]) -> list[Row]:
        by_peer: dict[str, Row] = {}
        for row in rows:
            if row.peer is not None:
                by_peer.setdefault(row.peer, row)
        out = []
        for row in rows:
            if row.peer is None and row.ok:
                ratios: dict[str, float | str] = {}
                for peer in self.suite.peers:
                    other = by_peer.get(peer.name)
                    if not self._installed[peer.name]:
                        ratios[peer.name] = NOT_INSTALLED
                    elif other is None:
                        continue
                    elif other.ok and row.median:
                        ratios[peer.name] = float(other.median or 0.0) / row.median
                    else:
                        ratios[peer.name] = other.status
                row = dataclasses.replace(row, ratios=ratios)
            out.append(row)
        return out

    def target(
        self,
        description: str,
        measured: float | None,
        threshold: float,
        direction: Literal["higher", "lower"] = "higher",
        *,
        unit: str = "x",
        any_size: bool = False,
    ) -> TargetCheck:
        """Add a target line.

        The issue states its targets for given sizes, so a quick run (smaller sizes) shows the
        measured value without judging it, unless ``any_size`` says the target does not depend
        on the sizes (a growth exponent).
        """
        check = TargetCheck(
            description,
            measured,
            threshold,
            direction,
            unit=unit,
            checked=any_size or not self.quick,
        )
        self.targets.append(check)
        return check

    def metric(self, name: str, value: float | None) -> None:
        """Record a named figure (an exponent, a crossover length, an error)."""
        self.metrics[name] = None if value is None else float(value)

    def note(self, text: str) -> None:
        """Record a line of text for the table and the JSON."""
        self.notes.append(text)


@dataclass(frozen=True)
class Suite:
    """A registered benchmark.

    Args:
        name: the name given to ``attnlab bench --suite``.
        description: one line: what is compared with what.
        run: ``run(ctx: SuiteRun) -> None``: runs cases and adds targets, metrics and notes.
        peers: the libraries or baselines compared against.
        sizes: ``{"quick": {...}, "full": {...}}``, read by ``run`` through ``ctx.sizes``.
        unavailable: returns why the suite cannot run here (``None``: it can).
    """

    name: str
    description: str
    run: Callable[[SuiteRun], None]
    peers: tuple[Peer, ...] = ()
    sizes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    unavailable: Callable[[], str | None] | None = None

    def availability(self) -> str | None:
        """Why the suite cannot run here, or ``None``."""
        return None if self.unavailable is None else self.unavailable()


def run_suite(
    suite: Suite,
    *,
    scale: str = "full",
    memory: bool = True,
    threads: int | None = None,
    progress: Progress | None = None,
) -> SuiteResult:
    """Run one suite; never raises for a failing suite (its status says ``"failed: ..."``).

    Args:
        suite: the suite.
        scale: ``"quick"`` or ``"full"``.
        memory: measure peak memory where the suite asks for it.
        threads: torch threads of the memory children.
        progress: called with a short message before each case.
    """
    ctx = SuiteRun(suite, scale=scale, memory=memory, threads=threads, progress=progress)
    start = time.perf_counter()
    reason = suite.availability()
    if reason is not None:
        status = f"unavailable: {reason}"
    else:
        status = "ok"
        try:
            suite.run(ctx)
        except Exception as error:
            status = f"failed: {type(error).__name__}: {error}"
            ctx.note("".join(traceback.format_exception_only(error)).strip())
    if ctx.memory_requested and not ctx.memory:
        ctx.note("peak memory not measured: needs Linux /proc/self/clear_refs")
    return SuiteResult(
        name=suite.name,
        description=suite.description,
        status=status,
        scale=scale,
        sizes=suite.sizes.get(scale, {}),
        peers={p.name: p.installed() for p in suite.peers},
        rows=ctx.rows,
        targets=ctx.targets,
        metrics=ctx.metrics,
        notes=ctx.notes,
        seconds=time.perf_counter() - start,
    )
