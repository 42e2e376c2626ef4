"""Learning-rate schedules against PyTorch's schedulers (independent oracles)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler
from torch.utils.data import TensorDataset

from attnlab.train.config import TrainConfig
from attnlab.train.loop import Callback, FitState, fit
from attnlab.train.schedule import PlateauState, lr_factor

BASE_LR = 0.3


def _torch_lrs(epochs: int, make: Callable[[torch.optim.Optimizer], Any]) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE_LR)
    sched = make(opt)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


CASES: list[tuple[dict[str, Any], Callable[[torch.optim.Optimizer], Any]]] = [
    ({"schedule": "none"}, lambda o: lr_scheduler.LambdaLR(o, lambda e: 1.0)),
    (
        {"schedule": "step", "step_size": 3, "gamma": 0.5},
        lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    ),
    (
        {"schedule": "multistep", "milestones": (2, 5, 6), "gamma": 0.2},
        lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5, 6], gamma=0.2),
    ),
    (
        {"schedule": "cosine"},
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10),
    ),
    (
        {"schedule": "cosine", "min_lr": 0.01},
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
    ),
    (
        {"schedule": "cosine", "warmup_epochs": 3},
        lambda o: lr_scheduler.SequentialLR(
            o,
            [
                lr_scheduler.LinearLR(o, start_factor=1 / 4, total_iters=3),
                lr_scheduler.CosineAnnealingLR(o, T_max=7),
            ],
            milestones=[3],
        ),
    ),
    (
        {"schedule": "none", "warmup_epochs": 4},
        lambda o: lr_scheduler.LinearLR(o, start_factor=1 / 5, total_iters=4),
    ),
]


@pytest.mark.parametrize(("fields", "make"), CASES, ids=[str(c[0]) for c in CASES])
def test_lr_sequence_matches_torch(fields: dict[str, Any], make: Any) -> None:
    cfg = TrainConfig(epochs=10, lr=BASE_LR, **fields)
    ours = [BASE_LR * lr_factor(cfg, e) for e in range(10)]
    expected = _torch_lrs(10, make)
    torch.testing.assert_close(ours, expected, rtol=1e-9, atol=1e-12)
    assert len(set(ours)) > 1 or fields["schedule"] == "none"


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("patience", [0, 2])
def test_plateau_matches_reduce_lr_on_plateau(mode: str, patience: int) -> None:
    rng = random.Random(patience)
    metrics = [float(rng.randint(0, 4)) for _ in range(40)]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(
        opt, mode=mode, factor=0.5, patience=patience, threshold=0.0, min_lr=0.01
    )
    ours = PlateauState()
    scales, expected = [], []
    for m in metrics:
        sched.step(m)
        ours.step(m, mode=mode, patience=patience, gamma=0.5, floor=0.01)  # type: ignore[arg-type]
        expected.append(opt.param_groups[0]["lr"])
        scales.append(ours.scale)
    assert scales == pytest.approx(expected)
    assert min(scales) < 1.0  # the metric sequence does trigger reductions
    restored = PlateauState()
    restored.load_state_dict(ours.state_dict())
    assert restored == ours


def test_fit_applies_schedule_to_every_group() -> None:
    """The recorded and applied rates follow lr_factor; a group multiplier scales its rate."""
    x = torch.randn(16, 3)
    y = torch.randint(0, 2, (16,))
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    cfg = TrainConfig(
        epochs=5, batch_size=8, lr=0.4, schedule="multistep", milestones=(1, 3), warmup_epochs=1
    )
    seen: list[list[float]] = []

    class Record(Callback):
        def on_epoch_begin(self, state: FitState) -> None:
            seen.append([g["lr"] for g in state.optimizer.param_groups])

    groups = [
        {"params": model[0].parameters(), "lr_multiplier": 0.1},
        {"params": model[1].parameters()},
    ]
    result = fit(
        model,
        TensorDataset(x, y),
        config=cfg,
        param_groups=groups,
        progress=False,
        callbacks=[Record()],
    )
    factors = [lr_factor(cfg, e) for e in range(5)]
    assert [r["lr"] for r in result.history] == pytest.approx([0.4 * f for f in factors])
    assert seen == [pytest.approx([0.04 * f, 0.4 * f]) for f in factors]
    assert factors == pytest.approx([0.5, 0.1, 0.1, 0.01, 0.01])
