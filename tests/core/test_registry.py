from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from attnlab.core import registry
from attnlab.core.registry import (
    Paper,
    Registry,
    UnknownNameError,
    list_mechanisms,
    register_mechanism,
)

PAPER = Paper("A test paper", "Nobody", 2024, "https://arxiv.org/abs/0000.00000")


def _example():
    return nn.Linear(2, 2), (torch.zeros(1, 2),), {}


@pytest.fixture
def clean_registry() -> Iterator[None]:
    with registry._REGISTRY.isolated():
        yield


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


def test_duplicate_message_names_the_registered_class() -> None:
    with registry._REGISTRY.isolated():
        register_mechanism("dup", paper=PAPER, example=_example, **_tags())(nn.Linear)
        with pytest.raises(ValueError, match=r"'dup' is already registered \(by Linear\)"):
            register_mechanism("dup", paper=PAPER, example=_example, **_tags())(nn.ReLU)
    assert "dup" not in [e.name for e in list_mechanisms()]


# ---------------------------------------------------------------------------------------------
# the generic registry


class UnknownShapeError(UnknownNameError):
    pass


def test_registry_keeps_registration_order_and_refuses_duplicates() -> None:
    shapes: Registry[int] = Registry("shape")
    assert shapes.register("square", 4) == 4
    shapes.register("triangle", 3)
    shapes.register("pentagon", 5)
    assert list(shapes) == ["square", "triangle", "pentagon"]
    assert list(shapes.values()) == [4, 3, 5]
    assert len(shapes) == 3 and "triangle" in shapes and "circle" not in shapes
    assert shapes.get("circle") is None  # Mapping.get: no error for a missing name
    with pytest.raises(ValueError, match="shape 'square' is already registered"):
        shapes.register("square", 40)
    assert shapes["square"] == 4
    with pytest.raises(TypeError, match="string"):
        shapes.register(7, 7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        shapes.register("", 0)


def test_unknown_name_is_a_lookup_error_listing_the_known_names() -> None:
    shapes: Registry[int] = Registry("shape", unknown_error=UnknownShapeError)
    shapes.register("square", 4)
    shapes.register("triangle", 3)
    with pytest.raises(UnknownShapeError) as info:
        shapes["squre"]
    assert isinstance(info.value, LookupError) and isinstance(info.value, KeyError)
    assert str(info.value) == (
        "unknown shape 'squre'; did you mean 'square'? (known: square, triangle)"
    )
    with pytest.raises(UnknownNameError, match=r"unknown shape 'circle' \(known: square, tri"):
        shapes.unregister("circle")
    empty: Registry[int] = Registry("shape")
    with pytest.raises(UnknownNameError, match=r"\(registered: none\)"):
        empty["square"]


def test_unregister_and_isolated_restore_the_entries() -> None:
    shapes: Registry[int] = Registry("shape")
    shapes.register("square", 4)
    with shapes.isolated() as inner:
        assert inner is shapes and len(shapes) == 0
        shapes.register("hexagon", 6)
    assert list(shapes) == ["square"]
    with shapes.isolated(keep=True):
        assert shapes.unregister("square") == 4
        assert len(shapes) == 0
    assert list(shapes) == ["square"]
