"""RunContext: curves, plots, paths."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from attnlab.experiments.context import RunContext


def _ctx(tmp_path: Path) -> RunContext:
    (tmp_path / "plots").mkdir(exist_ok=True)
    return RunContext("x", "smoke", tmp_path, 0, None, torch.device("cpu"), False,
                      logging.getLogger("test"))


def test_log_and_log_history(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.log("loss", 2.0)
    ctx.log("loss", torch.tensor(1.0))
    ctx.log_history({"acc": [0.1, 0.2], "lr": [(10, 0.1), (20, 0.01)]}, prefix="cnn/")
    assert ctx.history == {
        "loss": [(0.0, 2.0), (1.0, 1.0)],
        "cnn/acc": [(0.0, 0.1), (1.0, 0.2)],
        "cnn/lr": [(10.0, 0.1), (20.0, 0.01)],
    }
    with pytest.raises(TypeError, match="history value of 'loss' must be a number"):
        ctx.log("loss", "low")  # type: ignore[arg-type]


def test_replayed_steps_replace_later_points(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    for step in (1, 2, 3, 4):
        ctx.log("loss", 1.0 / step, step=step)
    ctx.log("loss", 9.0, step=3)  # resumed from a checkpoint at step 2
    assert ctx.history["loss"] == [(1.0, 1.0), (2.0, 0.5), (3.0, 9.0)]


def test_finite_history_drops_empty_series(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.log("a", float("nan"))
    ctx.log("b", float("nan"))
    ctx.log("b", 1.0)
    assert list(ctx.finite_history()) == ["b"]


def test_save_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from experiment_fakes import solid_figure

    ctx = _ctx(tmp_path)
    path = ctx.save_plot(solid_figure(), "first", caption="one")
    assert path == tmp_path / "plots" / "first.png"
    assert path.read_bytes().startswith(b"\x89PNG")
    ctx.save_plot(solid_figure().axes[0], "second.png")  # an Axes works too
    ctx.save_plot(solid_figure(), "first", caption="again")
    assert ctx.plots == [
        {"file": "plots/first.png", "caption": "again"},
        {"file": "plots/second.png", "caption": ""},
    ]
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="plot name"):
            ctx.save_plot(solid_figure(), bad)
    assert ctx.path("model.pt") == tmp_path / "model.pt"
    assert ctx.checkpoint_dir.is_dir()


def test_log_records_takes_fit_history(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.log_records([
        {"epoch": 1, "step": 10, "lr": 0.1, "train_loss": 1.0, "val_error": None, "time": 3.0},
        {"epoch": 2, "step": 20, "lr": 0.1, "train_loss": 0.5, "val_error": 0.2, "time": 6.0,
         "note": "text", "flag": True},
    ], prefix="cnn/")
    assert ctx.history == {
        "cnn/lr": [(1.0, 0.1), (2.0, 0.1)],
        "cnn/train_loss": [(1.0, 1.0), (2.0, 0.5)],
        "cnn/val_error": [(2.0, 0.2)],
    }
    ctx.log_records([{"step": 5, "loss": 1.0}], x="step")
    assert ctx.history["loss"] == [(5.0, 1.0)]
