"""Figure 3 of the spatial transformer paper: inputs, the sampling grids on them, the outputs.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, Figure 3 (and section 4.1): for each test digit, the input with
the region that the transformer samples (the image of the output grid ``T_theta(G)`` in the
input), and the transformer's output ``V`` that the classifier reads. The figure is drawn by
:func:`attnlab.interpret.viz.plot_sampling_grids` (re-exported here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from attnlab.interpret.viz import plot_sampling_grids

if TYPE_CHECKING:  # pragma: no cover
    from attnlab.architectures.stn_classifiers import (
        SpatialTransformerClassifier,
    )
    from attnlab.experiments.context import RunContext

__all__ = ["plot_sampling_grids", "save_transformer_figure"]


def save_transformer_figure(
    ctx: RunContext,
    model: SpatialTransformerClassifier,
    images: Tensor,
    labels: Tensor,
    predictions: Tensor,
    *,
    plot_name: str,
    title: str,
    caption: str,
) -> None:
    """Save ``plot_name``: ``images`` with the model's sampling grids, and what it resamples.

    The model runs once in eval mode (its mode is restored); the figure is skipped, and recorded
    as missing, without matplotlib (:meth:`RunContext.plotting`).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(images.to(device))
    model.train(was_training)
    with ctx.plotting(plot_name):
        fig = plot_sampling_grids(
            images,
            [g.cpu() for g in out.grids],
            out.transformed.cpu(),
            labels=labels,
            predictions=predictions,
            title=title,
        )
        ctx.save_plot(fig, plot_name, caption=caption)
