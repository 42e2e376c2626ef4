"""Renamed keyword arguments: the old spelling keeps working for one release, with a warning."""

from __future__ import annotations

import warnings
from typing import Any

#: The default of a deprecated keyword: "not given".
UNSET: Any = object()


def renamed(value: Any, alias: Any, *, new: str, old: str, default: Any,
            stacklevel: int = 3) -> Any:
    """``value`` of keyword ``new``, or the deprecated keyword ``old`` when that was given.

    Raises:
        TypeError: both were given with different values.

    Example:
        >>> renamed(5, UNSET, new="pad_index", old="pad_id", default=0)
        5
    """
    if alias is UNSET:
        return value
    warnings.warn(
        f"{old}= is deprecated and will be removed in the next release; use {new}=",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    if value != default and value != alias:
        raise TypeError(f"got both {new}= and its deprecated alias {old}=; pass {new}= only")
    return alias
