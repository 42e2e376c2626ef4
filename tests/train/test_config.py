"""TrainConfig validation: every bad value raises an error naming its field."""

from __future__ import annotations

import pytest

from attnlab.train.config import MONITORS, TrainConfig, metric_mode

BAD_VALUES = [
    ("epochs", 0),
    ("epochs", 2.5),
    ("epochs", True),
    ("batch_size", 0),
    ("batch_size", "32"),
    ("optimizer", "rmsprop"),
    ("lr", 0.0),
    ("lr", -0.1),
    ("lr", float("nan")),
    ("lr", float("inf")),
    ("momentum", 1.0),
    ("momentum", -0.5),
    ("betas", (0.9,)),
    ("betas", (0.9, 1.0)),
    ("eps", 0.0),
    ("weight_decay", -1e-4),
    ("nesterov", 1),
    ("schedule", "linear"),
    ("step_size", 0),
    ("milestones", (0, 3)),
    ("milestones", (3, 2)),
    ("milestones", "3,5"),
    ("gamma", 0.0),
    ("gamma", 1.5),
    ("plateau_patience", -1),
    ("min_lr", -1.0),
    ("warmup_epochs", -1),
    ("grad_clip", 0.0),
    ("early_stopping_patience", 0),
    ("min_delta", -0.1),
    ("monitor", "val_f1"),
    ("eval_every", 0),
    ("restore_best", "yes"),
    ("seed", -1),
    ("deterministic", None),
    ("device", "gpu7"),
    ("device", 0),
    ("num_workers", -1),
    ("drop_last", 0),
    ("max_steps_per_epoch", 0),
    ("find_unused_parameters", "no"),
    ("dist_timeout_s", 0),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES, ids=[f"{n}={v!r}" for n, v in BAD_VALUES])
def test_bad_value_names_field(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"TrainConfig\.{name}"):
        TrainConfig(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"schedule": "step"}, "step_size"),
        ({"schedule": "multistep"}, "milestones"),
        ({"schedule": "plateau", "gamma": 1.0}, "gamma"),
        ({"nesterov": True}, "nesterov"),  # no momentum
        ({"nesterov": True, "momentum": 0.9, "optimizer": "adam"}, "nesterov"),
        ({"lr": 0.1, "min_lr": 0.1}, "min_lr"),
        ({"epochs": 3, "warmup_epochs": 3}, "warmup_epochs"),
    ],
)
def test_inconsistent_fields_name_the_field(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=rf"TrainConfig\.{name}"):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def test_valid_config_normalises_numbers() -> None:
    cfg = TrainConfig(lr=1, momentum=0, milestones=[2, 4], schedule="multistep", betas=[0.8, 0.9])
    assert isinstance(cfg.lr, float) and cfg.lr == 1.0
    assert cfg.milestones == (2, 4)
    assert cfg.betas == (0.8, 0.9)
    with pytest.raises(AttributeError):
        cfg.lr = 0.5  # type: ignore[misc]  # frozen


def test_round_trip_and_unknown_keys() -> None:
    cfg = TrainConfig(epochs=3, schedule="cosine", min_lr=1e-4, grad_clip=5.0, monitor="val_error")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    as_json = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.to_dict().items()}
    assert TrainConfig.from_dict(as_json) == cfg
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_metric_mode() -> None:
    assert {m: metric_mode(m) for m in MONITORS} == {
        "val_loss": "min",
        "val_accuracy": "max",
        "val_error": "min",
        "train_loss": "min",
        "train_accuracy": "max",
    }
    with pytest.raises(ValueError, match="metric"):
        metric_mode("val_f1")
