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

import torch

from attnlab.architectures.stn_classifiers import (
    SpatialTransformerClassifier,
    build_model,
    parse_model_name,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.jaderberg2015_cluttered_mnist.run import (
    TrainedModel,
    make_splits,
    paired_metrics,
    plot_learning_curves,
    plot_transformer,
    train_and_test,
)
from attnlab.experiments.jaderberg2015_mnist_addition.config import (
    AdditionConfig,
    parse_addition_model,
)
from attnlab.train import derive_seed

__all__ = ["build_addition_model", "main"]

_SEED_SALT = 15_0601


def build_addition_model(
    name: str, config: AdditionConfig, *, input_size: tuple[int, int] = (42, 42)
) -> torch.nn.Module:
    """Build model ``name`` for 2-channel inputs and 19 classes, sized by ``config.model``.

    Example:
        >>> model = build_addition_model("2xst_fcn_aff", AdditionConfig())
        >>> len(model.transformer.transformers)
        2
    """
    base, num_transformers = parse_addition_model(name)
    is_st = parse_model_name(base).transform is not None
    m = config.model
    return build_model(
        base,
        in_channels=2,
        input_size=input_size,
        num_classes=19,
        num_transformers=num_transformers,
        param_budget=m.param_budget,
        channel_ratio=m.channel_ratio,
        localisation_downsample=m.localisation_downsample,
        mlp_localisation_dims=m.mlp_localisation_dims,
        lr_multiplier=m.lr_multiplier,
        classifier_pool=m.classifier_pool if is_st else 1,
    )


def main(config: AdditionConfig, ctx: RunContext) -> dict[str, float]:
    """Train and test every model of ``config.models`` on the MNIST addition task.

    Returns:
        The metrics listed in the module docstring.
    """
    splits = make_splits("addition", config.data, ctx)
    channels, height, width = splits.train.image_shape
    ctx.logger.info(
        "addition: %d training, %d validation, %d test pairs of %dx%dx%d (%s digits)",
        len(splits.train), 0 if splits.val is None else len(splits.val),
        splits.test_images.shape[0], channels, height, width, splits.source,
    )
    metrics: dict[str, float] = {"data_is_mnist": float(splits.source == "mnist")}
    trained: dict[str, TrainedModel] = {}
    for name in config.models:
        seed = derive_seed(ctx.seed, _SEED_SALT, sum(map(ord, name))) % 2**31
        torch.manual_seed(seed)
        model = build_addition_model(name, config, input_size=(height, width))
        trained[name] = result = train_and_test(
            name, model, splits.train, splits.val, splits.test_images, splits.test_labels,
            optim=config.optim, ctx=ctx, seed=seed,
        )
        metrics[f"error/{name}"] = result.error
        metrics[f"params/{name}"] = float(result.params)
        metrics[f"train_time_s/{name}"] = result.time_s
        if isinstance(model, SpatialTransformerClassifier):
            plot_transformer(
                ctx, model, splits.test_images, splits.test_labels, result.predictions,
                name=name, examples=config.stn_examples, task="MNIST addition",
            )
    pairs = [
        (parse_model_name(parse_addition_model(n)[0]).classifier, n)
        for n in config.models
        if parse_addition_model(n)[0] != n or parse_model_name(n).transform is not None
    ]
    metrics.update(paired_metrics(trained, pairs))
    plot_learning_curves(ctx, config.models)
    return metrics
