"""The model a training run ends with, written in the ``save_pretrained`` layout.

At its end, :func:`~attnlab.train.loop.fit` with a ``run_dir`` writes ``run_dir/model``
(``config.json`` + ``model.safetensors``, see :mod:`attnlab.core.serialization`) holding the
best weights (by the monitored metric), so that ``attnlab.from_pretrained(run_dir / "model")``
gives the trained model back without the training code. The folder is written beside it and
renamed into place: a reader finds the previous export or the new one, never half of one.

A model that ``save_pretrained`` refuses (an argument with no JSON form, a module changed after
it was built) or a missing ``safetensors`` package leaves no export and a warning; the run goes
on. A full disk raises, as a checkpoint write does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attnlab.core.serialization import CONFIG_NAME, WEIGHTS_NAME, save_pretrained
from attnlab.train.events import EVENTS_FILE

__all__ = ["MODEL_DIR", "collect_exports", "export_model", "replace_folder", "unexported_runs"]

MODEL_DIR = "model"
"""Name of the exported model's folder inside a training ``run_dir``."""


def replace_folder(source: Path, target: Path) -> None:
    """Move the folder ``source`` to ``target``, replacing a folder already there.

    Both renames stay within one file system; between them ``target`` is briefly absent, and
    never holds a mixture of the two folders' files.
    """
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(source, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(target: Path) -> None:
    """Delete the staging folders of an export of ``target`` that was killed midway."""
    for pattern in (f".{target.name}.tmp.*", f".{target.name}.old.*"):
        for leftover in target.parent.glob(pattern):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)


def export_model(
    model: nn.Module, folder: str | os.PathLike[str], *, weights: Mapping[str, Any] | None = None
) -> Path | None:
    """Write ``model`` to ``folder`` with :func:`~attnlab.core.serialization.save_pretrained`,
    atomically; ``None`` (and a :class:`RuntimeWarning`) when it cannot be saved.

    Args:
        model: the trained module (left as it was, with its own weights).
        folder: the export's folder; a previous export there is replaced.
        weights: a state dict to write instead of the module's weights (the best epoch's,
            when the module holds the last).

    Raises:
        OSError: the folder cannot be written (a full disk).
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp.", dir=target.parent))
    current: dict[str, torch.Tensor] | None = None
    try:
        if weights is not None:
            current = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            model.load_state_dict(weights)
        try:
            save_pretrained(model, staging)
        except (ValueError, TypeError, ModuleNotFoundError) as error:
            warnings.warn(f"the trained model was not exported to {str(target)!r}: {error}",
                          RuntimeWarning, stacklevel=3)
            return None
        finally:
            if current is not None:
                model.load_state_dict(current)
        replace_folder(staging, target)
        return target
    finally:
        with contextlib.suppress(OSError):
            if staging.exists():
                shutil.rmtree(staging)


def collect_exports(root: str | os.PathLike[str], target: str | os.PathLike[str]) -> list[str]:
    """Move the exports of the training runs under ``root`` into one folder, ``target``.

    A run folder of an experiment trains one model or several, each with its own
    ``run_dir`` under ``root`` (``RUN_DIR/checkpoints/<name>``), each leaving an export in
    ``<name>/model``. One export becomes ``target`` itself (``RUN_DIR/model``); several become
    ``target/<name>`` (the ``run_dir``'s path under ``root``, e.g. ``RUN_DIR/model/cnn`` and
    ``RUN_DIR/model/st_cnn``). A previous ``target`` is replaced.

    Returns:
        The folders of the models, relative to the parent of ``target`` (``["model"]`` or
        ``["model/cnn", ...]``); empty when no training run exported one.

    Raises:
        OSError: a folder cannot be moved.
    """
    base, destination = Path(root), Path(target)
    if not base.is_dir():
        return []
    exports = sorted(
        config.parent for config in base.rglob(f"{MODEL_DIR}/{CONFIG_NAME}")
        if (config.parent / WEIGHTS_NAME).is_file()
    )
    if not exports:
        return []
    if len(exports) == 1:
        replace_folder(exports[0], destination)
        return [destination.name]
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.tmp.", dir=destination.parent))
    names = []
    try:
        for export in exports:
            name = export.parent.relative_to(base).as_posix()
            name = destination.name if name == "." else name
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(export, staging / name)
            names.append(f"{destination.name}/{name}")
        replace_folder(staging, destination)
    finally:
        with contextlib.suppress(OSError):
            if staging.exists():
                shutil.rmtree(staging)
    return names


def unexported_runs(root: str | os.PathLike[str]) -> list[str]:
    """The training runs under ``root`` (folders holding ``train_events.jsonl``) that left no
    ``model`` export, as paths relative to ``root``."""
    base = Path(root)
    if not base.is_dir():
        return []
    return sorted(
        events.parent.relative_to(base).as_posix() for events in base.rglob(EVENTS_FILE)
        if not (events.parent / MODEL_DIR / CONFIG_NAME).is_file()
    )
