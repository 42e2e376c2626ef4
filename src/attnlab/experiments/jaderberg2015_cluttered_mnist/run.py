"""Run ``jaderberg2015_cluttered_mnist``: train FCN, CNN, ST-FCN and ST-CNN on TC MNIST, test, plot.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, section 4.1 (translated and cluttered MNIST: FCN 13.2%, CNN
3.5%, ST-FCN 2.0%, ST-CNN 1.7% error). Each MNIST digit is pasted at a random position of a
60 x 60 canvas with six 6 x 6 clutter patches cropped from other digits
(:mod:`attnlab.data.distortions`, kind ``"tc"``). The training digits are rendered once (fixed by
the run's seed), the last ``val_size`` held out for the learning curves; the test digits use the
fixed test seed. Every model is trained with :func:`attnlab.train.fit` and tested once at the
end of its schedule (no model selection).

The models are those of :mod:`attnlab.architectures.stn_classifiers`; the
spatial-transformer models average-pool their transformer's output 2x before the classifier
(appendix A.4).

Metrics: ``error/<model>`` (% of the test set), ``params/<model>``, ``train_time_s/<model>``;
``gap/<plain>_minus_<st>`` (plain model's error minus its transformer version's, percentage
points) and ``pvalue/<plain>_vs_<st>`` (exact McNemar test on the paired test predictions) for
every (FCN, ST-FCN) and (CNN, ST-CNN) pair trained; ``data_is_mnist`` (1 for MNIST digits, 0
for the synthetic stand-in).
"""

from __future__ import annotations

from torch import nn

from attnlab.experiments._stn_common import (
    DistortedSplits,
    TrainedModel,
    build_sized_model,
    log_splits,
    make_splits,
    paired_metrics,
    plain_partner,
    plot_learning_curves,
    plot_transformer,
    train_and_test,
    train_each_model,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.jaderberg2015_cluttered_mnist.config import ClutteredMNISTConfig

__all__ = [
    "DistortedSplits",
    "TrainedModel",
    "main",
    "make_splits",
    "paired_metrics",
    "plot_learning_curves",
    "plot_transformer",
    "train_and_test",
]

#: Salt of the per-model seeds of this experiment (the model's index is added).
_SEED_SALT = 15_0602


def main(config: ClutteredMNISTConfig, ctx: RunContext) -> dict[str, float]:
    """Train and test every model of ``config.models`` on TC MNIST.

    Returns:
        The metrics listed in the module docstring.
    """
    splits = make_splits("tc", config.data, ctx)
    channels, height, width = splits.train.image_shape
    log_splits(ctx, "TC", splits)

    def build(name: str) -> nn.Module:
        return build_sized_model(
            name,
            config.model,
            in_channels=channels,
            input_size=(height, width),
            num_classes=splits.train.num_classes,
            classifier_pool=config.model.classifier_pool,
        )

    return train_each_model(
        config.models, build, splits, partner=plain_partner, optim=config.optim, ctx=ctx,
        seed_salt=_SEED_SALT, stn_examples=config.stn_examples, task="translated cluttered MNIST",
    )
