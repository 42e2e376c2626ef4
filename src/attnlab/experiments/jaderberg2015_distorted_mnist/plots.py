"""Figure 3 of the spatial transformer paper: inputs, the sampling grids on them, the outputs.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, Figure 3 (and section 4.1): for each test digit, the input with
the region that the transformer samples (the image of the output grid ``T_theta(G)`` in the
input), and the transformer's output ``V`` that the classifier reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from attnlab.core.checks import check_tensor
from attnlab.interpret.plots import _pyplot
from attnlab.vision.grids import normalized_to_pixel

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from attnlab.architectures.stn_classifiers import (
        SpatialTransformerClassifier,
    )
    from attnlab.experiments.context import RunContext

__all__ = ["plot_sampling_grids", "save_transformer_figure"]

_COLOURS = ("tab:red", "tab:cyan", "tab:orange", "tab:green")


def _draw_grid(ax: Axes, points: Tensor, colour: str, lines: int) -> None:
    """Outline of the ``(H, W, 2)`` pixel-coordinate grid and a few interior grid lines."""
    height, width = points.shape[:2]
    outline = torch.cat(
        [points[0, :], points[:, -1], points[-1, :].flip(0), points[:, 0].flip(0)], dim=0
    ).numpy()
    ax.plot(outline[:, 0], outline[:, 1], color=colour, linewidth=1.6)
    rows = torch.linspace(0, height - 1, lines + 2)[1:-1].round().long().tolist()
    cols = torch.linspace(0, width - 1, lines + 2)[1:-1].round().long().tolist()
    for line in [points[i, :] for i in rows] + [points[:, j] for j in cols]:
        xy = line.numpy()
        ax.plot(xy[:, 0], xy[:, 1], color=colour, linewidth=0.5, alpha=0.7)


def plot_sampling_grids(
    images: Tensor,
    grids: Sequence[Tensor],
    transformed: Tensor,
    *,
    labels: Tensor | None = None,
    predictions: Tensor | None = None,
    title: str | None = None,
    align_corners: bool = False,
    grid_lines: int = 3,
) -> Figure:
    """Inputs with each transformer's sampling grid drawn on them, and the transformed outputs.

    Column ``b`` shows example ``b``. The first row is the input (its channels' maximum) with,
    per transformer, the outline of its sampling grid and ``grid_lines`` interior lines in each
    direction: the region of the input that is resampled into the output (grey: outside the
    input, read as zeros). Row ``n + 1`` is the output of transformer ``n`` (the maximum over
    its channels).

    Args:
        images: the inputs ``U``.
        grids: per transformer, its sampling grid in normalised ``(x, y)`` input coordinates.
        transformed: the transformers' outputs, concatenated on channels
            (:class:`~attnlab.architectures.stn_classifiers.SpatialTransformerClassifierOutput`).
        labels: true classes, shown above the columns.
        predictions: predicted classes, shown next to the labels.
        title: figure title.
        align_corners: the convention the grids were generated with.
        grid_lines: interior grid lines per direction (0: outline only).

    Shape:
        - images: ``(B, C, H, W)``
        - grids: ``N`` tensors ``(B, H_out, W_out, 2)``
        - transformed: ``(B, N * C, H_out, W_out)``
        - labels, predictions: ``(B,)``

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> from attnlab.vision.grids import normalized_meshgrid
        >>> grid = normalized_meshgrid((28, 28)).expand(2, 28, 28, 2)
        >>> fig = plot_sampling_grids(torch.rand(2, 1, 28, 28), [grid], torch.rand(2, 1, 28, 28))
        >>> len(fig.axes)
        4
    """
    images, grids, transformed = _checked(images, grids, transformed, labels, predictions)
    batch, channels = images.shape[:2]
    num = len(grids)
    plt = _pyplot()
    fig, axes = plt.subplots(
        num + 1, batch, figsize=(1.6 * batch + 0.6, 1.7 * (num + 1) + 0.4), squeeze=False
    )
    for b in range(batch):
        ax = axes[0][b]
        _draw_input(ax, images[b], [g[b] for g in grids], align_corners, grid_lines)
        parts = []
        if labels is not None:
            parts.append(f"label {int(labels[b])}")
        if predictions is not None:
            parts.append(f"pred {int(predictions[b])}")
        if parts:
            ax.set_title(", ".join(parts), fontsize=8)
        for n in range(num):
            out = transformed[b, n * channels : (n + 1) * channels].amax(0).numpy()
            axes[n + 1][b].imshow(out, cmap="gray", vmin=0.0, vmax=1.0)
    for row in axes:
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].set_ylabel("input + grid", fontsize=8)
    for n in range(num):
        axes[n + 1][0].set_ylabel("output" if num == 1 else f"output {n + 1}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _checked(
    images: Tensor,
    grids: Sequence[Tensor],
    transformed: Tensor,
    labels: Tensor | None,
    predictions: Tensor | None,
) -> tuple[Tensor, list[Tensor], Tensor]:
    """The figure's inputs as float CPU tensors, after checking that their shapes agree."""
    images = check_tensor(images, "images", ndim=4, layout="(B, C, H, W)").detach().cpu().float()
    transformed = check_tensor(
        transformed, "transformed", ndim=4, layout="(B, N * C, H_out, W_out)"
    ).detach().cpu().float()
    checked = [
        check_tensor(g, f"grids[{i}]", ndim=4, layout="(B, H_out, W_out, 2)").detach().cpu().float()
        for i, g in enumerate(grids)
    ]
    batch, channels = images.shape[:2]
    num = len(checked)
    if num == 0:
        raise ValueError("grids must hold at least one sampling grid")
    if batch == 0:
        raise ValueError("images must hold at least one example")
    if transformed.shape[0] != batch or transformed.shape[1] != num * channels:
        raise ValueError(
            f"transformed must have shape (B, N * C, H_out, W_out) = ({batch}, {num * channels}, "
            f"...), got {tuple(transformed.shape)}"
        )
    for i, g in enumerate(checked):
        if g.shape[0] != batch or g.shape[-1] != 2:
            raise ValueError(
                f"grids[{i}] must have shape (B, H_out, W_out, 2) with B={batch}, got "
                f"{tuple(g.shape)}"
            )
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values is not None and tuple(values.shape) != (batch,):
            raise ValueError(f"{name} must have shape (B,) = ({batch},), got {tuple(values.shape)}")
    return images, checked, transformed


def _draw_input(
    ax: Axes, image: Tensor, grids: Sequence[Tensor], align_corners: bool, grid_lines: int
) -> None:
    """One ``(C, H, W)`` input with its ``(H_out, W_out, 2)`` sampling grids, zoomed to fit."""
    height, width = image.shape[-2:]
    ax.imshow(image.amax(0).numpy(), cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_facecolor("0.85")  # outside the input (a grid that zooms out reaches there)
    low = torch.tensor([-0.5, -0.5])
    high = torch.tensor([width - 0.5, height - 0.5])
    for n, grid in enumerate(grids):
        points = normalized_to_pixel(grid, (height, width), align_corners=align_corners)
        _draw_grid(ax, points, _COLOURS[n % len(_COLOURS)], grid_lines)
        finite = points[torch.isfinite(points).all(-1)]
        if finite.numel():
            low = torch.minimum(low, finite.amin(0))
            high = torch.maximum(high, finite.amax(0))
    # show the whole grid, but no more than one image size beyond each border
    low = torch.maximum(low - 1.0, torch.tensor([-0.5 - width, -0.5 - height]))
    high = torch.minimum(high + 1.0, torch.tensor([2 * width - 0.5, 2 * height - 0.5]))
    ax.set_xlim(float(low[0]), float(high[0]))
    ax.set_ylim(float(high[1]), float(low[1]))


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
