"""What a run shows about each claim: a verdict per target and a badge per run.

A target check (:mod:`attnlab.report.checks`) says whether a number cleared its threshold; the
verdict also asks whether the comparison means anything:

=================  =======================================================================
verdict            when
=================  =======================================================================
``met``            the target passed on real data, clear of the noise the run measured
``missed``         the target failed on real data
``not comparable`` the run used a stand-in for its data (``data_sources`` value
                   ``"fallback: ..."``), so its numbers are not the paper's quantity
``not shown``      the run failed or was interrupted, the target is not checked at the
                   run's scale, the metric is missing, or the margin to the threshold is
                   inside the noise: within one standard deviation (or confidence half
                   width) of the threshold, or a pass whose paired test has p >= 0.05
=================  =======================================================================

Noise comes from the run's own metrics, found by name next to the target's metric ``M``:
``M_std``, ``M/std``, ``std/M`` (``X_mean`` also looks for ``X_std``); the same with ``ci``/``ci95``
for a confidence half width; ``pvalue/M``, ``p_value/M`` or ``M_p_value`` for a p-value, where a
gap ``gap/A_minus_B`` also finds ``pvalue/A_vs_B``; and ``seeds`` for the number of seeds. A
directional target with none of these is reported as ``1 seed``: the number was measured once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from attnlab.report.checks import CheckResult, Target, format_value

__all__ = [
    "SIGNIFICANCE",
    "VERDICTS",
    "RunVerdict",
    "Spread",
    "TargetVerdict",
    "Verdict",
    "fallback_sources",
    "find_spread",
    "judge_run",
    "judge_target",
    "threshold",
]

Verdict = Literal["met", "missed", "not shown", "not comparable"]
VERDICTS: tuple[Verdict, ...] = ("met", "missed", "not comparable", "not shown")

#: A pass whose paired test has a p-value at or above this is not shown (not significant).
SIGNIFICANCE = 0.05

Tone = Literal["good", "bad", "warn", "neutral", "failed", "interrupted", "running"]


def threshold(target: Target) -> float | None:
    """The value a directional target must reach (``None`` for a two-sided ``match``).

    Example:
        >>> threshold(Target("gap", paper=1.0, tolerance=0.5, direction="higher"))
        0.5
    """
    if target.direction == "higher":
        return target.paper - target.tolerance
    if target.direction == "lower":
        return target.paper + target.tolerance
    return None


def fallback_sources(meta: Mapping[str, Any]) -> dict[str, str]:
    """``{dataset: description}`` of the stand-ins a run used (``run.json``'s ``data_sources``).

    Example:
        >>> fallback_sources({"data_sources": {"mnist": "fallback: synthetic digits",
        ...                                     "cora": "real"}})
        {'mnist': 'synthetic digits'}
    """
    sources = meta.get("data_sources")
    if not isinstance(sources, Mapping):
        return {}
    found = {}
    for name, value in sources.items():
        text = str(value)
        if text.startswith("fallback"):
            found[str(name)] = text.removeprefix("fallback").lstrip(": ").strip() or "stand-in"
    return found


@dataclass(frozen=True)
class Spread:
    """The noise a run measured for one target.

    Attributes:
        text: what the spread column shows (``"± 0.7 (3 seeds)"``, ``"p = 0.33"``,
            ``"1 seed"``, ``"exact figure"``).
        floor: one standard deviation or confidence half width, in the metric's units.
        p_value: the p-value of the paired test behind a comparison.
        unreplicated: the number comes from a single measurement.
    """

    text: str
    floor: float | None = None
    p_value: float | None = None
    unreplicated: bool = False

    @property
    def flagged(self) -> bool:
        """Whether the reader should be warned: one seed, or a test that is not significant."""
        return self.unreplicated or (self.p_value is not None and self.p_value >= SIGNIFICANCE)


def _finite(metrics: Mapping[str, float | None], names: Sequence[str]) -> float | None:
    for name in names:
        value = metrics.get(name)
        if value is not None and math.isfinite(value):
            return float(value)
    return None


def _around(stems: Sequence[str], words: Sequence[str]) -> list[str]:
    """``stem_word``, ``stem/word`` and ``word/stem`` for every stem and word."""
    return [
        name
        for stem in stems
        for word in words
        for name in (f"{stem}_{word}", f"{stem}/{word}", f"{word}/{stem}")
    ]


def find_spread(target: Target, metrics: Mapping[str, float | None]) -> Spread:
    """The spread, significance and seed count reported next to ``target``'s metric.

    Example:
        >>> t = Target("acc_mean", paper=83.0, tolerance=1.5, direction="higher")
        >>> find_spread(t, {"acc_mean": 82.0, "acc_std": 0.7, "seeds": 3.0}).text
        '± 0.7 (3 seeds)'
        >>> find_spread(t, {"acc_mean": 82.0}).text
        '1 seed'
    """
    metric = target.metric
    stems = list(dict.fromkeys((metric.removesuffix("_mean"), metric)))
    std = _finite(metrics, _around(stems, ("std",)))
    ci = _finite(metrics, _around(stems, ("ci95", "ci")))
    # a gap "gap/A_minus_B" is tested as "pvalue/A_vs_B"
    head, _, tail = metric.partition("/")
    tested = [metric, *([tail] if head == "gap" and tail else [])]
    tested += [s.replace("_minus_", "_vs_") for s in tested if "_minus_" in s]
    p_value = _finite(metrics, _around(tested, ("pvalue", "p_value")))
    parent = metric.rpartition("/")[0]
    seeds = _finite(metrics, [f"{parent}/seeds", "seeds"] if parent else ["seeds"])

    parts: list[str] = []
    floor = None
    single = seeds is not None and seeds <= 1
    if std is not None and not single:
        floor = std
        parts.append(f"± {format_value(std)}"
                     + (f" ({format_value(seeds)} seeds)" if seeds is not None else " (std)"))
    elif ci is not None:
        floor = ci
        parts.append(f"± {format_value(ci)} (CI)")
    if p_value is not None:
        parts.append(f"p = {p_value:.2g}" + (" (n.s.)" if p_value >= SIGNIFICANCE else ""))
    if parts:
        return Spread("; ".join(parts), floor=floor, p_value=p_value)
    if target.direction == "match":
        return Spread("exact figure")
    return Spread("1 seed", unreplicated=True)


_UNFINISHED = {"failed": "the run failed", "interrupted": "the run was interrupted",
               "running": "the run has not finished"}


@dataclass(frozen=True)
class TargetVerdict:
    """One target judged: the check, the verdict, why, and the noise around it."""

    check: CheckResult
    verdict: Verdict
    reason: str
    spread: Spread

    @property
    def target(self) -> Target:
        return self.check.target


def judge_target(
    check: CheckResult,
    metrics: Mapping[str, float | None],
    *,
    run_status: str = "finished",
    fallbacks: Mapping[str, str] | None = None,
) -> TargetVerdict:
    """The verdict on one target of a run (see the module docstring for the rules).

    Example:
        >>> t = Target("acc", paper=0.9, tolerance=0.0, direction="higher")
        >>> check = CheckResult(t, 0.95, "pass")
        >>> judge_target(check, {"acc": 0.95}).verdict
        'met'
        >>> judge_target(check, {"acc": 0.95}, fallbacks={"mnist": "synthetic"}).verdict
        'not comparable'
    """
    target = check.target
    spread = find_spread(target, metrics)
    measured = check.measured

    def verdict(kind: Verdict, reason: str) -> TargetVerdict:
        return TargetVerdict(check, kind, reason, spread)

    if run_status != "finished":
        return verdict("not shown", _UNFINISHED.get(run_status, "the run did not finish"))
    if check.status == "not checked":
        return verdict("not shown", f"checked at {', '.join(target.scales)} scale only")
    if measured is None or not math.isfinite(measured):
        return verdict("not shown", "no measured value")
    passed = check.status == "pass"
    if fallbacks:
        data = "; ".join(f"{name}: {what}" for name, what in fallbacks.items())
        side = "met" if passed else "missed"
        return verdict("not comparable", f"stand-in data ({data}); the threshold was {side} "
                       "on it")
    bound = threshold(target)
    if bound is not None and spread.floor is not None and abs(measured - bound) < spread.floor:
        return verdict("not shown", f"within noise: {format_value(measured)} is less than one "
                       f"spread ({format_value(spread.floor)}) from {format_value(bound)}")
    if passed and spread.p_value is not None and spread.p_value >= SIGNIFICANCE:
        return verdict("not shown", f"not significant (p = {spread.p_value:.2g})")
    if passed:
        return verdict("met", "")
    return verdict("missed", f"needs {target.criterion}")


@dataclass(frozen=True)
class RunVerdict:
    """Every target of a run judged, and the badge the run gets."""

    status: str
    targets: tuple[TargetVerdict, ...]

    def count(self, kind: Verdict) -> int:
        return sum(1 for t in self.targets if t.verdict == kind)

    @property
    def label(self) -> str:
        """The badge text: ``"finished, 2 of 3 met, 1 missed"``, ``"failed"`` ..."""
        if self.status != "finished":
            return self.status
        total = len(self.targets)
        if not total:
            return "finished, no numeric target"
        text = f"finished, {self.count('met')} of {total} met"
        for kind in ("missed", "not comparable"):
            if self.count(kind):
                text += f", {self.count(kind)} {kind}"
        return text

    @property
    def tone(self) -> Tone:
        """The badge colour: never ``good`` when a target missed or could not be compared."""
        if self.status in ("failed", "interrupted", "running"):
            return self.status  # type: ignore[return-value]
        if self.status != "finished":
            return "neutral"
        if self.count("missed"):
            return "bad"
        if self.count("not comparable"):
            return "warn"
        if self.targets and self.count("met") == len(self.targets):
            return "good"
        return "neutral"


def judge_run(
    meta: Mapping[str, Any], checks: Sequence[CheckResult], metrics: Mapping[str, float | None]
) -> RunVerdict:
    """Judge every target of a run read back from its folder.

    Args:
        meta: ``run.json`` (``status``, ``data_sources``).
        checks: the run's targets next to the measured values.
        metrics: ``metrics.json`` (spreads and p-values are looked up there).

    Example:
        >>> t = Target("acc", paper=0.9, tolerance=0.0, direction="higher")
        >>> run = judge_run({"status": "finished"}, [CheckResult(t, 0.5, "fail")], {"acc": 0.5})
        >>> run.label, run.tone
        ('finished, 0 of 1 met, 1 missed', 'bad')
    """
    status = str(meta.get("status", "unknown"))
    fallbacks = fallback_sources(meta)
    return RunVerdict(status, tuple(
        judge_target(c, metrics, run_status=status, fallbacks=fallbacks)
        for c in checks
    ))
