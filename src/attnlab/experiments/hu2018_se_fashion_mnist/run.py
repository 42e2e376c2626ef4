"""Run ``hu2018_se_fashion_mnist``: a CIFAR-style ResNet vs its SE version, identical schedules.

Both networks are :class:`attnlab.vision.resnet.PreActResNet` (1-channel input), the second with
an SE block on every residual block (Hu et al., https://arxiv.org/abs/1709.01507, Table 4). They
see the same images in the same order with the same augmentation (the training loop derives the
shuffling and every random draw from the run seed and the epoch), from the same initial seed.
Reported: test error of both and the difference, the exact parameter and multiply-add
overheads, the measured CPU time overheads (inference and training), learning curves, and the
per-class excitation plot of the paper's Figure 6.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from attnlab.data.mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_RESOURCE,
    MNIST_CLASSES,
    load_digits,
    load_fashion_mnist,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.hu2018_se_fashion_mnist.config import (
    ModelConfig,
    SEFashionConfig,
)
from attnlab.experiments.hu2018_se_fashion_mnist.excitation import (
    balanced_subset,
    class_mean_gates,
    class_spread,
    depth_indices,
    plot_class_gates,
)
from attnlab.train import Callback, FitState, TrainConfig, derive_seed, evaluate, fit
from attnlab.vision.complexity import count_multiply_adds, count_parameters
from attnlab.vision.resnet import PreActResNet
from attnlab.vision.squeeze_excitation import SqueezeExcitation

__all__ = [
    "NormalizedImages",
    "block_names",
    "build_model",
    "forward_time_ms",
    "load_images",
    "main",
    "overhead_pct",
    "se_parameter_count",
]

MODELS: tuple[str, str] = ("resnet", "se_resnet")
"""Names of the two networks in metrics and curves (``resnet/...``, ``se_resnet/...``)."""

SUBSET_SEED = 0
"""Seed of the fixed permutations that pick the training, test and curve subsets (the same
images for every run seed, so that seeds differ only in training randomness)."""

_INIT_KEY = 1  # derive_seed(seed, _INIT_KEY): the initial-weight stream, shared by both models

LOSS_LOG_EVERY = 10
"""Optimiser steps per point of the ``<model>/batch_loss`` curve (mean of those steps)."""


class _BatchLossCurve(Callback):
    """Logs the mean training loss of every :data:`LOSS_LOG_EVERY` steps to ``ctx``."""

    def __init__(self, ctx: RunContext, name: str) -> None:
        self.ctx, self.name = ctx, name
        self.total, self.count = 0.0, 0

    def on_step_end(self, state: FitState) -> None:
        if state.loss is None:
            return
        self.total, self.count = self.total + state.loss, self.count + 1
        if state.step % LOSS_LOG_EVERY == 0:
            self.ctx.log(f"{self.name}/batch_loss", self.total / self.count, step=state.step)
            self.total, self.count = 0.0, 0


class NormalizedImages(Dataset[tuple[Tensor, Tensor]]):
    """``uint8`` images served as normalised float batches, with optional CIFAR augmentation.

    The augmentation of the SE paper's CIFAR experiments (He et al. 2015, section 4.2):
    zero-pad ``pad`` pixels, take a random crop of the original size, flip horizontally with
    probability 1/2; then subtract ``mean`` and divide by ``std``. Random draws use the global
    torch generator, which the training loop re-seeds every epoch, so two models trained with
    the same seed see the same augmented images.

    Args:
        images: ``(N, C, H, W)`` ``uint8`` images (0-255).
        labels: ``(N,)`` class labels.
        mean: mean of the training pixels in ``[0, 1]`` units.
        std: their standard deviation.
        augment: apply pad + crop + flip.
        pad: padding of the random crop, pixels.

    Example:
        >>> data = NormalizedImages(torch.zeros(3, 1, 4, 4, dtype=torch.uint8),
        ...                         torch.tensor([0, 1, 2]), mean=0.0, std=1.0)
        >>> image, label = data[1]
        >>> tuple(image.shape), int(label)
        ((1, 4, 4), 1)
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        *,
        mean: float,
        std: float,
        augment: bool = False,
        pad: int = 4,
    ) -> None:
        if images.dim() != 4 or images.dtype != torch.uint8:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if labels.shape != images.shape[:1]:
            raise ValueError(f"labels must be ({images.shape[0]},), got {tuple(labels.shape)}")
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std}")
        self.images, self.labels = images, labels.long()
        self.mean, self.std, self.augment, self.pad = float(mean), float(std), augment, int(pad)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, indices: Tensor) -> Tensor:
        """The normalised (and, when augmenting, randomly cropped and flipped) images
        ``(b, C, H, W)`` at ``indices``."""
        x = self.images[indices].float().div_(255.0)  # (b, c, h, w)
        if self.augment:
            x = self._augment(x)
        return x.sub_(self.mean).div_(self.std)

    def _augment(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        if self.pad > 0:
            padded = nn.functional.pad(x, (self.pad,) * 4)  # (b, c, h + 2p, w + 2p), zeros
            oy = torch.randint(0, 2 * self.pad + 1, (b,))
            ox = torch.randint(0, 2 * self.pad + 1, (b,))
            rows = (oy[:, None] + torch.arange(h))[:, None, :, None]  # (b, 1, h, 1)
            cols = (ox[:, None] + torch.arange(w))[:, None, None, :]  # (b, 1, 1, w)
            channels = torch.arange(x.shape[1])[None, :, None, None]  # (1, c, 1, 1)
            x = padded[torch.arange(b)[:, None, None, None], channels, rows, cols]
        flip = torch.rand(b) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(-1), x)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.batch(torch.tensor([index]))[0], self.labels[index]

    def __getitems__(self, indices: list[int]) -> list[tuple[Tensor, Tensor]]:
        rows = torch.as_tensor(indices, dtype=torch.long)
        images = self.batch(rows)
        return list(zip(images.unbind(0), self.labels[rows].unbind(0), strict=True))


def load_images(
    config: SEFashionConfig, ctx: RunContext
) -> tuple[Tensor, Tensor, Tensor, Tensor, tuple[str, ...], str]:
    """The training and test images of the run, as ``uint8`` ``(N, 1, 28, 28)`` and labels.

    Fashion-MNIST from ``ctx.data_dir``; with ``data.source = "auto"`` (smoke scale) and the
    files missing, the synthetic digits of :func:`attnlab.data.load_digits` instead, with a
    warning. Subsets are the first images of fixed permutations (:data:`SUBSET_SEED`).

    Returns:
        ``(train_images, train_labels, test_images, test_labels, class_names, source)`` with
        ``source`` ``"fashion_mnist"`` or ``"synthetic"``.
    """
    data = config.data
    source = "fashion_mnist"
    if data.source == "auto" and FASHION_MNIST_RESOURCE.missing_files(ctx.data_dir):
        ctx.logger.warning(
            "Fashion-MNIST not found under the data root; using synthetic digits instead "
            "(a stand-in: these numbers are not Fashion-MNIST numbers)"
        )
        source = "synthetic"
    if source == "fashion_mnist":
        train_x, train_y = load_fashion_mnist("train", data_dir=ctx.data_dir)
        test_x, test_y = load_fashion_mnist("test", data_dir=ctx.data_dir)
        classes = FASHION_MNIST_CLASSES
    else:
        train = load_digits("train", source="synthetic", synthetic_size=data.train_size)
        test = load_digits("test", source="synthetic", synthetic_size=data.test_size)
        train_x, train_y, test_x, test_y = train.images, train.labels, test.images, test.labels
        classes = MNIST_CLASSES
    generator = torch.Generator().manual_seed(SUBSET_SEED)
    train_idx = torch.randperm(train_x.shape[0], generator=generator)[: data.train_size]
    test_idx = torch.randperm(test_x.shape[0], generator=generator)[: data.test_size]
    return (
        train_x[train_idx].unsqueeze(1),
        train_y[train_idx],
        test_x[test_idx].unsqueeze(1),
        test_y[test_idx],
        classes,
        source,
    )


def build_model(
    config: ModelConfig, *, se: bool, in_channels: int = 1, num_classes: int = 10
) -> PreActResNet:
    """The pre-activation CIFAR ResNet of ``config``, with (``se=True``) or without SE blocks.

    Example:
        >>> model = build_model(ModelConfig(depth=8, reduction=4), se=True)
        >>> model(torch.zeros(2, 1, 28, 28)).logits.shape
        torch.Size([2, 10])
    """
    return PreActResNet(
        config.depth,
        bottleneck=config.bottleneck,
        in_channels=in_channels,
        num_classes=num_classes,
        reduction=config.reduction if se else None,
    )


def se_parameter_count(model: nn.Module) -> int:
    """Parameters of the SE blocks of ``model``: ``sum_k (2 C_k (C_k // r) + C_k // r + C_k)``
    with the biases, i.e. Eq. 5 of the SE paper, ``(2 / r) sum_s N_s C_s^2``, plus biases.

    Example:
        >>> se_parameter_count(build_model(ModelConfig(depth=8, reduction=16), se=True))
        791
    """
    return sum(count_parameters(m) for m in model.modules() if isinstance(m, SqueezeExcitation))


def overhead_pct(base: float, other: float) -> float:
    """``100 (other / base - 1)``: the relative cost of ``other`` over ``base`` in percent.

    Example:
        >>> round(overhead_pct(164.0, 167.0), 2)  # SE paper: CPU inference, ms
        1.83
    """
    if not base > 0:
        raise ValueError(f"base must be > 0, got {base}")
    return 100.0 * (other / base - 1.0)


def block_names(model: PreActResNet) -> list[str]:
    """``"stage s, block i"`` for every SE block of a :class:`PreActResNet`, in running order.

    Example:
        >>> block_names(build_model(ModelConfig(depth=8, reduction=4), se=True))
        ['stage 1, block 1', 'stage 2, block 1', 'stage 3, block 1']
    """
    per_stage = len(model.blocks) // 3
    return [
        f"stage {k // per_stage + 1}, block {k % per_stage + 1}"
        for k, block in enumerate(model.blocks)
        if getattr(block, "se", None) is not None
    ]


@torch.no_grad()
def forward_time_ms(
    models: Mapping[str, nn.Module], x: Tensor, *, repeats: int
) -> dict[str, float]:
    """Median wall time of one eval-mode forward pass of each model on ``x``, in ms.

    The models are timed in alternation (one pass of each per round, after one warm-up pass),
    so that a change in machine load affects them alike.
    """
    times: dict[str, list[float]] = {name: [] for name in models}
    modes = {name: m.training for name, m in models.items()}
    for m in models.values():
        m.eval()
        m(x)
    try:
        for _ in range(repeats):
            for name, m in models.items():
                start = time.perf_counter()
                m(x)
                times[name].append(1000.0 * (time.perf_counter() - start))
    finally:
        for name, m in models.items():
            m.train(modes[name])
    return {name: statistics.median(t) for name, t in times.items()}


def _train_config(config: SEFashionConfig, ctx: RunContext) -> TrainConfig:
    optim = config.optim
    milestones = optim.milestones
    return TrainConfig(
        epochs=optim.epochs,
        batch_size=optim.batch_size,
        optimizer="sgd",
        lr=optim.lr,
        momentum=optim.momentum,
        weight_decay=optim.weight_decay,
        schedule="multistep" if milestones else "none",
        milestones=milestones,
        gamma=optim.gamma,
        seed=ctx.seed,
        device=str(ctx.device),
    )


def main(config: SEFashionConfig, ctx: RunContext) -> dict[str, float]:
    """Train ResNet and SE-ResNet with one schedule; return errors, overheads and gate spread.

    Returns:
        ``resnet/error_pct``, ``se_resnet/error_pct``, ``resnet_minus_se/error_pct`` (positive
        when SE is better); ``resnet/params``, ``se_resnet/params``, ``se_params`` and
        ``param_overhead_pct``; ``resnet/madds``, ``se_resnet/madds`` and
        ``madds_overhead_pct`` (multiply-adds of one 28 x 28 image); ``resnet/forward_ms``,
        ``se_resnet/forward_ms`` and ``time_overhead_pct`` (CPU inference, one batch of
        ``timing_batch`` images); ``resnet/train_s``, ``se_resnet/train_s`` and
        ``train_time_overhead_pct``; ``gates/block<k>/class_spread`` per SE block;
        ``data/synthetic`` (1 when the synthetic stand-in replaced Fashion-MNIST),
        ``train_images``, ``test_images`` and ``epochs``.
    """
    train_set, test_set, curve_set, classes, source = _datasets(config, ctx)
    train_config = _train_config(config, ctx)
    image = torch.zeros(1, *train_set.images.shape[1:])  # one image, for the multiply-adds
    models: dict[str, PreActResNet] = {}
    metrics: dict[str, float] = {}
    for name in MODELS:
        models[name] = _train_and_test(
            name, config, ctx, (train_set, curve_set, test_set), len(classes), train_config,
            image, metrics,
        )

    se_resnet = models["se_resnet"]
    metrics["resnet_minus_se/error_pct"] = (
        metrics["resnet/error_pct"] - metrics["se_resnet/error_pct"]
    )
    metrics["se_params"] = float(se_parameter_count(se_resnet))
    metrics["param_overhead_pct"] = overhead_pct(
        metrics["resnet/params"], metrics["se_resnet/params"]
    )
    metrics["madds_overhead_pct"] = overhead_pct(
        metrics["resnet/madds"], metrics["se_resnet/madds"]
    )
    metrics["train_time_overhead_pct"] = overhead_pct(
        metrics["resnet/train_s"], metrics["se_resnet/train_s"]
    )
    timing_x = test_set.batch(torch.arange(min(config.timing_batch, len(test_set)))).to(ctx.device)
    times = forward_time_ms(models, timing_x, repeats=config.timing_repeats)
    for name, ms in times.items():
        metrics[f"{name}/forward_ms"] = ms
    metrics["time_overhead_pct"] = overhead_pct(times["resnet"], times["se_resnet"])

    metrics.update(_excitation(config, ctx, se_resnet, test_set, classes))
    metrics["data/synthetic"] = float(source == "synthetic")
    metrics["train_images"] = float(len(train_set))
    metrics["test_images"] = float(len(test_set))
    metrics["epochs"] = float(config.optim.epochs)
    ctx.logger.info(
        "test error: ResNet %.2f%%, SE-ResNet %.2f%% (difference %+.2f points); parameters "
        "+%.2f%%, multiply-adds +%.2f%%, CPU inference time %+.1f%%, training time %+.1f%%",
        metrics["resnet/error_pct"], metrics["se_resnet/error_pct"],
        metrics["resnet_minus_se/error_pct"], metrics["param_overhead_pct"],
        metrics["madds_overhead_pct"], metrics["time_overhead_pct"],
        metrics["train_time_overhead_pct"],
    )
    return metrics


def _datasets(
    config: SEFashionConfig, ctx: RunContext
) -> tuple[NormalizedImages, NormalizedImages, NormalizedImages, tuple[str, ...], str]:
    """Training (augmented), test and learning-curve images, normalised by the training
    pixels' mean and standard deviation; the class names and the data's source."""
    train_x, train_y, test_x, test_y, classes, source = load_images(config, ctx)
    pixels = train_x.float().div_(255.0)
    mean, std = float(pixels.mean()), float(pixels.std())
    del pixels
    ctx.logger.info(
        "data: %s, %d training / %d test images, pixel mean %.4f std %.4f",
        source, train_x.shape[0], test_x.shape[0], mean, std,
    )
    train_set = NormalizedImages(
        train_x, train_y, mean=mean, std=std, augment=config.data.augment, pad=config.data.pad
    )
    test_set = NormalizedImages(test_x, test_y, mean=mean, std=std)
    curve_n = min(config.data.curve_size, test_x.shape[0])
    curve_set = NormalizedImages(test_x[:curve_n], test_y[:curve_n], mean=mean, std=std)
    return train_set, test_set, curve_set, classes, source


def _train_and_test(
    name: str,
    config: SEFashionConfig,
    ctx: RunContext,
    sets: tuple[NormalizedImages, NormalizedImages, NormalizedImages],
    num_classes: int,
    train_config: TrainConfig,
    image: Tensor,
    metrics: dict[str, float],
) -> PreActResNet:
    """Build, count, train and test model ``name``; its metrics go into ``metrics``."""
    train_set, curve_set, test_set = sets
    torch.manual_seed(derive_seed(ctx.seed, _INIT_KEY))  # same initial stream for both
    model = build_model(config.model, se=name == "se_resnet", num_classes=num_classes)
    metrics[f"{name}/params"] = float(count_parameters(model))
    metrics[f"{name}/madds"] = float(count_multiply_adds(model, image))
    ctx.logger.info(
        "%s-%d: %d parameters, %.2f M multiply-adds per image", name, config.model.depth,
        count_parameters(model), metrics[f"{name}/madds"] / 1e6,
    )
    result = fit(
        model,
        train_set,
        curve_set,
        config=train_config,
        run_dir=ctx.checkpoint_dir / name,
        resume=ctx.resume,
        progress=ctx.progress,
        callbacks=(_BatchLossCurve(ctx, name),),
    )
    ctx.log_records(result.history, prefix=f"{name}/")
    test = evaluate(model, test_set, batch_size=config.eval_batch_size, device=ctx.device)
    assert test["error"] is not None
    metrics[f"{name}/error_pct"] = 100.0 * test["error"]
    metrics[f"{name}/train_s"] = result.time_s
    ctx.logger.info(
        "%s: test error %.2f%% (%d images), training %.0f s",
        name, metrics[f"{name}/error_pct"], test["n"], result.time_s,
    )
    return model.eval()


def _excitation(
    config: SEFashionConfig,
    ctx: RunContext,
    model: PreActResNet,
    test_set: NormalizedImages,
    classes: tuple[str, ...],
) -> dict[str, Any]:
    """Per-class mean gates on balanced test images; the Figure 6 plot; spread per block."""
    index = balanced_subset(
        test_set.labels, config.gate_images_per_class, num_classes=len(classes)
    )
    means = class_mean_gates(
        model,
        test_set.batch(index),
        test_set.labels[index],
        num_classes=len(classes),
        batch_size=config.eval_batch_size,
    )
    names = block_names(model)
    out = {f"gates/block{k + 1}/class_spread": class_spread(m) for k, m in enumerate(means)}
    with ctx.plotting("excitation_by_class"):
        fig = plot_class_gates(
            means,
            blocks=depth_indices(len(means)),
            block_names=names,
            class_names=classes,
            title=(
                f"SE-ResNet-{config.model.depth}: mean excitation per channel and class "
                f"({index.numel()} test images)"
            ),
        )
        ctx.save_plot(
            fig,
            "excitation_by_class",
            caption=(
                "Mean SE gate of every channel, per class, in an early, a middle and the last "
                "SE block (the SE paper's Figure 6); the dashed line is the mean over all "
                "classes. Last panel: the standard deviation of the class means, averaged over "
                "channels, for every block; the paper finds early gates class-agnostic and "
                "later ones class-specific."
            ),
        )
    return out
