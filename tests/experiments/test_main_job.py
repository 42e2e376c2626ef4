"""The main job as a user meets it: thread policy, Ctrl-C and resume, progress, skip notices."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
from pathlib import Path

import pytest
import torch

from attnlab.cli import main
from attnlab.experiments.registry import ExperimentRegistry
from attnlab.experiments.threads import resolve_threads, use_threads
from experiment_fakes import FakeConfig, make_fake, missing_data

pytest.importorskip("matplotlib")

JOB = ["--scale", "smoke", "--seed", "0", "--quiet", "--only", "demo_retrieval,vinyals2015_pointer"]


def _results(folder: Path) -> dict[str, float]:
    """Every metric of a run but its timings (which no two runs share)."""
    metrics = json.loads((folder / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if not k.endswith("_time_s")}


# ------------------------------------------------------------------ threads


def test_thread_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_threads(None, "quick").threads == 1
    assert resolve_threads(None, "smoke").threads == 1
    assert resolve_threads(None, "full").threads >= 1
    assert resolve_threads(3, "quick").source == "--threads"
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert resolve_threads(None, "quick").threads == 2
    with pytest.raises(ValueError, match="threads must be >= 1"):
        resolve_threads(0, "quick")


def test_use_threads_restores_the_count() -> None:
    before = torch.get_num_threads()
    with use_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_run_records_its_threads_and_restores_them(
    fake_registry: ExperimentRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen: list[int] = []

    def run(config: FakeConfig, ctx: object) -> dict[str, float]:
        seen.append(torch.get_num_threads())
        return {"acc": 1.0}

    fake_registry.register(make_fake("fake_threads", run=run))
    before = torch.get_num_threads()
    assert main(["run", "fake_threads", "--quiet", "--out", str(tmp_path / "a")]) == 0
    assert main(["run", "fake_threads", "--quiet", "--threads", "2",
                 "--out", str(tmp_path / "b")]) == 0
    assert seen == [1, 2] and torch.get_num_threads() == before
    meta_a = json.loads((tmp_path / "a" / "run.json").read_text())
    meta_b = json.loads((tmp_path / "b" / "run.json").read_text())
    assert meta_a["threads"] == {"threads": 1, "source": "default for the quick scale"}
    assert meta_b["threads"] == {"threads": 2, "source": "--threads"}


def test_bad_thread_count_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "demo_retrieval", "--threads", "0"])
    assert exit_info.value.code == 2
    assert "--threads: expected a positive integer, got 0" in capsys.readouterr().err


# ------------------------------------------------------------------ Ctrl-C and resume


def test_ctrl_c_in_run_prints_the_resume_command(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(config: FakeConfig, ctx: object) -> dict[str, float]:
        raise KeyboardInterrupt

    fake_registry.register(make_fake("fake_ctrl_c", run=run))
    out = tmp_path / "r"
    assert main(["run", "fake_ctrl_c", "--quiet", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"interrupted; resume with: attnlab run fake_ctrl_c --resume --out {out}" in err
    assert "Traceback" not in err
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"


def _interrupt_at_checkpoint(monkeypatch: pytest.MonkeyPatch, nth: int) -> None:
    """Ctrl-C while the ``nth`` last.pt of the job is being written (the previous one stays)."""
    real = os.fsync
    count = 0

    def fsync(fd: int) -> None:
        nonlocal count
        if ".last.pt." in os.readlink(f"/proc/self/fd/{fd}"):
            count += 1
            if count == nth:
                raise KeyboardInterrupt
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name an fd's file")
def test_ctrl_c_then_resume_gives_the_uninterrupted_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = tmp_path / "reference"
    assert main(["reproduce", *JOB, "--out", str(reference)]) == 0
    capsys.readouterr()

    out = tmp_path / "job"
    _interrupt_at_checkpoint(monkeypatch, nth=2)  # the pointer run's second model
    assert main(["reproduce", *JOB, "--out", str(out)]) == 130
    captured = capsys.readouterr()
    assert f"interrupted; resume with: attnlab reproduce --resume {out}" in captured.err
    assert "Traceback" not in captured.out + captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert [(r["name"], r["status"]) for r in summary["runs"]] == [
        ("demo_retrieval", "finished"), ("vinyals2015_pointer", "interrupted")]
    assert (out / "report.html").is_file()  # the combined report of what finished
    monkeypatch.undo()

    assert main(["reproduce", "--resume", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "demo_retrieval: finished before, kept" in captured.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert [(r["name"], r["status"], r["reused"]) for r in summary["runs"]] == [
        ("demo_retrieval", "finished", True), ("vinyals2015_pointer", "finished", False)]
    for name in ("demo_retrieval", "vinyals2015_pointer"):
        assert _results(out / name) == _results(reference / name), name
    meta = json.loads((out / "vinyals2015_pointer" / "run.json").read_text())
    assert meta["attempts"] == 2


def test_resume_of_a_folder_that_is_not_a_reproduce_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reproduce", "--resume", str(tmp_path)]) == 2
    assert "holds no summary.json" in capsys.readouterr().err


# ------------------------------------------------------------------ progress and skips


def test_reproduce_says_what_it_skips_first_and_shows_progress(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ATTNLAB_DATA", raising=False)
    fake_registry.register(make_fake("fake_a"))
    fake_registry.register(make_fake("fake_b"))
    fake_registry.register(make_fake("fake_nodata", datasets=(missing_data("mnist"),)))
    code = main(["reproduce", "--out", str(tmp_path / "j"), "--quiet"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    skip = next(i for i, line in enumerate(lines) if line.startswith("skip fake_nodata"))
    first = next(i for i, line in enumerate(lines) if line.startswith("[1/"))
    assert skip < first, "skips are announced before the first run"
    assert "ATTNLAB_DATA is not set" in lines[skip] and "attnlab data fetch" in lines[skip]
    progress = [line for line in lines if re.match(r"^\[\d+/\d+\] \w+ \(elapsed \S+, about "
                                                         r"\S+ left\)$", line)]
    assert len(progress) == len({line.split()[1] for line in progress}) >= 2
    total = progress[0].split("/")[1].split("]")[0]
    assert progress[-1].startswith(f"[{total}/{total}] ")


def test_resume_continues_a_run_with_its_recorded_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name an fd's file")
    out = tmp_path / "r"
    args = ["run", "vinyals2015_pointer", "--scale", "smoke", "--seed", "3",
            "--set", "optim.epochs=2", "--quiet", "--out", str(out)]
    real = os.fsync

    def full(fd: int) -> None:
        if ".last.pt." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", full)
    assert main(args) == 3
    monkeypatch.undo()
    capsys.readouterr()
    # neither --scale nor --set nor --seed: the folder's own settings are used
    assert main(["run", "vinyals2015_pointer", "--resume", "--quiet", "--out", str(out)]) == 0
    meta = json.loads((out / "run.json").read_text())
    assert (meta["scale"], meta["seed"], meta["overrides"]) == ("smoke", 3, ["optim.epochs=2"])


def test_data_present_but_unread_is_not_called_real(
    fake_registry: ExperimentRegistry, tmp_path: Path
) -> None:
    from attnlab.experiments.registry import DataRequirement

    present = DataRequirement("optional", "optional data", lambda d: None,
                              used_metric="optional/used")

    def run(config: FakeConfig, ctx: object) -> dict[str, float]:
        return {"acc": 1.0, "optional/used": 0.0}

    fake_registry.register(dataclasses.replace(make_fake("fake_unread", run=run),
                                               datasets=(present,)))
    assert main(["run", "fake_unread", "--quiet", "--out", str(tmp_path / "r")]) == 0
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["data_sources"] == {"optional": "not used by this run"}
