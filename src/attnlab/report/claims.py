"""The claims tables: each target's paper number, threshold, measurement, noise and verdict.

:func:`claims_table` leads a page comparing several runs: one group of rows per experiment (its
claim and run badge on the left), at most :data:`MAX_CLAIM_ROWS` targets each (the headline
target first, then the ones that missed), and a line counting the rest by verdict.
:func:`targets_table` lists every target of one run in its own section.

Columns: *paper* holds only a number the paper printed (or one derived from printed numbers,
marked so); the pass condition, which is often this project's own threshold, is the *target*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attnlab.report.checks import format_value
from attnlab.report.markup import (
    badge,
    escape,
    paper_cell,
    spread_cell,
    table,
    verdict_cell,
)
from attnlab.report.verdicts import VERDICTS, RunVerdict, TargetVerdict, fallback_sources

__all__ = ["MAX_CLAIM_ROWS", "ClaimsEntry", "claims_table", "run_badge", "targets_table"]

#: Targets listed per experiment in the claims table; the others are counted in one line.
MAX_CLAIM_ROWS = 4

_CLAIMS_HEADER = ("experiment and claim", "metric", "paper", "target", "measured", "spread",
                  "verdict")


@dataclass(frozen=True)
class ClaimsEntry:
    """One run as the claims table shows it."""

    name: str
    anchor: str
    meta: Mapping[str, Any]
    verdict: RunVerdict


def run_badge(verdict: RunVerdict) -> str:
    """The run's badge: ``finished, 2 of 3 met, 1 missed`` in red, ``failed`` ..."""
    return badge(verdict.label, verdict.tone)


def _shown(targets: Sequence[TargetVerdict], limit: int) -> list[int]:
    """Indices of the targets to list: the first (the headline claim), then the worst."""
    severity = {"missed": 0, "not comparable": 1, "met": 2, "not shown": 3}
    order = sorted(range(len(targets)),
                   key=lambda i: (i != 0, severity[targets[i].verdict], i))
    return sorted(order[:limit])


def _target_cells(judged: TargetVerdict) -> list[str]:
    """Paper, target, measured, spread and verdict of one target, escaped."""
    return [
        paper_cell(judged.target),
        escape(judged.target.criterion),
        escape(format_value(judged.check.measured)),
        spread_cell(judged),
        verdict_cell(judged),
    ]


def _experiment_cell(entry: ClaimsEntry, rows: int) -> str:
    meta = entry.meta
    parts = [f'<a href="#{escape(entry.anchor)}"><b>{escape(entry.name)}</b></a> '
             f"{run_badge(entry.verdict)}"]
    if meta.get("claim"):
        parts.append(f'<span class="claim">{escape(meta["claim"])}</span>')
    facts = [f"scale {meta.get('scale', '?')}"]
    fallbacks = fallback_sources(meta)
    if fallbacks:
        facts.append("stand-in data: " + ", ".join(fallbacks))
    parts.append(f'<span class="note">{escape("; ".join(facts))}</span>')
    span = f' rowspan="{rows}"' if rows > 1 else ""
    return f'<td class="experiment"{span}>{"".join(parts)}</td>'


def _entry_rows(entry: ClaimsEntry) -> list[str]:
    targets = entry.verdict.targets
    if not targets:
        text = ("the run did not finish" if entry.verdict.status != "finished"
                else "this experiment states no numeric target")
        return [f'<tr>{_experiment_cell(entry, 1)}<td colspan="6" class="muted">'
                f"{escape(text)}</td></tr>"]
    shown = _shown(targets, MAX_CLAIM_ROWS)
    hidden = [t for i, t in enumerate(targets) if i not in shown]
    rows: list[str] = []
    for position, index in enumerate(shown):
        judged = targets[index]
        source = judged.target.source
        title = f' title="{escape(source)}"' if source else ""  # the source on hover
        cells = f"<td><code{title}>{escape(judged.target.metric)}</code></td>" + "".join(
            f'<td class="num">{c}</td>' if i < 3 else f"<td>{c}</td>"
            for i, c in enumerate(_target_cells(judged))
        )
        lead = _experiment_cell(entry, len(shown) + bool(hidden)) if position == 0 else ""
        rows.append(f"<tr>{lead}{cells}</tr>")
    if hidden:
        counts = ", ".join(
            f"{n} {kind}" for kind in VERDICTS
            if (n := sum(1 for t in hidden if t.verdict == kind))
        )
        rows.append(
            f'<tr><td colspan="6" class="more">+ {len(hidden)} more target'
            f'{"s" if len(hidden) > 1 else ""} ({escape(counts)}): see '
            f'<a href="#{escape(entry.anchor)}">{escape(entry.name)}</a></td></tr>'
        )
    return rows


def claims_table(entries: Sequence[ClaimsEntry],
                 skipped: Sequence[tuple[str, str]] = ()) -> str:
    """The claims of several runs (and the experiments skipped, with the reason) in one table."""
    rows = [row for entry in entries for row in _entry_rows(entry)]
    for name, reason in skipped:
        rows.append(
            f'<tr><td class="experiment"><b>{escape(name)}</b> {badge("skipped", "skipped")}'
            f'</td><td colspan="6" class="muted">{escape(reason)}</td></tr>'
        )
    head = "".join(f"<th>{escape(h)}</th>" for h in _CLAIMS_HEADER)
    return (f'<table class="fixed claims"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def targets_table(verdict: RunVerdict) -> str:
    """Every target of one run: measured, paper, target, spread, source and verdict."""
    if not verdict.targets:
        return '<p class="muted">This experiment states no numeric target.</p>'
    rows = []
    for judged in verdict.targets:
        paper, criterion, measured, spread, result = _target_cells(judged)
        rows.append((f"<code>{escape(judged.target.metric)}</code>", measured, paper, criterion,
                     spread, escape(judged.target.source), result))
    return table(
        ("metric", "measured", "paper", "target", "spread", "source", "verdict"),
        rows,
        numeric=(1, 2, 3),
        css="fixed targets",
    )
