"""Squeeze-and-excitation gates per class and per stage (Hu et al., Figures 6 and 7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import Tensor

from attnlab.interpret.viz._backend import _as_tensor, _pyplot

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["class_spread", "plot_class_gates"]


def class_spread(means: Tensor) -> float:
    """How class-specific one block's gates are: the standard deviation of the per-class means
    across classes, averaged over channels (0 when every class gets the same gates).

    Classes with a ``NaN`` row (no image) are left out.

    Shape:
        - means: ``(num_classes, C)``

    Example:
        >>> import torch
        >>> class_spread(torch.tensor([[0.5, 0.2], [0.5, 0.2]]))
        0.0
    """
    m = _as_tensor(means, "means", ndim=2, layout="(num_classes, C)", allow_nan=True)
    rows = m[~m.isnan().any(1)]
    if rows.shape[0] < 2:
        return 0.0
    return float(rows.std(0, unbiased=False).mean())


def plot_class_gates(
    means: Sequence[Tensor],
    *,
    blocks: Sequence[int],
    block_names: Sequence[str],
    class_names: Sequence[str],
    title: str | None = None,
) -> Figure:
    """Mean SE gate per channel and class at chosen depths, and the class spread of every block.

    Hu, Shen, Albanie, Sun, Wu, "Squeeze-and-Excitation Networks",
    https://arxiv.org/abs/1709.01507, Figures 6 and 7 (the role of excitation): the gates
    ``s`` (eq. 3) of an SE block averaged over the images of each class, one line per class
    against the channel index. One panel per entry of ``blocks``, then a last panel with
    :func:`class_spread` of every block against depth (early gates are class-agnostic, later
    ones class-specific).

    Args:
        means: per block, the ``(num_classes, C_k)`` mean gates (``NaN`` rows: no image).
        blocks: indices into ``means`` to draw (e.g. an early, a middle and the last block).
        block_names: a name per entry of ``means`` (``"stage 1, block 1"``).
        class_names: a name per class.
        title: figure title.

    Returns:
        The matplotlib figure: ``len(blocks) + 1`` panels; in block panel ``p``, line ``c`` is
        class ``c``'s mean gates and the last, dashed line their mean over classes.

    Example:
        >>> import torch
        >>> means = [torch.rand(2, 4), torch.rand(2, 8)]
        >>> fig = plot_class_gates(means, blocks=(0, 1), block_names=["b1", "b2"],
        ...                        class_names=["cat", "dog"])
        >>> len(fig.axes)
        3
    """
    checked = [_as_tensor(m, f"means[{i}]", ndim=2, layout="(num_classes, C_k)", allow_nan=True)
               for i, m in enumerate(means)]
    if not checked:
        raise ValueError("means must hold at least one block")
    if len(block_names) != len(checked):
        raise ValueError(f"block_names needs {len(checked)} names, got {len(block_names)}")
    if not blocks or any(not 0 <= b < len(checked) for b in blocks):
        raise ValueError(f"blocks must index the {len(checked)} blocks, got {tuple(blocks)}")
    for i, m in enumerate(checked):
        if m.shape[0] != len(class_names):
            raise ValueError(f"class_names needs {m.shape[0]} names (rows of means[{i}]), got "
                             f"{len(class_names)}")
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, len(blocks) + 1, figsize=(4.2 * (len(blocks) + 1), 3.6), squeeze=False
    )
    colours = plt.get_cmap("tab10")
    for ax, b in zip(axes[0], blocks, strict=False):
        m = checked[b]
        channels = range(m.shape[1])
        for c, name in enumerate(class_names):
            ax.plot(channels, m[c].tolist(), lw=1.0, color=colours(c % 10), label=name)
        ax.plot(channels, m.nanmean(0).tolist(), lw=1.6, color="black", ls="--", label="all")
        ax.set_title(f"{block_names[b]} ({m.shape[1]} channels)", fontsize=9)
        ax.set_xlabel("channel index")
        ax.set_ylabel("mean gate")
        if bool(((m >= 0) & (m <= 1)).all()):  # sigmoid gates: the paper's axis
            ax.set_ylim(0.0, 1.0)
    spread_ax = axes[0][-1]
    spread_ax.plot(range(1, len(checked) + 1), [class_spread(m) for m in checked], marker="o")
    spread_ax.set_xlabel("SE block (depth)")
    spread_ax.set_ylabel("std of class means")
    spread_ax.set_title("class specificity by depth", fontsize=9)
    axes[0][0].legend(fontsize=6, ncol=2, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
