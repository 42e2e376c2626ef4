"""Text tables and the JSON document of ``attnlab bench``.

One table per suite: a row per (case, variant) with the median time per call, the inter-quartile
range, the peak-memory growth of one call (``-``: not measured), the achieved GFLOP/s and its
fraction of the machine's float32 matmul roofline (measured in the same run) where the FLOPs are
known, and one column per peer: the peer's median divided by the row's (``> 1``: the row is
faster), ``not installed`` when the peer library is missing. Then the target lines, each
``met``, ``missed``, ``not measured`` or ``not checked`` (a size-dependent target in a quick
run), the suite's metrics and notes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from attnlab.bench.base import Row, SuiteResult
from attnlab.bench.measure import Roofline

__all__ = ["bench_document", "format_header", "format_suite", "summarize_targets"]


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.4f}"


def _value(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if value != 0 and (abs(value) < 0.01 or abs(value) >= 1e4):
        return f"{value:.3g}"
    return f"{value:.3f}"


def _ratio_cell(value: float | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value if len(value) <= 24 else value[:21] + "..."
    return f"{value:.2f}x"


def _row_cells(row: Row, peers: Sequence[str], roofline_gflops: float | None) -> list[str]:
    if row.timing is not None:
        q1, q3 = row.timing.quartiles
        median, spread = _ms(row.timing.median), f"{_ms(q1)}-{_ms(q3)}"
    else:
        median, spread = row.status if len(row.status) <= 40 else row.status[:37] + "...", ""
    peak = "-" if row.peak_mib is None else f"{row.peak_mib:.1f}"
    if row.memory_error is not None:
        peak = "error"
    gflops = row.gflops
    rate = "" if gflops is None else f"{gflops:.1f}"
    roof = ""
    if gflops is not None and roofline_gflops:
        roof = f"{100 * gflops / roofline_gflops:.0f}%"
    ratios = [_ratio_cell(row.ratios.get(p)) if row.peer is None else "" for p in peers]
    return [median, spread, peak, rate, roof, *ratios]


def format_suite(result: SuiteResult, *, roofline_gflops: float | None = None) -> str:
    """The table, target lines, metrics and notes of one suite.

    Args:
        result: what the suite produced.
        roofline_gflops: the machine's float32 matmul GFLOP/s; the ``roof`` column is the
            row's GFLOP/s as a percentage of it.

    Example:
        >>> from attnlab.bench.suite import SuiteResult
        >>> print(format_suite(SuiteResult("demo", "nothing", "unavailable: no data", "quick")))
        == demo: nothing [quick sizes]
        unavailable: no data
    """
    lines = [f"== {result.name}: {result.description} [{result.scale} sizes]"]
    if result.status != "ok":
        lines.append(result.status)
    peers = list(result.peers)
    if result.rows:
        header = [
            "case", "variant", "median ms", "IQR ms", "peak MiB", "GFLOP/s", "roof",
            *[f"vs {p}" for p in peers],
        ]
        body = []
        previous = None
        for row in result.rows:
            case = row.case if row.case != previous else ""
            previous = row.case
            label = row.variant if row.peer is None else f"{row.variant} (peer)"
            body.append([case, label, *_row_cells(row, peers, roofline_gflops)])
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        for cells in [header, *body]:
            text = [
                cell.ljust(width) if i < 2 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ]
            lines.append("  ".join(text).rstrip())
        missing = [p for p, installed in result.peers.items() if not installed]
        if missing:
            lines.append(f"peers not installed: {', '.join(missing)}")
    for target in result.targets:
        measured = "-" if target.measured is None else _value(target.measured, target.unit)
        bound = (">= " if target.direction == "higher" else "<= ") + _value(
            target.threshold, target.unit
        )
        suffix = " (judged at full sizes)" if target.status == "not checked" else ""
        lines.append(f"  [{target.status}] {target.description}: {measured} ({bound}){suffix}")
    if result.metrics:
        parts = [
            f"{k} = {'-' if v is None else _value(v, '')}" for k, v in result.metrics.items()
        ]
        lines.append("metrics: " + ", ".join(parts))
    lines.extend(f"note: {note}" for note in result.notes)
    errors = sorted({f"{r.variant}: {r.memory_error}" for r in result.rows if r.memory_error})
    lines.extend(f"memory error: {e}" for e in errors)
    if result.rows:
        lines.append(f"({result.seconds:.1f} s)")
    return "\n".join(lines)


def summarize_targets(results: Sequence[SuiteResult]) -> dict[str, int]:
    """Counts of target statuses over all suites.

    Example:
        >>> summarize_targets([])
        {'met': 0, 'missed': 0, 'not measured': 0, 'not checked': 0}
    """
    counts = {"met": 0, "missed": 0, "not measured": 0, "not checked": 0}
    for result in results:
        for target in result.targets:
            counts[target.status] += 1
    return counts


def format_header(machine: Mapping[str, Any], roofline: Roofline | None, scale: str) -> str:
    """The lines printed before the tables: versions, machine, roofline.

    Example:
        >>> print(format_header({"torch_version": "2.x", "python": "3.11", "description": "CPU"},
        ...                     None, "quick"))
        attnlab bench [quick sizes], torch 2.x, Python 3.11
        machine at start: CPU
    """
    lines = [
        f"attnlab bench [{scale} sizes], torch {machine.get('torch_version')}, "
        f"Python {machine.get('python')}",
        f"machine at start: {machine.get('description')}",
    ]
    if roofline is not None:
        lines.append(
            f"roofline: float32 matmul {roofline.size}x{roofline.size}: "
            f"{roofline.median_gflops:.1f} GFLOP/s median, {roofline.best_gflops:.1f} best "
            "(the roof column divides a row's GFLOP/s by the median)"
        )
    return "\n".join(lines)


def _finite(value: Any) -> Any:
    """Replace non-finite floats (not valid JSON) by ``None``, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def bench_document(
    results: Sequence[SuiteResult],
    *,
    scale: str,
    machine: Mapping[str, Any],
    roofline: Mapping[str, Any] | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document of a run: machine, roofline, every suite and a target summary.

    Example:
        >>> doc = bench_document([], scale="quick", machine={"cpu": "X"}, roofline=None)
        >>> sorted(doc)
        ['machine', 'roofline', 'scale', 'suites', 'summary', 'tool']
    """
    doc: dict[str, Any] = {
        "tool": "attnlab bench",
        "scale": scale,
        "machine": dict(machine),
        "roofline": None if roofline is None else dict(roofline),
        "suites": [r.to_dict() for r in results],
        "summary": summarize_targets(results),
    }
    if extra:
        doc.update(extra)
    return _finite(doc)
