"""A finished run leaves its trained models in ``RUN_DIR/model`` (one model) or
``RUN_DIR/model/<name>`` (several), loadable by ``attnlab.from_pretrained`` and equal to the
best checkpoints' weights; a model that cannot be saved costs a warning in the log, not the run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

import attnlab
from attnlab.experiments.context import RunContext
from attnlab.experiments.registry import isolated_registry
from attnlab.experiments.runner import run_experiment
from attnlab.experiments.vinyals2015_pointer.models import PointerModel, Seq2SeqPositions
from attnlab.train import TrainConfig, fit, load_checkpoint
from attnlab.vision import SqueezeExcitation
from experiment_fakes import FakeConfig, make_fake
from helpers import require_smoke_data

pytest.importorskip("safetensors.torch")


class _SEClassifier(nn.Module):
    """An SE block and a linear head over ``(B, 4, 3, 3)`` inputs (outside attnlab: its
    arguments are read from its attributes)."""

    def __init__(self, channels: int = 4, num_classes: int = 2) -> None:
        super().__init__()
        self.channels, self.num_classes = channels, num_classes
        self.se = SqueezeExcitation(channels, reduction=2)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.se(x).context.mean(dim=(2, 3)))


class _Opaque(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(width, 2))

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def _train(ctx: RunContext, name: str, model: nn.Module) -> None:
    generator = torch.Generator().manual_seed(ctx.seed)
    x = torch.randn(24, 4, 3, 3, generator=generator)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    data = TensorDataset(x, y)
    config = TrainConfig(epochs=2, batch_size=8, optimizer="sgd", lr=0.1, seed=ctx.seed)
    fit(model, data, data, config=config, run_dir=ctx.checkpoint_dir / name, resume=ctx.resume,
        progress=False)


def _one_model(config: FakeConfig, ctx: RunContext) -> dict[str, float]:
    _train(ctx, "classifier", _SEClassifier())
    return {"accuracy": config.accuracy, "error_pct": config.error_pct}


def _three_models(config: FakeConfig, ctx: RunContext) -> dict[str, float]:
    _train(ctx, "se", _SEClassifier())
    _train(ctx, "wide/se", _SEClassifier(channels=4, num_classes=2))
    _train(ctx, "opaque", _Opaque(36))
    return {"accuracy": config.accuracy, "error_pct": config.error_pct}


def _best_weights(path: Path) -> dict[str, Tensor]:
    return {k: v.cpu() for k, v in load_checkpoint(path)["model"].items()}


def _assert_state(module: nn.Module, expected: dict[str, Tensor]) -> None:
    state = module.state_dict()
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert state[key].dtype == value.dtype and torch.equal(state[key], value), key


def test_one_trained_model_is_run_dir_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with isolated_registry() as registry:
        registry.register(make_fake("fake_train", run=_one_model))
        result = run_experiment("fake_train", scale="smoke", out=out, progress=False, quiet=True,
                                keep_checkpoints=True)
    assert result.status == "finished", result.error
    loaded = attnlab.from_pretrained(out / "model", cls=_SEClassifier)
    _assert_state(loaded, _best_weights(out / "checkpoints" / "classifier" / "best.pt"))
    assert not (out / "checkpoints" / "classifier" / "model").exists()  # moved, not copied
    assert json.loads((out / "run.json").read_text())["models"] == ["model"]


def test_several_models_are_run_dir_model_name_and_a_refusal_is_logged(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with isolated_registry() as registry, pytest.warns(RuntimeWarning, match="not exported"):
        registry.register(make_fake("fake_three", run=_three_models))
        result = run_experiment("fake_three", scale="smoke", out=out, progress=False,
                                quiet=True, keep_checkpoints=True)
    assert result.status == "finished", result.error
    meta = json.loads((out / "run.json").read_text())
    assert meta["models"] == ["model/se", "model/wide/se"]
    for name in ("se", "wide/se"):
        loaded = attnlab.from_pretrained(out / "model" / name, cls=_SEClassifier)
        _assert_state(loaded, _best_weights(out / "checkpoints" / name / "best.pt"))
    assert not (out / "model" / "opaque").exists()
    log = (out / "log.txt").read_text()
    assert "the model trained in checkpoints/opaque was not exported" in log


def test_a_smoke_run_of_a_real_experiment_exports_its_models(tmp_path: Path) -> None:
    require_smoke_data("vinyals2015_pointer")
    out = tmp_path / "run"
    # by default the checkpoints of a finished run are removed: the exports stay
    result = run_experiment("vinyals2015_pointer", scale="smoke", out=out, progress=False,
                            quiet=True)
    assert result.status == "finished", result.error
    assert not list(out.rglob("*.pt"))
    models = json.loads((out / "run.json").read_text())["models"]
    assert models and all(name.startswith("model/") for name in models)
    loaded = [attnlab.from_pretrained(out / name) for name in models]
    assert {type(model) for model in loaded} == {PointerModel, Seq2SeqPositions}
    # and with the checkpoints kept, each export holds its best checkpoint's weights
    kept = tmp_path / "kept"
    run_experiment("vinyals2015_pointer", scale="smoke", out=kept, progress=False, quiet=True,
                   keep_checkpoints=True)
    assert json.loads((kept / "run.json").read_text())["models"] == models
    for name in models:
        best = kept / "checkpoints" / name.removeprefix("model/") / "best.pt"
        _assert_state(attnlab.from_pretrained(kept / name), _best_weights(best))
