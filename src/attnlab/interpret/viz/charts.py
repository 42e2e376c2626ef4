"""Charts of results: learning curves, score-against-size curves, deletion / insertion curves,
grouped bars, tables drawn as figures, and timing samples."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from attnlab.interpret.viz._backend import _as_tensor, _check_positive_int, _pyplot

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "History",
    "Points",
    "Reference",
    "group_series",
    "plot_curve_panels",
    "plot_curves",
    "plot_faithfulness_curves",
    "plot_grouped_bars",
    "plot_learning_curves",
    "plot_table",
    "plot_timings",
]

History = Mapping[str, Sequence[tuple[float, float]]]
"""Series name -> ``(step, value)`` points."""

Points = Mapping[Any, float]
"""A curve as ``{x: y}``; ``x`` is any number (int or float), points are drawn by increasing x."""

Reference = tuple[float, str, str]
"""A horizontal reference line: ``(y, label, matplotlib line style)``."""


def group_series(history: History) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Group series by quantity (the name after the last ``/``), keeping insertion order.

    Example:
        >>> group_series({"cnn/loss": [(0, 1.0)], "st/loss": [(0, 2.0)], "acc": [(0, 0.5)]})
        {'loss': {'cnn': [(0.0, 1.0)], 'st': [(0.0, 2.0)]}, 'acc': {'': [(0.0, 0.5)]}}
    """
    groups: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for name, points in history.items():
        label, _, quantity = name.rpartition("/")
        groups.setdefault(quantity, {})[label] = [(float(s), float(v)) for s, v in points]
    return groups


def plot_learning_curves(
    history: History, *, title: str | None = None, max_cols: int = 3, xlabel: str = "step / epoch"
) -> Figure:
    """One panel per quantity (loss, accuracy, ...), one line per model, step on the x axis.

    Names may carry a model prefix, ``"cnn/train_loss"`` and ``"st_cnn/train_loss"``: series
    sharing the part after the last ``/`` are drawn on the same axes (:func:`group_series`).

    Args:
        history: series name -> ``(step, value)`` points; non-finite values are skipped.
        title: optional figure title.
        max_cols: panels per row.
        xlabel: label of the x axes (the unit each experiment logged its points in).

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: if ``history`` holds no point.

    Example:
        >>> fig = plot_learning_curves({"a/loss": [(0, 2.0), (1, 1.0)], "b/loss": [(0, 3.0)]})
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['a', 'b']
    """
    groups = group_series(history)
    if not any(points for series in groups.values() for points in series.values()):
        raise ValueError("history holds no point to plot")
    _check_positive_int(max_cols, "max_cols")
    plt = _pyplot()
    cols = min(max_cols, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for index, (quantity, series) in enumerate(groups.items()):
        ax = axes[index // cols][index % cols]
        for label, points in series.items():
            finite = [(s, v) for s, v in points if math.isfinite(v)]
            if not finite:
                continue
            steps, values = zip(*finite, strict=True)
            marker = "o" if len(finite) <= 30 else None
            ax.plot(steps, values, marker=marker, markersize=3, label=label or quantity)
        ax.set_title(quantity)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize="small")
    for index in range(len(groups), rows * cols):
        axes[index // cols][index % cols].axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _check_curves(curves: Mapping[str, Points], name: str) -> None:
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(f"{name} must map a label to its {{x: y}} points, got {curves!r}")
    for label, points in curves.items():
        if not isinstance(points, Mapping):
            raise TypeError(f"{name}[{label!r}] must map x to y, got {type(points).__name__}")


def _draw_curves(
    ax: object, curves: Mapping[str, Points], dashed: Sequence[str]
) -> None:
    for label, points in curves.items():
        xs = sorted(points)
        style = "s--" if label in dashed else "o-"
        ax.plot(xs, [points[x] for x in xs], style, label=label)  # type: ignore[attr-defined]


def plot_curves(
    curves: Mapping[str, Points],
    *,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    dashed: Sequence[str] = (),
    integer_x: bool = False,
) -> Figure:
    """One line per label: ``y`` against ``x`` (e.g. BLEU against source length, error against
    the number of hops).

    Args:
        curves: label -> ``{x: y}``; points are drawn in increasing ``x``.
        xlabel: x axis label.
        ylabel: y axis label.
        title: axes title.
        dashed: labels drawn dashed with square markers (published reference values).
        integer_x: put a tick at every ``x`` that occurs.

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> fig = plot_curves({"ours": {10: 0.5, 20: 0.4}}, xlabel="length", ylabel="BLEU")
        >>> [int(x) for x in fig.axes[0].get_lines()[0].get_xdata()]
        [10, 20]
    """
    _check_curves(curves, "curves")
    fig, ax = _pyplot().subplots(figsize=(5.5, 3.6))
    _draw_curves(ax, curves, dashed)
    if integer_x:
        ax.set_xticks(sorted({x for points in curves.values() for x in points}))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_curve_panels(
    panels: Mapping[str, Mapping[str, Points]],
    *,
    xlabel: str,
    span: tuple[float, float, str] | None = None,
    unit_interval: Sequence[str] = (),
) -> Figure:
    """One panel per metric, one line per model: metric against a size (e.g. accuracy against
    the input size ``n``).

    Args:
        panels: panel title -> label -> ``{x: y}``.
        xlabel: x axis label of every panel.
        span: ``(low, high, label)``: an x range shaded grey in every panel (the training range).
        unit_interval: panel titles whose y axis is fixed to ``[0, 1]`` (accuracies).

    Returns:
        The matplotlib ``Figure``, panels in the order of ``panels``.

    Example:
        >>> fig = plot_curve_panels({"acc": {"a": {5: 1.0, 10: 0.5}}}, xlabel="n",
        ...                         span=(5, 5, "training n"), unit_interval=["acc"])
        >>> [float(y) for y in fig.axes[0].get_ylim()]
        [-0.02, 1.02]
    """
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError("panels must map a panel title to its curves, got none")
    for title, curves in panels.items():
        _check_curves(curves, f"panels[{title!r}]")
    fig, axes = _pyplot().subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4),
                                   squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels.items(), strict=True):
        for label, points in curves.items():
            xs = sorted(points)
            ax.plot(xs, [points[x] for x in xs], marker="o", label=label)
        if span is not None:
            ax.axvspan(span[0], span[1], color="0.9", label=span[2])
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        if title in unit_interval:
            ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_grouped_bars(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    ylabel: str,
    xlabel: str | None = None,
    title: str | None = None,
    references: Sequence[Reference] = (),
    ylim: tuple[float, float] | None = None,
    value_format: str | None = None,
    rotation: float = 0.0,
) -> Figure:
    """Side-by-side bars: one group per entry of ``groups``, one bar per series in each group.

    Args:
        groups: the group names along the x axis.
        series: series label -> a value per group (e.g. ``{"paper": [...], "ours": [...]}``).
        ylabel: y axis label.
        xlabel: x axis label.
        title: axes title.
        references: horizontal lines ``(y, label, style)`` (a paper's level, a failure line).
        ylim: the y range.
        value_format: when given, each bar is annotated with ``format(value, value_format)``.
        rotation: rotation of the group names.

    Returns:
        The matplotlib ``Figure``; the bars of series ``k`` are drawn ``k``-th
        (``fig.axes[0].containers[k]``).

    Example:
        >>> fig = plot_grouped_bars(["task 1", "task 2"], {"paper": [0.0, 8.3], "ours": [1.0, 9.0]},
        ...                         ylabel="error (%)")
        >>> [float(bar.get_height()) for bar in fig.axes[0].containers[1]]
        [1.0, 9.0]
    """
    names = [str(g) for g in groups]
    if not names:
        raise ValueError("groups must name at least one group")
    if not isinstance(series, Mapping) or not series:
        raise ValueError("series must map a label to one value per group, got none")
    for label, values in series.items():
        if len(values) != len(names):
            raise ValueError(f"series[{label!r}] must hold one value per group ({len(names)}), "
                             f"got {len(values)}")
    fig, ax = _pyplot().subplots(figsize=(max(5.0, 0.45 * len(names) * len(series) + 2.5), 3.6))
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series.items()):
        offset = (k - (len(series) - 1) / 2) * width
        xs = [i + offset for i in range(len(names))]
        ax.bar(xs, [float(v) for v in values], width=width, label=label)
        if value_format is not None:
            for x, value in zip(xs, values, strict=True):
                ax.text(x, float(value), format(float(value), value_format), ha="center",
                        va="bottom", fontsize=7)
    for y, label, style in references:
        ax.axhline(y, color="grey" if style == "--" else "black", ls=style, lw=0.8,
                   label=label or None)
    ax.set_xticks(range(len(names)), names, rotation=rotation,
                  ha="right" if rotation else "center", fontsize=8 if rotation else None)
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_table(
    cells: Sequence[Sequence[str]],
    *,
    columns: Sequence[str],
    cell_colours: Sequence[Sequence[str]] | None = None,
    title: str | None = None,
    width: float = 13.0,
) -> Figure:
    """A table drawn as a figure (header in bold), cells optionally coloured (e.g. by agreement
    with a paper's value).

    Args:
        cells: one row of strings per table row, one string per column.
        columns: the header.
        cell_colours: a colour per cell (same shape as ``cells``).
        title: axes title.
        width: figure width in inches.

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> fig = plot_table([["ResNet-50", "25.6"]], columns=["model", "M params"])
        >>> fig.axes[0].tables[0][1, 0].get_text().get_text()
        'ResNet-50'
    """
    header = [str(c) for c in columns]
    if not header:
        raise ValueError("columns must name at least one column")
    rows = [[str(x) for x in row] for row in cells]
    if not rows:
        raise ValueError("cells must hold at least one row")
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"cells[{i}] must hold one string per column ({len(header)}), got "
                             f"{len(row)}")
    colours = None
    if cell_colours is not None:
        colours = [list(row) for row in cell_colours]
        if len(colours) != len(rows) or any(len(r) != len(header) for r in colours):
            raise ValueError("cell_colours must have the shape of cells "
                             f"({len(rows)} x {len(header)})")
    fig, ax = _pyplot().subplots(figsize=(width, 0.9 + 0.3 * (len(rows) + 1)))
    ax.axis("off")
    table = ax.table(cellText=rows, cellColours=colours, colLabels=header, loc="center",
                     cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    table.auto_set_column_width(list(range(len(header))))
    table.scale(1.0, 1.25)
    for column in range(len(header)):
        table[0, column].set_text_props(weight="bold")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_timings(
    panels: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    ylabel: str = "ms per forward pass",
) -> Figure:
    """One panel per setting: every timed sample of each model (points) and its median (bar).

    The y axis starts at zero, so an overhead is read against the whole time.

    Args:
        panels: panel title -> model label -> timed samples (in the unit of ``ylabel``).
        ylabel: y axis label.

    Returns:
        The matplotlib ``Figure``; each median is annotated next to its bar.

    Example:
        >>> fig = plot_timings({"batch 1": {"a": [1.0, 3.0, 2.0], "b": [2.0]}})
        >>> [t.get_text() for t in fig.axes[0].texts]
        ['2.0 ms', '2.0 ms']
    """
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError("panels must map a panel title to its timings, got none")
    for title, timings in panels.items():
        if not timings or any(not samples for samples in timings.values()):
            raise ValueError(f"panels[{title!r}] must map each model to at least one sample")
    fig, axes = _pyplot().subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6),
                                   squeeze=False)
    for ax, (title, timings) in zip(axes[0], panels.items(), strict=True):
        for position, samples in enumerate(timings.values()):
            values = sorted(float(s) for s in samples)
            median = _median(values)
            jitter = [position + 0.12 * ((i % 5) - 2) / 2 for i in range(len(samples))]
            ax.scatter(jitter, [float(s) for s in samples], s=12, alpha=0.6, color=f"C{position}")
            ax.hlines(median, position - 0.3, position + 0.3, color="black", linewidth=2)
            ax.annotate(f"{median:.1f} ms", (position + 0.32, median), va="center", fontsize=8)
        ax.set_xticks(range(len(timings)), list(timings))
        ax.set_xlim(-0.6, len(timings) - 0.1)
        ax.set_ylim(bottom=0)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _median(values: Sequence[float]) -> float:
    """The median of sorted ``values`` (the mean of the two middle ones for an even count)."""
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def plot_faithfulness_curves(
    curves: Mapping[str, Mapping[str, Mapping[str, Tensor]]],
    *,
    ylabel: str = "p(explained output)",
    dashed: Sequence[str] = ("random",),
) -> Figure:
    """Deletion and insertion curves, one panel per subject (row) and mode (column), one line
    per ranking method: the mean over runs, shaded one standard deviation when there are several.

    The x axis is the fraction of inputs removed (``"deletion"``) or put back (``"insertion"``),
    ``T`` evenly spaced steps from 0 to 1 (:func:`attnlab.interpret.faithfulness`).

    Args:
        curves: subject -> mode -> method -> the ``(runs, T)`` curves of that method (one row
            per seed); a missing method or mode leaves its line or panel empty.
        ylabel: y axis label.
        dashed: methods drawn dashed (baselines).

    Returns:
        The matplotlib ``Figure``; panel ``(r, c)`` is ``fig.axes[r * num_modes + c]`` with the
        modes in the order of the first subject, and its lines' y data are the means.

    Example:
        >>> import torch
        >>> fig = plot_faithfulness_curves({"bert": {"deletion": {"rollout": torch.rand(3, 5)}}})
        >>> fig.axes[0].get_title(), len(fig.axes[0].get_lines())
        ('bert: deletion', 1)
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must map a subject to its modes, got none")
    modes = list(next(iter(curves.values())))
    if not modes:
        raise ValueError("curves must hold at least one mode per subject")
    checked: dict[tuple[str, str, str], Tensor] = {}
    for subject, by_mode in curves.items():
        for mode, by_method in by_mode.items():
            if mode not in modes:
                raise ValueError(f"curves[{subject!r}] has mode {mode!r}; every subject must "
                                 f"use the modes {modes}")
            for method, runs in by_method.items():
                t = _as_tensor(runs, f"curves[{subject!r}][{mode!r}][{method!r}]", ndim=2,
                               layout="(runs, T)")
                if t.shape[0] == 0 or t.shape[1] < 2:
                    raise ValueError(f"curves[{subject!r}][{mode!r}][{method!r}] needs at least "
                                     f"one run of at least 2 steps, got {tuple(t.shape)}")
                checked[(subject, mode, method)] = t
    fig, axes = _pyplot().subplots(len(curves), len(modes),
                                   figsize=(4.5 * len(modes), 2.4 * len(curves)), squeeze=False)
    for row, subject in zip(axes, curves, strict=True):
        for ax, mode in zip(row, modes, strict=True):
            for method in curves[subject].get(mode, {}):
                t = checked[(subject, mode, method)]
                fractions = torch.linspace(0, 1, t.shape[1]).tolist()
                mean = t.mean(0)
                ax.plot(fractions, mean.tolist(), label=method,
                        linestyle="--" if method in dashed else "-")
                if t.shape[0] > 1:
                    std = t.std(0)
                    ax.fill_between(fractions, (mean - std).tolist(), (mean + std).tolist(),
                                    alpha=0.15)
            verb = {"deletion": "removed", "insertion": "inserted"}.get(mode)
            ax.set_title(f"{subject}: {mode}", fontsize=9)
            ax.set_xlabel(f"fraction of inputs {verb}" if verb else "fraction of inputs",
                          fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.set_ylim(0, 1)
        labelled = [ax for ax in row if ax.get_lines()]
        if labelled:
            labelled[-1].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig
