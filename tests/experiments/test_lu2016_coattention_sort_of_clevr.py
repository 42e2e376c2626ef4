"""lu2016_coattention_sort_of_clevr: models, per-image wrapper, metrics, BN recalibration, plots."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import torch

from attnlab.data.sort_of_clevr import SortOfCLEVR
from attnlab.experiments.context import RunContext
from attnlab.experiments.lu2016_coattention_sort_of_clevr.config import (
    DataConfig,
    SortOfClevrConfig,
)
from attnlab.experiments.lu2016_coattention_sort_of_clevr.run import (
    accuracy_by_type,
    build_models,
    main,
    question_text,
    recalibrate_batch_norm,
)
from helpers import assert_close


def test_models_and_per_image_wrapper() -> None:
    torch.manual_seed(0)
    config = SortOfClevrConfig.smoke()
    models = build_models(config)
    data = SortOfCLEVR(3, seed=0, image_size=32, object_size=2)
    for name, model in models.items():
        model.eval()
        out = model(data.image(torch.arange(3)), data.questions[:3])
        assert out.logits.shape == (3, 20, 10), name
        # the wrapper equals asking each question alone with its own image
        single = model.model(data.image(torch.tensor([1, 1])), data.questions[1, :2]).logits
        assert_close(out.logits[1, :2], single)
    assert models["coattention"](data.image(torch.arange(2)), data.questions[:2]).image_weights \
        .shape == (2, 20, config.model.num_hops, 16)  # 32 -> 4 x 4 regions
    assert models["cnn_mlp"](data.image(torch.arange(2)), data.questions[:2]).image_weights is None


def test_accuracy_by_type() -> None:
    types = torch.tensor([[0, 1, 2, 3, 4, 5, 3, 5]])
    correct = torch.tensor([[True, True, False, True, False, True, True, False]])
    acc = accuracy_by_type(correct, types)
    assert acc["non_relational_accuracy"] == pytest.approx(100 * 2 / 3)
    assert acc["relational_accuracy"] == pytest.approx(100 * 3 / 5)
    assert acc["closest_accuracy"] == 100.0 and acc["count_accuracy"] == 50.0
    assert acc["closest_furthest_accuracy"] == pytest.approx(100 * 2 / 3)
    assert acc["accuracy"] == pytest.approx(100 * 5 / 8)
    assert question_text(2, 1) == "blue: on the left?"


def test_recalibrated_batch_norm_holds_the_data_statistics() -> None:
    torch.manual_seed(0)
    model = build_models(SortOfClevrConfig.smoke())["cnn_mlp"]
    data = SortOfCLEVR(6, seed=1, image_size=32, object_size=2)
    conv, norm = model.model.image_encoder.convs[0], model.model.image_encoder.convs[1]
    recalibrate_batch_norm(model, data, batch_images=2, device=torch.device("cpu"))
    with torch.no_grad():
        features = conv(data.image(torch.arange(6)))  # (6, c, h, w)
    expected = features.mean(dim=(0, 2, 3))
    assert_close(norm.running_mean, expected, rtol=1e-4, atol=1e-5)
    assert norm.momentum == 0.1 and model.training


def test_smoke_run_writes_metrics_and_plots(tmp_path: Path) -> None:
    config = SortOfClevrConfig.smoke()
    config = dataclasses.replace(
        config, data=DataConfig(train_images=8, val_images=4, test_images=4, image_size=32,
                                object_size=2),
    )
    (tmp_path / "plots").mkdir()
    ctx = RunContext("lu2016_coattention_sort_of_clevr", "smoke", tmp_path, 0, None,
                     torch.device("cpu"), False, logging.getLogger("test"))
    metrics = main(config, ctx)
    for name in ("coattention", "cnn_mlp"):
        for key in ("relational_accuracy", "non_relational_accuracy", "count_accuracy",
                    "closest_furthest_accuracy", "params"):
            assert f"{name}/{key}" in metrics
    assert metrics["coattention_minus_cnn_mlp/relational_accuracy"] == (
        metrics["coattention/relational_accuracy"] - metrics["cnn_mlp/relational_accuracy"]
    )
    assert 0 <= metrics["majority/relational_accuracy"] <= 100
    saved = {p.name for p in (tmp_path / "plots").iterdir()}
    assert {"accuracy_by_question_type.png", "region_attention.png"} <= saved
