"""Excitation analysis: per-class mean SE gates at several depths (the SE paper's Figure 6).

Hu et al., "Squeeze-and-Excitation Networks", https://arxiv.org/abs/1709.01507, Figure 6 (the
"role of excitation" analysis): the gates :math:`s` (eq. 3) of one SE block, averaged over the
images of each class, plotted per channel. The paper finds them class-agnostic in early blocks and
increasingly class-specific with depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from attnlab.core.checks import check_size

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "balanced_subset",
    "class_mean_gates",
    "class_spread",
    "depth_indices",
    "plot_class_gates",
]


def balanced_subset(labels: Tensor, per_class: int, *, num_classes: int) -> Tensor:
    """Indices of the first ``per_class`` items of each class (fewer when a class has fewer).

    Args:
        labels: ``(N,)`` integer labels in ``[0, num_classes)``.
        per_class: items to keep per class.
        num_classes: number of classes.

    Returns:
        ``(M,)`` int64 indices, sorted.

    Example:
        >>> balanced_subset(torch.tensor([0, 1, 0, 0, 1]), 2, num_classes=2).tolist()
        [0, 1, 2, 4]
    """
    check_size(per_class, "per_class")
    check_size(num_classes, "num_classes")
    chosen = [torch.nonzero(labels == c).flatten()[:per_class] for c in range(num_classes)]
    return torch.cat(chosen).sort().values


@torch.no_grad()
def class_mean_gates(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    num_classes: int,
    batch_size: int = 256,
) -> list[Tensor]:
    """Mean SE gate of every channel of every SE block, per class, on ``images``.

    The model is run in eval mode (its mode is restored) and must return a
    :class:`~attnlab.vision.resnet.ClassifierOutput` whose ``gates`` hold one ``(B, C_k)`` tensor
    per SE block.

    Args:
        model: an SE network.
        images: ``(N, C, H, W)`` inputs, already normalised as the model expects.
        labels: ``(N,)`` class labels in ``[0, num_classes)``.
        num_classes: number of classes (rows of each result).
        batch_size: images per forward pass.

    Shape:
        - images: ``(N, C, H, W)``
        - labels: ``(N,)``
        - result: a list with one ``(num_classes, C_k)`` tensor per SE block, in the order the
          blocks run; row ``y`` is the mean over the images of class ``y`` (``NaN`` for a class
          without images).

    Example:
        >>> from attnlab.vision.resnet import PreActResNet
        >>> model = PreActResNet(8, in_channels=1, num_classes=3, reduction=4)
        >>> means = class_mean_gates(model, torch.randn(6, 1, 8, 8),
        ...                          torch.tensor([0, 1, 2, 0, 1, 2]), num_classes=3)
        >>> [tuple(m.shape) for m in means]
        [(3, 16), (3, 32), (3, 64)]
    """
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"labels must be (N,) with N = {images.shape[0]} images, got {tuple(labels.shape)}"
        )
    check_size(num_classes, "num_classes")
    check_size(batch_size, "batch_size")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums: list[Tensor] = []
    try:
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].to(device)
            gates = getattr(model(x), "gates", None)
            if not gates:
                raise ValueError("model returned no SE gates (is it an SE network?)")
            one_hot = nn.functional.one_hot(y, num_classes).float()  # (b, classes)
            for k, g in enumerate(gates):  # g: (b, c)
                batch_sum = one_hot.T @ g.float()  # (classes, c)
                if k == len(sums):
                    sums.append(batch_sum)
                else:
                    sums[k] += batch_sum
    finally:
        model.train(was_training)
    counts = torch.bincount(labels, minlength=num_classes).to(device).float()  # (classes,)
    return [(s / counts[:, None]).cpu() for s in sums]


def class_spread(means: Tensor) -> float:
    """How class-specific one block's gates are: the standard deviation of the per-class means
    across classes, averaged over channels (0 when every class gets the same gates).

    Example:
        >>> class_spread(torch.tensor([[0.5, 0.2], [0.5, 0.2]]))
        0.0
    """
    if means.dim() != 2:
        raise ValueError(f"means must be (classes, C), got shape {tuple(means.shape)}")
    rows = means[~means.isnan().any(1)]
    if rows.shape[0] < 2:
        return 0.0
    return float(rows.std(0, unbiased=False).mean())


def depth_indices(num_blocks: int) -> tuple[int, ...]:
    """The early, middle and last block: ``(0, num_blocks // 2, num_blocks - 1)``, deduplicated.

    Example:
        >>> depth_indices(9), depth_indices(2)
        ((0, 4, 8), (0, 1))
    """
    check_size(num_blocks, "num_blocks")
    return tuple(sorted({0, num_blocks // 2, num_blocks - 1}))


def plot_class_gates(
    means: Sequence[Tensor],
    *,
    blocks: Sequence[int],
    block_names: Sequence[str],
    class_names: Sequence[str],
    title: str | None = None,
) -> Figure:
    """Figure 6 of the SE paper: one panel per chosen block, mean gate per channel, one line per
    class, plus a last panel with the class spread of every block against depth.

    Args:
        means: per block, the ``(num_classes, C_k)`` output of :func:`class_mean_gates`.
        blocks: indices into ``means`` to draw (e.g. :func:`depth_indices`).
        block_names: a name per entry of ``means`` (``"stage 1, block 1"``).
        class_names: a name per class.
        title: figure title.

    Returns:
        The matplotlib figure.
    """
    from attnlab.interpret.plots import _pyplot

    if len(block_names) != len(means):
        raise ValueError(f"block_names needs {len(means)} names, got {len(block_names)}")
    if not blocks or any(not 0 <= b < len(means) for b in blocks):
        raise ValueError(f"blocks must index the {len(means)} blocks, got {tuple(blocks)}")
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, len(blocks) + 1, figsize=(4.2 * (len(blocks) + 1), 3.6), squeeze=False
    )
    colours = plt.get_cmap("tab10")
    for ax, b in zip(axes[0], blocks, strict=False):
        m = means[b]
        if m.shape[0] != len(class_names):
            raise ValueError(f"class_names needs {m.shape[0]} names, got {len(class_names)}")
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
    spread_ax.plot(range(1, len(means) + 1), [class_spread(m) for m in means], marker="o")
    spread_ax.set_xlabel("SE block (depth)")
    spread_ax.set_ylabel("std of class means")
    spread_ax.set_title("class specificity by depth", fontsize=9)
    axes[0][0].legend(fontsize=6, ncol=2, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
