"""The mechanism registry, tagged on the survey's four axes.

Chaudhari et al. (arXiv:1904.02874, section 4) classify attention along four independent axes:

=================  ============================================================
axis               values
=================  ============================================================
``sequences``      ``distinctive`` (cross), ``co``, ``self``
``levels``         ``single``, ``multi``
``positions``      ``soft``, ``hard``, ``local``
``representations``  ``single``, ``multi-representational``, ``multi-dimensional``
=================  ============================================================

A mechanism may carry several values on one axis (multi-head attention is both distinctive and
self). Registration happens when the defining module is imported; ``import attnlab`` imports all of
them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

__all__ = [
    "TAG_VOCABULARY",
    "MechanismEntry",
    "Paper",
    "list_mechanisms",
    "register_mechanism",
]

TAG_VOCABULARY: dict[str, tuple[str, ...]] = {
    "sequences": ("distinctive", "co", "self"),
    "levels": ("single", "multi"),
    "positions": ("soft", "hard", "local"),
    "representations": ("single", "multi-representational", "multi-dimensional"),
}

Example = tuple[nn.Module, tuple[Any, ...], dict[str, Any]]
ExampleFactory = Callable[[], Example]
T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class Paper:
    """A bibliographic reference: enough to find the paper and the equation implemented."""

    title: str
    authors: str
    year: int
    url: str

    def __str__(self) -> str:
        return f"{self.authors} ({self.year}), {self.title}, {self.url}"


@dataclass(frozen=True)
class MechanismEntry:
    """One registered mechanism.

    Attributes:
        name: unique registry name (snake_case).
        cls: the ``nn.Module`` class.
        tags: axis -> tuple of values, see :data:`TAG_VOCABULARY`.
        paper: the paper it implements.
    """

    name: str
    cls: type[nn.Module]
    tags: dict[str, tuple[str, ...]]
    paper: Paper
    _factory: ExampleFactory = field(repr=False)

    def example(
        self,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Example:
        """A small ready module and inputs ``(module, args, kwargs)``.

        ``kwargs`` holds a mask whenever the module accepts one, and that mask masks something.
        Floating tensors and the module are moved to ``dtype``/``device`` when given.
        """
        module, args, kwargs = self._factory()
        if dtype is None and device is None:
            return module, args, kwargs
        module = module.to(device=device, dtype=dtype)

        def move(x: Any) -> Any:
            if isinstance(x, Tensor):
                if x.is_floating_point():
                    return x.to(device=device, dtype=dtype)
                return x.to(device=device)
            if isinstance(x, tuple):
                return tuple(move(y) for y in x)
            if isinstance(x, list):
                return [move(y) for y in x]
            return x

        return module, move(args), {k: move(v) for k, v in kwargs.items()}


_REGISTRY: dict[str, MechanismEntry] = {}


def _normalise_tags(axis: str, values: str | Iterable[str]) -> tuple[str, ...]:
    vocabulary = TAG_VOCABULARY[axis]
    values = (values,) if isinstance(values, str) else tuple(values)
    if not values:
        raise ValueError(f"{axis} needs at least one tag from {vocabulary}")
    for value in values:
        if value not in vocabulary:
            raise ValueError(f"unknown {axis} tag {value!r}; expected one of {vocabulary}")
    return values


def register_mechanism(
    name: str,
    *,
    sequences: str | Iterable[str],
    levels: str | Iterable[str],
    positions: str | Iterable[str],
    representations: str | Iterable[str],
    paper: Paper,
    example: ExampleFactory,
) -> Callable[[T], T]:
    """Class decorator registering an ``nn.Module`` under ``name`` with its survey tags.

    Raises:
        ValueError: if ``name`` is already registered or a tag is not in the vocabulary.
    """
    tags = {
        "sequences": _normalise_tags("sequences", sequences),
        "levels": _normalise_tags("levels", levels),
        "positions": _normalise_tags("positions", positions),
        "representations": _normalise_tags("representations", representations),
    }

    def decorator(cls: T) -> T:
        if name in _REGISTRY:
            raise ValueError(
                f"mechanism {name!r} is already registered (by {_REGISTRY[name].cls.__qualname__})"
            )
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(f"only nn.Module subclasses can be registered, got {cls!r}")
        _REGISTRY[name] = MechanismEntry(name, cls, tags, paper, example)
        return cls

    return decorator


def list_mechanisms(
    *,
    sequences: str | None = None,
    levels: str | None = None,
    positions: str | None = None,
    representations: str | None = None,
) -> list[MechanismEntry]:
    """Registered mechanisms carrying every requested tag, sorted by name.

    Example:
        >>> import attnlab
        >>> "multihead" in [e.name for e in attnlab.list_mechanisms(sequences="self")]
        True
    """
    query = {
        "sequences": sequences,
        "levels": levels,
        "positions": positions,
        "representations": representations,
    }
    for axis, value in query.items():
        if value is not None and value not in TAG_VOCABULARY[axis]:
            raise ValueError(
                f"unknown {axis} tag {value!r}; expected one of {TAG_VOCABULARY[axis]}"
            )
    return [
        entry
        for _, entry in sorted(_REGISTRY.items())
        if all(value is None or value in entry.tags[axis] for axis, value in query.items())
    ]
