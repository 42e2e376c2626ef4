"""The records of a training run: its event log, what callbacks see, and what it returns.

:func:`~attnlab.train.loop.fit` appends one JSON line per event (``start``, ``resume``,
``epoch``, ``early_stop``, ``finish`` or ``error``) to ``run_dir/train_events.jsonl``, calls
the hooks of every :class:`Callback` with a :class:`FitState`, and returns a
:class:`TrainResult`.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attnlab.train.config import TrainConfig

__all__ = ["EVENTS_FILE", "Callback", "FitState", "TrainResult"]

EVENTS_FILE = "train_events.jsonl"


@dataclass
class FitState:
    """What callbacks see: the live training objects and progress counters.

    Attributes:
        config: the training configuration.
        model: the model being trained (never the ``DistributedDataParallel`` wrapper).
        optimizer: its optimiser.
        rank: this process's rank (0 in a single process).
        world_size: number of processes.
        epoch: the running epoch (1-based) in ``on_epoch_begin``/``on_step_end``, the epoch
            just finished in ``on_epoch_end``; the number of completed epochs before training.
        step: optimiser steps taken so far (over all epochs).
        loss: the last step's loss.
        history: the per-epoch records so far.
        stop_training: set to ``True`` to stop after the current epoch (its checkpoint is
            already written, and a later ``resume=True`` continues from it).
    """

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    rank: int = 0
    world_size: int = 1
    epoch: int = 0
    step: int = 0
    loss: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    stop_training: bool = False


class Callback:
    """Hooks into :func:`~attnlab.train.loop.fit`; override what you need (all do nothing here).

    Called on every process. An exception raised by a hook propagates out of ``fit`` (the
    checkpoint of the last finished epoch stays on disk). ``on_epoch_end`` runs after the
    epoch's checkpoints are written.

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, state: FitState) -> None:
        ...         print(state.epoch, round(state.history[-1]["train_loss"], 2))
    """

    def on_train_begin(self, state: FitState) -> None:
        """Before the first epoch (after a resume restored the state)."""

    def on_epoch_begin(self, state: FitState) -> None:
        """At the start of each epoch, after seeding and setting the learning rate."""

    def on_step_end(self, state: FitState) -> None:
        """After each optimiser step."""

    def on_epoch_end(self, state: FitState) -> None:
        """After each epoch's evaluation and checkpoint."""

    def on_train_end(self, state: FitState) -> None:
        """After the last epoch (not called when training raised)."""


@dataclass
class TrainResult:
    """What :func:`~attnlab.train.loop.fit` returns.

    Attributes:
        history: one record per epoch: ``epoch`` (1-based), ``step``, ``lr`` (the base rate
            ``config.lr`` times the schedule's factor), ``train_loss``, ``train_accuracy``,
            ``val_loss``, ``val_accuracy``, ``val_error`` (``None`` when not evaluated that
            epoch or not a classification target) and ``time`` (seconds).
        monitor: the metric used for best epoch / early stopping / plateau.
        best_epoch: the epoch with the best ``monitor`` value (``None`` if never available).
        best_metric: that value.
        final: the metrics of the last epoch (the record without ``epoch``, ``step``, ``time``).
        epochs_run: number of epochs in ``history``.
        steps: optimiser steps taken.
        stopped_early: whether early stopping ended training.
        resumed_from_epoch: the checkpoint's epoch when resumed, else ``None``.
        world_size: number of processes.
        checkpoint: ``run_dir/last.pt`` when a ``run_dir`` was given, else ``None``.
        best_checkpoint: ``run_dir/best.pt`` when it was written, else ``None``.
        time_s: wall time of this call in seconds.
        model_dir: ``run_dir/model``, the best weights in the ``save_pretrained`` layout
            (``attnlab.from_pretrained(result.model_dir)``), when written (rank 0, a
            ``run_dir`` given, a model ``save_pretrained`` accepts); else ``None``.
    """

    history: list[dict[str, Any]]
    monitor: str
    best_epoch: int | None
    best_metric: float | None
    final: dict[str, Any]
    epochs_run: int
    steps: int
    stopped_early: bool
    resumed_from_epoch: int | None
    world_size: int
    checkpoint: Path | None
    best_checkpoint: Path | None
    time_s: float
    model_dir: Path | None = None

    @property
    def best_record(self) -> dict[str, Any] | None:
        """The history record of :attr:`best_epoch`."""
        if self.best_epoch is None:
            return None
        return next((r for r in self.history if r["epoch"] == self.best_epoch), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings)."""
        return {
            "history": [dict(r) for r in self.history],
            "monitor": self.monitor,
            "best_epoch": self.best_epoch,
            "best_metric": self.best_metric,
            "final": dict(self.final),
            "epochs_run": self.epochs_run,
            "steps": self.steps,
            "stopped_early": self.stopped_early,
            "resumed_from_epoch": self.resumed_from_epoch,
            "world_size": self.world_size,
            "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
            "best_checkpoint": None if self.best_checkpoint is None else str(self.best_checkpoint),
            "time_s": self.time_s,
        }


def _read_events(path: Path) -> list[dict[str, Any]]:
    """The complete records of an event log, oldest first (none when it cannot be read)."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return []
    records = []
    for raw in lines:
        try:
            record = json.loads(raw)
        except ValueError:  # a line torn by a killed process
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _recorded_epochs(events_path: Path) -> int:
    """How many ``epoch`` events ``train_events.jsonl`` records (0 when there is no log)."""
    return sum(1 for record in _read_events(events_path) if record.get("event") == "epoch")


class _EventLog:
    """Appends one JSON line per event to ``run_dir/train_events.jsonl`` (rank 0 only).

    Every line holds ``event`` and ``time`` (UTC, ISO 8601); an epoch record's own ``time``
    (its duration in seconds) is logged as ``time_s`` so that it cannot replace the timestamp.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, event: str, **fields: Any) -> None:
        if self.path is None:
            return
        record = {
            "event": event,
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **{("time_s" if k == "time" else k): v for k, v in fields.items()},
        }
        line = (json.dumps(record, default=str) + "\n").encode("utf-8")
        # Best effort: the log must never hide the error that is being recorded.
        try:
            with open(self.path, "a+b") as f:
                # A process killed while appending leaves a line without its newline: start on
                # a fresh line so that the torn record never swallows this one.
                if f.seek(0, os.SEEK_END) > 0:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        line = b"\n" + line
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            pass

    def last_event(self) -> str | None:
        """The name of the last complete event in the log (``None`` when there is none)."""
        if self.path is None or not self.path.is_file():
            return None
        for record in reversed(_read_events(self.path)):
            if isinstance(record.get("event"), str):
                return str(record["event"])
        return None
