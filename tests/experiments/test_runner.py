"""One run end to end: the run directory's contents, failures, data and output-folder checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from attnlab.experiments.context import RunContext
from attnlab.experiments.overrides import ConfigError
from attnlab.experiments.registry import ExperimentRegistry, isolated_registry
from attnlab.experiments.runner import (
    DataUnavailableError,
    RunInterrupted,
    resolve_data_dir,
    resolve_device,
    run_experiment,
)
from attnlab.report.files import ReportError
from experiment_fakes import FakeConfig, make_fake, missing_data

pytest.importorskip("matplotlib")


def test_run_directory_holds_everything(fake_registry: ExperimentRegistry, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["attnlab", "run", "fake_pass", "--set", "label=changed"]
    result = run_experiment("fake_pass", scale="quick", overrides=["label=changed",
                            "inner.width=8"], seed=7, out=out, progress=False, quiet=True,
                            argv=argv)
    assert result.status == "finished" and result.error is None
    assert result.metrics == {"accuracy": 0.97, "error_pct": 1.0, "seed": 7.0}
    assert sorted(p.name for p in out.iterdir()) == [
        ".attnlab.lock",  # the run's lock (held while it runs, released now)
        "config.json", "history.json", "log.txt", "metrics.json", "plots", "report.html",
        "run.json",
    ]
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["learning_curves.png", "solid.png"]

    config = json.loads((out / "config.json").read_text())
    assert config["label"] == "changed" and config["inner"] == {"width": 8, "ratio": 0.5}
    assert config["accuracy"] == 0.97  # the quick scale's value

    meta = json.loads((out / "run.json").read_text())
    assert meta["experiment"] == "fake_pass" and meta["status"] == "finished"
    assert meta["error"] is None
    assert meta["argv"] == argv and meta["seed"] == 7 and meta["scale"] == "quick"
    assert meta["overrides"] == ["label=changed", "inner.width=8"]
    assert meta["device"] == "cpu"
    assert set(meta["environment"]["versions"]) >= {"python", "torch", "attnlab", "numpy"}
    assert meta["environment"]["versions"]["torch"] == torch.__version__
    assert "git" in meta["environment"]  # a commit dict, or None outside a checkout
    assert meta["started"] <= meta["finished"] and meta["duration_s"] >= 0
    assert meta["paper"]["title"] == "A Fake Paper"
    assert [t["metric"] for t in meta["targets"]] == ["accuracy", "error_pct"]
    assert [c["status"] for c in meta["checks"]] == ["pass", "pass"]  # 1.0 <= 0.8 + 0.5
    assert meta["plots"][0] == {"file": "plots/solid.png", "caption": "solid colour for changed"}
    assert meta["plots"][1]["file"] == "plots/learning_curves.png"

    assert json.loads((out / "metrics.json").read_text()) == result.metrics
    history = json.loads((out / "history.json").read_text())
    assert history["model/train_loss"] == [[0.0, 1.0], [1.0, 0.5], [2.0, 1 / 3]]
    assert "fake run changed" in (out / "log.txt").read_text()
    assert result.report == out / "report.html"
    assert not list(out.glob(".*.tmp"))


def test_checks_use_the_scale(fake_registry: ExperimentRegistry, tmp_path: Path) -> None:
    smoke = run_experiment("fake_miss", scale="smoke", out=tmp_path / "s", progress=False,
                           quiet=True)
    # accuracy is checked at quick/full only; error_pct (1.0 <= 0.8 + 0.5) at every scale
    assert [c.status for c in smoke.checks] == ["not checked", "pass"]
    quick = run_experiment("fake_miss", scale="quick", out=tmp_path / "q", progress=False,
                           quiet=True)
    assert [c.status for c in quick.checks] == ["fail", "pass"]
    assert [c.target.metric for c in quick.missed] == ["accuracy"]


def test_failed_run_is_recorded(fake_registry: ExperimentRegistry, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_experiment("fake_pass", overrides=["fail=true"], out=out, progress=False,
                            quiet=True)
    assert result.status == "failed"
    assert result.error == "RuntimeError: boom: the fake experiment failed"
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "failed" and "boom" in meta["error"] and meta["finished"]
    assert not (out / "metrics.json").exists()
    assert "Traceback" in (out / "log.txt").read_text()
    assert "boom: the fake experiment failed" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    ("returned", "match"),
    [
        ([1.0], "mapping of metric name"),
        ({"acc": "high"}, "metric 'acc' of type str"),
        ({"acc": True}, "metric 'acc' of type bool"),
        ({3: 1.0}, "not a string"),
    ],
)
def test_bad_metrics_fail_the_run(tmp_path: Path, returned: object, match: str) -> None:
    def run(config: FakeConfig, ctx: RunContext) -> object:
        return returned

    with isolated_registry() as registry:
        registry.register(make_fake("fake_bad", run=run))  # type: ignore[arg-type]
        result = run_experiment("fake_bad", out=tmp_path / "r", progress=False, quiet=True)
    assert result.status == "failed"
    assert result.error is not None and match in result.error


def test_tensor_metrics_are_accepted(tmp_path: Path) -> None:
    def run(config: FakeConfig, ctx: RunContext) -> dict[str, object]:
        return {"accuracy": torch.tensor(0.96), "error_pct": torch.tensor([0.9])}

    with isolated_registry() as registry:
        registry.register(make_fake("fake_tensor", run=run))  # type: ignore[arg-type]
        result = run_experiment("fake_tensor", out=tmp_path / "r", progress=False, quiet=True)
    assert result.status == "finished"
    assert result.metrics["accuracy"] == pytest.approx(0.96)
    assert not result.missed


def test_interrupt_is_recorded_and_reraised(tmp_path: Path) -> None:
    def run(config: FakeConfig, ctx: RunContext) -> dict[str, float]:
        raise KeyboardInterrupt

    with isolated_registry() as registry:
        registry.register(make_fake("fake_int", run=run))
        with pytest.raises(KeyboardInterrupt) as caught:
            run_experiment("fake_int", out=tmp_path / "r", progress=False, quiet=True)
    assert isinstance(caught.value, RunInterrupted) and caught.value.run_dir == tmp_path / "r"
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["status"] == "interrupted" and "interrupted" in meta["error"]


def test_runner_seeds_everything(tmp_path: Path) -> None:
    def run(config: FakeConfig, ctx: RunContext) -> dict[str, float]:
        import random

        import numpy

        return {"torch": float(torch.rand(())), "numpy": float(numpy.random.rand()),
                "random": random.random()}

    with isolated_registry() as registry:
        registry.register(make_fake("fake_seed", run=run))
        a = run_experiment("fake_seed", seed=3, out=tmp_path / "a", progress=False, quiet=True)
        torch.rand(5)  # disturb the global state between runs
        b = run_experiment("fake_seed", seed=3, out=tmp_path / "b", progress=False, quiet=True)
        c = run_experiment("fake_seed", seed=4, out=tmp_path / "c", progress=False, quiet=True)
    assert a.metrics == b.metrics
    assert all(a.metrics[k] != c.metrics[k] for k in a.metrics)


def test_unwritable_out_fails_before_running(tmp_path: Path) -> None:
    calls: list[int] = []

    def run(config: FakeConfig, ctx: RunContext) -> dict[str, float]:
        calls.append(1)
        return {}

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with isolated_registry() as registry:
        registry.register(make_fake("fake_out", run=run))
        with pytest.raises(ReportError, match="cannot create .*a-file/run"):
            run_experiment("fake_out", out=blocker / "run", progress=False, quiet=True)
        with pytest.raises(ReportError, match="exists and is not a directory"):
            run_experiment("fake_out", out=blocker, progress=False, quiet=True)
    assert calls == []


def test_existing_run_is_not_overwritten(fake_registry: ExperimentRegistry, tmp_path: Path) -> None:
    run_experiment("fake_pass", out=tmp_path / "r", progress=False, quiet=True)
    before = (tmp_path / "r" / "run.json").read_text()
    with pytest.raises(ReportError, match="already holds a run"):
        run_experiment("fake_pass", out=tmp_path / "r", progress=False, quiet=True)
    assert (tmp_path / "r" / "run.json").read_text() == before


def test_resume_requires_same_experiment_and_config(
    fake_registry: ExperimentRegistry, tmp_path: Path
) -> None:
    out = tmp_path / "r"
    with pytest.raises(ReportError, match="cannot resume: .* does not exist"):
        run_experiment("fake_pass", out=out, resume=True, progress=False, quiet=True)
    run_experiment("fake_pass", out=out, progress=False, quiet=True)
    with pytest.raises(ConfigError, match="different configuration"):
        run_experiment("fake_pass", out=out, resume=True, overrides=["steps=9"], progress=False,
                       quiet=True)
    with pytest.raises(ReportError, match="holds a run of 'fake_pass', not 'fake_miss'"):
        run_experiment("fake_miss", out=out, resume=True, progress=False, quiet=True)
    with pytest.raises(ConfigError, match="its run already finished"):
        run_experiment("fake_pass", out=out, resume=True, progress=False, quiet=True)
    meta = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**meta, "status": "interrupted"}))  # as Ctrl-C
    result = run_experiment("fake_pass", out=out, resume=True, progress=False, quiet=True)
    assert result.status == "finished"
    meta = json.loads((out / "run.json").read_text())
    assert meta["attempts"] == 2
    assert [p["file"] for p in meta["plots"]] == ["plots/solid.png", "plots/learning_curves.png"]


def test_missing_data_fails_before_writing(tmp_path: Path) -> None:
    with isolated_registry() as registry:
        registry.register(make_fake("fake_data", datasets=(missing_data("mnist.gz not found"),)))
        with pytest.raises(DataUnavailableError, match="fakedata: mnist.gz not found"):
            run_experiment("fake_data", data_dir=tmp_path / "data", out=tmp_path / "r",
                           progress=False, quiet=True)
    assert not (tmp_path / "r").exists()


def test_bad_settings_fail_before_writing(
    fake_registry: ExperimentRegistry, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'acuracy'.*did you mean 'accuracy'"):
        run_experiment("fake_pass", overrides=["acuracy=1"], out=tmp_path / "r")
    with pytest.raises(ConfigError, match="unknown scale 'huge'"):
        run_experiment("fake_pass", scale="huge", out=tmp_path / "r")
    with pytest.raises(ConfigError, match="--device"):
        run_experiment("fake_pass", device="tpu", out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_resolve_data_dir_and_device(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATTNLAB_DATA", str(tmp_path))
    assert resolve_data_dir(None) == tmp_path
    assert resolve_data_dir("elsewhere") == Path("elsewhere")
    monkeypatch.delenv("ATTNLAB_DATA")
    assert resolve_data_dir(None) is None
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ConfigError, match="not a device"):
        resolve_device("gpu-please")


def test_torchrun_needs_out(
    fake_registry: ExperimentRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(ConfigError, match="under torchrun pass --out"):
        run_experiment("fake_pass", progress=False, quiet=True)


class _FakeJob:
    """Rank 1 of a 2-process job whose rank 0 sends ``messages`` (setup error, then result)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, messages: list[object]) -> None:
        import attnlab.experiments.runner as runner
        from attnlab.train.distributed import DistributedContext

        self.messages = list(messages)
        self.sent: list[object] = []
        job = DistributedContext(rank=1, local_rank=1, world_size=2, backend="gloo")
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", "1")
        monkeypatch.setattr(runner, "_join_job", lambda device: job)
        monkeypatch.setattr(runner, "broadcast_object", self.broadcast)

    def broadcast(self, obj: object, context: object) -> object:
        self.sent.append(obj)
        return self.messages.pop(0)


def test_secondary_rank_reports_rank_0s_metrics_and_writes_nothing(
    fake_registry: ExperimentRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from attnlab.cli import main

    # rank 0 set up the folder (None), then measured 0.5: this rank's own 0.97 is not what it
    # reports, so --check gives both ranks rank 0's verdict (a miss: exit status 1)
    miss = {"accuracy": 0.5, "error_pct": 50.0, "seed": 0.0}
    job = _FakeJob(monkeypatch, [None, ("finished", miss)])
    code = main(["run", "fake_pass", "--out", str(tmp_path / "r"), "--check", "--quiet"])
    assert code == 1
    assert job.messages == [] and len(job.sent) == 2
    assert capsys.readouterr().out == ""  # only rank 0 prints
    assert not (tmp_path / "r").exists()  # only rank 0 writes
    hit = {"accuracy": 0.99, "error_pct": 1.0, "seed": 0.0}
    job = _FakeJob(monkeypatch, [None, ("finished", hit)])
    result = run_experiment("fake_pass", out=tmp_path / "r", progress=False, quiet=True)
    assert result.status == "finished" and result.metrics == hit
    assert result.report is None and not result.missed


def test_secondary_rank_stops_when_rank_0_could_not_start(
    fake_registry: ExperimentRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _FakeJob(monkeypatch, ["ReportError: output folder is not empty"])
    with pytest.raises(ReportError, match="rank 0 could not start the run: ReportError: output"):
        run_experiment("fake_pass", out=tmp_path / "r", progress=False, quiet=True)
    assert not (tmp_path / "r").exists()


def test_main_rank_announces_its_setup_and_shares_its_metrics(
    fake_registry: ExperimentRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import attnlab.experiments.runner as runner
    from attnlab.train.distributed import DistributedContext

    sent: list[object] = []
    job = DistributedContext(rank=0, local_rank=0, world_size=2, backend="gloo")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr(runner, "_join_job", lambda device: job)
    monkeypatch.setattr(runner, "broadcast_object", lambda obj, context: sent.append(obj) or obj)
    main = run_experiment("fake_pass", out=tmp_path / "r", progress=False, quiet=True)
    assert main.report is not None and (tmp_path / "r" / "plots" / "solid.png").exists()
    assert sent == [None, ("finished", main.metrics)] and main.metrics["accuracy"] == 0.97
    # a folder rank 0 cannot use: the other ranks are told why before anything runs
    sent.clear()
    with pytest.raises(ReportError, match="already holds a run"):
        run_experiment("fake_pass", out=tmp_path / "r", progress=False, quiet=True)
    assert len(sent) == 1 and isinstance(sent[0], str) and sent[0].startswith("ReportError")


def test_fallback_data_runs_at_quick_and_is_recorded(tmp_path: Path) -> None:
    data = missing_data("mnist.gz not found", fallback="generated digits")
    with isolated_registry() as registry:
        registry.register(make_fake("fake_fallback", datasets=(data,)))
        result = run_experiment("fake_fallback", scale="quick", data_dir=tmp_path / "empty",
                                out=tmp_path / "r", progress=False, quiet=True)
        assert result.status == "finished"
        assert result.data_fallbacks == {"fakedata": "generated digits"}
        meta = json.loads((tmp_path / "r" / "run.json").read_text())
        assert meta["data_sources"] == {"fakedata": "fallback: generated digits"}
        assert result.cpu_s is not None and meta["cpu_s"] == round(result.cpu_s, 3) >= 0
        assert "mnist.gz not found" in (tmp_path / "r" / "log.txt").read_text()
        assert "Data source: stand-in" in (tmp_path / "r" / "report.html").read_text()
        # full always needs the real data, and says so before writing anything
        with pytest.raises(DataUnavailableError, match="scale full.*mnist.gz not found"):
            run_experiment("fake_fallback", scale="full", data_dir=tmp_path / "empty",
                           out=tmp_path / "f", progress=False, quiet=True)
        assert not (tmp_path / "f").exists()


def test_fallback_is_limited_to_its_scales(tmp_path: Path) -> None:
    data = missing_data("x.gz not found", fallback="noise", fallback_scales=("smoke",))
    with isolated_registry() as registry:
        exp = registry.register(make_fake("fake_smoke_only", datasets=(data,)))
        assert exp.data_missing(None, "smoke") == []
        assert exp.data_missing(None, "quick") == ["fakedata: x.gz not found"]
        assert exp.data_missing(None) == ["fakedata: x.gz not found"]
        assert exp.data_fallbacks(None, "smoke") == {"fakedata": "noise"}
        assert exp.data_fallbacks(None, "full") == {}
        with pytest.raises(DataUnavailableError, match="scale quick"):
            run_experiment("fake_smoke_only", scale="quick", out=tmp_path / "q",
                           progress=False, quiet=True)
    with pytest.raises(ValueError, match="full"):
        missing_data("x", fallback="noise", fallback_scales=("quick", "full"))
    with pytest.raises(ValueError, match="fallback_scales"):
        missing_data("x", fallback="noise", fallback_scales=("huge",))
