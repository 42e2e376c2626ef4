"""sukhbaatar2015_memn2n_babi: paper table, classifier wrapper, per-task errors, plots, config."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import pytest
import torch

from attnlab.architectures.memn2n import MemN2N
from attnlab.data.babi import BabiData, build_vocab, parse_babi, vectorize_babi
from attnlab.experiments.context import RunContext
from attnlab.experiments.runner import run_experiment
from attnlab.experiments.sukhbaatar2015_memn2n_babi import EXPERIMENT, PAPER_RUNS
from attnlab.experiments.sukhbaatar2015_memn2n_babi.config import MemN2NBabiConfig, OptimConfig
from attnlab.experiments.sukhbaatar2015_memn2n_babi.run import (
    PAPER_TASK_ERRORS,
    BabiClassifier,
    RunScore,
    _plot_hop_attention,
    _plot_task_errors,
    best_of_runs_metrics,
    predict,
    task_errors,
)
from attnlab.report.checks import check_targets
from attnlab.report.verdicts import judge_target
from helpers import assert_close, require_smoke_data

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
    assert {t.metric for t in EXPERIMENT.targets} == {
        "mean_error_pct", "task1_error_pct", "best_of_runs/mean_error_pct",
        "best_of_runs/failed_tasks"}


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


def test_paper_scale_keeps_one_of_several_full_runs() -> None:
    paper, full = EXPERIMENT.make_config("paper"), EXPERIMENT.make_config("full")
    assert paper.runs == PAPER_RUNS >= 3 and full.runs == 1
    assert dataclasses.replace(paper, runs=1) == full  # the paper's schedule, all 20 tasks
    by_metric = {t.metric: t for t in EXPERIMENT.targets}
    assert by_metric["best_of_runs/mean_error_pct"].paper == 12.4
    assert by_metric["best_of_runs/failed_tasks"].paper == 11.0
    assert by_metric["best_of_runs/mean_error_pct"].scales == ("paper",)
    assert "paper" not in by_metric["mean_error_pct"].scales


def _scores() -> list[RunScore]:
    return [RunScore(20.0, {1: 10.0, 2: 30.0, 3: 2.0}),
            RunScore(12.0, {1: 0.0, 2: 6.0, 3: 3.0}),
            RunScore(12.0, {1: 1.0, 2: 1.0, 3: 1.0}),  # ties on validation: the first is kept
            RunScore(15.0, {1: 50.0, 2: 50.0, 3: 50.0})]


def test_best_of_runs_against_a_literal_loop() -> None:
    scores = _scores()
    kept, best_val = 0, math.inf
    for k, score in enumerate(scores):
        if score.val_error < best_val:
            kept, best_val = k, score.val_error
    means = [sum(s.task_errors.values()) / len(s.task_errors) for s in scores]
    failed = [float(sum(1 for e in s.task_errors.values() if e > 5.0)) for s in scores]

    def sample_std(values: list[float]) -> float:
        mean = sum(values) / len(values)
        return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))

    m = best_of_runs_metrics(scores)
    assert kept == 1 and m["best_of_runs/kept_run"] == 1.0
    assert m["best_of_runs/mean_error_pct"] == pytest.approx(means[kept])
    assert m["best_of_runs/failed_tasks"] == failed[kept] == 1.0
    assert m["best_of_runs/mean_error_pct_std"] == pytest.approx(sample_std(means))
    assert m["best_of_runs/failed_tasks_std"] == pytest.approx(sample_std(failed))
    assert m["best_of_runs/runs_mean_error_pct"] == pytest.approx(sum(means) / len(means))
    assert m["best_of_runs/seeds"] == 4.0
    assert [m[f"run{k}/mean_error_pct"] for k in range(4)] == pytest.approx(means)
    one = best_of_runs_metrics(scores[:1])
    assert one["best_of_runs/seeds"] == 1.0 and "best_of_runs/mean_error_pct_std" not in one
    with pytest.raises(ValueError, match="scores"):
        best_of_runs_metrics([])


@pytest.mark.parametrize(
    ("kept_errors", "verdict"),
    [({1: 5.0, 2: 10.0}, "met"),         # 7.5: far below 15.4
     ({1: 14.0, 2: 16.0}, "not shown"),  # 15.0: below 15.4 but within the runs' spread
     ({1: 40.0, 2: 40.0}, "missed")],
)
def test_paper_targets_are_judged_against_the_spread_of_runs(
    kept_errors: dict[int, float], verdict: str
) -> None:
    scores = [RunScore(1.0, kept_errors), RunScore(2.0, {1: 20.0, 2: 20.0}),
              RunScore(3.0, {1: 14.0, 2: 18.0})]
    metrics = best_of_runs_metrics(scores)
    target = next(t for t in EXPERIMENT.targets if t.metric == "best_of_runs/mean_error_pct")
    (check,) = check_targets([target], metrics, scale="paper")
    judged = judge_target(check, metrics)
    assert judged.verdict == verdict
    assert judged.spread.floor == pytest.approx(metrics["best_of_runs/mean_error_pct_std"])
    assert "(3 seeds)" in judged.spread.text


def test_several_runs_report_the_kept_one(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    require_smoke_data("sukhbaatar2015_memn2n_babi")
    result = run_experiment("sukhbaatar2015_memn2n_babi", scale="smoke", overrides=["runs=3"],
                            out=tmp_path / "run", progress=False, quiet=True)
    assert result.status == "finished", result.error
    m = result.metrics
    assert m["best_of_runs/seeds"] == 3
    kept = int(m["best_of_runs/kept_run"])
    # the kept run is the one reported as the run's result
    assert m["best_of_runs/mean_error_pct"] == pytest.approx(m["mean_error_pct"])
    assert m[f"run{kept}/mean_error_pct"] == pytest.approx(m["mean_error_pct"])
    runs = [m[f"run{k}/mean_error_pct"] for k in range(3)]
    assert m["best_of_runs/runs_mean_error_pct"] == pytest.approx(sum(runs) / 3)
    assert {p.name for p in (result.run_dir / "checkpoints").iterdir()} == {
        f"hops3_run{k}" for k in range(3)}
