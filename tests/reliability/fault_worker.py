"""A small experiment trained by ``fit`` with a checkpoint every epoch, for the fault tests.

``python fault_worker.py ARGS...`` runs ``attnlab ARGS...`` (e.g. ``run fault_fit --out DIR
--quiet``, then the same with ``--resume``) with the experiment ``fault_fit`` registered in an
isolated registry. ``test_faults`` imports :func:`make_experiment` to run the same experiment
in-process as the uninterrupted reference.

With the environment variable ``ATTNLAB_FAULT_STEP_SLEEP`` (seconds) every optimiser step
sleeps, so that a ``kill -9`` sent at a random moment lands in the middle of training. The
sleep changes no number: the results stay bit-identical.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import TensorDataset

from attnlab.experiments.context import RunContext
from attnlab.experiments.registry import Experiment
from attnlab.train.config import TrainConfig
from attnlab.train.loop import Callback, FitState, evaluate, fit
from attnlab.train.seeding import seed_everything

SLEEP_ENV = "ATTNLAB_FAULT_STEP_SLEEP"


@dataclass(frozen=True)
class FaultConfig:
    epochs: int = 6
    batch_size: int = 16
    lr: float = 0.1
    hidden: int = 16


class _Sleep(Callback):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step_end(self, state: FitState) -> None:
        time.sleep(self.seconds)


def _data() -> tuple[TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(160, 6, generator=g)
    y = (x @ torch.randn(6, 3, generator=g)).argmax(-1)
    return TensorDataset(x[:128], y[:128]), TensorDataset(x[128:], y[128:])


def run(config: FaultConfig, ctx: RunContext) -> dict[str, float]:
    """Train a tiny MLP with Adam and dropout (so RNG state matters) and report exact numbers."""
    torch.set_num_threads(1)  # the same summation order in every process
    seed_everything(ctx.seed)
    model = nn.Sequential(
        nn.Linear(6, config.hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(config.hidden, 3)
    )
    train_set, val_set = _data()
    sleep = float(os.environ.get(SLEEP_ENV, "0") or 0)
    result = fit(
        model,
        train_set,
        val_set,
        config=TrainConfig(
            epochs=config.epochs,
            batch_size=config.batch_size,
            optimizer="adam",
            lr=config.lr,
            schedule="cosine",
            seed=ctx.seed,
            device="cpu",
            deterministic=True,
        ),
        run_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
        progress=False,
        callbacks=(_Sleep(sleep),) if sleep > 0 else (),
    )
    ctx.log_records(result.history)
    final = evaluate(model, val_set, batch_size=32)
    weights_sum = float(sum(p.detach().double().sum() for p in model.parameters()))
    assert final["accuracy"] is not None
    return {
        "val_loss": final["loss"],
        "val_accuracy": final["accuracy"],
        "train_loss": float(result.final["train_loss"]),
        "weights_sum": weights_sum,
        "epochs_run": float(result.epochs_run),
    }


def make_experiment() -> Experiment[FaultConfig]:
    return Experiment(
        name="fault_fit",
        claim="A tiny MLP trained with checkpoints every epoch (fault tests only).",
        paper=None,
        config=FaultConfig,
        run=run,
        scales={"smoke": {}, "quick": {}, "full": {}},
        cpu_time={"smoke": 1, "quick": 1, "full": 1},
    )


def main(argv: list[str]) -> int:
    from attnlab.cli import main as cli_main
    from attnlab.experiments.registry import isolated_registry

    with isolated_registry() as registry:
        registry.register(make_experiment())
        return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
