"""Registries: the generic :class:`Registry` and the mechanism registry, tagged on the survey's
four axes.

:class:`Registry` maps names to entries: a second entry under a taken name is refused, an unknown
name raises :class:`UnknownNameError` (a :class:`KeyError`) that lists the known names, and
iteration follows registration order. The mechanisms, experiments, benchmark suites and datasets
each keep one; built-ins are listed explicitly by the module that owns them.

Chaudhari et al., "An Attentive Survey of Attention Models" (arXiv:1904.02874, section 3)
classify attention along four independent axes:

=====================  ========================================================
axis                   values
=====================  ========================================================
``sequences``          ``distinctive`` (cross), ``co``, ``self``
``levels``             ``single``, ``multi``
``positions``          ``soft``, ``hard``, ``local``
``representations``    ``single``, ``multi-representational``, ``multi-dimensional``
=====================  ========================================================

Each mechanism is tagged by these rules (a mechanism may carry several values on one axis when
it can be used both ways; ``tests/test_taxonomy.py`` checks every registered mechanism):

``sequences``, what the queries and the keys come from:
    ``distinctive`` when the queries come from one sequence and the keys from another and only
    the keys receive weights (a decoder attending to an encoder); ``co`` when two sequences
    attend to each other and both receive weights (question and image); ``self`` when the keys
    are the module's one input, attended to by its own elements or by a learned query (a
    context vector, a pooled descriptor, a graph's nodes attending to their neighbours). A
    module taking queries and keys that may be the same sequence or two (nothing in it assumes
    either) is both ``distinctive`` and ``self``; one whose weights are defined by the alignment
    of a target with a source (Luong's local attention centres its window on the source
    position aligned with the target step) is ``distinctive`` only.

``levels``, how many levels of abstraction receive weights:
    ``multi`` when weights are computed at two granularities of the input and one level
    attends over what the other produced (words within sentences, then sentences; characters,
    then words) or over the other's weights (attention over an attention matrix); ``single``
    otherwise, including modules that attend over two axes of the same features (channels,
    then spatial positions, as CBAM does).

``positions``, which positions a query's weights cover:
    ``soft`` when the weights are a differentiable function of the input over all positions
    (the spatial transformer's sampling grid included); ``hard`` when positions are sampled or
    selected (a non-differentiable choice, trained by REINFORCE or a straight-through
    estimator); ``local`` when the weights are soft inside a window around a chosen or predicted
    centre and zero outside it.

``representations``, what one weight applies to:
    ``multi-representational`` when the weights are normalised over several representations of
    the same input (different embeddings of one word) and the output is their weighted
    combination; ``multi-dimensional`` when a position receives a *vector* of weights instead
    of a scalar: one per feature or channel (DiSAN, squeeze-and-excitation), or one per row of
    the output (the hops of Lin et al. 2017, the heads of multi-head and graph attention),
    i.e. several independent distributions over the same positions, each feeding its own part
    of the output; ``single`` when a query gives each position one scalar weight.

Note:
    Heads are ``multi-dimensional``, not ``multi-representational``: the survey's
    multi-representational attention weighs representations *against each other* (the weights
    sum to one over the representations), while heads, like Lin et al.'s hops, each distribute
    one unit of weight over the positions and write to their own slice of the output; no weight
    is ever spread across heads. With one head (or one hop) these modules reduce to ``single``;
    the tag describes the module as designed.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor, nn

__all__ = [
    "TAG_VOCABULARY",
    "MechanismEntry",
    "Paper",
    "Registry",
    "UnknownNameError",
    "list_mechanisms",
    "register_mechanism",
]

E = TypeVar("E")


class UnknownNameError(KeyError):
    """No entry is registered under the requested name.

    A :class:`KeyError` (so a :class:`LookupError`) whose text is the message itself, without
    the quotes :class:`KeyError` adds.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class Registry(Mapping[str, E], Generic[E]):
    """Name -> entry: duplicates refused, unknown names explained, registration order kept.

    Args:
        kind: what an entry is, for messages (``"suite"``: "unknown suite 'x'").
        unknown_error: the :class:`UnknownNameError` subclass raised for an unknown name.
        describe: a short description of an entry, added to the duplicate-name message.

    Example:
        >>> colours = Registry[int]("colour")
        >>> colours.register("red", 1)
        1
        >>> list(colours), colours["red"]
        (['red'], 1)
        >>> try:
        ...     colours["rde"]
        ... except LookupError as error:
        ...     print(error)
        unknown colour 'rde'; did you mean 'red'? (known: red)
    """

    def __init__(
        self,
        kind: str,
        *,
        unknown_error: type[UnknownNameError] = UnknownNameError,
        describe: Callable[[E], str] | None = None,
    ) -> None:
        self.kind = kind
        self.unknown_error = unknown_error
        self._describe = describe
        self._entries: dict[str, E] = {}

    def register(self, name: str, entry: E) -> E:
        """Add ``entry`` under ``name`` and return it.

        Raises:
            ValueError: ``name`` is empty or already registered.
            TypeError: ``name`` is not a string.
        """
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__}")
        if not name:
            raise ValueError(f"{self.kind} name must not be empty")
        if name in self._entries:
            by = "" if self._describe is None else f" (by {self._describe(self._entries[name])})"
            raise ValueError(f"{self.kind} {name!r} is already registered{by}")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> E:
        """Remove the entry called ``name`` and return it (raises as :meth:`__getitem__`)."""
        entry = self[name]
        del self._entries[name]
        return entry

    def _unknown(self, name: object) -> UnknownNameError:
        """The error for an unknown ``name``: close names suggested, the known ones listed."""
        names = list(self._entries)
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = f"known: {', '.join(names)}" if names else "registered: none"
        return self.unknown_error(f"unknown {self.kind} {name!r}{hint} ({listing})")

    def __getitem__(self, name: str) -> E:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise self._unknown(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"

    @contextlib.contextmanager
    def isolated(self, *, keep: bool = False) -> Iterator[Registry[E]]:
        """Inside the ``with`` block the registry is empty (``keep``: unchanged); whatever is
        registered or removed there is undone afterwards. For tests.

        Example:
            >>> colours = Registry[int]("colour")
            >>> with colours.isolated():
            ...     _ = colours.register("red", 1)
            >>> len(colours)
            0
        """
        saved = dict(self._entries)
        if not keep:
            self._entries.clear()
        try:
            yield self
        finally:
            self._entries.clear()
            self._entries.update(saved)


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


_REGISTRY: Registry[MechanismEntry] = Registry(
    "mechanism", describe=lambda entry: entry.cls.__qualname__
)


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
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(f"only nn.Module subclasses can be registered, got {cls!r}")
        _REGISTRY.register(name, MechanismEntry(name, cls, tags, paper, example))
        return cls

    return decorator


#: The modules whose import registers the built-in mechanisms, listed explicitly: the registry
#: imports them before its first query, so that it is complete whatever was imported before.
BUILTIN_MODULES: tuple[str, ...] = ("attnlab.mechanisms", "attnlab.vision")


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


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
    _load_builtins()
    return [
        entry
        for _, entry in sorted(_REGISTRY.items())
        if all(value is None or value in entry.tags[axis] for axis, value in query.items())
    ]
