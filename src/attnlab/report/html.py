"""The self-contained HTML report of one run or of several runs side by side.

A page comparing runs leads with the claims table (:mod:`attnlab.report.claims`): per target, the
paper's printed number, the pass condition, the measurement, its spread and a verdict
(:mod:`attnlab.report.verdicts`). Each run then has its section: claim, paper, data source, its
targets, its figures, and, collapsed, every metric, the configuration and the environment.

The page needs nothing but itself: images are embedded as base64 ``data:`` URIs (scaled down to
the page width, :mod:`attnlab.report.images`, each distinct image once), the style sheet is
inline, and a Content-Security-Policy forbids every other source (no script, no font, no remote
image), so opening a report makes no request. The one exception is a run that wrote an interactive
attention view (``attention_view.json``, :mod:`attnlab.report.attention_view`): its page allows
that view's inline script by its hash, and nothing else. Figures also link to their full-size
files by a relative path, which works while the page sits next to its run folders. Every string
taken from a run directory (run names, claims, config values, metric names, captions, dataset
descriptions, error messages, tokens) is HTML-escaped, because a run directory is data that
anyone may have written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from attnlab.report.attention_view import SCRIPT_SOURCE, VIEW_FILE, read_view_data, render_view
from attnlab.report.checks import CheckResult, check_targets, format_value, target_from_dict
from attnlab.report.claims import ClaimsEntry, claims_table, run_badge, targets_table
from attnlab.report.environment import now_iso
from attnlab.report.files import ReportError, atomic_write_text, read_json
from attnlab.report.images import thumbnail_png
from attnlab.report.markup import details, table
from attnlab.report.markup import escape as _e
from attnlab.report.rundir import (
    CONFIG_FILE,
    METRICS_FILE,
    PLOTS_DIR,
    REPORT_FILE,
    RUN_FILE,
    safe_plot_name,
)
from attnlab.report.verdicts import VERDICTS, RunVerdict, fallback_sources, judge_run

__all__ = [
    "MAX_IMAGE_BYTES",
    "RunRecord",
    "expand_run_dirs",
    "load_run",
    "render_report",
    "write_report",
]

#: Plots larger than this are listed but not embedded (a report should stay openable).
MAX_IMAGE_BYTES = 20 * 1024 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"



@dataclass
class Plot:
    """One embeddable image of a run."""

    name: str
    caption: str
    data: bytes | None
    problem: str | None = None


@dataclass
class RunRecord:
    """A run directory read back: what the report shows.

    Attributes:
        path: the run folder.
        meta: ``run.json``.
        config: ``config.json`` (``None`` when missing).
        metrics: ``metrics.json`` (empty when the run produced none).
        checks: targets next to the measured values.
        plots: images with captions, in the order the run saved them.
        problems: what could not be read (shown in the report instead of failing).
        attention: the interactive attention view's data (``attention_view.json``, see
            :mod:`attnlab.report.attention_view`); ``None`` when the run wrote none.
    """

    path: Path
    meta: dict[str, Any]
    config: dict[str, Any] | None
    metrics: dict[str, float | None]
    checks: list[CheckResult]
    plots: list[Plot] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    attention: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        """The experiment's name (the folder's name when run.json does not say)."""
        return str(self.meta.get("experiment", self.path.name))

    @property
    def status(self) -> str:
        """The run's status from run.json (``"unknown"`` when it does not say)."""
        return str(self.meta.get("status", "unknown"))

    @cached_property
    def verdict(self) -> RunVerdict:
        """Every target judged (met, missed, not shown, not comparable) and the run's badge."""
        return judge_run(self.meta, self.checks, self.metrics)


def _read_plot(run_dir: Path, file_name: str, caption: str) -> Plot:
    try:
        name = safe_plot_name(file_name)
    except ValueError as error:
        return Plot(str(file_name), caption, None, str(error))
    path = run_dir / PLOTS_DIR / name
    try:
        if path.is_symlink() or not path.is_file():
            return Plot(name, caption, None, "not a regular file in plots/")
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            return Plot(name, caption, None, f"too large to embed ({size} bytes)")
        data = path.read_bytes()
    except OSError as error:
        return Plot(name, caption, None, f"unreadable: {error}")
    if not data.startswith(_PNG_SIGNATURE):
        return Plot(name, caption, None, "not a PNG file")
    return Plot(name, caption, data)


def load_run(path: str | Path) -> RunRecord:
    """Read a run directory; missing optional files and malformed entries become ``problems``.

    Raises:
        ReportError: ``path`` is not a folder holding a readable ``run.json`` object.
    """
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"{str(path)!r} is not a run directory (no such folder)")
    meta = read_json(path / RUN_FILE)
    if not isinstance(meta, dict):
        raise ReportError(f"{path / RUN_FILE} does not hold a JSON object")
    problems: list[str] = []

    config: dict[str, Any] | None = None
    if (path / CONFIG_FILE).exists():
        try:
            loaded = read_json(path / CONFIG_FILE)
            config = loaded if isinstance(loaded, dict) else {"value": loaded}
        except ReportError as error:
            problems.append(str(error))

    metrics: dict[str, float | None] = {}
    if (path / METRICS_FILE).exists():
        try:
            loaded = read_json(path / METRICS_FILE)
            if not isinstance(loaded, dict):
                raise ReportError(f"{path / METRICS_FILE} does not hold a JSON object")
            for key, value in loaded.items():
                is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
                metrics[str(key)] = float(value) if is_number else None
        except ReportError as error:
            problems.append(str(error))

    checks: list[CheckResult] = []
    try:
        targets = [target_from_dict(t) for t in meta.get("targets", [])]
        checks = check_targets(targets, metrics, scale=str(meta.get("scale", "")))
    except (KeyError, TypeError, ValueError) as error:
        problems.append(f"malformed targets in {RUN_FILE}: {error!r}")

    plots: list[Plot] = []
    seen: set[str] = set()
    listed = meta.get("plots", [])
    for entry in listed if isinstance(listed, list) else []:
        if not isinstance(entry, dict):
            continue
        file_name = Path(str(entry.get("file", ""))).name
        plots.append(_read_plot(path, file_name, str(entry.get("caption", ""))))
        seen.add(file_name)
    plots_dir = path / PLOTS_DIR
    if plots_dir.is_dir():
        for extra in sorted(plots_dir.glob("*.png")):
            if extra.name not in seen:
                plots.append(_read_plot(path, extra.name, ""))

    attention: dict[str, Any] | None = None
    if (path / VIEW_FILE).exists():
        try:
            attention = read_view_data(path / VIEW_FILE)
        except ReportError as error:
            problems.append(f"attention view not shown: {error}")
    return RunRecord(path, meta, config, metrics, checks, plots, problems, attention)


def _dict_items(value: Any) -> list[Mapping[str, Any]]:
    """The mappings in ``value`` when it is a list (a hand-edited summary may hold anything)."""
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def expand_run_dirs(paths: Iterable[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Run folders named by ``paths``; a ``reproduce`` folder (with ``summary.json``) expands to
    its runs, and contributes its skipped experiments ``(name, reason)``.

    Raises:
        ReportError: a path is neither a run folder nor a reproduce folder.
    """
    runs: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if (path / RUN_FILE).exists():
            runs.append(path)
            continue
        summary_file = path / "summary.json"
        if not summary_file.exists():
            raise ReportError(
                f"{str(path)!r} holds neither {RUN_FILE} (a run) nor summary.json (a reproduce run)"
            )
        summary = read_json(summary_file)
        if not isinstance(summary, dict):
            raise ReportError(f"{summary_file} does not hold a JSON object")
        for entry in _dict_items(summary.get("runs")):
            sub = path / Path(str(entry.get("dir", ""))).name
            if (sub / RUN_FILE).exists():
                runs.append(sub)
        for entry in _dict_items(summary.get("skipped")):
            skipped.append((str(entry.get("name", "?")), str(entry.get("reason", ""))))
    return runs, skipped


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#1d232a;line-height:1.45;overflow-wrap:break-word}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.3rem;margin-top:2.5rem;
border-bottom:2px solid #d0d7de;padding-bottom:.3rem}h3{font-size:1.05rem;margin-top:1.5rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem;max-width:100%}
table.fixed{table-layout:fixed;width:100%}table.kv{table-layout:fixed;width:100%}
table.kv td:first-child{width:11rem}table.claims{font-size:.85rem}
.claims th:nth-child(1){width:23%}.claims th:nth-child(2){width:24%}
.claims th:nth-child(3),.claims th:nth-child(4),.claims th:nth-child(5){width:8%}
.claims th:nth-child(6){width:11%}.claims th:nth-child(7){width:18%}
.targets th:nth-child(1){width:21%}.targets th:nth-child(6){width:22%}
.targets th:nth-child(7){width:18%}.targets th:nth-child(n+2):nth-child(-n+5){width:9.5%}
.metrics th:first-child{width:75%}.config th:first-child{width:35%}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{background:#f3f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.experiment{background:#fafbfc}td.more{color:#57606a;font-size:.8rem}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:.7rem;font-size:.8rem;
font-weight:600;color:#fff;background:#6e7781;overflow-wrap:normal}
.good,.met{background:#1a7f37}.bad,.missed{background:#cf222e}
.warn,.not-comparable{background:#9a6700}.failed{background:#82071e}
.interrupted{background:#8250df}.running{background:#0969da}
.neutral,.not-shown,.skipped{background:#6e7781}
.muted{color:#57606a}.claim{display:block;margin:.3rem 0;font-size:.8rem}
.note{display:block;color:#57606a;font-size:.75rem}.noisy{color:#9a6700}
pre{background:#f6f8fa;padding:.6rem;white-space:pre-wrap;overflow-wrap:anywhere;
font-size:.85rem}
figure{display:inline-block;margin:.5rem 1rem 1rem 0;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #d0d7de}
figcaption{font-size:.85rem;color:#57606a;max-width:60ch}
details{margin:.6rem 0}summary{cursor:pointer;font-weight:600}
code{font-size:.85rem;overflow-wrap:anywhere}
"""

# No script, no remote anything: the page can only show its own inline style and data: images.
_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)
# A page with an interactive attention view may also run that view's script, allowed by its
# hash (any other script, inline or not, stays blocked).
_CSP_WITH_VIEW = f"{_CSP}; script-src {SCRIPT_SOURCE}"


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, Mapping):
        rows: list[tuple[str, Any]] = []
        for key, value in data.items():
            rows.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    return [(prefix, data)]


def _value_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return format_value(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _paper_html(paper: Any) -> str:
    if not isinstance(paper, Mapping):
        return ""
    text = f"{paper.get('authors', '')} ({paper.get('year', '')}), {paper.get('title', '')}"
    url = str(paper.get("url", ""))
    link = ""
    if url.startswith(("https://", "http://")):
        link = f' &lt;<a href="{_e(url)}">{_e(url)}</a>&gt;'
    elif url:
        link = f" &lt;{_e(url)}&gt;"
    return f"<p><b>Paper:</b> {_e(text)}{link}</p>"


def _duration(meta: Mapping[str, Any]) -> str:
    seconds = meta.get("duration_s")
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "—"
    text = f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    cpu = meta.get("cpu_s")
    if isinstance(cpu, (int, float)) and math.isfinite(cpu):
        text += f" (CPU {cpu:.1f} s)"
    return text


def _missing_plots(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(name, reason)`` of the figures the run skipped (``run.json``'s ``missing_plots``)."""
    return [
        (str(entry.get("name", "?")), str(entry.get("reason", "")))
        for entry in _dict_items(meta.get("missing_plots"))
    ]


def _relative_href(target: Path, base: Path) -> str | None:
    """A URL from a page in ``base`` to the file ``target`` (``None`` when there is none)."""
    try:
        relative = os.path.relpath(target.resolve(), base.resolve())
    except (OSError, ValueError):  # e.g. another drive
        return None
    # percent-encoding keeps every character literal: no scheme, query or fragment can sneak in
    return urllib.parse.quote(Path(relative).as_posix(), safe="/")


class _Figures:
    """The images of one page: each scaled down and embedded once, repeats pointing back."""

    def __init__(self, link_base: Path | None) -> None:
        self.link_base = link_base
        self.ids: dict[str, str] = {}

    def render(self, record: RunRecord, plot: Plot) -> str:
        caption = _e(plot.caption or plot.name)
        if plot.data is None:
            return f'<p class="muted">{_e(plot.name)}: not embedded ({_e(plot.problem)})</p>'
        digest = hashlib.sha256(plot.data).hexdigest()
        if digest in self.ids:
            return (f'<p class="muted">{caption}: the same image as '
                    f'<a href="#{self.ids[digest]}">the figure above</a>.</p>')
        figure_id = f"fig-{len(self.ids)}"
        self.ids[digest] = figure_id
        encoded = base64.b64encode(thumbnail_png(plot.data)).decode("ascii")
        link = ""
        if self.link_base is not None:
            href = _relative_href(record.path / PLOTS_DIR / plot.name, self.link_base)
            if href is not None:
                link = f' (<a href="{_e(href)}">full size</a>)'
        return (f'<figure id="{figure_id}"><img src="data:image/png;base64,{encoded}" '
                f'alt="{caption}"><figcaption>{caption}{link}</figcaption></figure>')


def _kv_table(rows: Iterable[tuple[Any, Any]]) -> str:
    return table(("", ""), [(_e(k), _e(_value_text(v))) for k, v in rows], css="kv")


def _run_section(record: RunRecord, index: int, figures: _Figures) -> str:
    meta = record.meta
    parts = [f'<section id="run-{index}">']
    parts.append(f"<h2>{_e(record.name)} {run_badge(record.verdict)}</h2>")
    if meta.get("claim"):
        parts.append(f"<p><b>Claim:</b> {_e(meta['claim'])}</p>")
    parts.append(_paper_html(meta.get("paper")))
    overview = [
        ("run directory", str(record.path)),
        ("scale", meta.get("scale", "—")),
        ("seed", meta.get("seed", "—")),
        ("overrides", " ".join(map(str, meta.get("overrides", []) or [])) or "none"),
        ("started", meta.get("started", "—")),
        ("finished", meta.get("finished", "—")),
        ("wall time", _duration(meta)),
    ]
    datasets = meta.get("datasets") or []
    if isinstance(datasets, list) and datasets:
        overview.append(("data", "; ".join(
            f"{d.get('name', '?')}: {d.get('description', '')}" if isinstance(d, Mapping)
            else str(d) for d in datasets)))
    sources = meta.get("data_sources")
    if isinstance(sources, Mapping) and sources:
        overview.append(("data source", "; ".join(
            f"{name}: {source}" for name, source in sources.items())))
    parts.append(_kv_table(overview))
    if fallback_sources(meta):
        parts.append('<p class="muted"><b>Data source: stand-in.</b> The real dataset was '
                     "missing, so this run used the stand-in named above; its numbers are not "
                     "comparable with the paper's.</p>")
    if record.status == "failed" or meta.get("error"):
        parts.append(f"<h3>Error</h3><pre>{_e(meta.get('error', 'unknown error'))}</pre>")
    for problem in record.problems:
        parts.append(f'<p class="muted">Note: {_e(problem)}</p>')

    parts.append("<h3>Measured vs paper</h3>")
    parts.append(targets_table(record.verdict))
    if record.metrics:
        parts.append(details(
            f"All {len(record.metrics)} measured numbers ({METRICS_FILE})",
            table(("metric", "value"),
                  [(f"<code>{_e(k)}</code>", _e(format_value(v)))
                   for k, v in record.metrics.items()],
                  numeric=(1,), css="fixed metrics"),
        ))

    missing = _missing_plots(meta)
    if record.plots or missing:
        parts.append("<h3>Plots</h3>")
    if missing:
        items = "".join(
            f"<li><code>{_e(name)}</code> ({_e(reason)})</li>" for name, reason in missing
        )
        parts.append(f'<div class="muted"><b>Figures not drawn:</b><ul>{items}</ul></div>')
    parts.extend(figures.render(record, plot) for plot in record.plots)

    if record.attention is not None:
        parts.append("<h3>Attention, interactive</h3>")
        parts.append('<p class="muted">Choose the attention, layer and head; point at a query '
                     "token to see where it attends (click it to keep it). The key tokens are "
                     "shaded by weight and the strongest is outlined. The address can set the "
                     "view, e.g. <code>#view=cross&amp;layer=0&amp;head=mean&amp;query=2</code>."
                     "</p>")
        parts.append(render_view(record.attention, view_id=f"attn-view-{index}"))

    if record.config is not None:
        parts.append(details("Configuration", table(
            ("key", "value"),
            [(f"<code>{_e(k)}</code>", _e(_value_text(v))) for k, v in _flatten(record.config)],
            css="fixed config",
        )))

    environment = meta.get("environment")
    env_rows: list[tuple[str, Any]] = []
    if meta.get("argv") is not None:
        argv = meta["argv"]
        env_rows.append(("argv", " ".join(map(str, argv)) if isinstance(argv, list) else argv))
    if meta.get("data_dir") is not None:
        env_rows.append(("data dir", meta["data_dir"]))
    if isinstance(environment, Mapping):
        env_rows.extend(_flatten(environment))
    if env_rows:
        parts.append(details("Environment", _kv_table(env_rows)))
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _overview(records: Sequence[RunRecord], skipped: Sequence[tuple[str, str]]) -> str:
    """One sentence of counts above the claims table."""
    runs = len(records)
    scales = sorted({str(r.meta.get("scale", "?")) for r in records})
    targets = {kind: sum(r.verdict.count(kind) for r in records) for kind in VERDICTS}
    tones = [r.verdict.tone for r in records]
    text = (f"{runs} experiment{'s' if runs != 1 else ''} run at {', '.join(scales) or '—'} "
            f"scale: {tones.count('good')} with every target met, {tones.count('bad')} with "
            f"a target missed, {tones.count('warn')} on stand-in data, "
            f"{tones.count('failed') + tones.count('interrupted')} failed or interrupted")
    if skipped:
        text += f", {len(skipped)} skipped"
    text += ". Targets: " + ", ".join(f"{n} {kind}" for kind, n in targets.items()) + "."
    return f"<p>{_e(text)}</p>"


_LEGEND = (
    '<p class="muted"><b>paper</b>: a number the paper prints ("derived": computed from '
    "printed numbers; — where no paper prints one). <b>target</b>: the pass condition, often "
    "this project's own threshold. <b>spread</b>: the standard deviation over seeds or the "
    'p-value of the paired test the run reports; "1 seed": measured once. '
    "<b>verdict</b>: met or missed on the real data; not comparable: the run used a stand-in "
    "dataset; not shown: not checked at this scale, not measured, within the noise, or the "
    "run did not finish.</p>"
)


def _claims(records: Sequence[RunRecord], skipped: Sequence[tuple[str, str]]) -> str:
    entries = [ClaimsEntry(r.name, f"run-{i}", r.meta, r.verdict) for i, r in enumerate(records)]
    return ("<h2>Claims: paper and measured numbers side by side</h2>"
            + _overview(records, skipped) + _LEGEND + claims_table(entries, skipped))


def render_report(
    records: Sequence[RunRecord],
    *,
    title: str | None = None,
    skipped: Sequence[tuple[str, str]] = (),
    link_base: Path | None = None,
) -> str:
    """The HTML page for ``records`` (one run, or several led by the claims table).

    Args:
        records: runs read with :func:`load_run`.
        title: page title (default: the run's experiment name, or "attnlab runs").
        skipped: ``(experiment, reason)`` rows for experiments that did not run.
        link_base: the folder the page will be written to; figures then link to their
            full-size files by relative path (no links when ``None``).

    Returns:
        A complete, self-contained HTML document.
    """
    if title is None:
        title = f"attnlab run: {records[0].name}" if len(records) == 1 else "attnlab runs"
    from attnlab import __version__

    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="muted">Generated {_e(now_iso())} by attnlab {_e(__version__)}.</p>']
    if len(records) > 1 or skipped:
        body.append(_claims(records, skipped))
    figures = _Figures(link_base)
    body.extend(_run_section(record, i, figures) for i, record in enumerate(records))
    csp = _CSP_WITH_VIEW if any(r.attention is not None for r in records) else _CSP
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_report(
    run_dirs: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    title: str | None = None,
    skipped: Sequence[tuple[str, str]] = (),
) -> Path:
    """Read ``run_dirs`` and write their report atomically.

    Args:
        run_dirs: run folders (a ``reproduce`` folder expands to its runs).
        out: the HTML file; default ``RUN_DIR/report.html`` for a single run folder, else
            ``./attnlab-report.html``.
        title: page title.
        skipped: extra ``(experiment, reason)`` rows.

    Returns:
        The path written.

    Raises:
        ReportError: a folder cannot be read, or ``out`` cannot be written.
    """
    paths, more_skipped = expand_run_dirs(run_dirs)
    if not paths and not (more_skipped or skipped):
        raise ReportError("no run to report")
    records = [load_run(p) for p in paths]
    if out is None:
        single = len(run_dirs) == 1 and len(paths) == 1 and Path(run_dirs[0]) == paths[0]
        if single:
            out = paths[0] / REPORT_FILE
        elif len(run_dirs) == 1:
            out = Path(run_dirs[0]) / REPORT_FILE
        else:
            out = Path("attnlab-report.html")
    out = Path(out)
    page = render_report(records, title=title, skipped=[*more_skipped, *skipped],
                         link_base=out.parent)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(out, page)
    except OSError as error:
        raise ReportError(f"cannot write report {str(out)!r}: {error.strerror or error}") from error
