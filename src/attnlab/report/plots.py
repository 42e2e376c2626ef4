"""Learning curves drawn from a run's training history.

A history maps a series name to ``(step, value)`` points. Names may carry a model prefix,
``"cnn/train_loss"`` and ``"st_cnn/train_loss"``: series sharing the part after the last ``/`` are
drawn on the same axes, so models trained in one experiment are compared at a glance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from attnlab.interpret.plots import _pyplot

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["group_series", "plot_learning_curves"]

History = Mapping[str, Sequence[tuple[float, float]]]


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

    Args:
        history: series name -> ``(step, value)`` points; non-finite values are skipped.
        title: optional figure title.
        max_cols: panels per row.
        xlabel: label of the x axes (the unit each experiment logged its points in).

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: if ``history`` holds no point.
    """
    groups = group_series(history)
    if not any(points for series in groups.values() for points in series.values()):
        raise ValueError("history holds no point to plot")
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
