"""Run the ``hu2018_se_accounting`` experiment: count parameters and GFLOPs, compare with the paper.

Each row of :data:`~attnlab.experiments.hu2018_se_accounting.table.ROWS` is built on the
``meta`` device (shapes only: no memory, no weights) and counted with
:mod:`attnlab.vision.complexity`: :func:`~attnlab.vision.complexity.count_parameters` printed as
the paper prints it (:func:`~attnlab.vision.complexity.millions_rounded_up`) and
:func:`~attnlab.vision.complexity.count_multiply_adds` at ``image_size`` x ``image_size``, in
GFLOPs rounded to two decimals. The same forward pass also counts the elements summed by the
residual connections, an alternative convention shown next to the count (it reproduces some of
the rows the main count misses, and breaks others; see the README).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from attnlab.experiments.context import RunContext
from attnlab.experiments.hu2018_se_accounting.config import AccountingConfig
from attnlab.experiments.hu2018_se_accounting.table import Row, row
from attnlab.report.files import atomic_write_text
from attnlab.vision.complexity import count_multiply_adds, count_parameters, millions_rounded_up
from attnlab.vision.squeeze_excitation import Bottleneck

if TYPE_CHECKING:  # pragma: no cover
    from attnlab.interpret.viz import Figure

__all__ = ["TABLE_FILE", "Count", "count_row", "main", "plot_table", "table_csv"]

TABLE_FILE = "complexity_table.csv"


@dataclass(frozen=True)
class Count:
    """What was counted for one row.

    Attributes:
        row: the model and the paper's numbers.
        params: exact number of parameters.
        multiply_adds: :func:`~attnlab.vision.complexity.count_multiply_adds` of one image.
        residual_additions: elements summed by the residual connections of one image (one
            addition each; 0 for a model without residual blocks).
    """

    row: Row
    params: int
    multiply_adds: int
    residual_additions: int

    @property
    def params_m(self) -> float:
        """Parameters in millions as the paper prints them (rounded up, one decimal)."""
        return millions_rounded_up(self.params)

    @property
    def gflops(self) -> float:
        """Multiply-adds in GFLOPs at the paper's precision (two decimals)."""
        return round(self.multiply_adds / 1e9, 2)

    @property
    def gflops_with_residual_additions(self) -> float:
        """GFLOPs counting also one addition per element of every residual summation."""
        return round((self.multiply_adds + self.residual_additions) / 1e9, 2)

    def params_status(self) -> str:
        """``"match"``, ``"miss"`` or ``"no paper value"``."""
        if self.row.paper_params_m is None:
            return "no paper value"
        return "match" if self.params_m == self.row.paper_params_m else "miss"

    def gflops_status(self) -> str:
        """``"match"``, ``"within tolerance"``, ``"miss"`` or ``"no paper value"``."""
        paper = self.row.paper_gflops
        if paper is None:
            return "no paper value"
        if self.gflops == paper:
            return "match"
        if abs(self.gflops - paper) <= self.row.gflops_tolerance:
            return "within tolerance"
        return "miss"


def count_row(entry: Row, *, image_size: int = 224) -> Count:
    """Build ``entry``'s model on the ``meta`` device and count it.

    Args:
        entry: the row.
        image_size: side of the square RGB input (224 in the paper).

    Returns:
        The :class:`Count`.

    Example:
        >>> c = count_row(row("se_resnet50"))
        >>> c.params, c.params_m, c.gflops
        (28088024, 28.1, 3.87)
    """
    model = entry.build()
    residual = 0

    def add_residual(module: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal residual
        residual += output[0].numel()  # BlockOutput(context, weights): one sum per element

    handles = [
        m.register_forward_hook(add_residual) for m in model.modules() if isinstance(m, Bottleneck)
    ]
    try:
        x = torch.empty(1, 3, image_size, image_size, device="meta")
        multiply_adds = count_multiply_adds(model, x)
    finally:
        for handle in handles:
            handle.remove()
    return Count(entry, count_parameters(model), multiply_adds, residual)


def main(config: AccountingConfig, ctx: RunContext) -> dict[str, float]:
    """Count every row of ``config.models``; return the counts and how many match the paper.

    Returns:
        Per row ``params/<key>`` (exact), ``params_M/<key>`` (millions, rounded up to one
        decimal as the paper prints them) and ``gflops/<key>`` (two decimals); and
        ``summary/params_rows``, ``summary/params_match``, ``summary/gflops_rows``,
        ``summary/gflops_match``, ``summary/gflops_within_tolerance``: how many rows with a
        printed value there are and how many the count reproduces; and
        ``summary/gflops_match_with_residual_additions``, how many the alternative convention
        reproduces.
    """
    counts: list[Count] = []
    for key in config.models:
        count = count_row(row(key), image_size=config.image_size)
        counts.append(count)
        ctx.logger.info(
            "%-20s %12s params (%.1fM, paper %s: %s)  %.2f GFLOPs (paper %s: %s)",
            key, f"{count.params:,}", count.params_m, _fmt(count.row.paper_params_m, 1),
            count.params_status(), count.gflops, _fmt(count.row.paper_gflops, 2),
            count.gflops_status(),
        )
    metrics: dict[str, float] = {}
    for c in counts:
        metrics[f"params/{c.row.key}"] = float(c.params)
        metrics[f"params_M/{c.row.key}"] = c.params_m
        metrics[f"gflops/{c.row.key}"] = c.gflops
    params_status = [c.params_status() for c in counts]
    gflops_status = [c.gflops_status() for c in counts]
    metrics["summary/params_rows"] = float(sum(s != "no paper value" for s in params_status))
    metrics["summary/params_match"] = float(params_status.count("match"))
    metrics["summary/gflops_rows"] = float(sum(s != "no paper value" for s in gflops_status))
    metrics["summary/gflops_match"] = float(gflops_status.count("match"))
    metrics["summary/gflops_within_tolerance"] = float(gflops_status.count("within tolerance"))
    metrics["summary/gflops_match_with_residual_additions"] = float(sum(
        c.gflops_with_residual_additions == c.row.paper_gflops for c in counts
    ))

    if ctx.is_main:
        atomic_write_text(ctx.path(TABLE_FILE), table_csv(counts))
    with ctx.plotting("complexity_table"):
        ctx.save_plot(
            plot_table(counts, image_size=config.image_size),
            "complexity_table",
            caption=(
                f"Parameters and GFLOPs (multiply-adds, {config.image_size} x "
                f"{config.image_size} input) counted from the library's models next to the SE "
                "paper's printed values. Green: the count reproduces the printed value; amber: "
                "it does not, within the tolerance the README justifies (the paper does not "
                "state its counting rule); red: a miss. Last column: the count with one "
                "addition per element of every residual summation, an alternative convention. "
                f"Also in {TABLE_FILE}."
            ),
        )
    return metrics


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table_csv(counts: Sequence[Count]) -> str:
    """The counts as CSV text, one row per model, paper values and statuses included."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([
        "key", "model", "source", "params", "params_M", "paper_params_M", "params_status",
        "multiply_adds", "gflops", "paper_gflops", "gflops_tolerance", "gflops_status",
        "residual_additions", "gflops_with_residual_additions",
    ])
    for c in counts:
        writer.writerow([
            c.row.key, c.row.label, c.row.source, c.params, _fmt(c.params_m, 1),
            _fmt(c.row.paper_params_m, 1), c.params_status(), c.multiply_adds,
            _fmt(c.gflops, 2), _fmt(c.row.paper_gflops, 2), c.row.gflops_tolerance,
            c.gflops_status(), c.residual_additions, _fmt(c.gflops_with_residual_additions, 2),
        ])
    return buffer.getvalue()


_COLOURS = {
    "match": "#c8e6c9",
    "within tolerance": "#ffe0b2",
    "miss": "#ffcdd2",
    "no paper value": "#ffffff",
}


def plot_table(counts: Sequence[Count], *, image_size: int = 224) -> Figure:
    """The counts as a table figure, the paper's columns coloured by agreement.

    Returns:
        A matplotlib ``Figure``.
    """
    from attnlab.interpret.viz import plot_table as draw_table

    columns = [
        "model", "source", "parameters", "M (ours)", "M (paper)", "GFLOPs (ours)",
        "GFLOPs (paper)", "GFLOPs + residual adds",
    ]
    cells, colours = [], []
    for c in counts:
        gap = ""
        if c.gflops_status() in ("within tolerance", "miss"):
            gap = f" ({c.gflops - (c.row.paper_gflops or 0.0):+.2f})"
        cells.append([
            c.row.label, c.row.source, f"{c.params:,}", _fmt(c.params_m, 1),
            _fmt(c.row.paper_params_m, 1), _fmt(c.gflops, 2) + gap,
            _fmt(c.row.paper_gflops, 2), _fmt(c.gflops_with_residual_additions, 2),
        ])
        p, g = _COLOURS[c.params_status()], _COLOURS[c.gflops_status()]
        colours.append(["#ffffff", "#ffffff", "#ffffff", p, p, g, g, "#f5f5f5"])
    return draw_table(
        cells, columns=columns, cell_colours=colours,
        title=("Squeeze-and-Excitation Networks (Hu et al.), Tables 2, 10, 13, 15: "
               f"counted at {image_size} x {image_size} vs printed"),
    )
