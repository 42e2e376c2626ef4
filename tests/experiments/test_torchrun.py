"""Every experiment under ``torchrun --nproc-per-node 2`` (gloo, CPU), at smoke scale.

Each experiment trains at least two models (or measures several), so one ``torchrun`` job calls
``fit`` several times in one process group. The job must finish like a single-process run: the
same files in the run folder, the same metric names, one terminal summary (rank 0's), and exit
status 0 on every rank.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attnlab.experiments.registry import list_experiments
from attnlab.experiments.runner import run_experiment
from helpers import require_smoke_data

NAMES = [e.name for e in list_experiments()]

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="this torch has no torch.distributed"
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _layout(run_dir: Path) -> set[str]:
    """The run folder's files (relative paths), without the per-run temporaries."""
    return {
        str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
        if p.is_file() and not p.name.endswith(".tmp")
    }


def torchrun_cli(args: list[str], *, nproc: int = 2, timeout: float = 300,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``torchrun --nproc-per-node nproc python -m attnlab.cli ARGS`` on this machine."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    base.update({"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", **(env or {})})
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
        "--nproc-per-node", str(nproc), "--master-addr", "127.0.0.1",
        "--master-port", str(_free_port()), "-m", "attnlab.cli", *args,
    ]
    return subprocess.run(command, env=base, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_runs_under_torchrun(name: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    require_smoke_data(name)
    out = tmp_path / "ddp"
    proc = torchrun_cli(["run", name, "--scale", "smoke", "--out", str(out), "--quiet"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # one summary: rank 0 prints, the other rank prints nothing
    assert proc.stdout.count(f"{name}: finished in") == 1, proc.stdout[-3000:]
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "finished" and meta["attempts"] == 1

    single = run_experiment(name, scale="smoke", out=tmp_path / "single", progress=False,
                            quiet=True)
    assert single.status == "finished", single.error
    ddp_metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(ddp_metrics) == sorted(single.metrics)
    assert _layout(out) == _layout(single.run_dir)


def test_a_missed_check_fails_the_job_with_one_message(tmp_path: Path) -> None:
    # one training step cannot meet demo_retrieval's quick-scale targets: the job exits
    # non-zero and only rank 0 prints the verdict (the ranks' agreement is tested in
    # test_runner.py::test_secondary_rank_reports_rank_0s_metrics)
    proc = torchrun_cli(["run", "demo_retrieval", "--scale", "quick", "--out",
                         str(tmp_path / "r"), "--quiet", "--check", "--set", "steps=1"])
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert proc.stderr.count("check failed") == 1, proc.stderr[-3000:]
    assert proc.stdout.count("demo_retrieval: finished in") == 1


def test_a_bad_out_folder_stops_every_rank_with_rank_0s_message(tmp_path: Path) -> None:
    taken = tmp_path / "taken"  # holds another run: not to be overwritten
    taken.mkdir()
    (taken / "run.json").write_text('{"experiment": "other"}')
    (taken / "someone_elses_file.txt").write_text("keep me")
    proc = torchrun_cli(["run", "demo_retrieval", "--scale", "smoke", "--out", str(taken),
                         "--quiet"], timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.count("already holds a run") == 1, proc.stderr[-3000:]
    assert "attnlab/experiments/runner.py" not in proc.stderr  # a message, not a traceback
    assert (taken / "someone_elses_file.txt").read_text() == "keep me"
