"""Two CPU processes under torchrun give the single-process result with the same global batch."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import torch

from attnlab.train.checkpoint import load_checkpoint
from attnlab.train.distributed import (
    current_context,
    distributed_env,
    init_distributed,
    per_rank_batch_size,
    resolve_device,
)

WORKER = Path(__file__).with_name("ddp_fit_worker.py")


def _worker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ddp_fit_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_per_rank_batch_size() -> None:
    assert per_rank_batch_size(16, 1) == 16
    assert per_rank_batch_size(16, 2) == 8
    with pytest.raises(ValueError, match="batch_size .* 16 .* 3"):
        per_rank_batch_size(16, 3)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_two_processes_match_single_process_over_three_fits(tmp_path: Path) -> None:
    worker = _worker()
    single_model, single = worker.run(None)

    run_dir = tmp_path / "ddp"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        str(WORKER),
        str(run_dir),
    ]
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert elapsed < 60, f"the 2-process run took {elapsed:.1f}s"

    rank0 = load_checkpoint(run_dir / "rank0.pt")
    rank1 = load_checkpoint(run_dir / "rank1.pt")
    assert rank0["world_size"] == rank1["world_size"] == 2
    # Replicas stay identical, and every rank got the same (all-reduced) metrics.
    for k, v in rank0["model"].items():
        assert torch.equal(v, rank1["model"][k]), k
    assert rank0["final"] == rank1["final"]
    # Three fits and an evaluation in one job (the group is created once and reused): the
    # replicas of every model agree, the ranks stopped early after the same epoch, and every
    # fit wrote its checkpoints from rank 0.
    for name in ("second", "third"):
        for k, v in rank0[name].items():
            assert torch.equal(v, rank1[name][k]), (name, k)
    assert rank0["second_epochs"] == rank1["second_epochs"] < 6
    assert rank0["second_eval"] == rank1["second_eval"]
    assert rank0["third_final"] == rank1["third_final"]
    for sub in ("fit2", "fit3"):
        assert load_checkpoint(run_dir / sub / "last.pt")["world_size"] == 2
    # Only rank 0 writes the run's files.
    last = load_checkpoint(run_dir / "last.pt")
    assert last["world_size"] == 2 and last["epoch"] == worker.CONFIG.epochs
    assert not list(run_dir.glob("*.tmp"))

    # Same result as one process taking the whole global batch, up to summation order.
    moved = False
    initial, _, _ = worker.build()
    pairs = zip(single_model.state_dict().items(), initial.state_dict().items(), strict=True)
    for (k, v), (_, v0) in pairs:
        torch.testing.assert_close(rank0["model"][k], v, rtol=1e-4, atol=1e-5)
        moved |= not torch.allclose(v, v0, atol=1e-3)
    assert moved  # training changed the weights, so the comparison is not vacuous
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        assert rank0["final"][name] == pytest.approx(single.final[name], rel=1e-4, abs=1e-6), name
    history = [r["val_loss"] for r in last["history"]]
    assert history == pytest.approx([r["val_loss"] for r in single.history], rel=1e-4)


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be an integer"),
        ({"WORLD_SIZE": "0"}, "WORLD_SIZE must be >= 1"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK=2 must be < WORLD_SIZE=2"),
        ({"WORLD_SIZE": "2", "RANK": "-1"}, "RANK must be >= 0"),
    ],
)
def test_bad_torchrun_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], match: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValueError, match=match):
        distributed_env()


def test_missing_master_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ValueError, match="MASTER_ADDR"):
        init_distributed(device_type="cpu", timeout_s=5)


def test_current_context_without_a_group_is_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # the torchrun variables alone join nothing: evaluate() then takes the whole dataset
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    context = current_context()
    assert (context.rank, context.world_size, context.backend) == (0, 1, None)
    assert context.is_main and not context.distributed


@pytest.mark.parametrize(("local_rank", "world_size"), [(0, 1), (1, 2)])
def test_resolve_device_cpu(local_rank: int, world_size: int) -> None:
    cpu = torch.device("cpu")
    assert resolve_device("cpu", local_rank=local_rank, world_size=world_size) == cpu
    assert resolve_device(cpu, local_rank=local_rank, world_size=world_size) == cpu
    expected = torch.device("cuda", local_rank) if torch.cuda.is_available() else cpu
    assert resolve_device("auto", local_rank=local_rank, world_size=world_size) == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_resolve_device_without_cuda_names_the_setting() -> None:
    with pytest.raises(RuntimeError, match=r"TrainConfig.device is 'cuda:1' but CUDA is not"):
        resolve_device("cuda:1", what="TrainConfig.device")
