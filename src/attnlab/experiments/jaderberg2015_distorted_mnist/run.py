"""Run ``jaderberg2015_distorted_mnist``: train every (distortion, model) pair, test, plot.

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015,
https://arxiv.org/abs/1506.02025, section 4.1, Table 1 and Figure 3. For each distortion the
MNIST training digits are warped once (fixed by the run's seed), the last ``val_size`` of them
held out for the learning curves, and the MNIST test digits are warped with the fixed test seed.
Each model is trained with :func:`attnlab.train.fit` (SGD, stepped learning-rate decay, cross
entropy) and tested once at the end of its schedule (no model selection).

Metrics (percentages of the test set): ``error/<kind>/<model>``; ``params/<kind>/<model>``;
``train_time_s/<kind>/<model>``; for every ST-CNN trained next to the CNN on a distortion,
``gap/<kind>/cnn_minus_<st_cnn>`` (CNN error minus ST-CNN error, percentage points) and
``pvalue/<kind>/cnn_vs_<st_cnn>`` (exact two-sided McNemar test on the paired test predictions);
``data_is_mnist`` (1 for MNIST digits, 0 for the synthetic stand-in).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import torch
from torch import Tensor, nn

from attnlab.architectures.stn_classifiers import (
    MODEL_NAMES,
    SpatialTransformerClassifier,
    build_model,
    count_parameters,
    parse_model_name,
)
from attnlab.data.distortions import DISTORTIONS, TEST_SEED, DistortedMNIST, get_distortion
from attnlab.data.mnist import Digits, load_digits
from attnlab.experiments.context import RunContext
from attnlab.experiments.jaderberg2015_distorted_mnist.config import DistortedMNISTConfig
from attnlab.train import TrainConfig, derive_seed, fit, logits_of
from attnlab.vision.spatial_transformer import spatial_transformer_param_groups

__all__ = ["main", "mcnemar_pvalue", "predict", "render_splits"]

_EVAL_BATCH = 500
_KINDS = tuple(DISTORTIONS)


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


def _load(config: DistortedMNISTConfig, ctx: RunContext) -> tuple[Digits, Digits]:
    data = config.data
    train = load_digits(
        "train",
        source=data.source,
        data_dir=ctx.data_dir,
        synthetic_size=data.train_size + data.val_size,
    )
    test = load_digits("test", source=data.source, data_dir=ctx.data_dir,
                       synthetic_size=data.test_size)
    if train.source != "mnist":
        ctx.logger.warning(
            "MNIST not found: training and testing on the synthetic font-rendered digits "
            "(a stand-in, not MNIST); the numbers are not comparable with the paper"
        )
    return train, test


def _train_config(config: DistortedMNISTConfig, ctx: RunContext, seed: int) -> TrainConfig:
    optim = config.optim
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


def main(config: DistortedMNISTConfig, ctx: RunContext) -> dict[str, float]:
    """Train and test every model of ``config.models`` on every ``config.distortions``.

    Returns:
        The metrics listed in the module docstring.
    """
    train_digits, test_digits = _load(config, ctx)
    data = config.data
    metrics: dict[str, float] = {"data_is_mnist": float(train_digits.source == "mnist")}
    plots_left = config.max_stn_plots
    for kind in config.distortions:
        spec = get_distortion(kind)
        train_set, val_set, test_images, test_labels = render_splits(
            kind,
            train_digits,
            test_digits,
            train_size=data.train_size,
            val_size=data.val_size,
            test_size=data.test_size,
            seed=ctx.seed,
        )
        channels, height, width = train_set.image_shape
        ctx.logger.info(
            "%s: %d training, %d validation, %d test images of %dx%d (%s digits)",
            spec.name, len(train_set), 0 if val_set is None else len(val_set),
            test_images.shape[0], height, width, train_digits.source,
        )
        correct: dict[str, Tensor] = {}
        for name in config.models:
            # keyed by the names, so a model starts alike whatever else the run trains
            seed = derive_seed(ctx.seed, _KINDS.index(kind), MODEL_NAMES.index(name)) % 2**31
            torch.manual_seed(seed)
            model = build_model(
                name,
                in_channels=channels,
                input_size=(height, width),
                num_classes=spec.num_classes,
                param_budget=config.model.param_budget,
                channel_ratio=config.model.channel_ratio,
                localisation_downsample=config.model.localisation_downsample,
                mlp_localisation_dims=config.model.mlp_localisation_dims,
                lr_multiplier=config.model.lr_multiplier,
            )
            train_config = _train_config(config, ctx, seed)
            is_st = isinstance(model, SpatialTransformerClassifier)
            groups = spatial_transformer_param_groups(model, train_config.lr) if is_st else None
            result = fit(
                model,
                train_set,
                val_set,
                config=train_config,
                param_groups=groups,
                run_dir=ctx.checkpoint_dir / f"{kind}_{name}",
                resume=ctx.resume,
                progress=ctx.progress,
            )
            ctx.log_records(result.history, prefix=f"{kind}/{name}/")
            predictions = predict(model, test_images)
            correct[name] = predictions == test_labels
            error = 100.0 * int((~correct[name]).sum()) / correct[name].numel()
            # summed per-epoch times: the whole training, also when it was resumed
            train_time = sum(float(r.get("time") or 0.0) for r in result.history)
            metrics[f"error/{kind}/{name}"] = error
            metrics[f"params/{kind}/{name}"] = float(count_parameters(model))
            metrics[f"train_time_s/{kind}/{name}"] = train_time
            ctx.logger.info(
                "%s %s: test error %.2f%% (%d parameters, %d epochs, %.0f s)",
                spec.name, name, error, count_parameters(model), result.epochs_run, train_time,
            )
            if isinstance(model, SpatialTransformerClassifier) and (
                plots_left is None or plots_left > 0
            ):
                _plot_stn(ctx, model, test_images, test_labels, predictions, kind=kind,
                          name=name, examples=config.stn_examples)
                plots_left = None if plots_left is None else plots_left - 1
        if "cnn" in correct:
            for name in correct:
                if parse_model_name(name).classifier == "cnn" and name != "cnn":
                    metrics[f"gap/{kind}/cnn_minus_{name}"] = (
                        metrics[f"error/{kind}/cnn"] - metrics[f"error/{kind}/{name}"]
                    )
                    metrics[f"pvalue/{kind}/cnn_vs_{name}"] = mcnemar_pvalue(
                        correct["cnn"], correct[name]
                    )
    _plot_curves(ctx, config.distortions)
    return metrics


def _plot_stn(
    ctx: RunContext,
    model: SpatialTransformerClassifier,
    images: Tensor,
    labels: Tensor,
    predictions: Tensor,
    *,
    kind: str,
    name: str,
    examples: int,
) -> None:
    from attnlab.experiments.jaderberg2015_distorted_mnist.plots import save_transformer_figure

    spec = get_distortion(kind)
    save_transformer_figure(
        ctx,
        model,
        images[:examples],
        labels[:examples],
        predictions[:examples],
        plot_name=f"stn_{kind}_{name}",
        title=f"{name} on {spec.name} MNIST (test digits)",
        caption=(
            f"{name} on {spec.name}: top, test inputs with the transformer's sampling grid "
            "(outline and a few grid lines: the region of the input resampled into the "
            "output); bottom, the transformer's output that the classifier reads "
            "(the paper's Figure 3)."
        ),
    )


def _plot_curves(ctx: RunContext, distortions: tuple[str, ...]) -> None:
    """One figure: per distortion, training loss and validation error of every model."""
    wanted = (("train_loss", "training loss"), ("val_error", "validation error"))
    history: dict[str, Any] = {}
    finite = ctx.finite_history()
    for kind in distortions:
        for field, label in wanted:
            for key, points in finite.items():
                prefix, _, quantity = key.rpartition("/")
                if quantity == field and prefix.startswith(f"{kind}/"):
                    model = prefix.removeprefix(f"{kind}/")
                    history[f"{model}/{get_distortion(kind).name} {label}"] = points
    if not history:
        return
    from attnlab.report.plots import plot_learning_curves

    with ctx.plotting("learning_curves"):
        fig = plot_learning_curves(history, max_cols=2, xlabel="epoch")
        ctx.save_plot(
            fig,
            "learning_curves",
            caption=(
                "Per distortion (rows): mean training loss per epoch (left) and error on the "
                "held-out validation digits (right, a fraction), one line per model. Every "
                "series (also accuracy and learning rate) is in history.json."
            ),
        )
