"""fit() and evaluate(): learning, metrics, early stopping, checkpoints, resume, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

import attnlab.train.checkpoint as checkpoint_module
from attnlab.train.checkpoint import CheckpointError, load_checkpoint
from attnlab.train.config import TrainConfig
from attnlab.train.loop import Callback, FitState, TrainResult, evaluate, fit
from attnlab.train.seeding import seed_everything


class Output(NamedTuple):
    logits: Tensor
    hidden: Tensor


class Net(nn.Module):
    """Small MLP with dropout (so resume must restore RNG) and a NamedTuple output."""

    def __init__(self, in_dim: int = 4, hidden: int = 16, classes: int = 3) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x: Tensor) -> Output:
        h = self.drop(torch.tanh(self.fc1(x)))
        return Output(self.fc2(h), h)


def _data(n_train: int = 64, n_val: int = 29) -> tuple[TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_train + n_val, 4, generator=g)
    w = torch.randn(4, 3, generator=g)
    y = (x @ w).argmax(-1)  # linearly separable
    return TensorDataset(x[:n_train], y[:n_train]), TensorDataset(x[n_train:], y[n_train:])


def _model(seed: int = 0) -> Net:
    seed_everything(seed)
    return Net()


def _strip_time(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "time"} for r in history]


class StopAt(Callback):
    """Injects a fault: raises at the end of epoch ``epoch`` (after its checkpoint)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, state: FitState) -> None:
        if state.epoch == self.epoch:
            raise KeyboardInterrupt("injected interruption")


# ---------------------------------------------------------------------------------------------
# learning and metrics


def test_loss_decreases_on_separable_problem() -> None:
    train, val = _data()
    cfg = TrainConfig(epochs=15, batch_size=16, optimizer="adam", lr=0.05, seed=1)
    result = fit(_model(), train, val, config=cfg, progress=False)
    losses = [r["train_loss"] for r in result.history]
    assert isinstance(result, TrainResult)
    assert losses[-1] < 0.5 * losses[0]
    assert result.final["val_accuracy"] >= 0.85
    assert result.final["val_error"] == pytest.approx(1 - result.final["val_accuracy"])
    assert result.epochs_run == 15 and result.steps == 15 * 4
    assert result.monitor == "val_loss" and result.best_epoch is not None
    assert result.checkpoint is None and not result.stopped_early


def test_evaluate_matches_manual_loop() -> None:
    _, val = _data(n_val=37)
    model = _model(3)
    model.train()
    metrics = evaluate(model, val, batch_size=8)
    assert model.training  # mode restored
    model.eval()
    x, y = val.tensors
    with torch.no_grad():
        losses, correct = [], 0
        for i in range(len(val)):  # one sample at a time, independent of batching
            logits = model(x[i : i + 1]).logits
            losses.append(F.cross_entropy(logits, y[i : i + 1]).item())
            correct += int(logits.argmax(-1).item() == y[i].item())
    assert metrics["n"] == 37
    assert metrics["loss"] == pytest.approx(sum(losses) / 37, rel=1e-5)
    assert metrics["accuracy"] == pytest.approx(correct / 37)
    assert metrics["error"] == pytest.approx(1 - correct / 37)
    assert 0 < correct < 37  # an untrained model: both outcomes occur


def test_evaluate_regression_target_has_no_accuracy() -> None:
    x = torch.randn(10, 4)
    model = nn.Linear(4, 2)
    data = TensorDataset(x, torch.zeros(10, 2))
    metrics = evaluate(model, data, batch_size=4, loss_fn=F.mse_loss)
    assert metrics["accuracy"] is None and metrics["error"] is None
    with torch.no_grad():
        assert metrics["loss"] == pytest.approx(model(x).pow(2).mean().item(), rel=1e-5)


def test_evaluate_ignores_negative_targets_and_handles_sequences() -> None:
    logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]]])  # (B=1, L=3, C=2)
    target = torch.tensor([[0, 0, -100]])  # right, wrong, ignored

    class Fixed(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return logits + 0 * x.sum()

    data = TensorDataset(torch.zeros(1, 1), target)
    metrics = evaluate(
        Fixed(), data, batch_size=1, loss_fn=lambda lg, t: F.cross_entropy(lg.transpose(1, 2), t)
    )
    assert metrics["accuracy"] == 0.5


def test_multiple_inputs_are_passed_positionally() -> None:
    class Sum(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, a: Tensor, b: Tensor) -> Tensor:
            return self.fc(a + b)

    train, _ = _data()
    x, y = train.tensors
    data = TensorDataset(x, torch.zeros_like(x), y)
    result = fit(Sum(), data, config=TrainConfig(epochs=2, batch_size=16), progress=False)
    assert result.monitor == "train_loss" and len(result.history) == 2


def test_same_seed_same_result() -> None:
    train, val = _data()
    cfg = TrainConfig(epochs=3, batch_size=16, optimizer="sgd", lr=0.1, momentum=0.9, seed=5)
    a = fit(_model(), train, val, config=cfg, progress=False)
    b = fit(_model(), train, val, config=cfg, progress=False)
    c = fit(
        _model(), train, val, config=TrainConfig(**{**cfg.to_dict(), "seed": 6}), progress=False
    )
    assert _strip_time(a.history) == _strip_time(b.history)
    assert _strip_time(a.history) != _strip_time(c.history)


# ---------------------------------------------------------------------------------------------
# early stopping and best checkpoint


class ScriptedLoss:
    """A loss whose value in epoch ``e`` is ``values[e - 1]`` (the gradient is zero)."""

    def __init__(self, values: list[float]) -> None:
        self.values = values
        self.epoch = 1

    def __call__(self, logits: Tensor, target: Tensor) -> Tensor:
        return logits.sum() * 0 + self.values[self.epoch - 1]


class TrackEpoch(Callback):
    def __init__(self, loss: ScriptedLoss) -> None:
        self.loss = loss

    def on_epoch_begin(self, state: FitState) -> None:
        self.loss.epoch = state.epoch


@pytest.mark.parametrize(
    ("values", "min_delta", "stop_epoch", "best_epoch"),
    [
        ([5.0, 4.0, 3.0, 3.5, 3.2, 2.0, 1.0, 0.5], 0.0, 5, 3),
        ([5.0, 4.8, 4.0, 3.8, 3.6, 3.4, 1.0, 0.5], 0.5, 5, 3),
        ([5.0, 4.0, 3.0, 2.0, 1.0, 0.9, 0.8, 0.7], 0.0, 8, 8),  # never stops early
    ],
)
def test_early_stopping_epoch(
    tmp_path: Path, values: list[float], min_delta: float, stop_epoch: int, best_epoch: int
) -> None:
    train, _ = _data()
    loss = ScriptedLoss(values)
    cfg = TrainConfig(
        epochs=8,
        batch_size=32,
        early_stopping_patience=2,
        min_delta=min_delta,
        monitor="train_loss",
        restore_best=True,
    )
    result = fit(
        _model(),
        train,
        config=cfg,
        loss_fn=loss,
        run_dir=tmp_path,
        progress=False,
        callbacks=[TrackEpoch(loss)],
    )
    assert result.epochs_run == stop_epoch
    assert result.stopped_early == (stop_epoch < 8)
    assert result.best_epoch == best_epoch
    assert result.best_metric == pytest.approx(values[best_epoch - 1])
    assert result.best_record is not None and result.best_record["epoch"] == best_epoch
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == best_epoch
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == stop_epoch
    events = [json.loads(line)["event"] for line in (tmp_path / "train_events.jsonl").open()]
    assert events[0] == "start" and events[-1] == "finish"
    assert events.count("epoch") == stop_epoch
    assert ("early_stop" in events) == (stop_epoch < 8)


def test_restore_best_loads_best_weights() -> None:
    train, val = _data()
    # A large learning rate late in training makes the last epoch worse than the best.
    cfg = TrainConfig(epochs=6, batch_size=16, lr=0.5, optimizer="sgd", restore_best=True)
    weights: dict[int, dict[str, Tensor]] = {}

    class Snapshot(Callback):
        def on_epoch_end(self, state: FitState) -> None:
            weights[state.epoch] = {k: v.clone() for k, v in state.model.state_dict().items()}

    model = _model()
    result = fit(model, train, val, config=cfg, progress=False, callbacks=[Snapshot()])
    assert result.best_epoch is not None
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, weights[result.best_epoch][k], rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------
# resume


RESUME_CONFIGS = {
    "adam-step-dropout": TrainConfig(
        epochs=5,
        batch_size=16,
        optimizer="adam",
        lr=0.02,
        schedule="step",
        step_size=2,
        gamma=0.5,
        grad_clip=1.0,
        seed=3,
    ),
    "sgd-plateau-early-stop": TrainConfig(
        epochs=7,
        batch_size=16,
        optimizer="sgd",
        lr=0.3,
        momentum=0.9,
        nesterov=True,
        weight_decay=1e-3,
        schedule="plateau",
        plateau_patience=0,
        gamma=0.5,
        early_stopping_patience=2,
        monitor="val_accuracy",
        warmup_epochs=1,
        seed=4,
    ),
}


@pytest.mark.parametrize("name", list(RESUME_CONFIGS))
@pytest.mark.parametrize("stop_after", [1, 3])
def test_resume_is_bit_identical(tmp_path: Path, name: str, stop_after: int) -> None:
    cfg = RESUME_CONFIGS[name]
    train, val = _data()
    reference_model = _model()
    reference = fit(reference_model, train, val, config=cfg, run_dir=tmp_path / "a", progress=False)

    run_dir = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):
        fit(
            _model(),
            train,
            val,
            config=cfg,
            run_dir=run_dir,
            progress=False,
            callbacks=[StopAt(stop_after)],
        )
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == stop_after
    resumed_model = _model(seed=99)  # different initial weights: the checkpoint must win
    resumed = fit(
        resumed_model, train, val, config=cfg, run_dir=run_dir, resume=True, progress=False
    )

    assert resumed.resumed_from_epoch == stop_after
    assert _strip_time(resumed.history) == _strip_time(reference.history)
    assert resumed.final == reference.final
    assert (resumed.best_epoch, resumed.best_metric) == (
        reference.best_epoch,
        reference.best_metric,
    )
    assert resumed.steps == reference.steps
    assert reference.stopped_early == (name == "sgd-plateau-early-stop")
    for (k, a), (_, b) in zip(
        reference_model.state_dict().items(), resumed_model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    events = [json.loads(line) for line in (run_dir / "train_events.jsonl").open()]
    kinds = [e["event"] for e in events]
    assert kinds[:1] == ["start"] and "error" in kinds and "resume" in kinds
    assert events[kinds.index("error")]["type"] == "KeyboardInterrupt"


def test_resume_with_more_epochs_equals_longer_run(tmp_path: Path) -> None:
    cfg = RESUME_CONFIGS["adam-step-dropout"]
    train, val = _data()
    reference = fit(_model(), train, val, config=cfg, progress=False)
    short = TrainConfig(**{**cfg.to_dict(), "epochs": 2})
    fit(_model(), train, val, config=short, run_dir=tmp_path, progress=False)
    resumed = fit(_model(7), train, val, config=cfg, run_dir=tmp_path, resume=True, progress=False)
    assert _strip_time(resumed.history) == _strip_time(reference.history)
    # Resuming a finished run returns at once with the same result.
    again = fit(_model(8), train, val, config=cfg, run_dir=tmp_path, resume=True, progress=False)
    assert _strip_time(again.history) == _strip_time(reference.history) and again.steps == 20


def test_crash_while_saving_keeps_last_checkpoint_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = RESUME_CONFIGS["adam-step-dropout"]
    train, val = _data()
    reference = fit(_model(), train, val, config=cfg, progress=False)
    real_save = torch.save
    calls = {"n": 0}

    def flaky_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if isinstance(obj, dict) and obj.get("epoch") == 3:
            f.write(b"partial")
            raise OSError(28, "No space left on device")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "save", flaky_save)
    with pytest.raises(OSError, match="No space"):
        fit(_model(), train, val, config=cfg, run_dir=tmp_path, progress=False)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 2
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
    resumed = fit(_model(), train, val, config=cfg, run_dir=tmp_path, resume=True, progress=False)
    assert _strip_time(resumed.history) == _strip_time(reference.history)


def test_resume_refuses_changed_config_and_other_models(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.1)
    train, val = _data()
    fit(_model(), train, val, config=cfg, run_dir=tmp_path, progress=False)
    changed = TrainConfig(**{**cfg.to_dict(), "lr": 0.2})
    with pytest.raises(ValueError, match=r"lr \(checkpoint 0.1, now 0.2\)"):
        fit(_model(), train, val, config=changed, run_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="does not match the model"):
        fit(Net(hidden=8), train, val, config=cfg, run_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="monitor"):
        fit(_model(), train, None, config=cfg, run_dir=tmp_path, resume=True, progress=False)


def test_resume_from_corrupt_checkpoint_fails_and_is_recorded(tmp_path: Path) -> None:
    train, _ = _data()
    cfg = TrainConfig(epochs=1, batch_size=32)
    fit(_model(), train, config=cfg, run_dir=tmp_path, progress=False)
    last = tmp_path / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated"):
        fit(_model(), train, config=cfg, run_dir=tmp_path, resume=True, progress=False)
    events = [json.loads(line) for line in (tmp_path / "train_events.jsonl").open()]
    assert events[-1]["event"] == "error" and events[-1]["type"] == "CheckpointError"


def test_resume_without_checkpoint_starts_afresh(tmp_path: Path) -> None:
    train, _ = _data()
    cfg = TrainConfig(epochs=2, batch_size=32)
    result = fit(_model(), train, config=cfg, run_dir=tmp_path / "new", resume=True, progress=False)
    assert result.resumed_from_epoch is None and result.epochs_run == 2
    assert result.checkpoint == tmp_path / "new" / "last.pt" and result.checkpoint.is_file()


# ---------------------------------------------------------------------------------------------
# errors before training


class Recorder(Callback):
    def __init__(self) -> None:
        self.began = False

    def on_train_begin(self, state: FitState) -> None:
        self.began = True


def test_unwritable_run_dir_fails_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    recorder = Recorder()
    train, _ = _data()
    with pytest.raises(OSError, match="run_dir"):
        fit(
            model,
            train,
            config=TrainConfig(epochs=1, batch_size=16),
            run_dir=blocker / "run",
            progress=False,
            callbacks=[recorder],
        )
    assert not recorder.began
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_full_disk_fails_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Usage:
        free = 10

    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage", lambda _: Usage())
    recorder = Recorder()
    train, _ = _data()
    with pytest.raises(OSError, match="run_dir .* MiB free"):
        fit(
            _model(),
            train,
            config=TrainConfig(epochs=1, batch_size=16),
            run_dir=tmp_path,
            progress=False,
            callbacks=[recorder],
        )
    assert not recorder.began


def test_existing_run_is_not_overwritten(tmp_path: Path) -> None:
    train, _ = _data()
    cfg = TrainConfig(epochs=1, batch_size=32)
    fit(_model(), train, config=cfg, run_dir=tmp_path, progress=False)
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(FileExistsError, match="resume=True"):
        fit(_model(), train, config=cfg, run_dir=tmp_path, progress=False)
    assert (tmp_path / "last.pt").read_bytes() == before


def test_bad_arguments_name_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    train, val = _data()
    cfg = TrainConfig(epochs=1, batch_size=16)
    model = _model()
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"config": {"epochs": 1}}, TypeError, "config"),
        ({"config": TrainConfig(monitor="val_loss")}, ValueError, "monitor"),
        ({"config": cfg, "resume": True}, ValueError, "run_dir"),
        ({"config": cfg, "loss_fn": 3}, TypeError, "loss_fn"),
        ({"config": cfg, "callbacks": [print]}, TypeError, r"callbacks\[0\]"),
        (
            {"config": cfg, "param_groups": [{"params": [model.fc1.weight]}]},
            ValueError,
            "param_groups",
        ),
        ({"config": cfg, "param_groups": [{"lr": 0.1}]}, TypeError, r"param_groups\[0\]"),
        (
            {"config": cfg, "param_groups": [{"params": [nn.Parameter(torch.ones(1))]}]},
            ValueError,
            "not in model",
        ),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            fit(model, train, progress=False, **kwargs)
    with pytest.raises(TypeError, match="model"):
        fit("net", train, config=cfg)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="train_set is empty"):
        fit(model, TensorDataset(torch.zeros(0, 4), torch.zeros(0).long()), config=cfg)
    recorder = Recorder()
    with pytest.raises(TypeError, match="val_set items must be tuples"):
        fit(model, train, [1, 2, 3], config=cfg, callbacks=[recorder])  # type: ignore[arg-type]
    assert not recorder.began
    with pytest.raises(TypeError, match="train_set must be a dataset"):
        fit(model, 3, config=cfg)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(model, val, batch_size=0)
    # The global batch must split evenly over the processes, checked before joining any group.
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="batch_size .* not divisible .* 2"):
        fit(model, train, config=TrainConfig(epochs=1, batch_size=15), progress=False)


def test_model_output_without_logits_raises() -> None:
    class Bad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x: Tensor) -> dict[str, Tensor]:
            return {"logits": self.fc(x)}

    train, _ = _data()
    with pytest.raises(TypeError, match="first field is the logits"):
        fit(Bad(), train, config=TrainConfig(epochs=1, batch_size=16), progress=False)


def test_diverging_loss_raises_and_keeps_last_checkpoint(tmp_path: Path) -> None:
    train, _ = _data()
    loss = ScriptedLoss([1.0, 2.0, math.nan])
    with pytest.raises(FloatingPointError, match="epoch 3, step 5"):
        fit(
            _model(),
            train,
            config=TrainConfig(epochs=3, batch_size=32),
            loss_fn=loss,
            run_dir=tmp_path,
            progress=False,
            callbacks=[TrackEpoch(loss)],
        )
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 2


def test_progress_output_without_tty(capsys: pytest.CaptureFixture[str]) -> None:
    train, val = _data()
    cfg = TrainConfig(epochs=2, batch_size=16, eval_every=2, max_steps_per_epoch=2)
    result = fit(_model(), train, val, config=cfg, progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "val_loss" in err
    assert result.steps == 4
    assert result.history[0]["val_loss"] is None and result.history[1]["val_loss"] is not None
    fit(_model(), train, val, config=cfg, progress=False)
    assert capsys.readouterr().err == ""


def test_deterministic_mode_is_restored() -> None:
    train, _ = _data()
    before = torch.are_deterministic_algorithms_enabled()
    seen = []

    class Probe(Callback):
        def on_epoch_begin(self, state: FitState) -> None:
            seen.append(torch.are_deterministic_algorithms_enabled())

    fit(
        _model(),
        train,
        config=TrainConfig(epochs=1, batch_size=32),
        progress=False,
        callbacks=[Probe()],
    )
    assert seen == [True]
    assert torch.are_deterministic_algorithms_enabled() == before


def test_result_to_dict_is_json(tmp_path: Path) -> None:
    train, val = _data()
    result = fit(
        _model(),
        train,
        val,
        config=TrainConfig(epochs=2, batch_size=16),
        run_dir=tmp_path,
        progress=False,
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["checkpoint"] == str(tmp_path / "last.pt")
    assert data["best_checkpoint"] == str(tmp_path / "best.pt")
    assert [r["epoch"] for r in data["history"]] == [1, 2]
    assert set(data["history"][0]) == {
        "epoch",
        "step",
        "lr",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "val_error",
        "time",
    }


@pytest.mark.cuda
def test_cuda_runs_are_reproducible(tmp_path: Path) -> None:
    train, val = _data()
    cfg = TrainConfig(**{**RESUME_CONFIGS["adam-step-dropout"].to_dict(), "device": "cuda"})
    a_model = _model()
    a = fit(a_model, train, val, config=cfg, progress=False)
    assert next(a_model.parameters()).is_cuda
    with pytest.raises(KeyboardInterrupt):
        fit(
            _model(),
            train,
            val,
            config=cfg,
            run_dir=tmp_path,
            progress=False,
            callbacks=[StopAt(2)],
        )
    b = fit(_model(), train, val, config=cfg, run_dir=tmp_path, resume=True, progress=False)
    assert _strip_time(a.history) == _strip_time(b.history)
    metrics = evaluate(a_model, val, batch_size=8)
    assert metrics["loss"] == pytest.approx(a.final["val_loss"], rel=1e-5)
