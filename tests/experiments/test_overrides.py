"""``--set key=value`` overrides: conversion to the field types, nesting, and clear errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.experiments.overrides import (
    ConfigError,
    apply_overrides,
    config_fields,
    config_to_dict,
    parse_overrides,
)


class Pool(enum.Enum):
    MAX = "max"
    AVG = "avg"


@dataclass(frozen=True)
class Schedule:
    milestones: tuple[int, ...] = (50, 100)
    gamma: float = 0.1


@dataclass(frozen=True)
class Optim:
    lr: float = 0.01
    kind: Literal["sgd", "adam"] = "sgd"
    schedule: Schedule = field(default_factory=Schedule)


@dataclass(frozen=True)
class Config:
    steps: int = 100
    augment: bool = False
    name: str = "run"
    shape: tuple[int, int] = (42, 42)
    limit: int | None = None
    pool: Pool = Pool.MAX
    out: Path = Path("out")
    optim: Optim = field(default_factory=Optim)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


def test_config_fields_lists_every_leaf_dotted() -> None:
    assert list(config_fields(Config)) == [
        "steps", "augment", "name", "shape", "limit", "pool", "out",
        "optim.lr", "optim.kind", "optim.schedule.milestones", "optim.schedule.gamma",
    ]


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("steps", "250", 250),
        ("steps", "-3_000", None),  # valid int, then rejected by __post_init__ (tested below)
        ("augment", "true", True),
        ("augment", "No", False),
        ("augment", "1", True),
        ("name", "<b>x</b>=y", "<b>x</b>=y"),
        ("shape", "60,60", (60, 60)),
        ("shape", "(28, 28)", (28, 28)),
        ("limit", "none", None),
        ("limit", "7", 7),
        ("pool", "avg", Pool.AVG),
        ("pool", "MAX", Pool.MAX),
        ("out", "a/b", Path("a/b")),
        ("optim.lr", "1e-3", 1e-3),
        ("optim.kind", "adam", "adam"),
        ("optim.schedule.milestones", "[10,20,30]", (10, 20, 30)),
        ("optim.schedule.milestones", "5,", (5,)),
        ("optim.schedule.milestones", "", ()),
    ],
)
def test_string_values_are_converted_to_the_field_type(
    key: str, text: str, expected: object
) -> None:
    if expected is None and key == "steps":
        with pytest.raises(ConfigError, match="steps must be >= 1"):
            apply_overrides(Config(), {key: text}, from_strings=True)
        return
    config = apply_overrides(Config(), {key: text}, from_strings=True)
    value: object = config
    for part in key.split("."):
        value = getattr(value, part)
    assert value == expected
    assert type(value) is type(expected)


def test_nested_override_keeps_siblings_and_the_original() -> None:
    base = Config()
    new = apply_overrides(base, {"optim.schedule.gamma": "0.5", "optim.lr": "0.2"},
                          from_strings=True)
    assert new.optim.schedule == Schedule(milestones=(50, 100), gamma=0.5)
    assert new.optim.lr == 0.2 and new.optim.kind == "sgd"
    assert base == Config()  # frozen: a new object


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"step": "1"}, r"unknown setting 'step'.*did you mean 'steps'"),
        ({"optim.lrr": "1"}, r"unknown setting 'optim.lrr'.*did you mean 'optim.lr'"),
        ({"lr": "1"}, r"did you mean 'optim.lr'"),
        ({"gamma": "1"}, r"did you mean 'optim.schedule.gamma'"),
        ({"zzz": "1"}, r"unknown setting 'zzz'\nvalid keys: steps, augment, .*optim.lr"),
        ({"steps": "1.5"}, r"setting 'steps' expects int, got '1.5'"),
        ({"steps": "ten"}, r"setting 'steps' expects int"),
        ({"augment": "maybe"}, r"setting 'augment' expects bool.*true or false"),
        ({"optim.lr": "fast"}, r"setting 'optim.lr' expects float, got 'fast'"),
        ({"optim.kind": "rmsprop"}, r"setting 'optim.kind' must be one of 'sgd', 'adam'"),
        ({"shape": "1,2,3"}, r"setting 'shape' expects .*expected 2 items, got 3"),
        ({"shape": "1,x"}, r"setting 'shape\[1\]' expects int, got 'x'"),
        ({"limit": "lots"}, r"setting 'limit' expects int \| None"),
        ({"pool": "median"}, r"setting 'pool' must be one of 'MAX', 'AVG'"),
        ({"optim": "adam"}, r"'optim' is a group of settings; set its fields instead: optim.lr"),
        ({"optim.schedule": "x"}, r"'optim.schedule' is a group.*optim.schedule.gamma"),
        ({"steps": "0"}, r"invalid configuration.*steps must be >= 1, got 0"),
    ],
)
def test_bad_overrides_name_the_key(overrides: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        apply_overrides(Config(), overrides, from_strings=True)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"steps": 1.0}, "'steps' expects int, got 1.0"),
        ({"steps": True}, "'steps' expects int, got True"),
        ({"augment": 1}, "'augment' expects bool"),
        ({"name": 3}, "'name' expects str"),
        ({"shape": 42}, "'shape' expects"),
        ({"optim.kind": "Adam"}, "'optim.kind' must be one of"),
    ],
)
def test_typed_values_are_checked_too(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        apply_overrides(Config(), overrides)


def test_typed_values_are_normalised() -> None:
    config = apply_overrides(Config(), {"optim.lr": 1, "shape": [28, 28], "pool": "avg"})
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)
    assert config.shape == (28, 28)
    assert config.pool is Pool.AVG


def test_parse_overrides() -> None:
    assert parse_overrides([" a.b = 1 ", "c=x=y", "d="]) == {"a.b": "1", "c": "x=y", "d": ""}
    with pytest.raises(ConfigError, match="key=value, got 'steps'"):
        parse_overrides(["steps"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["=3"])
    with pytest.raises(ConfigError, match="steps is given twice"):
        parse_overrides(["steps=1", "steps=2"])


def test_config_to_dict_is_json_ready() -> None:
    import json

    data = config_to_dict(Config())
    assert data["optim"]["schedule"]["milestones"] == [50, 100]
    assert data["pool"] == "max" and data["out"] == "out"
    json.dumps(data)
    with pytest.raises(TypeError, match="dataclass"):
        config_to_dict(3)
    with pytest.raises(TypeError, match="dataclass instance"):
        apply_overrides(Config, {})  # the class, not an instance


@settings(max_examples=25, deadline=None)
@given(steps=st.integers(1, 10**9), lr=st.floats(1e-8, 10.0), milestones=st.lists(
    st.integers(0, 10**6), max_size=5))
def test_round_trip_through_text(steps: int, lr: float, milestones: list[int]) -> None:
    text = {
        "steps": str(steps),
        "optim.lr": repr(lr),
        "optim.schedule.milestones": ",".join(map(str, milestones)),
    }
    config = apply_overrides(Config(), text, from_strings=True)
    assert config.steps == steps
    assert config.optim.lr == lr
    assert config.optim.schedule.milestones == tuple(milestones)
