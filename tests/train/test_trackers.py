"""TensorBoard and MLflow trackers, read back with each tool's own reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from attnlab.cli import main
from attnlab.train import TrainConfig, fit
from attnlab.train.trackers import (
    MLflowTracker,
    TensorBoardTracker,
    TrackerCallback,
    flatten_params,
    make_tracker,
)

pytest.importorskip("matplotlib")


def _tensorboard(folder: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def _mlflow_client(folder: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=folder.resolve().as_uri())


def test_a_run_with_tensorboard_writes_curves_figures_and_config(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    out = tmp_path / "r"
    assert main(["run", "demo_retrieval", "--scale", "smoke", "--quiet", "--logger",
                 "tensorboard", "--out", str(out)]) == 0
    events = _tensorboard(out / "tensorboard")
    tags = events.Tags()
    history = json.loads((out / "history.json").read_text())
    for name, points in history.items():  # every recorded curve, point by point
        scalars = events.Scalars(name)
        assert [s.step for s in scalars] == [round(p[0]) for p in points]
        assert [s.value for s in scalars] == pytest.approx([p[1] for p in points])
    plots = json.loads((out / "run.json").read_text())["plots"]
    assert {f"plots/{Path(p['file']).stem}" for p in plots} <= set(tags["images"])
    attention = next(t for t in tags["images"] if "attention" in t)
    image = events.Images(attention)[0]
    assert image.width > 50 and image.encoded_image_string.startswith(b"\x89PNG")
    assert "config/text_summary" in tags["tensors"]


def test_a_run_with_mlflow_writes_params_metrics_and_images(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    out = tmp_path / "r"
    assert main(["run", "demo_retrieval", "--scale", "smoke", "--quiet", "--logger", "mlflow",
                 "--out", str(out)]) == 0
    client = _mlflow_client(out / "mlruns")
    experiment = client.get_experiment_by_name("demo_retrieval")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["scale"] == "smoke" and "config.steps" in run.data.params
    metrics = json.loads((out / "metrics.json").read_text())
    for key, value in metrics.items():
        assert run.data.metrics[f"final/{key}"] == pytest.approx(value)
    history = json.loads((out / "history.json").read_text())
    name, points = next(iter(history.items()))
    logged = client.get_metric_history(run.info.run_id, name)
    assert [m.value for m in logged] == pytest.approx([p[1] for p in points])
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "plots")]
    assert any("attention" in path for path in artifacts)


def test_an_unknown_or_missing_tracker_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    out = tmp_path / "r"
    assert main(["run", "demo_retrieval", "--logger", "mlflow", "--out", str(out)]) == 2
    assert "needs the mlflow package" in capsys.readouterr().err
    assert not out.exists()  # nothing written before the check


def test_tracker_callback_feeds_fit(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    data = TensorDataset(x, (x[:, 0] > 0).long())
    tracker = make_tracker("tensorboard", tmp_path, name="t")
    result = fit(torch.nn.Linear(4, 2), data, data,
                 config=TrainConfig(epochs=3, batch_size=16, lr=0.1, optimizer="sgd"),
                 callbacks=[TrackerCallback(tracker, prefix="m/", every=2)], progress=False)
    tracker.close(metrics={"loss": result.history[-1]["train_loss"]})
    events = _tensorboard(tmp_path / "tensorboard")
    losses = events.Scalars("m/train_loss")
    assert [s.step for s in losses] == [1, 2, 3]
    assert [s.value for s in losses] == pytest.approx([r["train_loss"] for r in result.history])
    assert [s.step for s in events.Scalars("m/train/step_loss")] == [2, 4, 6, 8, 10, 12]


def test_flatten_and_png_checks(tmp_path: Path) -> None:
    assert flatten_params({"a": {"b": {"c": 1}}, "d": (1, 2)}) == {"a.b.c": 1, "d": "[1, 2]"}
    pytest.importorskip("tensorboard")
    tracker = TensorBoardTracker(tmp_path)
    with pytest.raises(ValueError, match="png must be the bytes of a PNG image"):
        tracker.log_image("x", b"GIF89a....")
    tracker.close()


def test_mlflow_tracker_marks_a_failed_run(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    tracker = MLflowTracker(tmp_path / "mlruns", experiment="e", run_name="r")
    tracker.log_scalar("loss/bad name!", 1.0, 0)
    tracker.close(status="failed")
    client = _mlflow_client(tmp_path / "mlruns")
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FAILED" and "loss/bad name_" in run.data.metrics
