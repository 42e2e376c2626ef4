"""Configuration of the ``jaderberg2015_cluttered_mnist`` experiment (translated + cluttered MNIST).

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, section 4.1 and appendix A.4. The defaults are the paper's
settings where it gives them (batch 256, SGD, base learning rate 0.01 divided by 10 every 50k of
150k iterations, no weight decay, a 2x average pooling between transformer and classifier for
TC). The data and optimisation settings are those of the distorted-MNIST experiment
(:mod:`attnlab.experiments.jaderberg2015_distorted_mnist.config`), reused as they are; the
``full`` scale shortens the schedule to fit a 2-core CPU (see the package README).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from attnlab.architectures.stn_classifiers import parse_model_name
from attnlab.experiments.jaderberg2015_distorted_mnist import config as _distorted
from attnlab.experiments.jaderberg2015_distorted_mnist.config import DataConfig, OptimConfig

__all__ = ["TC_MODELS", "ClutteredMNISTConfig", "DataConfig", "ModelConfig", "OptimConfig"]

#: The four models whose TC errors section 4.1 reports (the transformer type is not stated
#: for TC; affine is our choice, the simplest transform that can zoom onto the digit).
TC_MODELS: tuple[str, ...] = ("fcn", "cnn", "st_fcn_aff", "st_cnn_aff")

#: The data and optimisation of the smoke scale of TC and of the addition task.
SMOKE_DATA = DataConfig(source="auto", train_size=64, val_size=32, test_size=64)
SMOKE_OPTIM = OptimConfig(epochs=1, batch_size=32, decay_every=1, momentum=0.9)


@dataclass(frozen=True)
class ModelConfig(_distorted.ModelConfig):
    """Sizes shared by every model: those of distorted MNIST, plus the 2x pooling of TC (see
    :func:`attnlab.architectures.stn_classifiers.build_model`)."""

    # "All networks have approximately the same number of parameters" (section 4.1); the
    # count is not stated: our choice, localisation networks included.
    param_budget: int = 100_000
    # learning-rate factor of the localisation networks (not stated for MNIST; 0.1 on SVHN, A.5)
    lr_multiplier: float = 1.0
    classifier_pool: int = 2  # 2x average pooling after the transformer for TC and RTS (A.4)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.classifier_pool < 1:
            raise ValueError(f"model.classifier_pool must be >= 1, got {self}")


def check_models(models: tuple[str, ...], stn_examples: int, parse: Callable[[str], Any]) -> None:
    """Refuse an empty or repeating model list, a name ``parse`` refuses, or no examples."""
    if not models or len(set(models)) != len(models):
        raise ValueError(f"models must name at least one model, without repeats: {models}")
    for name in models:
        parse(name)  # raises ValueError naming the allowed models
    if stn_examples < 1:
        raise ValueError(f"stn_examples must be >= 1, got {stn_examples}")


@dataclass(frozen=True)
class ClutteredMNISTConfig:
    """TC MNIST (60 x 60, 6 clutter patches): FCN, CNN, ST-FCN and ST-CNN (section 4.1)."""

    models: tuple[str, ...] = TC_MODELS  # the four TC numbers of section 4.1
    stn_examples: int = 8  # test digits shown in each sampling-grid figure (Figure 3 kind)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        check_models(self.models, self.stn_examples, parse_model_name)

    @classmethod
    def smoke(cls) -> ClutteredMNISTConfig:
        """Every model for one tiny epoch: proves the pipeline in seconds."""
        return cls(
            stn_examples=4, data=SMOKE_DATA, model=ModelConfig(param_budget=60_000),
            optim=SMOKE_OPTIM,
        )
