"""A machine without datasets: the MNIST experiments fall back to synthetic digits at smoke and
quick scale (recorded and reported), Fashion-MNIST is skipped from quick up, and ``full`` always
needs the real data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnlab.experiments.registry import get_experiment
from attnlab.experiments.reproduce import reproduce
from attnlab.experiments.runner import DataUnavailableError, run_experiment

STN_EXPERIMENTS = (
    "jaderberg2015_distorted_mnist",
    "jaderberg2015_cluttered_mnist",
    "jaderberg2015_mnist_addition",
)


@pytest.fixture
def empty_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "no-data"
    folder.mkdir()
    monkeypatch.setenv("ATTNLAB_DATA", str(folder))
    return folder


@pytest.mark.parametrize("name", STN_EXPERIMENTS)
def test_stn_experiments_fall_back_below_full(name: str, empty_data: Path) -> None:
    exp = get_experiment(name)
    for scale in ("smoke", "quick"):
        assert exp.data_missing(empty_data, scale) == []
        assert "synthetic" in exp.data_fallbacks(empty_data, scale)["mnist"]
        config = exp.make_config(scale)
        assert config.data.source == "auto"  # the run reads what the runner promised
    assert exp.make_config("full").data.source == "mnist"
    assert exp.data_fallbacks(empty_data, "full") == {}
    assert exp.data_missing(empty_data, "full")


def test_fashion_mnist_is_skipped_from_quick_up(empty_data: Path) -> None:
    exp = get_experiment("hu2018_se_fashion_mnist")
    assert exp.data_missing(empty_data, "smoke") == []
    assert exp.data_missing(empty_data, "quick") and exp.data_missing(empty_data, "full")


def test_full_scale_refuses_without_data(empty_data: Path, tmp_path: Path) -> None:
    with pytest.raises(DataUnavailableError, match="scale full.*mnist"):
        run_experiment("jaderberg2015_distorted_mnist", scale="full", out=tmp_path / "run",
                       progress=False, quiet=True)
    assert not (tmp_path / "run").exists()


def test_reproduce_without_data_runs_on_synthetic_digits(empty_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "repro"
    outcome = reproduce(scale="smoke", out=out, progress=False, quiet=True,
                        only=["jaderberg2015_distorted_mnist"])
    (run,) = outcome.runs
    assert run.status == "finished", run.error
    assert run.metrics["data_is_mnist"] == 0.0
    assert "synthetic" in run.data_fallbacks["mnist"]
    meta = json.loads((run.run_dir / "run.json").read_text())
    assert meta["data_sources"]["mnist"].startswith("fallback: synthetic")
    page = (out / "report.html").read_text()
    assert "Data source: stand-in" in page and "synthetic" in page
