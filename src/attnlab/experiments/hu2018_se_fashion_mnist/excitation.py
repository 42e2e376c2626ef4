"""Excitation analysis: per-class mean SE gates at several depths (the SE paper's Figure 6).

Hu et al., "Squeeze-and-Excitation Networks", https://arxiv.org/abs/1709.01507, Figure 6 (the
"role of excitation" analysis): the gates :math:`s` (eq. 3) of one SE block, averaged over the
images of each class, plotted per channel. The paper finds them class-agnostic in early blocks and
increasingly class-specific with depth. The gates are computed here; the figure is drawn by
:func:`attnlab.interpret.viz.plot_class_gates` and the spread measured by
:func:`attnlab.interpret.viz.class_spread` (both re-exported here).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnlab.core.checks import check_size
from attnlab.interpret.viz import class_spread, plot_class_gates

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


def depth_indices(num_blocks: int) -> tuple[int, ...]:
    """The early, middle and last block: ``(0, num_blocks // 2, num_blocks - 1)``, deduplicated.

    Example:
        >>> depth_indices(9), depth_indices(2)
        ((0, 4, 8), (0, 1))
    """
    check_size(num_blocks, "num_blocks")
    return tuple(sorted({0, num_blocks // 2, num_blocks - 1}))
