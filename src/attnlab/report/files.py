"""Atomic file writes and tolerant JSON reads for run directories.

A run directory may be read (by ``attnlab report``, by a person, by a resumed run) while it is being
written, and a run may be killed at any moment. Every file is therefore written to a temporary file
in the same folder, flushed to disk and renamed over the target: a reader sees the old file or the
new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "ReportError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "read_json",
]


class ReportError(RuntimeError):
    """A run directory cannot be read or written (missing, unwritable, corrupt)."""


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary sibling file, ``fsync``, rename.

    Args:
        path: the target file; its folder must exist.
        data: the bytes to write.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> atomic_write_bytes(folder / "a.bin", b"xyz").read_bytes()
        b'xyz'
        >>> sorted(p.name for p in folder.iterdir())  # no temporary file left behind
        ['a.bin']
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_safe(value: Any) -> Any:
    """Non-finite floats become ``None``: strict JSON has no NaN or infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented, strict JSON (NaN/inf stored as ``null``) atomically.

    Example:
        >>> import tempfile
        >>> p = atomic_write_json(Path(tempfile.mkdtemp()) / "m.json", {"a": float("nan")})
        >>> read_json(p)
        {'a': None}
    """
    text = json.dumps(_json_safe(obj), indent=2, sort_keys=False, allow_nan=False, default=str)
    return atomic_write_text(path, text + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file, raising :class:`ReportError` (naming the file) when missing or corrupt."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ReportError(f"{path} does not exist") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"cannot read {path}: {error}") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(f"{path} is not valid JSON ({error})") from error
