"""Worker of ``test_distributed``: trains a tiny MLP with ``fit``.

Run by ``torchrun --nproc-per-node 2 ddp_fit_worker.py RUN_DIR``: three ``fit`` calls and an
``evaluate`` in one job, as an experiment makes them (each process writes its final weights to
``RUN_DIR/rank<r>.pt``; rank 0 also writes the usual checkpoints of each fit) and imported by
the test for the single-process reference of the first fit. The model has no BatchNorm and no
dropout, whose per-process statistics and masks would make a distributed run differ from a
single process.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from attnlab.train.checkpoint import save_checkpoint
from attnlab.train.config import TrainConfig
from attnlab.train.loop import TrainResult, evaluate, fit
from attnlab.train.seeding import seed_everything

CONFIG = TrainConfig(
    epochs=3,
    batch_size=16,  # global: 8 per process with 2 processes
    optimizer="sgd",
    lr=0.2,
    momentum=0.9,
    nesterov=True,
    weight_decay=1e-3,
    schedule="step",
    step_size=2,
    gamma=0.5,
    grad_clip=1.0,
    seed=7,
    device="cpu",
    dist_timeout_s=60.0,
)


def build() -> tuple[nn.Module, TensorDataset, TensorDataset]:
    """The model (same initial weights in every process) and the datasets."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96 + 31, 5, generator=g)  # 31 validation samples: uneven shards
    w = torch.randn(5, 3, generator=g)
    y = (x @ w).argmax(-1)
    seed_everything(1)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    return model, TensorDataset(x[:96], y[:96]), TensorDataset(x[96:], y[96:])


def run(run_dir: str | None) -> tuple[nn.Module, TrainResult]:
    model, train, val = build()
    return model, fit(model, train, val, config=CONFIG, run_dir=run_dir, progress=False)


def main(run_dir: str) -> None:
    model, result = run(run_dir)
    assert torch.distributed.is_initialized(), "the group outlives fit: later fits reuse it"
    # A second model (early stopping on, so the ranks must agree when to stop) and a third, in
    # the same job and group, with an evaluation in between, as every experiment does.
    second, train, val = build()
    early = dataclasses.replace(
        CONFIG, epochs=6, early_stopping_patience=1, lr=2.0, schedule="none"
    )
    second_result = fit(second, train, val, config=early, run_dir=Path(run_dir) / "fit2",
                        progress=False)
    metrics = evaluate(second, val, batch_size=8)
    third, train, val = build()
    third_result = fit(third, train, val, config=dataclasses.replace(CONFIG, seed=8),
                       run_dir=Path(run_dir) / "fit3", progress=False)
    assert torch.distributed.is_initialized()
    rank = int(os.environ.get("RANK", "0"))
    save_checkpoint(
        Path(run_dir) / f"rank{rank}.pt",
        {
            "model": model.state_dict(),
            "final": result.final,
            "world_size": result.world_size,
            "second": second.state_dict(),
            "second_epochs": second_result.epochs_run,
            "second_eval": dict(metrics),
            "third": third.state_dict(),
            "third_final": third_result.final,
        },
    )


if __name__ == "__main__":
    main(sys.argv[1])
