"""The files of a run folder, and the checks that make resuming a training run safe.

A run folder holds ``last.pt`` (written after every epoch), ``best.pt`` (after each improvement
of the monitored metric) and ``train_events.jsonl``. Before training, rank 0 checks that the
folder is writable, has room for the checkpoints and holds no other run. ``fit(resume=True)``
continues from ``last.pt`` only when the checkpoint is complete, was written by ``fit`` with the
same configuration, and fits the model; it refuses where resuming would silently lose progress.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attnlab.train.checkpoint import CheckpointError, check_writable, load_checkpoint
from attnlab.train.config import TrainConfig
from attnlab.train.distributed import DistributedContext, broadcast_flag
from attnlab.train.events import EVENTS_FILE, _recorded_epochs

__all__ = ["BEST_CHECKPOINT", "CHECKPOINT_FORMAT", "LAST_CHECKPOINT"]

CHECKPOINT_FORMAT = "attnlab.train/1"
"""Value of the ``"format"`` key of every checkpoint :func:`~attnlab.train.loop.fit` writes."""

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"

# Fields that may differ between a checkpoint's configuration and the resuming one.
_RESUMABLE_FIELDS = frozenset({"epochs", "num_workers", "device", "dist_timeout_s"})


def _checkpoint_bytes(model: nn.Module, config: TrainConfig) -> int:
    weights = sum(t.numel() * t.element_size() for t in model.parameters())
    weights += sum(t.numel() * t.element_size() for t in model.buffers())
    extra = 2 if config.optimizer in ("adam", "adamw") else (1 if config.momentum > 0 else 0)
    # last.pt, best.pt and one temporary copy during a write, plus room for the rest.
    return 3 * weights * (1 + extra) + 2**20


def _prepare_run_dir(
    run_dir: str | os.PathLike[str] | None,
    resume: bool,
    model: nn.Module,
    config: TrainConfig,
    context: DistributedContext,
    device: torch.device,
) -> Path | None:
    if run_dir is None:
        return None
    path = Path(run_dir)
    error: OSError | None = None
    if context.is_main:
        try:
            check_writable(path, name="run_dir", min_free_bytes=_checkpoint_bytes(model, config))
            if not resume and (path / LAST_CHECKPOINT).exists():
                raise FileExistsError(
                    f"run_dir {str(path)!r} already holds a checkpoint ({LAST_CHECKPOINT}); pass "
                    "resume=True to continue that run, or use a new run_dir"
                )
        except OSError as err:
            error = err
    ok = broadcast_flag(error is None, context, device)
    if error is not None:
        raise error
    if not ok:
        raise RuntimeError(f"rank 0 could not prepare run_dir {str(path)!r} (see its error)")
    return path


def _refuse_lost_progress(last_path: Path) -> None:
    """Resuming without ``last.pt`` is a fresh start, unless the event log shows progress: then
    it would silently retrain and overwrite what was recorded, so it is refused."""
    events_path = last_path.parent / EVENTS_FILE
    epochs = _recorded_epochs(events_path)
    if epochs:
        raise CheckpointError(
            f"cannot resume in {str(last_path.parent)!r}: {EVENTS_FILE} records {epochs} "
            f"finished epoch(s) but the checkpoint {LAST_CHECKPOINT} is missing, so resuming "
            "would retrain from scratch and overwrite them; restore the checkpoint, or start "
            f"over explicitly in a new run_dir (CLI: a new --out) or after deleting "
            f"{str(events_path)!r}"
        )


def _remove_stale_temporaries(run_path: Path) -> list[str]:
    """Delete the temporary files a killed :func:`save_checkpoint` left behind; their names."""
    removed = []
    for name in (LAST_CHECKPOINT, BEST_CHECKPOINT):
        for tmp in run_path.glob(f".{name}.*.tmp"):
            try:
                tmp.unlink()
                removed.append(tmp.name)
            except OSError:
                pass
    return sorted(removed)


def _check_resume_state(
    state: dict[str, Any], config: TrainConfig, monitor: str, path: Path
) -> None:
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a training checkpoint written by fit (format "
            f"{state.get('format')!r}, expected {CHECKPOINT_FORMAT!r})"
        )
    required = ("model", "optimizer", "scheduler", "epoch", "step", "rng", "history", "config")
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}")
    saved = state["config"]
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path} holds no configuration dict")
    diffs = []
    for name, value in config.to_dict().items():
        if name in _RESUMABLE_FIELDS:
            continue
        old = saved.get(name)
        old = tuple(old) if isinstance(old, list) else old
        if old != value:
            diffs.append(f"{name} (checkpoint {old!r}, now {value!r})")
    if diffs:
        raise ValueError(
            f"config differs from the checkpoint's ({path}) in: {'; '.join(diffs)}. Only "
            f"{', '.join(sorted(_RESUMABLE_FIELDS))} may change when resuming"
        )
    if state.get("monitor") != monitor:
        raise ValueError(
            f"the monitored metric is {monitor!r} but the checkpoint's run monitored "
            f"{state.get('monitor')!r} (was a val_set given then?)"
        )


def _load_model(model: nn.Module, weights: Mapping[str, Any], path: Path) -> None:
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match the model: {err}") from err


def _saved_best_weights(
    best_path: Path, best_epoch: int | None, last_path: Path
) -> Mapping[str, Any] | None:
    """The weights of ``best.pt``, which ``restore_best`` loads at the end of a resumed run.

    ``None`` when the run never improved; refused when ``last.pt`` names a best epoch whose
    file is gone (the run would otherwise end with the last weights, not the best).
    """
    if best_path.is_file():
        weights: Mapping[str, Any] = load_checkpoint(best_path)["model"]
        return weights
    if best_epoch is not None:
        raise CheckpointError(
            f"cannot resume from {str(last_path)!r}: its best epoch {best_epoch} was saved "
            f"to {BEST_CHECKPOINT}, which is missing, and restore_best needs it; restore "
            "the file, or start over explicitly in a new run_dir (CLI: a new --out)"
        )
    return None
