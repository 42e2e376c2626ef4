from __future__ import annotations

import pytest
import torch
from torch import nn

from attnlab.core import registry
from attnlab.core.registry import Paper, list_mechanisms, register_mechanism

PAPER = Paper("A test paper", "Nobody", 2024, "https://arxiv.org/abs/0000.00000")


def _example():
    return nn.Linear(2, 2), (torch.zeros(1, 2),), {}


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", {})


def _tags(**over):
    tags = dict(sequences="self", levels="single", positions="soft", representations="single")
    tags.update(over)
    return tags


@pytest.mark.usefixtures("clean_registry")
def test_register_and_query() -> None:
    @register_mechanism("a", paper=PAPER, example=_example, **_tags(sequences=("self", "co")))
    class A(nn.Module):
        pass

    @register_mechanism("b", paper=PAPER, example=_example, **_tags(positions="hard"))
    class B(nn.Module):
        pass

    assert [e.name for e in list_mechanisms()] == ["a", "b"]
    assert [e.name for e in list_mechanisms(sequences="co")] == ["a"]
    assert [e.name for e in list_mechanisms(positions="hard", sequences="self")] == ["b"]
    assert list_mechanisms(levels="multi") == []
    entry = list_mechanisms(sequences="co")[0]
    assert entry.cls is A and entry.paper is PAPER and entry.tags["sequences"] == ("self", "co")
    module, args, kwargs = entry.example(dtype=torch.float64)
    assert module.weight.dtype == torch.float64 and args[0].dtype == torch.float64


@pytest.mark.usefixtures("clean_registry")
def test_duplicate_name_raises() -> None:
    register_mechanism("dup", paper=PAPER, example=_example, **_tags())(nn.Module)
    with pytest.raises(ValueError, match="'dup' is already registered"):
        register_mechanism("dup", paper=PAPER, example=_example, **_tags())(nn.Linear)


@pytest.mark.usefixtures("clean_registry")
@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"sequences": "cross"}, "unknown sequences tag 'cross'"),
        ({"levels": ()}, "levels needs at least one tag"),
        ({"positions": ("soft", "fuzzy")}, "unknown positions tag 'fuzzy'"),
        ({"representations": "many"}, "unknown representations tag"),
    ],
)
def test_bad_tags_raise(over, match) -> None:
    with pytest.raises(ValueError, match=match):
        register_mechanism("x", paper=PAPER, example=_example, **_tags(**over))


@pytest.mark.usefixtures("clean_registry")
def test_only_modules_can_register() -> None:
    with pytest.raises(TypeError, match="nn.Module"):
        register_mechanism("x", paper=PAPER, example=_example, **_tags())(int)


def test_query_rejects_unknown_tag() -> None:
    with pytest.raises(ValueError, match="unknown levels tag 'deep'"):
        list_mechanisms(levels="deep")
