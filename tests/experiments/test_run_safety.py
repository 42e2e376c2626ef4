"""No run is lost: one run per folder (a lock held for the run's life), honest ``--resume``,
and a run that cannot write its folder ends with one clear line and exit status 3."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from attnlab.cli import main
from attnlab.experiments.registry import ExperimentRegistry
from attnlab.report.rundir import LOCK_FILE, RunDirectory, RunFolderBusyError, RunLock
from attnlab.train import TrainConfig, fit
from attnlab.train.checkpoint import CheckpointError

POSIX = hasattr(os, "fork")


# ------------------------------------------------------------------ one run per folder


def _race(folder: str, start: object, done: object, results: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    try:
        run = RunDirectory.create(folder)
        run.update_meta(pid=os.getpid())
        outcome = "won"
    except RunFolderBusyError:
        outcome = "busy"
    except Exception as error:
        outcome = f"other: {type(error).__name__}: {error}"
    results.put(outcome)  # type: ignore[attr-defined]
    done.wait()  # the winner holds its lock until every contender has tried


@pytest.mark.skipif(not POSIX, reason="fork start method")
def test_simultaneous_creates_let_exactly_one_run_in(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    contenders = 4
    for attempt in range(25):
        folder = tmp_path / f"race{attempt}"
        start, done = context.Barrier(contenders), context.Barrier(contenders)
        results = context.Queue()
        procs = [context.Process(target=_race, args=(str(folder), start, done, results))
                 for _ in range(contenders)]
        for p in procs:
            p.start()
        outcomes = sorted(results.get(timeout=30) for _ in procs)
        for p in procs:
            p.join(timeout=30)
        assert outcomes == ["busy"] * (contenders - 1) + ["won"], (attempt, outcomes)
        assert "pid" in json.loads((folder / "run.json").read_text())


def _cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "attnlab.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_cli_runs_started_together_into_one_folder(tmp_path: Path) -> None:
    for attempt in range(3):
        out = tmp_path / f"race{attempt}"
        procs = {seed: _cli("run", "demo_retrieval", "--scale", "smoke", "--quiet",
                            "--seed", str(seed), "--out", str(out)) for seed in (1, 2)}
        finished = {seed: (p.wait(timeout=300), *p.communicate()) for seed, p in procs.items()}
        codes = sorted(code for code, _, _ in finished.values())
        assert codes == [0, 2], finished
        (winner,) = [seed for seed, (code, _, _) in finished.items() if code == 0]
        (loser,) = [seed for seed, (code, _, _) in finished.items() if code == 2]
        _, _, loser_err = finished[loser]
        # the loser either met the live lock or, if it came after the winner ended, its run
        assert "in use by a run that is still going" in loser_err or \
            "already holds a run" in loser_err, loser_err
        assert "Traceback" not in loser_err
        meta = json.loads((out / "run.json").read_text())
        assert meta["seed"] == winner and meta["status"] == "finished"
        assert (out / "log.txt").read_text().count("run demo_retrieval (scale smoke") == 1


def test_resume_of_a_live_run_is_refused(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    assert main(["run", "fake_pass", "--quiet", "--out", str(out)]) == 0
    before = (out / "run.json").read_text()
    lock = RunLock.acquire(out)  # another process's run, still going
    try:
        assert main(["run", "fake_pass", "--resume", "--quiet", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "is in use by a run that is still going" in err
        assert (out / "run.json").read_text() == before  # untouched
    finally:
        lock.release()
    # free again; a finished run has nothing to resume, and says so
    assert main(["run", "fake_pass", "--resume", "--quiet", "--out", str(out)]) == 2
    assert "its run already finished" in capsys.readouterr().err


def test_reproduce_locks_its_folder(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = RunLock.acquire(tmp_path)
    try:
        assert main(["reproduce", "--scale", "smoke", "--quiet", "--out", str(tmp_path)]) == 2
        assert "in use" in capsys.readouterr().err
    finally:
        lock.release()


@pytest.mark.skipif(not POSIX, reason="kill -9")
def test_a_crashed_run_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from attnlab.report.rundir import RunLock; "
         f"lock = RunLock.acquire({str(tmp_path)!r}); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunFolderBusyError, match=rf"process {holder.pid}"):
        RunLock.acquire(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    assert (tmp_path / LOCK_FILE).exists()  # the file stays; the lock went with the process
    RunLock.acquire(tmp_path).release()


# ------------------------------------------------------------------ honest resume


def _tiny_fit(run_dir: Path, *, epochs: int = 3, resume: bool = False):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Linear(4, 2)
    config = TrainConfig(epochs=epochs, batch_size=16, optimizer="sgd", lr=0.5,
                         restore_best=True)
    data = TensorDataset(x, y)
    return fit(model, data, data, config=config, run_dir=run_dir, resume=resume,
               progress=False)


def test_resume_without_last_checkpoint_refuses_instead_of_retraining(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _tiny_fit(run_dir)
    (run_dir / "last.pt").unlink()
    events = (run_dir / "train_events.jsonl").read_text()
    with pytest.raises(CheckpointError, match=r"records 3 finished epoch\(s\) but the "
                                              r"checkpoint last\.pt is missing"):
        _tiny_fit(run_dir, resume=True)
    assert (run_dir / "train_events.jsonl").read_text().startswith(events)
    assert not (run_dir / "last.pt").exists()  # nothing was retrained and written


def test_resume_without_best_checkpoint_refuses_when_it_must_restore_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _tiny_fit(run_dir)
    (run_dir / "best.pt").unlink()
    with pytest.raises(CheckpointError, match=r"best\.pt, which is missing"):
        _tiny_fit(run_dir, resume=True)


def test_resume_without_the_event_log_still_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = _tiny_fit(run_dir, epochs=2)
    (run_dir / "train_events.jsonl").unlink()
    resumed = _tiny_fit(run_dir, epochs=3, resume=True)
    assert resumed.resumed_from_epoch == 2 and resumed.epochs_run == 3
    assert resumed.history[:2] == first.history


def test_resume_with_nothing_recorded_starts_afresh(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = _tiny_fit(run_dir, resume=True)
    assert result.resumed_from_epoch is None and result.epochs_run == 3


def test_cli_resume_of_a_run_killed_before_run_json_starts_it(
    fake_registry: ExperimentRegistry, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    out.mkdir()
    (out / LOCK_FILE).write_text("12345\n")  # what a run killed at once leaves
    assert main(["run", "fake_pass", "--resume", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


# ------------------------------------------------------------------ a disk that fills


def test_a_full_disk_at_the_end_is_exit_3_and_one_line(
    fake_registry: ExperimentRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import attnlab.experiments.runner as runner

    real = runner.atomic_write_json

    def full_disk(path: Path, obj: object) -> Path:
        if Path(path).name == "metrics.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, obj)

    monkeypatch.setattr(runner, "atomic_write_json", full_disk)
    out = tmp_path / "r"
    assert main(["run", "fake_pass", "--out", str(out)]) == 3
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "cannot write the run folder" in text and "No space left on device" in text
    assert "Traceback" not in text
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "failed" and "No space left" in meta["error"]
    # the folder is free again: once space is back the run can be resumed
    monkeypatch.setattr(runner, "atomic_write_json", real)
    assert main(["run", "fake_pass", "--resume", "--quiet", "--out", str(out)]) == 0


def test_lock_is_released_on_every_exit_path(
    fake_registry: ExperimentRegistry, tmp_path: Path
) -> None:
    # finished, failed, refused: afterwards the folder can be locked again
    assert main(["run", "fake_pass", "--quiet", "--out", str(tmp_path / "a")]) == 0
    assert main(["run", "fake_pass", "--set", "fail=true", "--quiet",
                 "--out", str(tmp_path / "b")]) == 3
    assert main(["run", "fake_pass", "--quiet", "--out", str(tmp_path / "a")]) == 2
    for name in ("a", "b"):
        RunLock.acquire(tmp_path / name).release()
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        from attnlab.experiments.runner import run_experiment

        def interrupt(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        fake_registry.get("fake_pass")  # registered
        exp = fake_registry.get("fake_pass")
        import dataclasses

        run_experiment(dataclasses.replace(exp, run=interrupt), out=tmp_path / "c",
                       progress=False, quiet=True)
    RunLock.acquire(tmp_path / "c").release()
    assert time.perf_counter() - started < 60


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name an fd's file")
def test_a_disk_that_fills_mid_training_is_exit_3_and_resume_finishes_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """A real experiment through the CLI; the disk fills at the 3rd checkpoint write of its
    first model (every later flush to disk fails too, as on a full disk)."""
    args = ["run", "vinyals2015_pointer", "--scale", "smoke", "--seed", "0", "--quiet",
            "--set", "optim.epochs=3"]
    reference = tmp_path / "reference"
    assert main([*args, "--out", str(reference)]) == 0
    capsys.readouterr()

    real_fsync = os.fsync
    checkpoints_written = 0

    def fsync(fd: int) -> None:
        nonlocal checkpoints_written
        name = os.readlink(f"/proc/self/fd/{fd}") if fd >= 0 else ""
        if ".last.pt." in name:
            checkpoints_written += 1
        if checkpoints_written >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "full"
    assert main([*args, "--out", str(out)]) == 3
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "No space left on device" in text and "Traceback" not in text
    assert len([line for line in captured.err.splitlines() if line.strip()]) <= 2
    monkeypatch.setattr(os, "fsync", real_fsync)

    # the last good checkpoint is intact (epoch 2 of the first model) and no temp file is left
    first = next(p for p in (out / "checkpoints").iterdir() if (p / "last.pt").is_file())
    state = torch.load(first / "last.pt", weights_only=True)
    assert state["epoch"] == 2
    assert not list(out.rglob("*.tmp"))
    # run.json is whole (written atomically); while the disk is full it cannot say "failed"
    assert json.loads((out / "run.json").read_text())["status"] in {"running", "failed"}

    # space is back: --resume continues and ends where an uninterrupted run ends
    assert main(["run", "vinyals2015_pointer", "--resume", "--quiet", "--out", str(out)]) == 0
    def results(folder: Path) -> dict[str, float]:  # every metric but the timings
        metrics = json.loads((folder / "metrics.json").read_text())
        return {k: v for k, v in metrics.items() if not k.endswith("_time_s")}

    assert results(out) == results(reference)
    assert len(results(reference)) >= 20
