"""sukhbaatar2015_memn2n_babi: paper table, classifier wrapper, per-task errors, plots, config."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from attnlab.architectures.memn2n import MemN2N
from attnlab.data.babi import BabiData, build_vocab, parse_babi, vectorize_babi
from attnlab.experiments.context import RunContext
from attnlab.experiments.sukhbaatar2015_memn2n_babi import EXPERIMENT
from attnlab.experiments.sukhbaatar2015_memn2n_babi.config import MemN2NBabiConfig, OptimConfig
from attnlab.experiments.sukhbaatar2015_memn2n_babi.run import (
    PAPER_TASK_ERRORS,
    BabiClassifier,
    _plot_hop_attention,
    _plot_task_errors,
    predict,
    task_errors,
)
from helpers import assert_close

TEXT = (
    "1 Mary moved to the bathroom.\n2 John went to the hallway.\n3 Where is Mary? \tbathroom\t1\n"
    "4 Daniel went back to the hallway.\n5 Where is Daniel? \thallway\t4\n"
    "1 Sandra travelled to the office.\n2 Where is Sandra? \toffice\t1\n"
)


def _data() -> BabiData:
    ex = parse_babi(TEXT, task=1) + parse_babi(TEXT, task=4)
    vocab = build_vocab(ex)
    t = vectorize_babi(ex, vocab, memory_size=50, num_slots=6)
    return BabiData(t, t, t, vocab)


def test_paper_column_matches_the_reported_mean() -> None:
    assert sorted(PAPER_TASK_ERRORS) == list(range(1, 21))
    mean = sum(PAPER_TASK_ERRORS.values()) / 20
    assert round(mean, 1) == 12.4
    assert sum(e > 5.0 for e in PAPER_TASK_ERRORS.values()) == 11  # "failed tasks: 11"
    assert {t.metric for t in EXPERIMENT.targets} == {"mean_error_pct", "task1_error_pct"}


def test_classifier_cuts_padding_slots_exactly() -> None:
    data = _data()
    net = MemN2N(len(data.vocab), dim=8, num_hops=2, memory_size=50).eval()
    t = data.test
    assert t.mask.any() and (~t.mask).any()
    cut = BabiClassifier(net)(t.story, t.query, t.time, t.mask)
    full = net(t.story, t.query, time=t.time, mask=t.mask).logits
    assert_close(cut, full)


def test_task_errors_per_task() -> None:
    data = _data()
    predicted = data.test.answer.clone()
    predicted[0] = 0  # one of task 1's three questions wrong
    errors = task_errors(predicted, data.test)
    assert errors == pytest.approx({1: 100 / 3, 4: 0.0})


def test_plots_are_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    data = _data()
    net = MemN2N(len(data.vocab), dim=8, num_hops=3, memory_size=50)
    predicted, weights = predict(net, data.test)
    assert weights.shape == (6, 3, 6)
    ctx = RunContext("memn2n", "smoke", tmp_path, 0, None, torch.device("cpu"), False,
                     logging.getLogger("memn2n"))
    ctx.plots_dir.mkdir(parents=True, exist_ok=True)
    _plot_task_errors(ctx, task_errors(predicted, data.test))
    _plot_hop_attention(ctx, data, predicted, weights, shown=2)
    assert (ctx.plots_dir / "task_errors.png").is_file()
    assert (ctx.plots_dir / "hop_attention.png").is_file()


def test_config_validation_and_scales() -> None:
    with pytest.raises(ValueError, match="tasks"):
        MemN2NBabiConfig(tasks=(0,))
    with pytest.raises(ValueError, match="variant"):
        MemN2NBabiConfig(variant="fr")
    with pytest.raises(ValueError, match="batch_size"):
        OptimConfig(batch_size=0)
    smoke = MemN2NBabiConfig.smoke()
    assert smoke.tasks == (1,) and smoke.optim.epochs <= 3
    default = MemN2NBabiConfig()
    assert default.model.num_hops == 3 and default.model.dim == 50
    assert default.optim.lr == 0.01 and default.optim.ls_lr == 0.005
    assert default.optim.batch_size == 32 and default.optim.grad_clip == 40.0
