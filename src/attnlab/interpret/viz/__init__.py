"""Every figure of attnlab: attention views and result charts, drawn with matplotlib.

Each view takes tensors, arrays and labels (never an experiment's objects) and returns a
matplotlib ``Figure`` (:func:`plot_attention`, which draws on a given axes, returns its
``Axes``); :func:`highlight_html` returns HTML and :func:`ascii_heatmap` text. Matplotlib is
optional (``pip install 'attnlab[plot]'``): it is imported only when a figure is drawn, and a
missing matplotlib raises :class:`PlottingUnavailableError` (an experiment's
``ctx.plotting(name)`` block records the figure as skipped). Nothing else in the package imports
matplotlib.

Attention views:

* token maps: :func:`plot_attention` (one ``(Lq, Lk)`` map), :func:`plot_attention_maps`
  (several side by side), :func:`plot_alignment` (source x
  target with tokens), :func:`plot_heads`, :func:`plot_heads_with_tokens`,
  :func:`plot_head_layer_grid` (layers x heads), :func:`plot_rollout` (rollout / flow, the
  ``(L, L)`` map or one row as bars), :func:`plot_token_scores`, :func:`plot_hop_attention`
  (memory hops), :func:`ascii_heatmap` (terminal);
* text: :func:`highlight_html`, :func:`plot_highlighted_documents` and :func:`draw_document`
  (hierarchical word and sentence weights);
* images: :func:`plot_sampling_grids` (spatial transformers), :func:`plot_region_attention`;
* channels: :func:`plot_class_gates` (squeeze-and-excitation gates per class and stage);
* graphs: :func:`plot_neighbourhood_graph` (edge widths = attention), :func:`neighbourhood_layout`,
  :func:`plot_entropy_histograms`;
* pointers: :func:`plot_pointer_distributions`.

Result charts: :func:`plot_learning_curves`, :func:`plot_curves`, :func:`plot_curve_panels`,
:func:`plot_faithfulness_curves` (deletion / insertion), :func:`plot_grouped_bars`,
:func:`plot_table`, :func:`plot_timings`.

Figures: :func:`save_figure` writes and closes one, :func:`close_figure` closes one. Code that
annotates a figure without importing matplotlib writes ``if TYPE_CHECKING: from
attnlab.interpret.viz import Figure`` (the name exists for type checkers only).

Example:
    >>> import torch
    >>> from attnlab.interpret.viz import plot_alignment, close_figure
    >>> fig = plot_alignment(torch.tensor([[0.9, 0.1], [0.2, 0.8]]),
    ...                      source=["le", "chat"], target=["the", "cat"])
    >>> fig.axes[0].images[0].get_array().tolist()
    [[0.8999999761581421, 0.10000000149011612], [0.20000000298023224, 0.800000011920929]]
    >>> close_figure(fig)
"""

from typing import TYPE_CHECKING

from attnlab.interpret.viz._backend import PlottingUnavailableError, close_figure, save_figure
from attnlab.interpret.viz.charts import (
    History,
    Points,
    Reference,
    group_series,
    plot_curve_panels,
    plot_curves,
    plot_faithfulness_curves,
    plot_grouped_bars,
    plot_learning_curves,
    plot_table,
    plot_timings,
)
from attnlab.interpret.viz.gates import class_spread, plot_class_gates
from attnlab.interpret.viz.graph import (
    neighbourhood_layout,
    plot_entropy_histograms,
    plot_neighbourhood_graph,
)
from attnlab.interpret.viz.heatmaps import (
    ascii_heatmap,
    plot_alignment,
    plot_attention,
    plot_attention_maps,
    plot_head_layer_grid,
    plot_heads,
    plot_heads_with_tokens,
    plot_hop_attention,
    plot_rollout,
    plot_token_scores,
)
from attnlab.interpret.viz.pointer import plot_pointer_distributions
from attnlab.interpret.viz.spatial import plot_region_attention, plot_sampling_grids
from attnlab.interpret.viz.text import (
    HighlightedText,
    document_line_count,
    draw_document,
    highlight_html,
    plot_highlighted_documents,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure as Figure

__all__ = [
    "HighlightedText",
    "History",
    "PlottingUnavailableError",
    "Points",
    "Reference",
    "ascii_heatmap",
    "class_spread",
    "close_figure",
    "document_line_count",
    "draw_document",
    "group_series",
    "highlight_html",
    "neighbourhood_layout",
    "plot_alignment",
    "plot_attention",
    "plot_attention_maps",
    "plot_class_gates",
    "plot_curve_panels",
    "plot_curves",
    "plot_entropy_histograms",
    "plot_faithfulness_curves",
    "plot_grouped_bars",
    "plot_head_layer_grid",
    "plot_heads",
    "plot_heads_with_tokens",
    "plot_highlighted_documents",
    "plot_hop_attention",
    "plot_learning_curves",
    "plot_neighbourhood_graph",
    "plot_pointer_distributions",
    "plot_region_attention",
    "plot_rollout",
    "plot_sampling_grids",
    "plot_table",
    "plot_timings",
    "plot_token_scores",
    "save_figure",
]
