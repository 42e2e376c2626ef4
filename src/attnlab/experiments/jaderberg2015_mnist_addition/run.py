"""Run ``jaderberg2015_mnist_addition``: FCN, CNN, ST-FCN and 2xST-FCN on the addition task.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, appendix A.1 (FCN 47.7%, CNN 14.7%, ST-FCN 18.5%, 2xST-FCN
5.8% error). Each input has two channels, each holding an MNIST digit rotated, scaled and
placed independently in 42 x 42 (:mod:`attnlab.data.distortions`, kind ``"addition"``); the
class is the sum of the two digits (19 classes). The 2xST-FCN puts two spatial transformers in
parallel (:class:`~attnlab.vision.spatial_transformer.ParallelSpatialTransformers`), each
seeing both channels and warping both, and its FCN reads the 4 concatenated output channels
(after the 2x average pooling of the transformer models, as for RTS in appendix A.4). Training
and testing are those of the TC experiment
(:func:`attnlab.experiments.jaderberg2015_cluttered_mnist.run.train_and_test`).

Metrics: ``error/<model>`` (% of the test set), ``params/<model>``, ``train_time_s/<model>``;
``gap/fcn_minus_<st>`` and ``pvalue/fcn_vs_<st>`` for every ST-FCN trained next to the FCN
(likewise ``cnn`` for an ST-CNN); ``data_is_mnist``.
"""

from __future__ import annotations

from torch import nn

from attnlab.experiments._stn_common import (
    build_sized_model,
    log_splits,
    make_splits,
    plain_partner,
    train_each_model,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.jaderberg2015_mnist_addition.config import (
    AdditionConfig,
    parse_addition_model,
)

__all__ = ["build_addition_model", "main"]

_SEED_SALT = 15_0601


def build_addition_model(
    name: str, config: AdditionConfig, *, input_size: tuple[int, int] = (42, 42)
) -> nn.Module:
    """Build model ``name`` for 2-channel inputs and 19 classes, sized by ``config.model``.

    Example:
        >>> model = build_addition_model("2xst_fcn_aff", AdditionConfig())
        >>> len(model.transformer.transformers)
        2
    """
    base, num_transformers = parse_addition_model(name)
    return build_sized_model(
        base,
        config.model,
        in_channels=2,
        input_size=input_size,
        num_classes=19,
        num_transformers=num_transformers,
        classifier_pool=config.model.classifier_pool,
    )


def _partner(name: str) -> str | None:
    """The plain model an addition model is compared with (``2xst_fcn_aff``: ``fcn``)."""
    return plain_partner(parse_addition_model(name)[0])


def main(config: AdditionConfig, ctx: RunContext) -> dict[str, float]:
    """Train and test every model of ``config.models`` on the MNIST addition task.

    Returns:
        The metrics listed in the module docstring.
    """
    splits = make_splits("addition", config.data, ctx)
    height, width = splits.train.image_shape[1:]
    log_splits(ctx, "addition", splits, unit="pairs")
    return train_each_model(
        config.models,
        lambda name: build_addition_model(name, config, input_size=(height, width)),
        splits,
        partner=_partner,
        optim=config.optim,
        ctx=ctx,
        seed_salt=_SEED_SALT,
        stn_examples=config.stn_examples,
        task="MNIST addition",
    )
