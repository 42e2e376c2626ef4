"""fit(run_dir=...) ends by writing ``run_dir/model``, the best weights in the save_pretrained
layout: loadable by ``from_pretrained`` with no training code, equal to ``best.pt``'s weights,
written atomically, and never a reason for a run to fail."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from attnlab.architectures import SpatialTransformerClassifier
from attnlab.architectures.stn_classifiers import FCN
from attnlab.core.serialization import CONFIG_NAME, WEIGHTS_NAME, from_pretrained
from attnlab.train import TrainConfig, fit, load_checkpoint
from attnlab.train.events import Callback, FitState
from attnlab.train.export import MODEL_DIR, collect_exports, export_model, unexported_runs
from attnlab.vision import MLPLocalisation, SpatialTransformer

pytest.importorskip("safetensors.torch")


def _model() -> SpatialTransformerClassifier:
    torch.manual_seed(0)
    stn = SpatialTransformer(MLPLocalisation(64, 6, hidden_dims=(8,)))
    return SpatialTransformerClassifier(stn, FCN(1, (8, 8), 3, hidden_dims=(8, 8)))


def _data() -> tuple[TensorDataset, TensorDataset]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(48, 1, 8, 8, generator=generator)
    y = (x.mean(dim=(1, 2, 3)) > 0).long() + (x[:, 0, 0, 0] > 1).long()
    return TensorDataset(x[:32], y[:32]), TensorDataset(x[32:], y[32:])


class _Epochs(Callback):
    """Knows the running epoch, so that the loss can be scaled per epoch."""

    def __init__(self) -> None:
        self.epoch = 1

    def on_epoch_begin(self, state: FitState) -> None:
        self.epoch = state.epoch


def _scaled_loss(epochs: _Epochs, scales: dict[int, float]) -> Any:
    """Cross-entropy times a factor per epoch: the monitored validation loss is best at the
    epoch with the smallest factor, whatever the weights do."""

    def loss(logits: Tensor, target: Tensor) -> Tensor:
        return nn.functional.cross_entropy(logits, target) * scales[epochs.epoch]

    return loss


def _state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def _assert_equal_states(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def _fit(model: nn.Module, run_dir: Path, *, restore_best: bool) -> Any:
    train, val = _data()
    epochs = _Epochs()
    config = TrainConfig(epochs=3, batch_size=8, optimizer="sgd", lr=0.2, seed=0,
                         restore_best=restore_best)
    return fit(model, train, val, config=config, run_dir=run_dir, progress=False,
               loss_fn=_scaled_loss(epochs, {1: 1.0, 2: 0.01, 3: 100.0}), callbacks=[epochs])


@pytest.mark.parametrize("restore_best", [False, True])
def test_the_best_epoch_is_exported(tmp_path: Path, restore_best: bool) -> None:
    model = _model()
    result = _fit(model, tmp_path, restore_best=restore_best)
    assert result.best_epoch == 2 and result.epochs_run == 3
    assert result.model_dir == tmp_path / MODEL_DIR
    assert sorted(p.name for p in result.model_dir.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    loaded = from_pretrained(result.model_dir)
    assert type(loaded) is SpatialTransformerClassifier and not loaded.training
    best = {k: v.cpu() for k, v in load_checkpoint(tmp_path / "best.pt")["model"].items()}
    last = {k: v.cpu() for k, v in load_checkpoint(tmp_path / "last.pt")["model"].items()}
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 2
    assert any(not torch.equal(best[k], last[k]) for k in best)  # epoch 3 changed the weights
    _assert_equal_states(_state(loaded), best)
    # the model the caller holds is left as fit leaves it: the best weights when restored,
    # else the last (exporting the best weights borrows it and gives it back)
    _assert_equal_states(_state(model), best if restore_best else last)
    x = _data()[1].tensors[0]
    model.load_state_dict(best)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model.eval()(x).logits, rtol=0, atol=0)
    events = [json.loads(line) for line in (tmp_path / "train_events.jsonl").open()]
    assert [e["event"] for e in events][-2:] == ["model", "finish"]
    assert events[-2]["epoch"] == 2 and events[-2]["folder"] == str(tmp_path / MODEL_DIR)
    assert not list(tmp_path.glob(".*"))  # no staging folder left


def test_a_resumed_finished_run_exports_again(tmp_path: Path) -> None:
    first = _fit(_model(), tmp_path, restore_best=False)
    (first.model_dir / WEIGHTS_NAME).unlink()  # damaged since
    train, val = _data()
    epochs = _Epochs()
    config = TrainConfig(epochs=3, batch_size=8, optimizer="sgd", lr=0.2, seed=0)
    again = fit(_model(), train, val, config=config, run_dir=tmp_path, resume=True,
                progress=False, loss_fn=_scaled_loss(epochs, {1: 1.0, 2: 0.01, 3: 100.0}),
                callbacks=[epochs])
    assert again.model_dir == first.model_dir
    best = {k: v.cpu() for k, v in load_checkpoint(tmp_path / "best.pt")["model"].items()}
    _assert_equal_states(_state(from_pretrained(again.model_dir)), best)


class _Opaque(nn.Module):
    """Outside attnlab, with an argument it keeps nowhere: save_pretrained refuses it."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(width, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def test_a_model_that_cannot_be_saved_warns_and_the_run_finishes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    with pytest.warns(RuntimeWarning, match=r"the trained model was not exported to .*model.*: "
                                             r"cannot save _Opaque"):
        result = _fit(_Opaque(64), tmp_path / "run", restore_best=False)
    run = tmp_path / "run"
    assert result.model_dir is None and result.epochs_run == 3
    assert not (run / MODEL_DIR).exists() and not list(run.glob(".*"))
    events = [json.loads(line) for line in (run / "train_events.jsonl").open()]
    assert events[-2]["event"] == "model" and events[-2]["folder"] is None
    assert unexported_runs(tmp_path) == ["run"]


def test_without_a_run_dir_nothing_is_exported(tmp_path: Path) -> None:
    train, val = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fit(_model(), train, val, progress=False,
                     config=TrainConfig(epochs=1, batch_size=8, optimizer="sgd", lr=0.1))
    assert result.model_dir is None


def test_an_export_replaces_the_previous_one_whole(tmp_path: Path) -> None:
    folder = tmp_path / MODEL_DIR
    first, second = _model(), _model()
    with torch.no_grad():
        second.classifier.layers[-1].weight.add_(1.0)  # type: ignore[index, union-attr]
    export_model(first, folder)
    (folder / "stale.txt").write_text("from the first export")
    (tmp_path / ".model.tmp.killed").mkdir()  # left by an export that was killed midway
    (tmp_path / ".model.tmp.killed" / CONFIG_NAME).write_text("{}")
    assert export_model(second, folder) == folder
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    _assert_equal_states(_state(from_pretrained(folder)), _state(second))
    assert sorted(p.name for p in tmp_path.iterdir()) == [MODEL_DIR]


def test_exports_are_collected_into_one_folder(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    models = {"cnn": _model(), "deep/st_cnn": _model()}
    with torch.no_grad():
        models["deep/st_cnn"].classifier.layers[-1].bias.add_(1.0)  # type: ignore[index, union-attr]
    for name, model in models.items():
        export_model(model, root / name / MODEL_DIR)
    (root / "cnn" / "train_events.jsonl").write_text("")
    (root / "unsaved").mkdir()
    (root / "unsaved" / "train_events.jsonl").write_text("")
    assert unexported_runs(root) == ["unsaved"]
    names = collect_exports(root, tmp_path / MODEL_DIR)
    assert names == ["model/cnn", "model/deep/st_cnn"]
    for name, model in models.items():
        _assert_equal_states(_state(from_pretrained(tmp_path / MODEL_DIR / name)), _state(model))
        assert not (root / name / MODEL_DIR).exists()
    # a single export is the folder itself
    export_model(models["cnn"], root / "cnn" / MODEL_DIR)
    assert collect_exports(root, tmp_path / "single") == ["single"]
    assert (tmp_path / "single" / CONFIG_NAME).is_file()
    assert collect_exports(tmp_path / "absent", tmp_path / "none") == []
