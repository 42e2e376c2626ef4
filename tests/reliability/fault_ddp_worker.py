"""Worker of the distributed fault test: ``torchrun --nproc-per-node 2 fault_ddp_worker.py DIR``.

Trains a tiny MLP with ``fit`` (checkpoints in ``DIR``, written by rank 0). With the environment
variable ``ATTNLAB_FAULT_DIE_AT_STEP=K``, rank 1 dies abruptly (``os._exit(1)``, no clean-up,
as a killed or crashed process would) right after its optimiser step ``K``; rank 0 must then
fail with a clear error instead of hanging. Without it, ``resume=True`` continues from the last
checkpoint; each rank writes its final metrics to ``DIR/final-rank<r>.json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from attnlab.train.config import TrainConfig
from attnlab.train.loop import Callback, FitState, TrainResult, fit
from attnlab.train.seeding import seed_everything

DIE_ENV = "ATTNLAB_FAULT_DIE_AT_STEP"

CONFIG = TrainConfig(
    epochs=3,
    batch_size=16,  # global: 8 per process
    optimizer="sgd",
    lr=0.2,
    momentum=0.9,
    seed=3,
    device="cpu",
    dist_timeout_s=20.0,  # a dead peer fails the job after at most this long
)


class _Die(Callback):
    """Rank 1 exits abruptly after step ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state: FitState) -> None:
        if state.rank == 1 and state.step == self.step:
            os._exit(1)


def build() -> tuple[nn.Module, TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96 + 16, 5, generator=g)
    y = (x @ torch.randn(5, 3, generator=g)).argmax(-1)
    seed_everything(1)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    return model, TensorDataset(x[:96], y[:96]), TensorDataset(x[96:], y[96:])


def run(run_dir: str | None, *, resume: bool = False) -> TrainResult:
    torch.set_num_threads(1)
    model, train, val = build()
    die = os.environ.get(DIE_ENV)
    callbacks = (_Die(int(die)),) if die else ()
    return fit(model, train, val, config=CONFIG, run_dir=run_dir, resume=resume,
               progress=False, callbacks=callbacks)


def main(run_dir: str) -> None:
    result = run(run_dir, resume=True)
    rank = int(os.environ.get("RANK", "0"))
    (Path(run_dir) / f"final-rank{rank}.json").write_text(json.dumps(result.final))


if __name__ == "__main__":
    main(sys.argv[1])
