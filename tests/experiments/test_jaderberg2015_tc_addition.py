"""jaderberg2015_cluttered_mnist and jaderberg2015_mnist_addition: models, identity init, runs."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from attnlab.architectures.stn_classifiers import (
    SpatialTransformerClassifier,
    build_model,
    count_parameters,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.jaderberg2015_cluttered_mnist.config import (
    ClutteredMNISTConfig,
    DataConfig,
    ModelConfig,
    OptimConfig,
)
from attnlab.experiments.jaderberg2015_cluttered_mnist.run import main as tc_main
from attnlab.experiments.jaderberg2015_mnist_addition.config import (
    AdditionConfig,
    parse_addition_model,
)
from attnlab.experiments.jaderberg2015_mnist_addition.run import build_addition_model
from attnlab.experiments.jaderberg2015_mnist_addition.run import main as addition_main
from attnlab.vision.spatial_transformer import ParallelSpatialTransformers


def _ctx(tmp_path: Path, name: str) -> RunContext:
    (tmp_path / "plots").mkdir(parents=True, exist_ok=True)
    data_dir = os.environ.get("ATTNLAB_DATA")
    return RunContext(name, "smoke", tmp_path, 0, Path(data_dir) if data_dir else None,
                      torch.device("cpu"), False, logging.getLogger(name))


# --- translated + cluttered MNIST ------------------------------------------------------------


@pytest.mark.parametrize("name", ["fcn", "cnn", "st_fcn_aff", "st_cnn_aff"])
def test_tc_models_take_60x60_inputs(name: str) -> None:
    model = build_model(name, input_size=(60, 60), param_budget=40_000,
                        classifier_pool=2 if name.startswith("st") else 1)
    out = model(torch.rand(3, 1, 60, 60))
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (3, 10)
    # "approximately the same number of parameters" (section 4.1): within 5% of the budget
    assert abs(count_parameters(model) - 40_000) < 2_000
    if isinstance(model, SpatialTransformerClassifier):
        assert out.transformed.shape == (3, 1, 60, 60)
        assert out.grids[0].shape == (3, 60, 60, 2)
        # the classifier reads the transformer output pooled 2x (appendix A.4)
        assert model.classifier.input_size == (30, 30)


def test_tc_st_cnn_is_identity_at_init() -> None:
    torch.manual_seed(0)
    model = build_model("st_cnn_aff", input_size=(60, 60), param_budget=40_000, classifier_pool=2)
    image = torch.rand(2, 1, 60, 60)
    out = model(image)
    assert torch.allclose(out.transformed, image, atol=1e-5)
    expected = model.classifier(F.avg_pool2d(image, 2))
    assert torch.allclose(out.logits, expected, atol=1e-5)


# --- MNIST addition --------------------------------------------------------------------------


def test_parse_addition_model() -> None:
    assert parse_addition_model("2xst_fcn_aff") == ("st_fcn_aff", 2)
    assert parse_addition_model("st_cnn_tps") == ("st_cnn_tps", 1)
    with pytest.raises(ValueError, match="name"):
        parse_addition_model("2xfcn")
    with pytest.raises(ValueError, match="name"):
        parse_addition_model("rnn")


@pytest.mark.parametrize("name", ["fcn", "cnn", "st_fcn_aff", "2xst_fcn_aff", "2xst_fcn_tps"])
def test_addition_models_have_19_classes_and_equal_size(name: str) -> None:
    config = AdditionConfig(model=ModelConfig(param_budget=100_000))
    model = build_addition_model(name, config)
    out = model(torch.rand(2, 2, 42, 42))
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (2, 19)
    assert abs(count_parameters(model) - 100_000) < 5_000


def test_parallel_transformers_are_identity_at_init_and_see_both_channels() -> None:
    torch.manual_seed(0)
    model = build_addition_model("2xst_fcn_aff", AdditionConfig())
    assert isinstance(model.transformer, ParallelSpatialTransformers)
    first, second = model.transformer.transformers
    assert first.localisation is not second.localisation  # two localisation networks
    # each localisation network reads both channels (2 x 21 x 21 after its 2x pooling)
    assert first.localisation[1].features[1].in_features == 2 * 21 * 21
    image = torch.rand(3, 2, 42, 42)
    out = model(image)
    # identity at init: each transformer returns both channels unchanged, concatenated (4 ch)
    assert out.transformed.shape == (3, 4, 42, 42)
    assert torch.allclose(out.transformed, torch.cat([image, image], 1), atol=1e-5)
    identity = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    for theta in out.thetas:
        assert torch.allclose(theta, identity.expand(3, 6), atol=1e-6)
    assert out.logits.shape == (3, 19)
    # the transformers are trainable: a loss reaches both localisation networks
    out.logits.sum().backward()
    for stn in (first, second):
        grads = [p.grad for p in stn.parameters()]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


# --- whole runs (tiny) -----------------------------------------------------------------------


def test_tc_run_produces_metrics_and_plots(tmp_path: Path) -> None:
    config = replace(
        ClutteredMNISTConfig.smoke(),
        data=DataConfig(source="synthetic", train_size=32, val_size=16, test_size=32),
        optim=OptimConfig(epochs=1, batch_size=16, decay_every=1, max_steps_per_epoch=1),
    )
    ctx = _ctx(tmp_path, "jaderberg2015_cluttered_mnist")
    metrics = tc_main(config, ctx)
    assert metrics["data_is_mnist"] == 0.0
    assert {"error/cnn", "error/st_cnn_aff", "gap/cnn_minus_st_cnn_aff",
            "pvalue/cnn_vs_st_cnn_aff"} <= set(metrics)
    assert metrics["gap/cnn_minus_st_cnn_aff"] == pytest.approx(
        metrics["error/cnn"] - metrics["error/st_cnn_aff"])
    assert (tmp_path / "plots" / "stn_st_cnn_aff.png").is_file()
    assert (tmp_path / "plots" / "learning_curves.png").is_file()


def test_addition_run_produces_metrics_and_plots(tmp_path: Path) -> None:
    config = replace(
        AdditionConfig.smoke(),
        data=DataConfig(source="synthetic", train_size=32, val_size=16, test_size=32),
        optim=OptimConfig(epochs=1, batch_size=16, decay_every=1, max_steps_per_epoch=1),
    )
    ctx = _ctx(tmp_path, "jaderberg2015_mnist_addition")
    metrics = addition_main(config, ctx)
    assert {"error/fcn", "error/2xst_fcn_aff", "gap/fcn_minus_2xst_fcn_aff"} <= set(metrics)
    assert 0.0 <= metrics["error/fcn"] <= 100.0
    assert (tmp_path / "plots" / "stn_2xst_fcn_aff.png").is_file()
    assert (tmp_path / "plots" / "learning_curves.png").is_file()


def test_configs_reject_unknown_models() -> None:
    with pytest.raises(ValueError, match="name"):
        ClutteredMNISTConfig(models=("cnn", "transformer"))
    with pytest.raises(ValueError, match="models"):
        AdditionConfig(models=("fcn", "fcn"))
