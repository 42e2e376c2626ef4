"""Run the ``vaswani2017_param_counts`` experiment: count Table 3's models, compare with the paper.

Every row of :data:`~attnlab.experiments.vaswani2017_param_counts.table.ROWS` is counted with
:func:`~attnlab.experiments.vaswani2017_param_counts.table.count_params`; the rows whose heads
have ``d_k = d_v = d_model / h`` are also built as a
:class:`~attnlab.architectures.transformer.Transformer` on the ``meta`` device (shapes only, no
memory) and their ``numel`` must equal the formula. The two rows of Table 3 (B) change ``d_k``
alone, which :class:`~attnlab.mechanisms.multihead.MultiHeadAttention` cannot express; they are
counted by the same formula only.

Besides the counts, the run reports which vocabulary sizes would reproduce each printed number
exactly (the count is linear in the vocabulary size), which is how the gap is explained.
"""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING

from attnlab.architectures.transformer import Transformer
from attnlab.experiments.context import RunContext
from attnlab.experiments.vaswani2017_param_counts.config import ParamCountConfig
from attnlab.experiments.vaswani2017_param_counts.table import ROWS, Row, count_params
from attnlab.report.files import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from attnlab.interpret.viz import Figure

__all__ = ["SAME_WIDTH_ROWS", "TABLE_FILE", "build_row", "main", "plot_counts", "vocab_interval"]

TABLE_FILE = "param_counts.csv"
#: Rows with the base model's d_model: their difference to the base does not depend on the
#: vocabulary, so it is compared exactly (up to the paper's rounding).
SAME_WIDTH_ROWS: tuple[str, ...] = tuple(
    r.key for r in ROWS if r.dim == ROWS[0].dim and r.key != "base"
)


def build_row(row: Row, *, vocab_size: int, tied_embeddings: bool = True) -> Transformer:
    """The encoder-decoder model of ``row`` on the ``meta`` device (no memory used)."""
    if not row.standard_heads:
        raise ValueError(f"row {row.key!r} has d_k != d_model / h; it cannot be built")
    return Transformer(
        vocab_size,
        vocab_size,
        dim=row.dim,
        num_heads=row.num_heads,
        num_encoder_layers=row.num_layers,
        num_decoder_layers=row.num_layers,
        hidden_dim=row.hidden_dim,
        share_embeddings=tied_embeddings,
        tie_output=tied_embeddings,
        device="meta",
    )


def vocab_interval(row: Row, *, config: ParamCountConfig) -> tuple[float, float]:
    """Vocabulary sizes (tied embeddings) for which the count rounds to the paper's number."""
    total, embedding = count_params(
        row, vocab_size=config.vocab_size, tied_embeddings=True, biases=config.biases,
        layer_norms=config.layer_norms,
    )
    rest = total - embedding
    low = ((row.paper_params_m - 0.5) * 1e6 - rest) / row.dim
    high = ((row.paper_params_m + 0.5) * 1e6 - rest) / row.dim
    return low, high


def main(config: ParamCountConfig, ctx: RunContext) -> dict[str, float]:
    """Count every row; return ``params_M/<row>``, ``delta_M/<row>`` and the vocabulary fit.

    Raises:
        RuntimeError: a built module's ``numel`` differs from the formula.
    """
    metrics: dict[str, float] = {}
    totals: dict[str, int] = {}
    checked = 0
    for row in ROWS:
        total, embedding = count_params(
            row, vocab_size=config.vocab_size, tied_embeddings=config.tied_embeddings,
            biases=config.biases, layer_norms=config.layer_norms,
        )
        totals[row.key] = total
        if config.build_modules and row.standard_heads and config.biases and config.layer_norms:
            model = build_row(row, vocab_size=config.vocab_size,
                              tied_embeddings=config.tied_embeddings)
            built = sum(p.numel() for p in model.parameters())
            if built != total:
                raise RuntimeError(
                    f"row {row.key}: the built Transformer has {built} parameters, the formula "
                    f"{total}"
                )
            checked += 1
        metrics[f"params/{row.key}"] = float(total)
        metrics[f"params_M/{row.key}"] = round(total / 1e6, 3)
        metrics[f"embedding_M/{row.key}"] = round(embedding / 1e6, 3)
        metrics[f"gap_M/{row.key}"] = round(total / 1e6 - row.paper_params_m, 3)
    base = totals["base"]
    for key in SAME_WIDTH_ROWS:
        metrics[f"delta_M/{key}"] = round((totals[key] - base) / 1e6, 3)
    intervals = {row.key: vocab_interval(row, config=config) for row in ROWS}
    table3 = [intervals[r.key] for r in ROWS if r.key != "big"]
    metrics["vocab_fit_table3_low"] = math.ceil(max(low for low, _ in table3))
    metrics["vocab_fit_table3_high"] = math.floor(min(high for _, high in table3))
    metrics["vocab_fit_big_low"] = math.ceil(intervals["big"][0])
    metrics["vocab_fit_big_high"] = math.floor(intervals["big"][1])
    metrics["modules_cross_checked"] = float(checked)
    ctx.logger.info(
        "vocabulary reproducing every Table 3 row: %d..%d; the big row: %d..%d",
        metrics["vocab_fit_table3_low"], metrics["vocab_fit_table3_high"],
        metrics["vocab_fit_big_low"], metrics["vocab_fit_big_high"],
    )
    if ctx.is_main:
        atomic_write_text(ctx.path(TABLE_FILE), _table_csv(totals, intervals))
    with ctx.plotting("param_counts"):
        ctx.save_plot(
            plot_counts(totals),
            "param_counts",
            caption=(
                f"Parameters (millions) counted with a shared {config.vocab_size:,}-token "
                "vocabulary and tied embeddings, next to Table 3's column."
            ),
        )
    return metrics


def _table_csv(totals: dict[str, int], intervals: dict[str, tuple[float, float]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "label", "params", "params_M", "paper_M", "gap_M",
                     "vocab_low", "vocab_high"])
    for row in ROWS:
        low, high = intervals[row.key]
        writer.writerow([row.key, row.label, totals[row.key], f"{totals[row.key] / 1e6:.3f}",
                         row.paper_params_m, f"{totals[row.key] / 1e6 - row.paper_params_m:.3f}",
                         math.ceil(low), math.floor(high)])
    return buffer.getvalue()


def plot_counts(totals: dict[str, int]) -> Figure:
    """Grouped bars, counted vs printed, one pair per row of Table 3."""
    from attnlab.interpret.viz import plot_grouped_bars

    return plot_grouped_bars(
        [r.label for r in ROWS],
        {"counted (this library)": [totals[r.key] / 1e6 for r in ROWS],
         "Table 3 (paper)": [r.paper_params_m for r in ROWS]},
        ylabel="parameters (millions)",
        title="Transformer parameter counts (Vaswani et al. 2017, Table 3)",
        value_format=".1f",
        rotation=30.0,
    )
