"""Configuration of the ``hu2018_se_fashion_mnist`` experiment.

The CIFAR protocol of Hu et al., "Squeeze-and-Excitation Networks",
https://arxiv.org/abs/1709.01507 (CIFAR experiments, Tables 4 and 5), scaled to a 2-core CPU: a
pre-activation CIFAR ResNet and its SE version trained with identical schedules. The paper's
CIFAR hyper-parameters "match those suggested by the original papers", i.e. He et al., "Deep
Residual Learning for Image Recognition", https://arxiv.org/abs/1512.03385 (section 4.2) and
"Identity Mappings in Deep Residual Networks", https://arxiv.org/abs/1603.05027 (appendix): SGD
with momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 divided by 10 at 32k and 48k
of 64k iterations (50% and 75% of training); horizontal flips and random crops of the image
zero-padded by 4 pixels; mean/std normalisation (SE paper).

Departures from the paper (all forced by the CPU budget or the dataset):

* Fashion-MNIST (1 x 28 x 28, 10 classes) replaces CIFAR-10 (3 x 32 x 32).
* ResNet-20 (``6 n + 2`` with ``n = 3``, the shallowest of He et al.'s CIFAR family) replaces
  ResNet-110 / ResNet-164.
* 20 epochs of 60,000 images (full scale; 9,380 iterations of 128) instead of 64k iterations;
  the two decays stay at 50% and 75% of training (epochs 10 and 15, counted from 0).
* The SE reduction ratio for CIFAR is not stated in the paper's text; ``r = 16`` is its default
  (Table 10), which gives ~0.9% extra parameters here (0.82% for ResNet-110).
* He et al.'s 400-iteration warm-up at rate 0.01 was for ResNet-110; ResNet-20 trains without.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DATA_SOURCES",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "SEFashionConfig",
]

DATA_SOURCES: tuple[str, ...] = ("fashion_mnist", "auto")
"""``data.source`` values: Fashion-MNIST (error when missing), or ``"auto"``: Fashion-MNIST when
present, else synthetic digits (a stand-in, recorded in the metrics; smoke scale only)."""


@dataclass(frozen=True)
class DataConfig:
    """Which images are used, and the CIFAR augmentation."""

    source: str = "fashion_mnist"  # see DATA_SOURCES; "auto" only at smoke scale
    train_size: int = 60_000  # training images (all of Fashion-MNIST's training split)
    test_size: int = 10_000  # test images for the final error (the whole test split)
    curve_size: int = 2_000  # fixed test images evaluated after each epoch (curves only)
    augment: bool = True  # flip + zero pad + random crop (He et al. 2015, section 4.2)
    pad: int = 4  # zero padding before the random crop, pixels (He et al. 2015, section 4.2)

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise ValueError(f"data.source must be one of {DATA_SOURCES}, got {self.source!r}")
        for name in ("train_size", "test_size", "curve_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.train_size > 60_000 or self.test_size > 10_000 or self.curve_size > 10_000:
            raise ValueError(
                "data sizes exceed Fashion-MNIST (60,000 train / 10,000 test images): "
                f"train_size={self.train_size}, test_size={self.test_size}, "
                f"curve_size={self.curve_size}"
            )
        if self.pad < 0:
            raise ValueError(f"data.pad must be >= 0, got {self.pad}")


@dataclass(frozen=True)
class ModelConfig:
    """The pre-activation CIFAR ResNet (``attnlab.vision.resnet.PreActResNet``)."""

    depth: int = 20  # 6 n + 2 with basic blocks (He et al. 2016); the paper uses 110 / 164
    bottleneck: bool = False  # basic blocks, as ResNet-110 (SE paper Table 4)
    reduction: int = 16  # r of every SE block (SE paper default, Table 10; CIFAR value not given)

    def __post_init__(self) -> None:
        if self.depth < 1 or self.reduction < 1:
            raise ValueError(f"model.depth and model.reduction must be >= 1, got {self}")


@dataclass(frozen=True)
class OptimConfig:
    """SGD schedule of He et al. 2015 / 2016 (CIFAR), shortened; identical for both models."""

    epochs: int = 20  # He et al.: 64k iterations (~164 epochs); shortened for the CPU
    batch_size: int = 128  # He et al. 2015, section 4.2
    lr: float = 0.1  # He et al. 2015, section 4.2
    momentum: float = 0.9  # He et al. 2015, section 4.2
    weight_decay: float = 1e-4  # He et al. 2015, section 4.2
    decay_at: tuple[float, ...] = (0.5, 0.75)  # lr / 10 at these fractions of training
    # (He et al. 2015 / 2016: at 32k and 48k of 64k iterations)
    gamma: float = 0.1  # the decay factor (He et al. 2015: divided by 10)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"optim.epochs and optim.batch_size must be >= 1, got {self}")
        if not self.lr > 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        if any(not 0.0 < f < 1.0 for f in self.decay_at):
            raise ValueError(f"optim.decay_at must hold fractions in (0, 1), got {self.decay_at}")

    @property
    def milestones(self) -> tuple[int, ...]:
        """The epochs (counted from 0) at which the rate decays: ``round(f * epochs)`` for each
        fraction, without duplicates and without epoch 0.

        Example:
            >>> OptimConfig(epochs=30).milestones, OptimConfig(epochs=3).milestones
            ((15, 22), (2,))
        """
        return tuple(sorted({m for f in self.decay_at if 1 <= (m := round(f * self.epochs))
                             < self.epochs}))


@dataclass(frozen=True)
class SEFashionConfig:
    """ResNet vs SE-ResNet on Fashion-MNIST: data, model, schedule, measurements."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval_batch_size: int = 500  # images per forward pass when evaluating (no effect on results)
    gate_images_per_class: int = 100  # test images per class for the excitation analysis (Fig. 6)
    timing_batch: int = 128  # images per timed forward pass (time overhead)
    timing_repeats: int = 7  # timed forward passes per model (median reported)

    def __post_init__(self) -> None:
        for name in ("eval_batch_size", "gate_images_per_class", "timing_batch", "timing_repeats"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def smoke(cls) -> SEFashionConfig:
        """A few hundred images, one epoch: proves the pipeline in seconds (synthetic digits
        when Fashion-MNIST is missing)."""
        return cls(
            data=DataConfig(source="auto", train_size=256, test_size=500, curve_size=200),
            optim=OptimConfig(epochs=1, batch_size=64),
            gate_images_per_class=10,
            timing_batch=32,
            timing_repeats=3,
        )
