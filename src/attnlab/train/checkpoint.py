"""Checkpoints written atomically and loaded without unpickling arbitrary objects.

A checkpoint is written to a temporary file in the destination folder, flushed to disk with
``fsync`` and then renamed over the final path with ``os.replace`` (atomic on POSIX and Windows):
a reader sees either the previous complete file or the new complete file, never a half-written
one, whatever happens during the write (exception, ``kill -9``, power loss after the rename).

Loading uses ``torch.load(..., weights_only=True)``: only tensors, numbers, strings, ``None``
and containers of them are accepted, so a crafted file cannot run code. States therefore hold
plain data only (RNG states as tensors, configurations as dicts).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CheckpointError",
    "check_writable",
    "load_checkpoint",
    "save_checkpoint",
]


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt, unsafe or not the expected kind."""


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _reason(err: Exception) -> str:
    # torch's refusal message is long and suggests turning the check off; keep the cause.
    text = str(err)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return f"refused object of type {found.group(1)}"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(err).__name__}: {first[:200]}"


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically; return the path.

    The state is serialised with ``torch.save`` into a temporary file beside ``path``, synced
    to disk and renamed onto ``path``. If anything fails, the temporary file is removed, the
    error propagates, and whatever was at ``path`` before is untouched.

    Args:
        path: destination file; its folder must exist.
        state: a dict of tensors, numbers, strings, ``None`` and lists/tuples/dicts of them
            (what :func:`load_checkpoint` accepts back).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile, torch
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = save_checkpoint(f"{d}/last.pt", {"epoch": 3, "w": torch.ones(2)})
        ...     load_checkpoint(p)["epoch"]
        3
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    path = Path(path)
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"path's folder {str(directory)!r} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_directory(directory)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, refusing anything but plain data.

    Args:
        path: the checkpoint file.
        map_location: where tensors are loaded (default CPU; ``load_state_dict`` moves them).

    Returns:
        The saved dict.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory.
        CheckpointError: the file is truncated or corrupt, holds objects other than plain data
            (``weights_only=True`` refuses them: no code from the file is run), or is not a dict.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     try:
        ...         load_checkpoint(f"{d}/missing.pt")
        ...     except FileNotFoundError as err:
        ...         print(str(err).endswith("missing.pt does not exist"))
        True
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"checkpoint {path} is a directory, not a checkpoint file; pass the file's path"
        )
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"cannot load checkpoint {path}: it is truncated, corrupt, or holds objects that "
            f"are not plain data (only tensors, numbers, strings and containers are loaded; "
            f"{_reason(err)})"
        ) from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a dict")
    return state


def check_writable(
    directory: str | os.PathLike[str], *, name: str = "run_dir", min_free_bytes: int = 0
) -> Path:
    """Create ``directory`` if needed and prove a file can be written there; return it.

    Called before training starts, so that an unwritable output folder or a full disk fails at
    once with a clear message rather than after the first epoch.

    Args:
        directory: the folder.
        name: the argument's name, used in messages.
        min_free_bytes: the free space required (e.g. an estimate of the checkpoints' size).

    Raises:
        OSError: the folder cannot be created, is not a folder, cannot be written to, or has
            less than ``min_free_bytes`` free; the message names ``name`` and the folder.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     check_writable(f"{d}/run").is_dir()
        True
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"{name} {str(directory)!r} cannot be created: {err}") from err
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=directory)
        try:
            os.write(fd, b"attnlab")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        raise OSError(f"{name} {str(directory)!r} is not writable: {err}") from err
    free = shutil.disk_usage(directory).free
    if free < min_free_bytes:
        raise OSError(
            f"{name} {str(directory)!r} has {free / 2**20:.1f} MiB free but checkpoints need "
            f"about {min_free_bytes / 2**20:.1f} MiB"
        )
    return directory
