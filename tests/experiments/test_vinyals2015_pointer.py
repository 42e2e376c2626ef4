"""vinyals2015_pointer: the two models, the metrics, the loss, and a tiny end-to-end run."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from attnlab.architectures.pointer import IGNORE_INDEX
from attnlab.data.geometry import (
    convex_hull_instances,
    pad_batch,
    sorting_instances,
    tsp_instances,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.registry import get_experiment
from attnlab.experiments.vinyals2015_pointer.config import DataConfig, PointerConfig
from attnlab.experiments.vinyals2015_pointer.models import PointerModel, Seq2SeqPositions
from attnlab.experiments.vinyals2015_pointer.run import main, sequence_metrics, sequence_nll


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("end_token", [False, True])
def test_models_differ_only_in_the_output_layer(end_token: bool) -> None:
    hidden, vocab, emb = 16, 21, 8
    ptr = PointerModel(2, hidden, end_token=end_token, embedding_dim=emb)
    s2s = Seq2SeqPositions(2, hidden, vocab_size=vocab, end_token=end_token, embedding_dim=emb)
    output_layer = 2 * hidden * vocab + vocab
    stop_vector = hidden if end_token else 0
    assert _count(s2s) - _count(ptr) == output_layer - stop_vector


def test_shapes_and_decoding_of_both_models() -> None:
    batch = pad_batch(convex_hull_instances(3, (4, 7), seed=0), end_token=True)
    mask = torch.arange(batch.inputs.shape[1])[None] < batch.lengths[:, None]
    assert mask.any() and (~mask).any()
    ptr = PointerModel(2, 8, end_token=True)
    s2s = Seq2SeqPositions(2, 8, vocab_size=12, end_token=True)
    t, n = batch.targets.shape[1], batch.inputs.shape[1]
    assert ptr(batch.inputs, mask, batch.targets).shape == (3, t, n + 1)
    assert s2s(batch.inputs, mask, batch.targets).shape == (3, t, 12)
    decoded = ptr.decode(batch.inputs, mask)
    assert decoded.weights.shape[0] == 3 and decoded.weights.shape[2] == n + 1
    assert s2s.decode(batch.inputs, mask).shape[0] == 3


def test_sorting_baseline_emits_exactly_n_outputs() -> None:
    batch = pad_batch(sorting_instances(4, (3, 6), seed=0))
    mask = torch.arange(batch.inputs.shape[1])[None] < batch.lengths[:, None]
    out = Seq2SeqPositions(1, 8, vocab_size=9, end_token=False).decode(batch.inputs, mask)
    assert ((out != IGNORE_INDEX).sum(1) == batch.lengths).all()


def test_sequence_metrics() -> None:
    hulls = convex_hull_instances(2, 7, seed=1)
    right = [t + 1 for t in hulls[0].target] + [0]
    wrong = [t + 1 for t in hulls[1].target[:-1]] + [0]  # a vertex missing: smaller polygon
    result = sequence_metrics("convex_hull", hulls, [right, wrong])
    assert result["accuracy"] == 0.5
    assert 0.5 < result["area_coverage"] < 1.0
    tours = tsp_instances(3, 6, seed=0)
    reverse = [0, *tours[1].target[1:][::-1]]
    swapped = [tours[2].target[0], tours[2].target[2], tours[2].target[1], *tours[2].target[3:]]
    result = sequence_metrics("tsp", tours, [tours[0].target, reverse, swapped])
    assert result["accuracy"] == pytest.approx(2 / 3) and result["valid_fraction"] == 1.0
    assert result["tour_ratio"] > 1.0  # the swapped tour is longer than the optimum
    invalid = sequence_metrics("tsp", tours[:1], [[0, 0, 1, 2, 3, 4]])
    assert invalid["valid_fraction"] == 0.0 and "tour_ratio" not in invalid
    sorts = sorting_instances(2, 5, seed=0)
    assert sequence_metrics("sort", sorts, [sorts[0].target, sorts[1].target[::-1]]) == {
        "accuracy": 0.5
    }


def test_sequence_nll_ignores_padded_steps() -> None:
    log_probs = torch.log_softmax(torch.randn(2, 3, 4), -1)
    target = torch.tensor([[1, 2, IGNORE_INDEX], [0, IGNORE_INDEX, IGNORE_INDEX]])
    expected = -(log_probs[0, 0, 1] + log_probs[0, 1, 2] + log_probs[1, 0, 0]) / 3
    torch.testing.assert_close(sequence_nll(log_probs, target), expected)


def test_tiny_run_reports_hull_targets_and_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    config = replace(
        PointerConfig.smoke(),
        tasks=("convex_hull",),  # sorting's metrics are checked by the registry's smoke run
        data=DataConfig(train_size=64, val_size=16, test_size=8, train_min_n=4, train_max_n=5,
                        test_n=(5, 7)),
    )
    (tmp_path / "plots").mkdir()
    ctx = RunContext("vinyals2015_pointer", "smoke", tmp_path, 0, None, torch.device("cpu"),
                     False, logging.getLogger("test_vinyals2015_pointer"))
    metrics = main(config, ctx)
    for target in get_experiment("vinyals2015_pointer").targets:
        assert target.metric in metrics or target.metric.startswith("sort/")
    assert "convex_hull/ptr_minus_seq2seq/accuracy_in_range" in metrics
    assert 0.0 <= metrics["convex_hull/ptr_net/area_coverage/n7"] <= 1.0
    names = {p.name for p in (tmp_path / "plots").glob("*.png")}
    assert {"accuracy_vs_n.png", "pointer_distributions_hull_n5.png",
            "pointer_distributions_hull_n7.png"} <= names


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="tasks"):
        PointerConfig(tasks=("delaunay",))
    with pytest.raises(ValueError, match="test_n"):
        DataConfig(train_max_n=10, test_n=(5, 10))
    with pytest.raises(ValueError, match="tsp"):
        PointerConfig(tasks=("tsp",))  # the default test sizes are too large for exact labels
    with pytest.raises(ValueError, match="beam_size"):
        PointerConfig(beam_size=0)
