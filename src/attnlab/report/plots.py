"""Learning curves drawn from a run's training history.

A history maps a series name to ``(step, value)`` points. Names may carry a model prefix,
``"cnn/train_loss"`` and ``"st_cnn/train_loss"``: series sharing the part after the last ``/`` are
drawn on the same axes, so models trained in one experiment are compared at a glance. The figure
is drawn by :func:`attnlab.interpret.viz.plot_learning_curves`; these are the same functions.
"""

from __future__ import annotations

from attnlab.interpret.viz.charts import History, group_series, plot_learning_curves

__all__ = ["History", "group_series", "plot_learning_curves"]
