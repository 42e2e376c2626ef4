"""HTML building blocks shared by the report pages: escaping, tables, badges.

Every string that reaches a page goes through :func:`escape` (quotes included, so it is safe in
attributes too); functions here take cells that the caller has already escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from attnlab.report.checks import Target, format_value
from attnlab.report.verdicts import TargetVerdict

__all__ = [
    "TONES",
    "badge",
    "details",
    "escape",
    "paper_cell",
    "spread_cell",
    "table",
    "verdict_cell",
]

#: Badge colours the style sheet defines (anything else is drawn grey).
TONES = ("good", "bad", "warn", "neutral", "failed", "interrupted", "running", "skipped",
         "met", "missed", "not-shown", "not-comparable")


def escape(value: Any) -> str:
    """HTML-escape anything.

    Example:
        >>> escape('<a href="x">')
        '&lt;a href=&quot;x&quot;&gt;'
    """
    return html.escape(str(value), quote=True)


def badge(text: str, tone: str) -> str:
    """A coloured label; ``tone`` picks the colour (one of :data:`TONES`)."""
    css = tone if tone in TONES else "neutral"
    return f'<span class="badge {css}">{escape(text)}</span>'


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Sequence[int] = (),
    css: str = "",
) -> str:
    """A table; ``header`` is escaped here, ``rows`` hold cells already escaped by the caller.

    Args:
        header: column titles (all empty: no header row).
        rows: escaped cells.
        numeric: columns aligned right in tabular figures.
        css: classes of the table (``"fixed"``: fixed layout, full width, wrapping cells; the
            page's style sheet sets the column widths of each kind of table).
    """
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    thead = f"<thead><tr>{head}</tr></thead>" if any(header) else ""
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    attr = f' class="{escape(css)}"' if css else ""
    return f"<table{attr}>{thead}<tbody>{''.join(body)}</tbody></table>"


def details(summary: str, content: str, *, css: str = "") -> str:
    """A collapsed block: ``summary`` (escaped here) opens ``content`` (already HTML)."""
    attr = f' class="{escape(css)}"' if css else ""
    return f"<details{attr}><summary>{escape(summary)}</summary>{content}</details>"


def paper_cell(target: Target) -> str:
    """The paper's number for ``target``: printed, derived from printed numbers, or none."""
    if target.paper_origin == "project":
        return '<span class="muted" title="no paper prints a number for this metric">—</span>'
    value = escape(format_value(target.paper))
    if target.paper_origin == "derived":
        return (f'{value} <span class="note" title="computed from numbers the paper prints">'
                "derived</span>")
    return value


def verdict_cell(judged: TargetVerdict) -> str:
    """The verdict badge with its reason underneath."""
    tone = judged.verdict.replace(" ", "-")
    cell = badge(judged.verdict, tone)
    if judged.reason:
        cell += f'<span class="note">{escape(judged.reason)}</span>'
    return cell


def spread_cell(judged: TargetVerdict) -> str:
    """The spread or significance, flagged when the number stands on one seed or is n.s."""
    text = escape(judged.spread.text)
    if judged.spread.flagged:
        return f'<span class="noisy" title="noise not ruled out">{text}</span>'
    return text
