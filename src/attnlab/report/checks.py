"""Paper targets and the comparison of measured metrics against them.

A :class:`Target` states one number from a paper (or one claim) and how close a run must come:
``higher`` (higher is better: pass when ``measured >= paper - tolerance``), ``lower`` (lower is
better: pass when ``measured <= paper + tolerance``) or ``match`` (an exact figure such as a
parameter count: pass when ``|measured - paper| <= tolerance``).

Scales: every experiment defines the :data:`SCALES` ``smoke``, ``quick`` and ``full``; it may
also define the :data:`OPTIONAL_SCALES` (``paper``: the paper's architecture and data protocol on
a schedule that fits about an hour of a 2-core CPU, with seeds or a significance test behind
each claim). :data:`ALL_SCALES` lists both, in order of length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = [
    "ALL_SCALES",
    "DIRECTIONS",
    "OPTIONAL_SCALES",
    "SCALES",
    "CheckResult",
    "Target",
    "check_targets",
    "format_value",
    "summarize",
    "target_from_dict",
]

#: The scales every experiment defines.
SCALES: tuple[str, ...] = ("smoke", "quick", "full")
#: The scales an experiment may define in addition (``paper``: see the module docstring).
OPTIONAL_SCALES: tuple[str, ...] = ("paper",)
#: Every scale a run or a target may name.
ALL_SCALES: tuple[str, ...] = SCALES + OPTIONAL_SCALES
DIRECTIONS: tuple[str, ...] = ("higher", "lower", "match")
Direction = Literal["higher", "lower", "match"]
PaperOrigin = Literal["printed", "derived", "project"]
PAPER_ORIGINS: tuple[str, ...] = ("printed", "derived", "project")


@dataclass(frozen=True)
class Target:
    """One number a run is compared with.

    Args:
        metric: key in the metrics the experiment returns (e.g. ``"rts/st_cnn_aff/error_pct"``).
        paper: the paper's value, in the metric's units.
        tolerance: how far (absolute, same units) the measured value may fall on the wrong side.
        direction: ``"higher"`` or ``"lower"`` is better, or ``"match"`` (two-sided).
        source: where the number comes from (``"Table 1, RTS, ST-CNN Aff"``).
        scales: the scales at which the target is checked; a smoke run is too short to meet a
            paper's number, so targets usually apply to ``("quick", "full")`` only, while
            qualitative claims ("ST-CNN beats CNN") may apply at every scale. ``"paper"``
            (see :data:`OPTIONAL_SCALES`) is listed only by targets that judge a paper-scale
            run: a mean over seeds with its spread, or a gap with its paired test.
        paper_origin: what ``paper`` is: ``"printed"`` (the paper prints this number for this
            metric), ``"derived"`` (arithmetic on printed numbers, e.g. the difference of two
            table entries) or ``"project"`` (this project's own anchor for the pass condition;
            no paper prints a number for this metric). Reports show ``paper`` as the paper's
            number only when it is printed or derived; the pass condition is the target.

    Example:
        >>> t = Target("error_pct", paper=0.8, tolerance=0.4, direction="lower")
        >>> t.passes(1.1), t.passes(1.3)
        (True, False)
    """

    metric: str
    paper: float
    tolerance: float
    direction: Direction
    source: str = ""
    scales: tuple[str, ...] = ("quick", "full")
    paper_origin: PaperOrigin = "printed"

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"metric must be a non-empty string, got {self.metric!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if not math.isfinite(self.paper):
            raise ValueError(f"paper value of {self.metric!r} must be finite, got {self.paper}")
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(f"tolerance of {self.metric!r} must be >= 0, got {self.tolerance}")
        unknown = [s for s in self.scales if s not in ALL_SCALES]
        if unknown or not self.scales:
            raise ValueError(
                f"scales of {self.metric!r} must be a non-empty subset of {ALL_SCALES}"
            )
        if self.paper_origin not in PAPER_ORIGINS:
            raise ValueError(f"paper_origin of {self.metric!r} must be one of {PAPER_ORIGINS}, "
                             f"got {self.paper_origin!r}")

    @property
    def criterion(self) -> str:
        """The pass condition in words, e.g. ``"<= 1.2"``."""
        if self.direction == "higher":
            return f">= {format_value(self.paper - self.tolerance)}"
        if self.direction == "lower":
            return f"<= {format_value(self.paper + self.tolerance)}"
        return f"{format_value(self.paper)} ± {format_value(self.tolerance)}"

    def passes(self, measured: float | None) -> bool:
        """Whether ``measured`` meets the target (a missing or non-finite value never does)."""
        if measured is None or not math.isfinite(measured):
            return False
        if self.direction == "higher":
            return measured >= self.paper - self.tolerance
        if self.direction == "lower":
            return measured <= self.paper + self.tolerance
        return abs(measured - self.paper) <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``scales`` as a list)."""
        data = asdict(self)
        data["scales"] = list(self.scales)
        return data


def target_from_dict(data: Mapping[str, Any]) -> Target:
    """Inverse of :meth:`Target.to_dict` (used when reading a run directory back)."""
    return Target(
        metric=str(data["metric"]),
        paper=float(data["paper"]),
        tolerance=float(data["tolerance"]),
        direction=data["direction"],
        source=str(data.get("source", "")),
        scales=tuple(data.get("scales", SCALES)),
        paper_origin=data.get("paper_origin", "printed"),
    )


@dataclass(frozen=True)
class CheckResult:
    """A target next to what was measured.

    ``status`` is ``"pass"``, ``"fail"`` (missed, or the metric is missing/non-finite) or
    ``"not checked"`` (the target does not apply at this run's scale).
    """

    target: Target
    measured: float | None
    status: Literal["pass", "fail", "not checked"]

    @property
    def failed(self) -> bool:
        """Whether the target was checked and missed."""
        return self.status == "fail"


def check_targets(
    targets: Iterable[Target], metrics: Mapping[str, float | None], *, scale: str
) -> list[CheckResult]:
    """Compare ``metrics`` with every target; targets outside ``scale`` are ``"not checked"``.

    Example:
        >>> [r.status for r in check_targets(
        ...     [Target("acc", paper=0.9, tolerance=0.0, direction="higher")],
        ...     {"acc": 0.95}, scale="quick")]
        ['pass']
    """
    results = []
    for target in targets:
        raw = metrics.get(target.metric)
        measured = None if raw is None else float(raw)
        if scale not in target.scales:
            status: Literal["pass", "fail", "not checked"] = "not checked"
        else:
            status = "pass" if target.passes(measured) else "fail"
        results.append(CheckResult(target, measured, status))
    return results


def format_value(value: float | None) -> str:
    """A number as people read it: integers in full with separators, others to 5 digits.

    Example:
        >>> format_value(25557032.0), format_value(0.981234), format_value(None)
        ('25,557,032', '0.98123', '—')
    """
    if value is None:
        return "—"
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.5g}"


def summarize(results: Sequence[CheckResult]) -> dict[str, int]:
    """Counts of ``pass``/``fail``/``not checked`` results."""
    counts = {"pass": 0, "fail": 0, "not checked": 0}
    for r in results:
        counts[r.status] += 1
    return counts
