"""Plots of attention weights: heat maps for one map or a grid of heads, and a terminal view.

Matplotlib is optional (``pip install attnlab[plot]``); it is imported only when a plot is drawn,
always through :func:`_pyplot`, which raises :class:`PlottingUnavailableError` when it cannot be
imported (an experiment's ``ctx.plotting(name)`` block turns that into a skipped figure).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PlottingUnavailableError",
    "ascii_heatmap",
    "plot_attention",
    "plot_heads",
    "save_figure",
]

_SHADES = " .:-=+*#%@"


class PlottingUnavailableError(ImportError):
    """Matplotlib (the optional ``plot`` extra) cannot be imported, so no figure can be drawn.

    A subclass of ``ImportError``: code that caught ``ImportError`` around plotting still works.
    The message names the fix, ``pip install 'attnlab[plot]'``; the import error that caused it
    is chained as ``__cause__``.
    """


def _as_matrix(weights: Tensor | Any, name: str = "weights") -> Tensor:
    w = torch.as_tensor(weights).detach().float().cpu()
    if w.dim() != 2:
        raise ValueError(f"{name} must be a 2-D (Lq, Lk) map, got shape {tuple(w.shape)}")
    return w


def ascii_heatmap(
    weights: Tensor,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    highlight: Sequence[int] | None = None,
) -> str:
    """Render a ``(Lq, Lk)`` weight map as text, one character per weight (darker = larger).

    Each row is scaled to its own maximum so that where a query looks is visible even when its
    weights are spread out. ``highlight[i]`` marks the expected key of row ``i`` with ``^`` below.

    Example:
        >>> import torch
        >>> print(ascii_heatmap(torch.tensor([[0.0, 1.0], [0.5, 0.5]])))
         @
        @@
    """
    w = _as_matrix(weights)
    width = max((len(s) for s in row_labels), default=0) if row_labels else 0
    lines = []
    if col_labels is not None:
        pad = " " * (width + 1) if row_labels else ""
        lines.append(pad + "".join(str(c)[:1] for c in col_labels))
    for i, row in enumerate(w):
        top = float(row.max())
        levels = (row / top * (len(_SHADES) - 1)).round().long() if top > 0 else row.long() * 0
        prefix = (row_labels[i].rjust(width) + " ") if row_labels else ""
        lines.append(prefix + "".join(_SHADES[int(v)] for v in levels))
        if highlight is not None:
            lines.append(" " * len(prefix) + " " * int(highlight[i]) + "^")
    return "\n".join(lines)


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on a non-interactive backend: the one gate to matplotlib.

    Every plot in the library (experiments included) gets pyplot here rather than importing
    matplotlib itself, so a missing matplotlib always surfaces as one error type.

    Raises:
        PlottingUnavailableError: matplotlib (or its pyplot) cannot be imported.
    """
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "png"):
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise PlottingUnavailableError(
            f"plotting needs matplotlib, which cannot be imported ({error}): "
            "pip install 'attnlab[plot]'"
        ) from error
    return plt


def plot_attention(
    weights: Tensor,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    mask: Tensor | None = None,
    ax: Axes | None = None,
    cmap: str = "viridis",
) -> Axes:
    """Heat map of one ``(Lq, Lk)`` attention map, queries down, keys across, with a colour bar.

    Args:
        weights: ``(Lq, Lk)``.
        mask: optional boolean ``(Lq, Lk)`` or ``(Lk,)`` (``True`` = may attend); masked cells are
            drawn in light grey so padding is not mistaken for zero attention.

    Returns:
        The matplotlib ``Axes`` drawn on.
    """
    w = _as_matrix(weights)
    plt = _pyplot()
    import numpy as np

    data = w.numpy()
    if mask is not None:
        keep = torch.as_tensor(mask).detach().cpu().bool().expand(w.shape).numpy()
        data = np.ma.masked_where(~keep, data)
    colormap = plt.get_cmap(cmap).with_extremes(bad="#d9d9d9")
    if ax is None:
        height = max(2.5, 0.28 * w.shape[0] + 1.2)
        width = max(3.0, 0.28 * w.shape[1] + 1.8)
        _, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(data, cmap=colormap, vmin=0.0, aspect="auto", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if col_labels is not None:
        ax.set_xticks(range(len(col_labels)), labels=list(col_labels), rotation=90)
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)), labels=list(row_labels))
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    if title:
        ax.set_title(title)
    return ax


def plot_heads(
    weights: Tensor,
    *,
    title: str | None = None,
    max_cols: int = 4,
    cmap: str = "viridis",
) -> Figure:
    """A grid of heat maps, one per head, for ``(H, Lq, Lk)`` weights (one example).

    Every head shares one colour scale, so heads can be compared at a glance.
    """
    w = torch.as_tensor(weights).detach().float().cpu()
    if w.dim() != 3:
        raise ValueError(f"weights must be (H, Lq, Lk) for one example, got {tuple(w.shape)}")
    plt = _pyplot()
    heads = w.shape[0]
    cols = min(max_cols, heads)
    rows = (heads + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    top = float(w.max()) or 1.0
    for h in range(rows * cols):
        ax = axes[h // cols][h % cols]
        if h >= heads:
            ax.axis("off")
            continue
        ax.imshow(w[h].numpy(), cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest")
        ax.set_title(f"head {h}")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_figure(fig_or_ax: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Save a figure (or the figure of an axes) to ``path``, creating folders; close it."""
    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)
    return path
