"""Models, sizing, statistics and the sampling-grid figure of ``jaderberg2015_distorted_mnist``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from attnlab.architectures.stn_classifiers import (
    CNN,
    FCN,
    MODEL_NAMES,
    SpatialTransformerClassifier,
    build_model,
    classifier_widths,
    count_parameters,
    parse_model_name,
)
from attnlab.experiments.jaderberg2015_distorted_mnist import TABLE1
from attnlab.experiments.jaderberg2015_distorted_mnist.config import DistortedMNISTConfig
from attnlab.experiments.jaderberg2015_distorted_mnist.run import mcnemar_pvalue
from attnlab.vision.grids import normalized_meshgrid
from attnlab.vision.spatial_transformer import (
    ParallelSpatialTransformers,
    SpatialTransformer,
    find_regression_layer,
    spatial_transformer_param_groups,
)

# (in_channels, input size, classes, transformers): R/P/E, RTS, TC and the addition task.
TASKS = [
    (1, (28, 28), 10, 1),
    (1, (42, 42), 10, 1),
    (1, (60, 60), 10, 1),
    (2, (42, 42), 19, 2),
]
ST_NAMES = [n for n in MODEL_NAMES if n.startswith("st_")]


def _build(name: str, task: tuple[int, tuple[int, int], int, int], **kwargs: object) -> nn.Module:
    channels, size, classes, transformers = task
    return build_model(
        name,
        in_channels=channels,
        input_size=size,
        num_classes=classes,
        num_transformers=transformers if name.startswith("st_") else 1,
        **kwargs,  # type: ignore[arg-type]
    )


def test_table1_has_every_model() -> None:
    assert set(TABLE1) == set(MODEL_NAMES) and len(MODEL_NAMES) == 8
    assert parse_model_name("st_fcn_proj") == ("fcn", "proj")
    with pytest.raises(ValueError, match="name"):
        parse_model_name("st_rnn_aff")


@pytest.mark.parametrize("task", TASKS, ids=["28px", "rts", "tc", "addition"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_maps_images_to_logits(
    name: str, task: tuple[int, tuple[int, int], int, int]
) -> None:
    channels, (height, width), classes, transformers = task
    model = _build(name, task)
    x = torch.rand(3, channels, height, width)
    out = model(x)
    logits = out if isinstance(out, torch.Tensor) else out.logits
    assert logits.shape == (3, classes)
    if name.startswith("st_"):
        assert isinstance(model, SpatialTransformerClassifier)
        assert len(out.grids) == len(out.thetas) == transformers
        assert out.transformed.shape == (3, transformers * channels, height, width)
        assert all(g.shape == (3, height, width, 2) for g in out.grids)


@pytest.mark.parametrize("task", TASKS, ids=["28px", "rts", "tc", "addition"])
def test_models_of_a_task_have_about_the_same_number_of_parameters(
    task: tuple[int, tuple[int, int], int, int],
) -> None:
    budget = 100_000
    counts = {n: count_parameters(_build(n, task, param_budget=budget)) for n in MODEL_NAMES}
    assert max(counts.values()) <= 1.10 * min(counts.values()), counts
    assert all(abs(c - budget) <= 0.05 * budget for c in counts.values()), counts


def test_parameter_counts_by_hand() -> None:
    # conv 9x9 1->2: 2*(81+1); conv 7x7 2->3: 3*(2*49+1); 42 -> 34 -> 17 -> 11 -> 5: FC 75 -> 10
    assert count_parameters(CNN(1, (42, 42), 10, channels=(2, 3))) == 164 + 297 + 760
    # 784 -> 4 -> 5 -> 10
    assert count_parameters(FCN(1, (28, 28), 10, hidden_dims=(4, 5))) == 3140 + 25 + 60
    # the transformer models' classifier shrinks by what the localisation network takes
    st = build_model("st_cnn_aff", input_size=(42, 42), param_budget=60_000)
    assert isinstance(st, SpatialTransformerClassifier)
    loc = count_parameters(st.transformer)
    assert loc == count_parameters(st) - count_parameters(st.classifier) > 10_000
    widths = classifier_widths(
        "cnn", in_channels=1, input_size=(42, 42), num_classes=10, budget=60_000 - loc
    )
    assert st.classifier.layers[3].out_channels == widths[1]


def test_too_small_budgets_and_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="param_budget"):
        build_model("st_fcn_tps", input_size=(42, 42), param_budget=5_000)
    with pytest.raises(ValueError, match="budget"):
        classifier_widths("fcn", in_channels=1, input_size=(42, 42), num_classes=10, budget=100)
    with pytest.raises(ValueError, match="input_size"):
        CNN(1, (20, 20), 10)
    with pytest.raises(ValueError, match="num_transformers"):
        build_model("cnn", num_transformers=2)


@pytest.mark.parametrize("task", [TASKS[0], TASKS[1], TASKS[3]], ids=["28px", "rts", "addition"])
@pytest.mark.parametrize("name", ST_NAMES)
def test_transformers_start_as_the_identity(
    name: str, task: tuple[int, tuple[int, int], int, int]
) -> None:
    channels, (height, width), _, transformers = task
    torch.manual_seed(0)
    model = _build(name, task)
    assert isinstance(model, SpatialTransformerClassifier)
    x = torch.rand(2, channels, height, width)
    out = model(x)
    # each transformer copies the input: the classifier sees N copies of it
    torch.testing.assert_close(out.transformed, x.repeat(1, transformers, 1, 1), atol=1e-5, rtol=0)
    identity = normalized_meshgrid((height, width)).expand(2, height, width, 2)
    for grid in out.grids:
        torch.testing.assert_close(grid, identity, atol=1e-5, rtol=0)
    with torch.no_grad():
        direct = model.classifier(x.repeat(1, transformers, 1, 1))
    torch.testing.assert_close(out.logits, direct, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["st_fcn_tps", "st_cnn_aff"])
def test_the_localisation_network_learns_from_the_loss(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, input_size=(42, 42), param_budget=40_000, lr_multiplier=0.1)
    assert isinstance(model, SpatialTransformerClassifier)
    x = torch.zeros(4, 1, 42, 42)
    x[:, :, 10:30, 18:24] = 1.0
    loss = nn.functional.cross_entropy(model(x).logits, torch.tensor([1, 2, 3, 4]))
    loss.backward()
    assert isinstance(model.transformer, SpatialTransformer)
    regression = [m for m in model.transformer.localisation.modules() if isinstance(m, nn.Linear)]
    assert regression[-1].weight.grad is not None and regression[-1].weight.grad.abs().sum() > 0
    groups = spatial_transformer_param_groups(model, 0.01)
    assert sorted(g["lr"] for g in groups) == pytest.approx([0.001, 0.01])


def test_two_transformers_for_the_addition_task() -> None:
    model = build_model(
        "st_fcn_aff", in_channels=2, input_size=(42, 42), num_classes=19, num_transformers=2
    )
    assert isinstance(model, SpatialTransformerClassifier)
    assert isinstance(model.transformer, ParallelSpatialTransformers)
    assert len(model.transformer.transformers) == 2


def test_sampling_grid_figure_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from attnlab.experiments.jaderberg2015_distorted_mnist.plots import plot_sampling_grids

    torch.manual_seed(0)
    model = build_model(
        "st_cnn_tps", in_channels=2, input_size=(42, 42), num_classes=19, num_transformers=2,
        param_budget=60_000,
    )
    assert isinstance(model, SpatialTransformerClassifier)
    images = torch.rand(3, 2, 42, 42)
    with torch.no_grad():  # the first transformer zooms in: its grid covers 80% of the input
        find_regression_layer(model.transformer.transformers[0].localisation).bias.mul_(0.8)
        out = model(images)
    assert out.grids[0].abs().max() < 0.85 < out.grids[1].abs().max()
    fig = plot_sampling_grids(
        images, out.grids, out.transformed, labels=torch.tensor([3, 11, 18]),
        predictions=out.logits.argmax(-1), title="test",
    )
    assert len(fig.axes) == 3 * 3  # (input + 2 outputs) x 3 examples
    path = tmp_path / "stn.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000
    with pytest.raises(ValueError, match="transformed"):
        plot_sampling_grids(images, out.grids, out.transformed[:, :2])
    with pytest.raises(ValueError, match="grids"):
        plot_sampling_grids(images, [], out.transformed)


def test_mcnemar_pvalue_is_the_exact_binomial_test() -> None:
    first = torch.tensor([True] * 6 + [False] * 2 + [True] * 50)
    second = torch.tensor([False] * 6 + [True] * 2 + [True] * 50)
    # b = 6, c = 2: 2 * P(X <= 2), X ~ Bin(8, 1/2) = 2 * (1 + 8 + 28) / 256
    assert mcnemar_pvalue(first, second) == pytest.approx(2 * 37 / 256)
    assert mcnemar_pvalue(first, second) == mcnemar_pvalue(second, first)
    assert mcnemar_pvalue(first, first) == 1.0
    # a larger case against torch's binomial distribution: b = 40, c = 25
    first = torch.tensor([True] * 40 + [False] * 25 + [False] * 10)
    second = torch.tensor([False] * 40 + [True] * 25 + [False] * 10)
    binomial = torch.distributions.Binomial(65, probs=torch.tensor(0.5, dtype=torch.float64))
    expected = 2 * binomial.log_prob(torch.arange(26, dtype=torch.float64)).exp().sum().item()
    assert math.isclose(mcnemar_pvalue(first, second), expected, rel_tol=1e-9)


def test_config_rejects_unknown_models_and_distortions() -> None:
    with pytest.raises(ValueError, match="models"):
        DistortedMNISTConfig(models=("cnn", "resnet"))
    with pytest.raises(ValueError, match="distortions"):
        DistortedMNISTConfig(distortions=("addition",))
    with pytest.raises(ValueError, match="train_size"):
        DistortedMNISTConfig.smoke().data.__class__(train_size=59_000, val_size=5_000)
