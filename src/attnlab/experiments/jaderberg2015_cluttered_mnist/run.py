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

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from attnlab.architectures.stn_classifiers import (
    SpatialTransformerClassifier,
    build_model,
    count_parameters,
    parse_model_name,
)
from attnlab.data.distortions import DistortedMNIST
from attnlab.data.mnist import Digits, load_digits
from attnlab.experiments.context import RunContext
from attnlab.experiments.jaderberg2015_cluttered_mnist.config import (
    ClutteredMNISTConfig,
    DataConfig,
    OptimConfig,
)
from attnlab.experiments.jaderberg2015_distorted_mnist.run import (
    mcnemar_pvalue,
    predict,
    render_splits,
)
from attnlab.train import TrainConfig, derive_seed, fit
from attnlab.vision.spatial_transformer import spatial_transformer_param_groups

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


class DistortedSplits(NamedTuple):
    """Training, validation (``None`` when empty) and test data of one distortion kind."""

    train: DistortedMNIST
    val: DistortedMNIST | None
    test_images: Tensor
    test_labels: Tensor
    source: str


class TrainedModel(NamedTuple):
    """A trained model, its test predictions and its metrics (keys without the model name)."""

    model: nn.Module
    predictions: Tensor
    correct: Tensor
    error: float
    params: int
    time_s: float


def make_splits(kind: str, data: DataConfig, ctx: RunContext) -> DistortedSplits:
    """Load MNIST (or the stand-in) and render the ``kind`` training, validation and test sets.

    Training digits are MNIST's first ``train_size``, validation its next ``val_size`` (both
    distorted with seeds from the run's seed), test MNIST's first ``test_size`` test digits
    distorted with :data:`~attnlab.data.distortions.TEST_SEED`.
    """
    stop = data.train_size + data.val_size
    train_digits: Digits = load_digits(
        "train", source=data.source, data_dir=ctx.data_dir, synthetic_size=stop
    )
    test_digits: Digits = load_digits(
        "test", source=data.source, data_dir=ctx.data_dir, synthetic_size=data.test_size
    )
    if train_digits.source != "mnist":
        ctx.logger.warning(
            "MNIST not found: training and testing on the synthetic font-rendered digits "
            "(a stand-in, not MNIST); the numbers are not comparable with the paper"
        )
    train, val, test_images, test_labels = render_splits(
        kind,
        train_digits,
        test_digits,
        train_size=data.train_size,
        val_size=data.val_size,
        test_size=data.test_size,
        seed=ctx.seed,
    )
    return DistortedSplits(train, val, test_images, test_labels, train_digits.source)


def _train_config(optim: OptimConfig, ctx: RunContext, seed: int) -> TrainConfig:
    return TrainConfig(
        epochs=optim.epochs,
        batch_size=optim.batch_size,
        optimizer=optim.optimizer,
        lr=optim.lr,
        momentum=optim.momentum if optim.optimizer == "sgd" else 0.0,
        grad_clip=optim.grad_clip,
        weight_decay=optim.weight_decay,
        schedule="step",
        step_size=optim.decay_every,
        gamma=optim.gamma,
        seed=seed,
        device=str(ctx.device),
        max_steps_per_epoch=optim.max_steps_per_epoch,
    )


def train_and_test(
    name: str,
    model: nn.Module,
    train_set: Dataset[Any],
    val_set: Dataset[Any] | None,
    test_images: Tensor,
    test_labels: Tensor,
    *,
    optim: OptimConfig,
    ctx: RunContext,
    seed: int,
) -> TrainedModel:
    """Train ``model`` with SGD and the stepped schedule, record its curves, test it once.

    Spatial-transformer models get the parameter groups of
    :func:`~attnlab.vision.spatial_transformer.spatial_transformer_param_groups` (their
    localisation networks' learning-rate factor). Curves go to the run's history under
    ``<name>/``; checkpoints under ``<checkpoint_dir>/<name>``.
    """
    train_config = _train_config(optim, ctx, seed)
    groups = (
        spatial_transformer_param_groups(model, train_config.lr)
        if isinstance(model, SpatialTransformerClassifier)
        else None
    )
    result = fit(
        model,
        train_set,
        val_set,
        config=train_config,
        param_groups=groups,
        run_dir=ctx.checkpoint_dir / name,
        resume=ctx.resume,
        progress=ctx.progress,
    )
    ctx.log_records(result.history, prefix=f"{name}/")
    predictions = predict(model, test_images)
    correct = predictions == test_labels
    error = 100.0 * (1.0 - correct.float().mean().item())
    params = count_parameters(model)
    ctx.logger.info(
        "%s: test error %.2f%% (%d parameters, %d epochs, %.0f s)",
        name, error, params, result.epochs_run, result.time_s,
    )
    return TrainedModel(model, predictions, correct, error, params, result.time_s)


def paired_metrics(
    trained: dict[str, TrainedModel], pairs: Sequence[tuple[str, str]]
) -> dict[str, float]:
    """``gap/<plain>_minus_<st>`` and ``pvalue/<plain>_vs_<st>`` of every pair trained.

    Example:
        >>> right, wrong = torch.ones(4, dtype=torch.bool), torch.zeros(4, dtype=torch.bool)
        >>> t = {"cnn": TrainedModel(nn.Identity(), torch.zeros(4), wrong, 100.0, 1, 0.0),
        ...      "st_cnn_aff": TrainedModel(nn.Identity(), torch.zeros(4), right, 0.0, 1, 0.0)}
        >>> paired_metrics(t, [("cnn", "st_cnn_aff"), ("fcn", "st_fcn_aff")])
        {'gap/cnn_minus_st_cnn_aff': 100.0, 'pvalue/cnn_vs_st_cnn_aff': 0.125}
    """
    metrics: dict[str, float] = {}
    for plain, st in pairs:
        if plain in trained and st in trained:
            metrics[f"gap/{plain}_minus_{st}"] = trained[plain].error - trained[st].error
            metrics[f"pvalue/{plain}_vs_{st}"] = mcnemar_pvalue(
                trained[plain].correct, trained[st].correct
            )
    return metrics


def main(config: ClutteredMNISTConfig, ctx: RunContext) -> dict[str, float]:
    """Train and test every model of ``config.models`` on TC MNIST.

    Returns:
        The metrics listed in the module docstring.
    """
    splits = make_splits("tc", config.data, ctx)
    channels, height, width = splits.train.image_shape
    ctx.logger.info(
        "TC: %d training, %d validation, %d test images of %dx%d (%s digits)",
        len(splits.train), 0 if splits.val is None else len(splits.val),
        splits.test_images.shape[0], height, width, splits.source,
    )
    metrics: dict[str, float] = {"data_is_mnist": float(splits.source == "mnist")}
    trained: dict[str, TrainedModel] = {}
    for name in config.models:
        # keyed by the name, so a model starts alike whatever else the run trains
        seed = derive_seed(ctx.seed, _SEED_SALT, sum(map(ord, name))) % 2**31
        torch.manual_seed(seed)
        is_st = parse_model_name(name).transform is not None
        model = build_model(
            name,
            in_channels=channels,
            input_size=(height, width),
            num_classes=splits.train.num_classes,
            param_budget=config.model.param_budget,
            channel_ratio=config.model.channel_ratio,
            localisation_downsample=config.model.localisation_downsample,
            mlp_localisation_dims=config.model.mlp_localisation_dims,
            lr_multiplier=config.model.lr_multiplier,
            classifier_pool=config.model.classifier_pool if is_st else 1,
        )
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
                name=name, examples=config.stn_examples, task="translated cluttered MNIST",
            )
    pairs = [(parse_model_name(n).classifier, n) for n in config.models if n.startswith("st_")]
    metrics.update(paired_metrics(trained, pairs))
    plot_learning_curves(ctx, config.models)
    return metrics


def plot_transformer(
    ctx: RunContext,
    model: SpatialTransformerClassifier,
    images: Tensor,
    labels: Tensor,
    predictions: Tensor,
    *,
    name: str,
    examples: int,
    task: str,
) -> None:
    """Save ``stn_<name>``: test inputs with the sampling grids, and the transformed outputs."""
    from attnlab.experiments.jaderberg2015_distorted_mnist.plots import save_transformer_figure

    save_transformer_figure(
        ctx,
        model,
        images[:examples],
        labels[:examples],
        predictions[:examples],
        plot_name=f"stn_{name}",
        title=f"{name} on {task} (test images)",
        caption=(
            f"{name} on {task}: top, test inputs with each transformer's sampling grid "
            "(outline and a few grid lines: the region of the input resampled into the "
            "output); below, each transformer's output that the classifier reads (after "
            "which the classifier pools it 2x). The paper's Figure 3 kind of figure."
        ),
    )


def plot_learning_curves(ctx: RunContext, models: Sequence[str]) -> None:
    """Save ``learning_curves``: training loss and validation error per epoch of every model."""
    wanted = (("train_loss", "training loss"), ("val_error", "validation error"))
    history: dict[str, Any] = {}
    finite = ctx.finite_history()
    for field, label in wanted:
        for name in models:
            points = finite.get(f"{name}/{field}")
            if points:
                history[f"{name}/{label}"] = points
    if not history:
        return
    from attnlab.report.plots import plot_learning_curves as _plot

    with ctx.plotting("learning_curves"):
        fig = _plot(history, max_cols=2, xlabel="epoch")
        ctx.save_plot(
            fig,
            "learning_curves",
            caption=(
                "Mean training loss per epoch (left) and error on the held-out validation "
                "images (right, a fraction), one line per model. Every series (also accuracy "
                "and learning rate) is in history.json."
            ),
        )
