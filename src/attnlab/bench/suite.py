"""The suite registry of ``attnlab bench``: the built-in suites and any registered later.

The built-in suites are listed explicitly in :data:`attnlab.bench.suites.BUILTIN_SUITES` and
registered here, in that order, when this module is imported; :func:`register_suite` adds more
(a plugin, a test). Names are unique; an unknown name raises a :class:`KeyError` that suggests
close names and lists the known ones.

What a suite declares and produces (:class:`Suite`, :class:`Case`, :class:`Variant`,
:class:`TargetCheck`, ...) and :func:`run_suite` are in :mod:`attnlab.bench.base`, re-exported
here.
"""

from __future__ import annotations

from collections.abc import Sequence

from attnlab.bench.base import (
    SCALES,
    Case,
    CaseResult,
    Peer,
    Row,
    Suite,
    SuiteResult,
    SuiteRun,
    TargetCheck,
    Variant,
    run_suite,
)
from attnlab.bench.suites import BUILTIN_SUITES
from attnlab.core.registry import Registry

__all__ = [
    "SCALES",
    "Case",
    "CaseResult",
    "Peer",
    "Row",
    "Suite",
    "SuiteResult",
    "SuiteRun",
    "TargetCheck",
    "Variant",
    "get_suite",
    "list_suites",
    "register_suite",
    "resolve_suites",
    "run_suite",
    "unregister_suite",
]

_SUITES: Registry[Suite] = Registry("suite")


def register_suite(suite: Suite) -> Suite:
    """Add ``suite`` to the registry (names are unique).

    Raises:
        ValueError: a suite of that name exists, or the sizes name an unknown scale.
    """
    if not isinstance(suite, Suite):
        raise TypeError(f"suite must be a Suite, got {type(suite).__name__}")
    unknown = [s for s in suite.sizes if s not in SCALES]
    if unknown:
        raise ValueError(f"sizes of suite {suite.name!r} name unknown scales {unknown}")
    return _SUITES.register(suite.name, suite)


for _builtin in BUILTIN_SUITES:
    register_suite(_builtin)


def unregister_suite(name: str) -> Suite:
    """Remove the suite called ``name`` from the registry and return it.

    Raises:
        KeyError: no suite of that name.
    """
    return _SUITES.unregister(name)


def list_suites() -> list[Suite]:
    """Every registered suite, in registration order (the built-in ones first)."""
    return list(_SUITES.values())


def get_suite(name: str) -> Suite:
    """The suite called ``name``.

    Raises:
        KeyError: unknown name; the message suggests close names and lists the known ones.

    Example:
        >>> get_suite("gat").name
        'gat'
    """
    return _SUITES[name]


def resolve_suites(names: Sequence[str] | None) -> list[Suite]:
    """The suites named (all of them when ``names`` is empty or ``None``), in the order given,
    each once.

    Raises:
        KeyError: an unknown name (see :func:`get_suite`).
    """
    if not names:
        return list_suites()
    seen: dict[str, Suite] = {}
    for name in names:
        suite = get_suite(name)
        seen.setdefault(suite.name, suite)
    return list(seen.values())
