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

from typing import Any

import torch

from attnlab.architectures.stn_classifiers import MODEL_NAMES, SpatialTransformerClassifier
from attnlab.data.distortions import DISTORTIONS, get_distortion
from attnlab.experiments._stn_common import (
    DistortedSplits,
    TrainedModel,
    build_sized_model,
    load_digit_splits,
    log_splits,
    mcnemar_pvalue,
    paired_metrics,
    plain_partner,
    plot_transformer,
    predict,
    render_splits,
    save_learning_curves,
    train_and_test,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.jaderberg2015_distorted_mnist.config import DistortedMNISTConfig
from attnlab.train import derive_seed

__all__ = ["main", "mcnemar_pvalue", "predict", "render_splits"]

_KINDS = tuple(DISTORTIONS)


def main(config: DistortedMNISTConfig, ctx: RunContext) -> dict[str, float]:
    """Train and test every model of ``config.models`` on every ``config.distortions``.

    Returns:
        The metrics listed in the module docstring.
    """
    train_digits, test_digits = load_digit_splits(config.data, ctx)
    data = config.data
    metrics: dict[str, float] = {"data_is_mnist": float(train_digits.source == "mnist")}
    plots_left = config.max_stn_plots
    for kind in config.distortions:
        spec = get_distortion(kind)
        splits = DistortedSplits(
            *render_splits(
                kind,
                train_digits,
                test_digits,
                train_size=data.train_size,
                val_size=data.val_size,
                test_size=data.test_size,
                seed=ctx.seed,
            ),
            train_digits.source,
        )
        log_splits(ctx, spec.name, splits)
        train_set, val_set, test_images, test_labels, _ = splits
        channels, height, width = train_set.image_shape
        trained: dict[str, TrainedModel] = {}
        for name in config.models:
            # keyed by the names, so a model starts alike whatever else the run trains
            seed = derive_seed(ctx.seed, _KINDS.index(kind), MODEL_NAMES.index(name)) % 2**31
            torch.manual_seed(seed)
            model = build_sized_model(
                name,
                config.model,
                in_channels=channels,
                input_size=(height, width),
                num_classes=spec.num_classes,
            )
            trained[name] = result = train_and_test(
                name, model, train_set, val_set, test_images, test_labels,
                optim=config.optim, ctx=ctx, seed=seed, scope=kind, label=f"{spec.name} {name}",
            )
            metrics[f"error/{kind}/{name}"] = result.error
            metrics[f"params/{kind}/{name}"] = float(result.params)
            metrics[f"train_time_s/{kind}/{name}"] = result.time_s
            if isinstance(model, SpatialTransformerClassifier) and (
                plots_left is None or plots_left > 0
            ):
                plot_transformer(
                    ctx, model, test_images, test_labels, result.predictions,
                    name=f"{kind}_{name}", examples=config.stn_examples,
                    task=f"{spec.name} MNIST", pooled=False,
                )
                plots_left = None if plots_left is None else plots_left - 1
        # Table 1's claim compares every ST-CNN with the CNN (the ST-FCNs are not paired)
        pairs = [("cnn", name) for name in trained if plain_partner(name) == "cnn"]
        metrics.update(paired_metrics(trained, pairs, scope=kind))
    _plot_curves(ctx, config.distortions)
    return metrics


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
    save_learning_curves(
        ctx,
        history,
        caption=(
            "Per distortion (rows): mean training loss per epoch (left) and error on the "
            "held-out validation digits (right, a fraction), one line per model. Every "
            "series (also accuracy and learning rate) is in history.json."
        ),
    )
