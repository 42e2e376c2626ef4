"""What the three spatial-transformer experiments share: data splits, training, testing, metrics.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, section 4.1 and appendices A.1 and A.4. Distorted MNIST
(Table 1), translated + cluttered MNIST and MNIST addition render their digits, train their
models and compare them the same way; this module holds that one way. Each experiment's
``run.py`` re-exports the names it has always offered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from attnlab.architectures.stn_classifiers import (
    SpatialTransformerClassifier,
    build_model,
    count_parameters,
    parse_model_name,
)
from attnlab.data.distortions import TEST_SEED, DistortedMNIST
from attnlab.data.mnist import Digits, load_digits
from attnlab.report.checks import Target
from attnlab.train import TrainConfig, derive_seed, fit, logits_of
from attnlab.vision.spatial_transformer import spatial_transformer_param_groups

if TYPE_CHECKING:  # pragma: no cover
    from attnlab.experiments.context import RunContext
    from attnlab.experiments.jaderberg2015_distorted_mnist.config import (
        DataConfig,
        ModelConfig,
        OptimConfig,
    )

__all__ = [
    "DistortedSplits",
    "TrainedModel",
    "build_sized_model",
    "error_targets",
    "load_digit_splits",
    "log_splits",
    "make_splits",
    "mcnemar_pvalue",
    "paired_metrics",
    "plain_partner",
    "plot_learning_curves",
    "plot_transformer",
    "predict",
    "render_splits",
    "save_learning_curves",
    "train_and_test",
    "train_config",
    "train_each_model",
]

_EVAL_BATCH = 500


# --- what each experiment declares ------------------------------------------------------------


def error_targets(
    errors: dict[str, float], names: dict[str, str], source: str
) -> tuple[Target, ...]:
    """One full-scale ``error/<model>`` target per paper number, allowing the paper's own error.

    Example:
        >>> [t.metric for t in error_targets({"cnn": 3.5}, {"cnn": "CNN"}, "section 4.1")]
        ['error/cnn']
    """
    return tuple(
        Target(
            f"error/{model}",
            paper=paper,
            tolerance=round(paper, 2),
            direction="lower",
            source=f"{source}, {names[model]}",
            scales=("full",),
        )
        for model, paper in errors.items()
    )


# --- data -------------------------------------------------------------------------------------


class DistortedSplits(NamedTuple):
    """Training, validation (``None`` when empty) and test data of one distortion kind."""

    train: DistortedMNIST
    val: DistortedMNIST | None
    test_images: Tensor
    test_labels: Tensor
    source: str


def load_digit_splits(data: DataConfig, ctx: RunContext) -> tuple[Digits, Digits]:
    """MNIST's (or the stand-in's) training and test digits, enough for ``data``'s sizes.

    Warns once when the synthetic stand-in is read instead of MNIST.
    """
    train = load_digits(
        "train",
        source=data.source,
        data_dir=ctx.data_dir,
        synthetic_size=data.train_size + data.val_size,
    )
    test = load_digits(
        "test", source=data.source, data_dir=ctx.data_dir, synthetic_size=data.test_size
    )
    if train.source != "mnist":
        ctx.logger.warning(
            "MNIST not found: training and testing on the synthetic font-rendered digits "
            "(a stand-in, not MNIST); the numbers are not comparable with the paper"
        )
    return train, test


def render_splits(
    kind: str,
    train_digits: Digits,
    test_digits: Digits,
    *,
    train_size: int,
    val_size: int,
    test_size: int,
    seed: int,
) -> tuple[DistortedMNIST, DistortedMNIST | None, Tensor, Tensor]:
    """The ``kind`` training, validation (``None`` when empty) and test data of one run.

    Training digits are the first ``train_size``, validation the next ``val_size`` (distorted
    with ``seed`` and ``seed + 1``, rendered once); test digits the first ``test_size`` of the
    test split, distorted with :data:`~attnlab.data.distortions.TEST_SEED` whatever the seed.

    Returns:
        ``(train, val, test_images, test_labels)``.
    """
    stop = train_size + val_size
    train = DistortedMNIST(
        train_digits.images[:train_size],
        train_digits.labels[:train_size],
        kind=kind,
        seed=seed,
        precompute=True,
    )
    val = None
    if val_size:
        val = DistortedMNIST(
            train_digits.images[train_size:stop],
            train_digits.labels[train_size:stop],
            kind=kind,
            seed=seed + 1,
            precompute=True,
        )
    test_images, test_labels = DistortedMNIST(
        test_digits.images[:test_size], test_digits.labels[:test_size], kind=kind, seed=TEST_SEED
    ).tensors()
    return train, val, test_images, test_labels


def log_splits(
    ctx: RunContext, label: str, splits: DistortedSplits, *, unit: str = "images"
) -> None:
    """One log line: the sizes of the three sets and of their images (channels when > 1)."""
    shape = splits.train.image_shape
    size = "x".join(map(str, shape if shape[0] > 1 else shape[1:]))
    ctx.logger.info(
        "%s: %d training, %d validation, %d test %s of %s (%s digits)",
        label, len(splits.train), 0 if splits.val is None else len(splits.val),
        splits.test_images.shape[0], unit, size, splits.source,
    )


def make_splits(kind: str, data: DataConfig, ctx: RunContext) -> DistortedSplits:
    """Load MNIST (or the stand-in) and render the ``kind`` training, validation and test sets.

    Training digits are MNIST's first ``train_size``, validation its next ``val_size`` (both
    distorted with seeds from the run's seed), test MNIST's first ``test_size`` test digits
    distorted with :data:`~attnlab.data.distortions.TEST_SEED`.
    """
    train_digits, test_digits = load_digit_splits(data, ctx)
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


# --- models, training and testing -------------------------------------------------------------


def plain_partner(name: str) -> str | None:
    """The plain classifier a ``st_*`` model is compared with (``None`` for a plain model).

    Example:
        >>> plain_partner("st_cnn_tps"), plain_partner("fcn")
        ('cnn', None)
    """
    spec = parse_model_name(name)
    return spec.classifier if spec.transform is not None else None


def build_sized_model(
    name: str,
    model: ModelConfig,
    *,
    in_channels: int,
    input_size: tuple[int, int],
    num_classes: int,
    num_transformers: int = 1,
    classifier_pool: int = 1,
) -> nn.Module:
    """:func:`~attnlab.architectures.stn_classifiers.build_model` sized by an experiment's
    ``model`` settings; ``classifier_pool`` applies to spatial-transformer models only."""
    return build_model(
        name,
        in_channels=in_channels,
        input_size=input_size,
        num_classes=num_classes,
        num_transformers=num_transformers,
        param_budget=model.param_budget,
        channel_ratio=model.channel_ratio,
        localisation_downsample=model.localisation_downsample,
        mlp_localisation_dims=model.mlp_localisation_dims,
        lr_multiplier=model.lr_multiplier,
        classifier_pool=classifier_pool if plain_partner(name) is not None else 1,
    )


def train_config(optim: OptimConfig, ctx: RunContext, seed: int) -> TrainConfig:
    """The :class:`~attnlab.train.TrainConfig` of ``optim``: stepped decay, momentum for SGD."""
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


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, *, batch_size: int = _EVAL_BATCH) -> Tensor:
    """Predicted classes ``(N,)`` of ``images`` ``(N, C, H, W)`` in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        parts = [
            logits_of(model(images[i : i + batch_size].to(device))).argmax(-1).cpu()
            for i in range(0, images.shape[0], batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(parts)


class TrainedModel(NamedTuple):
    """A trained model, its test predictions and its metrics (keys without the model name)."""

    model: nn.Module
    predictions: Tensor
    correct: Tensor
    error: float
    params: int
    time_s: float


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
    scope: str | None = None,
    label: str | None = None,
) -> TrainedModel:
    """Train ``model`` with the stepped schedule, record its curves, test it once.

    Spatial-transformer models get the parameter groups of
    :func:`~attnlab.vision.spatial_transformer.spatial_transformer_param_groups` (their
    localisation networks' learning-rate factor). Curves go to the run's history under
    ``<name>/`` and checkpoints under ``<checkpoint_dir>/<name>``; with a ``scope`` (a
    distortion kind) under ``<scope>/<name>/`` and ``<checkpoint_dir>/<scope>_<name>``.
    ``label`` names the model in the log (default ``name``). The training time is the sum of
    the epochs' times: the whole training, also when it was resumed.
    """
    config = train_config(optim, ctx, seed)
    groups = (
        spatial_transformer_param_groups(model, config.lr)
        if isinstance(model, SpatialTransformerClassifier)
        else None
    )
    result = fit(
        model,
        train_set,
        val_set,
        config=config,
        param_groups=groups,
        run_dir=ctx.checkpoint_dir / (name if scope is None else f"{scope}_{name}"),
        resume=ctx.resume,
        progress=ctx.progress,
    )
    ctx.log_records(result.history, prefix=f"{name}/" if scope is None else f"{scope}/{name}/")
    predictions = predict(model, test_images)
    correct = predictions == test_labels
    error = 100.0 * int((~correct).sum()) / correct.numel()
    params = count_parameters(model)
    time_s = sum(float(r.get("time") or 0.0) for r in result.history)
    ctx.logger.info(
        "%s: test error %.2f%% (%d parameters, %d epochs, %.0f s)",
        label or name, error, params, result.epochs_run, time_s,
    )
    return TrainedModel(model, predictions, correct, error, params, time_s)


# --- comparisons ------------------------------------------------------------------------------


def mcnemar_pvalue(first_correct: Tensor, second_correct: Tensor) -> float:
    """Exact two-sided McNemar test that two classifiers have the same error rate.

    With ``b`` test items only the first gets right and ``c`` only the second, the p-value is
    ``min(1, 2 P(X <= min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)`` (1 when ``b + c = 0``).

    Example:
        >>> mcnemar_pvalue(torch.tensor([True] * 10), torch.tensor([False] * 10))
        0.001953125
    """
    if first_correct.shape != second_correct.shape:
        raise ValueError(
            f"first_correct and second_correct must have the same shape, got "
            f"{tuple(first_correct.shape)} and {tuple(second_correct.shape)}"
        )
    b = int((first_correct & ~second_correct).sum())
    c = int((~first_correct & second_correct).sum())
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, float(2 * Fraction(tail, 2**n)))


def paired_metrics(
    trained: dict[str, TrainedModel],
    pairs: Sequence[tuple[str, str]],
    *,
    scope: str | None = None,
) -> dict[str, float]:
    """``gap/<plain>_minus_<st>`` and ``pvalue/<plain>_vs_<st>`` of every pair trained.

    With a ``scope`` the keys are ``gap/<scope>/...`` and ``pvalue/<scope>/...``.

    Example:
        >>> right, wrong = torch.ones(4, dtype=torch.bool), torch.zeros(4, dtype=torch.bool)
        >>> t = {"cnn": TrainedModel(nn.Identity(), torch.zeros(4), wrong, 100.0, 1, 0.0),
        ...      "st_cnn_aff": TrainedModel(nn.Identity(), torch.zeros(4), right, 0.0, 1, 0.0)}
        >>> paired_metrics(t, [("cnn", "st_cnn_aff"), ("fcn", "st_fcn_aff")])
        {'gap/cnn_minus_st_cnn_aff': 100.0, 'pvalue/cnn_vs_st_cnn_aff': 0.125}
    """
    where = "" if scope is None else f"{scope}/"
    metrics: dict[str, float] = {}
    for plain, st in pairs:
        if plain in trained and st in trained:
            metrics[f"gap/{where}{plain}_minus_{st}"] = trained[plain].error - trained[st].error
            metrics[f"pvalue/{where}{plain}_vs_{st}"] = mcnemar_pvalue(
                trained[plain].correct, trained[st].correct
            )
    return metrics


def train_each_model(
    models: Sequence[str],
    build: Callable[[str], nn.Module],
    splits: DistortedSplits,
    *,
    partner: Callable[[str], str | None],
    optim: OptimConfig,
    ctx: RunContext,
    seed_salt: int,
    stn_examples: int,
    task: str,
) -> dict[str, float]:
    """Train and test each of ``models`` (built by ``build``) on ``splits``, then compare.

    Each model's seed is keyed by its name, so a model starts alike whatever else the run
    trains. Every spatial-transformer model gets a sampling-grid figure; each model is compared
    with its ``partner(name)`` (:func:`paired_metrics`) when both are trained.

    Returns:
        ``data_is_mnist``, then ``error/``, ``params/`` and ``train_time_s/<model>``, then the
        paired metrics.
    """
    metrics: dict[str, float] = {"data_is_mnist": float(splits.source == "mnist")}
    trained: dict[str, TrainedModel] = {}
    for name in models:
        seed = derive_seed(ctx.seed, seed_salt, sum(map(ord, name))) % 2**31
        torch.manual_seed(seed)
        model = build(name)
        trained[name] = result = train_and_test(
            name, model, splits.train, splits.val, splits.test_images, splits.test_labels,
            optim=optim, ctx=ctx, seed=seed,
        )
        metrics[f"error/{name}"] = result.error
        metrics[f"params/{name}"] = float(result.params)
        metrics[f"train_time_s/{name}"] = result.time_s
        if isinstance(model, SpatialTransformerClassifier):
            plot_transformer(
                ctx, model, splits.test_images, splits.test_labels, result.predictions,
                name=name, examples=stn_examples, task=task,
            )
    pairs = [(plain, name) for name in models if (plain := partner(name)) is not None]
    metrics.update(paired_metrics(trained, pairs))
    plot_learning_curves(ctx, models)
    return metrics


# --- figures ----------------------------------------------------------------------------------


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
    pooled: bool = True,
) -> None:
    """Save ``stn_<name>``: the first ``examples`` test inputs with the sampling grids, and the
    transformed outputs (``pooled``: which the classifier average-pools 2x)."""
    from attnlab.experiments.jaderberg2015_distorted_mnist.plots import save_transformer_figure

    pooling = " (after which the classifier pools it 2x)" if pooled else ""
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
            f"output); below, each transformer's output that the classifier reads{pooling}. "
            "The paper's Figure 3 kind of figure."
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
    save_learning_curves(
        ctx,
        history,
        caption=(
            "Mean training loss per epoch (left) and error on the held-out validation "
            "images (right, a fraction), one line per model. Every series (also accuracy "
            "and learning rate) is in history.json."
        ),
    )


def save_learning_curves(ctx: RunContext, history: dict[str, Any], *, caption: str) -> None:
    """Save ``learning_curves`` from ``label -> points`` series, two panels a row (nothing
    when there is no series)."""
    if not history:
        return
    from attnlab.report.plots import plot_learning_curves as plot

    with ctx.plotting("learning_curves"):
        fig = plot(history, max_cols=2, xlabel="epoch")
        ctx.save_plot(fig, "learning_curves", caption=caption)
