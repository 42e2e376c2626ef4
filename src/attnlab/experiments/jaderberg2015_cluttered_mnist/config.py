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

from dataclasses import dataclass, field

from attnlab.architectures.stn_classifiers import parse_model_name
from attnlab.experiments.jaderberg2015_distorted_mnist.config import DataConfig, OptimConfig

__all__ = ["TC_MODELS", "ClutteredMNISTConfig", "DataConfig", "ModelConfig", "OptimConfig"]

#: The four models whose TC errors section 4.1 reports (the transformer type is not stated
#: for TC; affine is our choice, the simplest transform that can zoom onto the digit).
TC_MODELS: tuple[str, ...] = ("fcn", "cnn", "st_fcn_aff", "st_cnn_aff")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes shared by every model (see
    :func:`attnlab.architectures.stn_classifiers.build_model`)."""

    # "All networks have approximately the same number of parameters" (section 4.1); the
    # count is not stated: our choice, localisation networks included.
    param_budget: int = 100_000
    channel_ratio: float = 2.0  # CNN c2 / c1 (unit counts not stated in the paper)
    localisation_downsample: int = 2  # "the input is downsampled by a factor of 2" (A.4, ST-CNN)
    mlp_localisation_dims: tuple[int, ...] = (32, 32)  # ST-FCN localisation, 3 FC layers (A.4)
    classifier_pool: int = 2  # 2x average pooling after the transformer for TC and RTS (A.4)
    # learning-rate factor of the localisation networks (not stated for MNIST; 0.1 on SVHN, A.5)
    lr_multiplier: float = 1.0

    def __post_init__(self) -> None:
        if self.param_budget < 1 or self.localisation_downsample < 1 or self.classifier_pool < 1:
            raise ValueError(
                "model.param_budget, model.localisation_downsample and model.classifier_pool "
                f"must be >= 1, got {self}"
            )
        if not self.channel_ratio > 0 or not self.lr_multiplier > 0:
            raise ValueError(f"model.channel_ratio and model.lr_multiplier must be > 0, got {self}")
        if not self.mlp_localisation_dims or min(self.mlp_localisation_dims) < 1:
            raise ValueError(
                f"model.mlp_localisation_dims must be positive widths, got "
                f"{self.mlp_localisation_dims}"
            )


@dataclass(frozen=True)
class ClutteredMNISTConfig:
    """TC MNIST (60 x 60, 6 clutter patches): FCN, CNN, ST-FCN and ST-CNN (section 4.1)."""

    models: tuple[str, ...] = TC_MODELS  # the four TC numbers of section 4.1
    stn_examples: int = 8  # test digits shown in each sampling-grid figure (Figure 3 kind)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        if not self.models or len(set(self.models)) != len(self.models):
            raise ValueError(f"models must name at least one model, without repeats: {self.models}")
        for name in self.models:
            parse_model_name(name)  # raises ValueError naming the allowed models
        if self.stn_examples < 1:
            raise ValueError(f"stn_examples must be >= 1, got {self.stn_examples}")

    @classmethod
    def smoke(cls) -> ClutteredMNISTConfig:
        """Every model for one tiny epoch: proves the pipeline in seconds."""
        return cls(
            stn_examples=4,
            data=DataConfig(source="auto", train_size=64, val_size=32, test_size=64),
            model=ModelConfig(param_budget=60_000),
            optim=OptimConfig(epochs=1, batch_size=32, decay_every=1, momentum=0.9),
        )
