"""Every public name has a docstring of its own: the packages, the classes and functions of their
``__all__``, and the public methods and properties those classes define (the API reference
renders them all, documented or not)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import types
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

PACKAGES = (
    "attnlab",
    *(
        f"attnlab.{name}"
        for name in (
            "core", "mechanisms", "architectures", "vision", "interpret", "train", "data",
            "metrics", "report", "bench", "experiments",
        )
    ),
)
# nn.Module's own hook, documented there; overriding it changes only what repr() shows
NN_MODULE_HOOKS = frozenset({"extra_repr"})


def _docstring(obj: Any) -> str:
    """``obj``'s own docstring; the signature line a dataclass or NamedTuple makes up for itself
    does not count."""
    doc = obj.__doc__ if isinstance(obj.__doc__, str) else ""
    name = getattr(obj, "__name__", None)
    if name and doc.startswith(f"{name}("):
        return ""
    return doc.strip()


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    for name, value in vars(cls).items():
        if name.startswith("_") or name in NN_MODULE_HOOKS:
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            yield name, value


def undocumented(module: types.ModuleType) -> list[str]:
    """The public names of ``module`` (its ``__all__``) that have no docstring."""
    missing = [] if _docstring(module) else [module.__name__]
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants and type aliases carry no runtime docstring
        if not _docstring(obj):
            missing.append(f"{module.__name__}.{name}")
        if inspect.isclass(obj) and obj.__module__.startswith(module.__name__.split(".")[0]):
            missing += [
                f"{module.__name__}.{name}.{member}"
                for member, value in _members(obj)
                if not _docstring(value)
            ]
    return missing


def test_the_public_subpackages_are_the_documented_ones() -> None:
    import pkgutil

    import attnlab

    subpackages = {
        f"attnlab.{m.name}" for m in pkgutil.iter_modules(attnlab.__path__) if m.ispkg
    }
    assert subpackages == set(PACKAGES) - {"attnlab"}, "a subpackage is missing from the docs"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_has_a_docstring(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__, f"{package} exports nothing"
    missing = undocumented(module)
    assert not missing, f"{len(missing)} public names without a docstring: {missing}"


def test_the_check_finds_what_is_missing() -> None:
    """Negative control: a module whose names lack docstrings in every way the check covers."""

    class Documented:
        """Has one."""

        def method(self) -> None:
            """Has one."""

        def bare(self) -> None:
            pass

        @property
        def value(self) -> int:
            return 1

        @classmethod
        def build(cls) -> Documented:
            return cls()

        def extra_repr(self) -> str:
            return ""

        def _private(self) -> None:
            pass

    @dataclasses.dataclass
    class Record:
        x: int

    class Pair(NamedTuple):
        a: int

    def function() -> None:
        pass

    module = types.ModuleType("attnlab_fake", "A module.")
    for obj in (Documented, Record, Pair, function):
        obj.__module__ = "attnlab_fake"
        setattr(module, obj.__name__, obj)
    module.__all__ = ["Documented", "Record", "Pair", "function"]  # type: ignore[attr-defined]
    assert sorted(undocumented(module)) == [
        "attnlab_fake.Documented.bare",
        "attnlab_fake.Documented.build",
        "attnlab_fake.Documented.value",
        "attnlab_fake.Pair",
        "attnlab_fake.Record",
        "attnlab_fake.function",
    ]
    module.__doc__ = None
    assert "attnlab_fake" in undocumented(module)
