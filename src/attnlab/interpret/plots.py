"""Compatibility names for :mod:`attnlab.interpret.viz`, where every figure is drawn.

The heat maps and the matplotlib gate that lived here moved to :mod:`attnlab.interpret.viz`;
these names remain importable from here and are the same objects (the private ``_pyplot``,
``_as_matrix`` and ``_SHADES`` included).
"""

from __future__ import annotations

from attnlab.interpret.viz._backend import PlottingUnavailableError, save_figure
from attnlab.interpret.viz._backend import _as_matrix as _as_matrix
from attnlab.interpret.viz._backend import _pyplot as _pyplot
from attnlab.interpret.viz.heatmaps import _SHADES as _SHADES
from attnlab.interpret.viz.heatmaps import ascii_heatmap, plot_attention, plot_heads

__all__ = [
    "PlottingUnavailableError",
    "ascii_heatmap",
    "plot_attention",
    "plot_heads",
    "save_figure",
]
