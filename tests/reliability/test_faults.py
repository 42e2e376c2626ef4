"""Faults never lose work: kill -9 and resume, half-written checkpoints, a dying rank, no room.

* A training run (``attnlab run`` in a subprocess, ``fit`` with a checkpoint every epoch) is
  killed with ``SIGKILL`` at a random (seeded) moment after its first checkpoint, resumed with
  ``--resume``, and its final metrics equal an uninterrupted run's bit for bit (CPU,
  deterministic). ``run.json`` and ``train_events.jsonl`` record what happened.
* A half-written checkpoint is never loaded: a torn temporary file is ignored and removed; a
  damaged ``last.pt`` is refused with a clear error (and the refusal is recorded).
* A 2-process ``torchrun`` job whose rank 1 dies fails fast with a clear error (no hang, a
  wall-clock bound), and resuming continues from the last checkpoint.
* An unwritable output folder or a full disk is reported before training starts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from attnlab.cli import main as cli_main
from attnlab.experiments.registry import isolated_registry
from attnlab.experiments.runner import run_experiment
from attnlab.train.checkpoint import CheckpointError, load_checkpoint
from attnlab.train.config import TrainConfig
from attnlab.train.loop import EVENTS_FILE, LAST_CHECKPOINT, fit

HERE = Path(__file__).parent
WORKER = HERE / "fault_worker.py"
DDP_WORKER = HERE / "fault_ddp_worker.py"
KILL_SEED = 20240607


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _events(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line torn by the kill
    return records


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [str(HERE.parent), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------------
# kill -9, then --resume


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    worker = _load(WORKER)
    with isolated_registry() as registry:
        registry.register(worker.make_experiment())
        reference = run_experiment("fault_fit", scale="smoke", out=tmp_path / "reference",
                                   progress=False, quiet=True)
    assert reference.status == "finished", reference.error

    out = tmp_path / "killed"
    last = out / "checkpoints" / LAST_CHECKPOINT
    command = [sys.executable, str(WORKER), "run", "fault_fit", "--scale", "smoke", "--out",
               str(out), "--quiet"]
    log = tmp_path / "killed.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(command, env=_env(**{worker.SLEEP_ENV: "0.02"}),
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not last.exists():
            assert proc.poll() is None, f"the run ended early: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint after 90 s"
            time.sleep(0.01)
        # A random moment after the first checkpoint; an epoch lasts >= 0.16 s (8 steps of
        # 0.02 s) and 5 epochs remain, so the run is still training when the kill lands.
        time.sleep(random.Random(KILL_SEED).uniform(0.0, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-3000:]

    # What the run directory says about the killed run.
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "running" and meta["attempts"] == 1
    assert not (out / "metrics.json").exists()
    events = _events(out / "checkpoints" / EVENTS_FILE)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and "finish" not in kinds and "error" not in kinds
    killed_at = load_checkpoint(last)["epoch"]
    assert 1 <= killed_at < worker.FaultConfig.epochs

    # Resume through the command line, in this process.
    assert worker.main(["run", "fault_fit", "--scale", "smoke", "--out", str(out), "--resume",
                        "--quiet"]) == 0
    resumed = json.loads((out / "metrics.json").read_text())
    expected = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    assert resumed == expected, "a resumed run must equal the uninterrupted run bit for bit"
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "finished" and meta["attempts"] == 2
    events = _events(out / "checkpoints" / EVENTS_FILE)
    resume = [e for e in events if e["event"] == "resume"]
    assert len(resume) == 1 and resume[0]["epoch"] == killed_at
    assert resume[0]["interrupted"] is True and resume[0]["previous_event"] == "epoch"
    assert [e["event"] for e in events][-1] == "finish"
    assert not list((out / "checkpoints").glob("*.tmp")), "temporary files must be cleaned up"


# ---------------------------------------------------------------------------------------------
# half-written checkpoints


def _tiny(epochs: int = 4) -> tuple[nn.Module, TensorDataset, TrainConfig]:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(48, 4, generator=g)
    y = (x[:, 0] > 0).long()
    config = TrainConfig(epochs=epochs, batch_size=8, optimizer="adam", lr=0.01, device="cpu")
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), TensorDataset(x, y), config


def test_torn_temporary_checkpoint_is_ignored_and_removed(tmp_path: Path) -> None:
    model, data, config = _tiny()
    reference = fit(model, data, config=config, run_dir=tmp_path / "ref", progress=False)

    run_dir = tmp_path / "run"
    model, data, short = _tiny()
    fit(model, data, config=TrainConfig(**{**config.to_dict(), "epochs": 2}), run_dir=run_dir,
        progress=False)
    # A writer killed half-way through the next checkpoint leaves a torn temporary file.
    good = (run_dir / LAST_CHECKPOINT).read_bytes()
    torn = run_dir / f".{LAST_CHECKPOINT}.k1ll3d.tmp"
    torn.write_bytes(good[: len(good) // 3])
    model, data, _ = _tiny()
    resumed = fit(model, data, config=config, run_dir=run_dir, resume=True, progress=False)
    assert resumed.resumed_from_epoch == 2
    assert resumed.history == [
        {**r, "time": resumed.history[i]["time"]} for i, r in enumerate(reference.history)
    ]
    assert not torn.exists()
    event = next(e for e in _events(run_dir / EVENTS_FILE) if e["event"] == "resume")
    assert event["removed_temporaries"] == [torn.name]


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_damaged_last_checkpoint_is_refused_not_loaded(tmp_path: Path, damage: str) -> None:
    model, data, config = _tiny()
    fit(model, data, config=TrainConfig(**{**config.to_dict(), "epochs": 2}), run_dir=tmp_path,
        progress=False)
    last = tmp_path / LAST_CHECKPOINT
    data_bytes = last.read_bytes()
    damaged = {"truncated": data_bytes[: len(data_bytes) - 100], "empty": b"",
               "garbage": b"not a checkpoint at all"}[damage]
    last.write_bytes(damaged)
    model, data, _ = _tiny()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(CheckpointError, match=r"cannot load checkpoint .*last\.pt"):
        fit(model, data, config=config, run_dir=tmp_path, resume=True, progress=False)
    assert last.read_bytes() == damaged, "the damaged file is left for inspection"
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)), (
        "nothing of a damaged checkpoint may be loaded"
    )
    error = _events(tmp_path / EVENTS_FILE)[-1]
    assert error["event"] == "error" and error["type"] == "CheckpointError"


def test_torn_event_line_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    model, data, config = _tiny()
    fit(model, data, config=TrainConfig(**{**config.to_dict(), "epochs": 2}), run_dir=tmp_path,
        progress=False)
    with open(tmp_path / EVENTS_FILE, "a") as f:
        f.write('{"event": "epoch", "epoch": 3, "trai')  # killed in the middle of a line
    model, data, _ = _tiny()
    fit(model, data, config=config, run_dir=tmp_path, resume=True, progress=False)
    lines = (tmp_path / EVENTS_FILE).read_text().splitlines()
    parsed = _events(tmp_path / EVENTS_FILE)
    assert len(parsed) == len(lines) - 1  # only the torn line is lost
    resume = next(e for e in parsed if e["event"] == "resume")
    assert resume["previous_event"] == "finish" and resume["interrupted"] is False
    assert parsed[-1]["event"] == "finish"
    assert all(isinstance(e["time"], str) for e in parsed), "every event keeps its timestamp"


# ---------------------------------------------------------------------------------------------
# distributed: a rank dies


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(run_dir: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
               "--nproc-per-node", "2", "--max-restarts", "0", "--master-addr", "127.0.0.1",
               "--master-port", str(_free_port()), str(DDP_WORKER), str(run_dir)]
    started = time.perf_counter()
    proc = subprocess.run(command, env=_env(**env), capture_output=True, text=True, timeout=120)
    return proc, time.perf_counter() - started


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_dying_rank_fails_fast_and_the_job_resumes(tmp_path: Path) -> None:
    worker = _load(DDP_WORKER)
    steps_per_epoch = 96 // worker.CONFIG.batch_size
    die_at = steps_per_epoch + 2  # in epoch 2, after the first checkpoint

    failed, elapsed = _torchrun(tmp_path, **{worker.DIE_ENV: str(die_at)})
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output[-3000:]
    # fails fast: well inside the collective timeout, nowhere near a hang
    assert elapsed < 60 and elapsed < 3 * worker.CONFIG.dist_timeout_s, f"{elapsed:.1f}s"
    assert "rank      : 1" in output and "exitcode  : 1" in output, output[-3000:]
    events = _events(tmp_path / EVENTS_FILE)
    assert [e["event"] for e in events][:2] == ["start", "epoch"]
    assert "finish" not in [e["event"] for e in events]
    if events[-1]["event"] == "error":  # rank 0 saw the broken connection before torchrun
        error = events[-1]  # stopped it, and recorded where
        assert error["epoch"] == 2, error
        assert any(word in error["message"].lower() for word in ("peer", "connection", "remote",
                                                                   "timed out")), error
    assert load_checkpoint(tmp_path / LAST_CHECKPOINT)["epoch"] == 1
    last_before = events[-1]["event"]  # "error", or "epoch" when torchrun stopped rank 0 first

    resumed, _ = _torchrun(tmp_path)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    events = _events(tmp_path / EVENTS_FILE)
    resume = next(e for e in events if e["event"] == "resume")
    assert resume["epoch"] == 1 and resume["previous_event"] == last_before
    assert events[-1]["event"] == "finish" and events[-1]["epochs_run"] == worker.CONFIG.epochs
    finals = [json.loads((tmp_path / f"final-rank{r}.json").read_text()) for r in (0, 1)]
    assert finals[0] == finals[1]
    # the same result as one process taking the whole global batch, up to summation order
    single = worker.run(None)
    for name in ("train_loss", "val_loss", "val_accuracy"):
        assert finals[0][name] == pytest.approx(single.final[name], rel=1e-4, abs=1e-6), name


# ---------------------------------------------------------------------------------------------
# no room: unwritable folder, full disk


class _CountingModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.linear(x)


class _Usage:
    total = used = 2**40
    free = 3 * 2**20  # 3 MiB


def test_output_folder_is_a_file_fails_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "run"
    blocker.write_text("a file where the run folder should be")
    model = _CountingModel()
    _, data, config = _tiny()
    with pytest.raises(OSError, match=r"run_dir .*run' cannot be created"):
        fit(model, data, config=config, run_dir=blocker, progress=False)
    assert model.calls == 0, "no training step before the folder is known to be usable"


def test_full_disk_fails_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage())
    model = _CountingModel()
    _, data, config = _tiny()
    big = nn.Linear(1024, 1024)  # 4 MiB of weights: checkpoints need more than 3 MiB
    model.linear2 = big  # type: ignore[assignment]
    with pytest.raises(OSError, match=r"run_dir .* has 3\.0 MiB free but checkpoints need"):
        fit(model, data, config=config, run_dir=tmp_path / "run", progress=False)
    assert model.calls == 0


def test_cli_refuses_a_full_disk_or_a_file_before_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("x")
    assert cli_main(["run", "demo_retrieval", "--out", str(blocker), "--quiet"]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err

    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage())
    target = tmp_path / "run"
    assert cli_main(["run", "demo_retrieval", "--out", str(target), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "3.0 MiB free" in err and "disk full" in err
    assert not (target / "run.json").exists(), "nothing is run or recorded"
