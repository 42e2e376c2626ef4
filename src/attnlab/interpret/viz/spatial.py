"""Attention over images: spatial-transformer sampling grids over the input and the output
(Jaderberg et al. 2015, Figure 3), and attention over the regions of an image (co-attention)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from attnlab.core.checks import check_tensor
from attnlab.interpret.viz._backend import _as_tensor, _check_labels, _pyplot
from attnlab.vision.grids import normalized_to_pixel

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_region_attention", "plot_sampling_grids"]

_COLOURS = ("tab:red", "tab:cyan", "tab:orange", "tab:green")


def _draw_grid(ax: Axes, points: Tensor, colour: str, lines: int) -> None:
    """Outline of the ``(H, W, 2)`` pixel-coordinate grid and a few interior grid lines.

    The outline is the first line drawn: it starts at ``points[0, 0]`` and runs along the first
    row, down the last column, back along the last row and up the first column.
    """
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

    Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
    https://arxiv.org/abs/1506.02025, Figure 3: the region of the input that the transformer
    samples (the image of the output grid, ``T_theta(G)``, eq. 1) and the output ``V``.

    Column ``b`` shows example ``b``. The first row is the input (its channels' maximum) with,
    per transformer, the outline of its sampling grid and ``grid_lines`` interior lines in each
    direction: the region of the input that is resampled into the output (grey: outside the
    input, read as zeros). Row ``n + 1`` is the output of transformer ``n`` (the maximum over
    its channels).

    Convention:
        Grids hold normalised ``(x, y)`` input coordinates in ``[-1, 1]`` (the layout of
        ``F.affine_grid``); they are drawn in pixel coordinates (x right, y down) through
        :func:`attnlab.vision.grids.normalized_to_pixel` with ``align_corners``.

    Args:
        images: the inputs ``U``.
        grids: per transformer, its sampling grid in normalised ``(x, y)`` input coordinates.
        transformed: the transformers' outputs, concatenated on channels.
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
        The matplotlib ``Figure``; ``fig.axes`` holds the ``(N + 1) x B`` panels row by row.

    Example:
        >>> from attnlab.vision.grids import normalized_meshgrid
        >>> grid = normalized_meshgrid((28, 28)).expand(2, 28, 28, 2)
        >>> fig = plot_sampling_grids(torch.rand(2, 1, 28, 28), [grid], torch.rand(2, 1, 28, 28))
        >>> len(fig.axes)
        4
    """
    images, checked, transformed = _checked(images, grids, transformed, labels, predictions)
    if isinstance(grid_lines, bool) or not isinstance(grid_lines, int) or grid_lines < 0:
        raise ValueError(f"grid_lines must be a non-negative int, got {grid_lines!r}")
    batch, channels = images.shape[:2]
    num = len(checked)
    plt = _pyplot()
    fig, axes = plt.subplots(
        num + 1, batch, figsize=(1.6 * batch + 0.6, 1.7 * (num + 1) + 0.4), squeeze=False
    )
    for b in range(batch):
        ax = axes[0][b]
        _draw_input(ax, images[b], [g[b] for g in checked], align_corners, grid_lines)
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


def plot_region_attention(
    images: Sequence[Tensor],
    weights: Tensor,
    *,
    titles: Sequence[str] | None = None,
) -> Figure:
    """Attention over the regions of images: one column per image, one row per hop.

    Each image is overlaid with its ``side x side`` grid of regions (the cells of a CNN's last
    feature map, row-major); a region is shaded darker the less weight it gets relative to the
    most attended region, so attended regions stay bright.

    Args:
        images: per column, an ``(3, H, W)`` (or ``(1, H, W)``) image with values in ``[0, 1]``.
        weights: per column and hop, the weights over the ``N = side * side`` regions.
        titles: per column, a title (the question and answer).

    Shape:
        - weights: ``(num_images, K, N)``

    Returns:
        The matplotlib ``Figure``; panel ``(k, i)`` is ``fig.axes[k * num_images + i]``; its
        second image is the ``(side, side, 4)`` shade, whose alpha channel is
        ``0.8 * (1 - w / max(w))``.

    Example:
        >>> import torch
        >>> fig = plot_region_attention([torch.rand(3, 8, 8)], torch.rand(1, 2, 4).softmax(-1))
        >>> len(fig.axes)
        2
    """
    w = _as_tensor(weights, "weights", ndim=3, layout="(num_images, K, N)")
    count, hops, regions = w.shape
    side = round(regions**0.5)
    if side * side != regions or regions == 0:
        raise ValueError(f"weights must cover a square grid of regions, got N = {regions}")
    if len(images) != count or count == 0:
        raise ValueError(f"images must hold one image per row of weights ({count}), got "
                         f"{len(images)}")
    pictures = []
    for i, image in enumerate(images):
        t = _as_tensor(image, f"images[{i}]", ndim=3, layout="(C, H, W)")
        if t.shape[0] not in (1, 3):
            raise ValueError(f"images[{i}] must have 1 or 3 channels, got shape {tuple(t.shape)}")
        pictures.append(t)
    heads = _check_labels(titles, "titles", count, "image") if titles is not None else None
    plt = _pyplot()
    fig, axes = plt.subplots(hops, count, figsize=(2.4 * count, 2.6 * hops), squeeze=False)
    for col, picture in enumerate(pictures):
        height, width = picture.shape[-2:]
        extent = (0, width, height, 0)
        shown = picture.permute(1, 2, 0).clamp(0, 1).numpy()
        for hop in range(hops):
            ax = axes[hop][col]
            if picture.shape[0] == 1:
                ax.imshow(shown[..., 0], cmap="gray", vmin=0, vmax=1, extent=extent)
            else:
                ax.imshow(shown, extent=extent)
            heat = w[col, hop].view(side, side)
            shade = torch.zeros(side, side, 4)
            shade[..., 3] = 0.8 * (1.0 - heat / heat.max().clamp(min=1e-12))
            ax.imshow(shade.numpy(), extent=extent, interpolation="nearest")
            ax.set_xlabel(f"max weight {float(heat.max()):.2f}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if hop == 0 and heads is not None:
                ax.set_title(heads[col], fontsize=7)
            if col == 0:
                ax.set_ylabel(f"hop {hop + 1}", fontsize=8)
    fig.tight_layout()
    return fig
