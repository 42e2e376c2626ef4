"""Configuration overrides: ``--set key=value`` with dotted keys, checked against the dataclass.

An experiment's configuration is a frozen dataclass (possibly with nested dataclass fields). A
setting is addressed by its dotted path (``optim.lr``) and converted to the field's declared type:
``int``, ``float``, ``bool``, ``str``, :class:`~pathlib.Path`, ``Literal[...]``, enums,
``tuple[T, ...]`` / ``tuple[A, B]``, ``X | None``. Unknown keys are rejected with the valid keys
and the closest matches; a value of the wrong type names the key and the expected type.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import enum
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

__all__ = [
    "ConfigError",
    "apply_overrides",
    "config_fields",
    "config_to_dict",
    "is_frozen_dataclass",
    "parse_overrides",
]

C = TypeVar("C")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE = {"none", "null"}


class ConfigError(ValueError):
    """A configuration override is malformed, names an unknown key, or has the wrong type."""


def is_frozen_dataclass(cls: Any) -> bool:
    """Whether ``cls`` is a frozen dataclass type."""
    return (
        isinstance(cls, type)
        and dataclasses.is_dataclass(cls)
        and bool(getattr(cls, "__dataclass_params__").frozen)  # noqa: B009
    )


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as error:  # an annotation that cannot be resolved is a programming error
        raise TypeError(f"cannot resolve the field types of {cls.__qualname__}: {error}") from error


def config_fields(cls: type) -> dict[str, Any]:
    """Every settable leaf of a (nested) config dataclass: dotted key -> declared type.

    Example:
        >>> from attnlab.experiments.demo_retrieval.config import RetrievalConfig
        >>> fields = config_fields(RetrievalConfig)
        >>> fields["steps"], fields["optim.lr"]
        (<class 'int'>, <class 'float'>)
    """
    hints = _hints(cls)
    leaves: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            for key, sub in config_fields(tp).items():
                leaves[f"{f.name}.{key}"] = sub
        else:
            leaves[f.name] = tp
    return leaves


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config instance as a JSON-ready nested dict (tuples -> lists, enums -> values, paths ->
    strings).

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Config:
        ...     sizes: tuple[int, ...] = (1, 2)
        >>> config_to_dict(Config())
        {'sizes': [1, 2]}
    """

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, enum.Enum):
            return convert(value.value)
        if isinstance(value, Path):
            return str(value)
        return value

    result = convert(config)
    if not isinstance(result, dict):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return result


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": "1", "c": "x"}``; the value may itself contain ``=``.

    Raises:
        ConfigError: an item has no ``=`` or an empty key, or a key is given twice.

    Example:
        >>> parse_overrides(["optim.lr=0.1", "name=a=b"])
        {'optim.lr': '0.1', 'name': 'a=b'}
    """
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        if key in result:
            raise ConfigError(f"--set {key} is given twice ({result[key]!r} and {value!r})")
        result[key] = value.strip()
    return result


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _fail(key: str, tp: Any, value: Any, why: str = "") -> ConfigError:
    shown = repr(value)
    extra = f" ({why})" if why else ""
    return ConfigError(f"setting {key!r} expects {_type_name(tp)}, got {shown}{extra}")


def _split_sequence(text: str) -> list[str]:
    text = text.strip()
    if len(text) >= 2 and text[0] + text[-1] in ("()", "[]"):
        text = text[1:-1]
    items = [part.strip() for part in text.split(",")]
    if items and items[-1] == "":  # "1," is a one-element tuple
        items.pop()
    if items == [""]:
        return []
    return items


def _convert(key: str, tp: Any, value: Any, *, from_string: bool) -> Any:
    """Convert/validate ``value`` for a field of type ``tp``; raise :class:`ConfigError`."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Union or origin is types.UnionType:
        return _convert_union(key, tp, value, from_string=from_string)
    if origin is Literal:
        return _convert_literal(key, tp, value, from_string=from_string)
    if origin is tuple or tp is tuple:
        return _convert_tuple(key, tp, value, from_string=from_string)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        names = ", ".join(f"{key}.{k}" for k in config_fields(tp))
        raise ConfigError(f"{key!r} is a group of settings; set its fields instead: {names}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_string and isinstance(value, str):
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
        raise _fail(key, tp, value, "use true or false")
    if tp is int or tp is float:
        # an int field takes ints only; a float field ints and floats (never a bool)
        accepted = int if tp is int else (int, float)
        if isinstance(value, accepted) and not isinstance(value, bool):
            return tp(value)
        if from_string and isinstance(value, str):
            with contextlib.suppress(ValueError):
                return tp(value)
        raise _fail(key, tp, value)
    if tp is str or tp is Path:
        if isinstance(value, (str, Path) if tp is Path else str):
            return tp(value)
        raise _fail(key, tp, value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _convert_enum(key, tp, value, from_string=from_string)
    raise ConfigError(f"setting {key!r} has type {_type_name(tp)}, which overrides cannot set")


def _convert_union(key: str, tp: Any, value: Any, *, from_string: bool) -> Any:
    """The first member type of ``tp`` that accepts ``value`` (``None`` for an optional)."""
    options = get_args(tp)
    if type(None) in options and (
        value is None or (from_string and isinstance(value, str) and value.lower() in _NONE)
    ):
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            return _convert(key, option, value, from_string=from_string)
        except ConfigError:
            continue
    raise _fail(key, tp, value)


def _convert_literal(key: str, tp: Any, value: Any, *, from_string: bool) -> Any:
    choices = get_args(tp)
    for choice in choices:
        if from_string and isinstance(value, str):
            if value == str(choice) or (isinstance(choice, bool) and value.lower()
                                        in (_TRUE if choice else _FALSE)):
                return choice
        elif value == choice and type(value) is type(choice):
            return choice
    raise ConfigError(
        f"setting {key!r} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}"
    )


def _convert_tuple(key: str, tp: Any, value: Any, *, from_string: bool) -> tuple[Any, ...]:
    """A tuple from a comma-separated string or a sequence, each item of its declared type."""
    args = get_args(tp)
    if from_string and isinstance(value, str):
        items: list[Any] = _split_sequence(value)
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _fail(key, tp, value, "a comma-separated list such as 1,2,3")
    if not args:
        return tuple(items)
    if len(args) == 2 and args[1] is Ellipsis:
        args = (args[0],) * len(items)
    elif len(items) != len(args):
        raise _fail(key, tp, value, f"expected {len(args)} items, got {len(items)}")
    return tuple(
        _convert(f"{key}[{i}]", arg, item, from_string=from_string)
        for i, (arg, item) in enumerate(zip(args, items, strict=True))
    )


def _convert_enum(key: str, tp: type[enum.Enum], value: Any, *, from_string: bool) -> Any:
    if isinstance(value, tp):
        return value
    for member in tp:
        if value == member.name or value == member.value or (
            from_string and value == str(member.value)
        ):
            return member
    names = ", ".join(repr(m.name) for m in tp)
    raise ConfigError(f"setting {key!r} must be one of {names}; got {value!r}")


def _unknown_key(key: str, valid: list[str], where: str) -> ConfigError:
    suggestions = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
    last = key.rpartition(".")[2]
    for candidate in valid:
        if candidate.rpartition(".")[2] == last and candidate not in suggestions:
            suggestions.append(candidate)
    hint = f"; did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    return ConfigError(
        f"unknown setting {key!r}{where}{hint}\nvalid keys: {', '.join(valid)}"
    )


def apply_overrides(
    config: C,
    overrides: Mapping[str, Any],
    *,
    from_strings: bool = False,
    where: str = "",
) -> C:
    """A copy of ``config`` with dotted-key ``overrides`` applied and type-checked.

    Args:
        config: a dataclass instance (nested dataclass fields allowed).
        overrides: dotted key -> value. With ``from_strings`` the values are command-line text
            converted to each field's type (``"3"`` -> ``3``, ``"1,2"`` -> ``(1, 2)``,
            ``"true"`` -> ``True``, ``"none"`` -> ``None`` for optional fields); otherwise they
            are Python values checked against it (an ``int`` is accepted for a ``float``).
        from_strings: see ``overrides``.
        where: context for messages, e.g. ``" for experiment demo_retrieval"``.

    Returns:
        The new config; the dataclass's ``__post_init__`` checks run on it.

    Raises:
        ConfigError: unknown key (with close matches and the valid keys), wrong value type, or a
            value the config's own validation rejects.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Config:
        ...     steps: int = 10
        ...     sizes: tuple[int, ...] = (1,)
        >>> apply_overrides(Config(), {"steps": "20", "sizes": "3,4"}, from_strings=True)
        Config(steps=20, sizes=(3, 4))
    """
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    leaves = config_fields(type(config))
    groups = _group_fields(type(config))
    converted: dict[str, Any] = {}
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise ConfigError(f"setting names must be strings, got {key!r}")
        if key in leaves:
            converted[key] = _convert(key, leaves[key], value, from_string=from_strings)
        elif key in groups:
            converted[key] = _convert(key, groups[key], value, from_string=from_strings)
        else:
            raise _unknown_key(key, list(leaves), where)
    try:
        return _replace_nested(config, converted)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"invalid configuration{where}: {error}") from error


def _group_fields(cls: type, prefix: str = "") -> dict[str, type]:
    """Dotted key -> type of every nested dataclass field."""
    hints = _hints(cls)
    groups: dict[str, type] = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if f.init and isinstance(tp, type) and dataclasses.is_dataclass(tp):
            groups[prefix + f.name] = tp
            groups.update(_group_fields(tp, f"{prefix}{f.name}."))
    return groups


def _replace_nested(config: C, flat: Mapping[str, Any]) -> C:
    direct: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        head, dot, rest = key.partition(".")
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, sub in nested.items():
        base = direct.get(head, getattr(config, head))
        direct[head] = _replace_nested(base, sub)
    if not direct:
        return config
    return dataclasses.replace(config, **direct)  # type: ignore[type-var]
