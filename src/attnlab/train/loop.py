"""The one training loop used by every experiment: :func:`fit` and :func:`evaluate`.

What :func:`fit` does, in order:

1. validates its arguments and the global batch against the number of processes;
2. joins the process group when launched by ``torchrun`` (see :mod:`attnlab.train.distributed`);
3. checks that ``run_dir`` is writable and has room for the checkpoints *before* training;
4. builds the optimiser from :class:`~attnlab.train.config.TrainConfig` (with optional
   parameter groups, e.g. a lower rate for a spatial transformer's localisation network);
5. with ``resume=True``, restores model, optimiser, schedule, history and best metric from
   ``run_dir/last.pt`` (a damaged file is refused with a :class:`CheckpointError`, never loaded
   in part), removes the temporary files of a checkpoint write that was killed, and records
   in the ``resume`` event whether the previous attempt ended without ``finish`` or ``error``
   (``interrupted``: killed);
6. per epoch: re-seeds every RNG from ``(seed, epoch, rank)``, sets the scheduled learning
   rate, trains with a progress bar, evaluates, updates best / plateau / early stopping,
   writes ``best.pt`` (on improvement) and ``last.pt`` atomically, and appends one line to
   ``run_dir/train_events.jsonl`` (start, resume, epoch, early stop, finish or error).

Convention:
    * Dataset items are tuples ``(input_1, ..., input_k, target)``; the model is called as
      ``model(input_1, ..., input_k)``.
    * The model returns a logits tensor, or a tuple / NamedTuple whose first field is the
      logits (e.g. ``ClassifierOutput(logits, gates)``); the other fields are ignored here.
    * ``loss_fn(logits, target)`` returns the **mean** loss over the batch (default
      :func:`torch.nn.functional.cross_entropy`). Reported losses are averages over samples.
    * Accuracy is reported when the target holds class indices and the logits have one more
      dimension, the classes last (``(B, C)`` vs ``(B,)``, ``(B, L, C)`` vs ``(B, L)``) or
      second (``(B, C, L)`` vs ``(B, L)``); negative targets (``ignore_index``) are not counted.
      Otherwise accuracy and error are ``None``.
    * Only rank 0 writes files and shows progress. Metrics are summed over processes.
    * Under ``torchrun`` each process holds a full replica and takes ``batch_size / N`` samples
      of every global batch; the union of the per-process batches is the batch a single process
      would take, so without BatchNorm (whose statistics are per process) and dropout a
      distributed run matches the single-process run up to floating-point summation order.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset, Sampler
from tqdm import tqdm

from attnlab.train.checkpoint import (
    CheckpointError,
    check_writable,
    load_checkpoint,
    save_checkpoint,
)
from attnlab.train.config import TrainConfig, metric_mode
from attnlab.train.distributed import (
    DistributedContext,
    all_reduce_sum,
    broadcast_flag,
    distributed_env,
    init_distributed,
    per_rank_batch_size,
)
from attnlab.train.schedule import PlateauState, lr_factor
from attnlab.train.seeding import derive_seed, deterministic_mode, get_rng_state, set_rng_state

__all__ = [
    "BEST_CHECKPOINT",
    "CHECKPOINT_FORMAT",
    "EVENTS_FILE",
    "LAST_CHECKPOINT",
    "Callback",
    "FitState",
    "LossFn",
    "Metrics",
    "TrainResult",
    "evaluate",
    "fit",
    "logits_of",
]

LossFn = Callable[[Tensor, Tensor], Tensor]
"""``loss_fn(logits, target) -> scalar`` mean loss over the batch."""

CHECKPOINT_FORMAT = "attnlab.train/1"
"""Value of the ``"format"`` key of every checkpoint :func:`fit` writes."""

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
EVENTS_FILE = "train_events.jsonl"

# Fields that may differ between a checkpoint's configuration and the resuming one.
_RESUMABLE_FIELDS = frozenset({"epochs", "num_workers", "device", "dist_timeout_s"})


class Metrics(TypedDict):
    """Evaluation result: mean ``loss`` over ``n`` samples, ``accuracy``, ``error = 1 - acc``."""

    loss: float
    accuracy: float | None
    error: float | None
    n: int


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
    """Hooks into :func:`fit`; subclass and override what you need (all do nothing here).

    Called on every process. An exception raised by a hook propagates out of :func:`fit`
    (the checkpoint of the last finished epoch stays on disk). ``on_epoch_end`` runs after the
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
    """What :func:`fit` returns.

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


# ---------------------------------------------------------------------------------------------
# helpers


def logits_of(output: object) -> Tensor:
    """The logits of a model output: the tensor itself, or the first field of a (Named)tuple.

    Example:
        >>> import torch
        >>> logits_of((torch.zeros(2, 3), ())).shape
        torch.Size([2, 3])
    """
    if isinstance(output, Tensor):
        return output
    if isinstance(output, tuple) and output and isinstance(output[0], Tensor):
        return output[0]
    raise TypeError(
        "the model must return a logits tensor or a tuple/NamedTuple whose first field is the "
        f"logits tensor, got {type(output).__name__}"
    )


def _check_module(model: object, name: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_dataset(dataset: object, name: str) -> Dataset[Any]:
    if isinstance(dataset, IterableDataset):
        raise TypeError(
            f"{name} must be a map-style dataset (with __len__), got an IterableDataset"
        )
    if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        raise TypeError(
            f"{name} must be a dataset with __getitem__ and __len__, got {type(dataset).__name__}"
        )
    if len(dataset) == 0:
        raise ValueError(f"{name} is empty")
    # Check the item layout now rather than after an epoch of training.
    item = dataset[0]
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        raise TypeError(
            f"{name} items must be tuples (input, ..., target), got {type(item).__name__}"
        )
    return dataset  # type: ignore[return-value]


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_to_device(o, device) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


def _split_batch(batch: Any, device: torch.device, name: str) -> tuple[list[Any], Tensor]:
    if not isinstance(batch, (list, tuple)) or len(batch) < 2:
        raise TypeError(
            f"{name} items must be tuples (input, ..., target); got a batch of type "
            f"{type(batch).__name__}"
        )
    moved = [_to_device(b, device) for b in batch]
    target = moved[-1]
    if not isinstance(target, Tensor):
        raise TypeError(
            f"{name}: the last element of each item (the target) must be a tensor or a number, "
            f"got {type(target).__name__}"
        )
    return moved[:-1], target


def _num_samples(target: Tensor) -> int:
    return int(target.shape[0]) if target.dim() > 0 else 1


def _accuracy_counts(logits: Tensor, target: Tensor) -> tuple[int, int] | None:
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        return None
    if logits.dim() != target.dim() + 1:
        return None
    if logits.shape[:-1] == target.shape:
        pred = logits.argmax(-1)
    elif logits.shape[:1] + logits.shape[2:] == target.shape:
        pred = logits.argmax(1)
    else:
        return None
    valid = target >= 0
    counts = torch.stack([((pred == target) & valid).sum(), valid.sum()]).tolist()
    return int(counts[0]), int(counts[1])


def _scalar_loss(loss: object) -> float:
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar tensor (the batch mean), got {got}")
    return float(loss.detach())


def _loss_value(loss: object, where: str) -> float:
    value = _scalar_loss(loss)
    if not math.isfinite(value):
        raise FloatingPointError(
            f"the loss is {value} {where}: training diverged (lower lr or set grad_clip); "
            "the last checkpoint is from the previous epoch"
        )
    return value


class _Totals:
    """Running sums of one epoch or evaluation on this process."""

    def __init__(self) -> None:
        self.loss_sum = 0.0
        self.samples = 0
        self.correct = 0
        self.counted = 0

    def add(self, loss_value: float, logits: Tensor, target: Tensor) -> None:
        n = _num_samples(target)
        self.loss_sum += loss_value * n
        self.samples += n
        counts = _accuracy_counts(logits, target)
        if counts is not None:
            self.correct += counts[0]
            self.counted += counts[1]

    def postfix(self) -> dict[str, str]:
        out = {"loss": f"{self.loss_sum / max(self.samples, 1):.4f}"}
        if self.counted:
            out["acc"] = f"{self.correct / self.counted:.4f}"
        return out

    def reduce(self, context: DistributedContext, device: torch.device) -> Metrics:
        loss_sum, samples, correct, counted = all_reduce_sum(
            [self.loss_sum, float(self.samples), float(self.correct), float(self.counted)],
            context,
            device,
        )
        accuracy = correct / counted if counted else None
        return Metrics(
            loss=loss_sum / samples if samples else math.nan,
            accuracy=accuracy,
            error=None if accuracy is None else 1.0 - accuracy,
            n=int(samples),
        )


class _ShardSampler(Sampler[int]):
    """Indices ``rank, rank + N, ...``: disjoint, unpadded shards for evaluation."""

    def __init__(self, size: int, rank: int, world_size: int) -> None:
        self.size, self.rank, self.world_size = size, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.world_size))


def _progress(total: int | None, desc: str, show: bool) -> tqdm[Any]:
    tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
    return tqdm(
        total=total,
        desc=desc,
        file=sys.stderr,
        disable=not show,
        leave=False,
        dynamic_ncols=tty,
        mininterval=0.1 if tty else 30.0,
        unit="batch",
    )


def _module_device(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")


def _run_evaluation(
    module: nn.Module,
    dataset: Dataset[Any],
    *,
    batch_size: int,
    loss_fn: LossFn,
    device: torch.device,
    num_workers: int,
    context: DistributedContext,
    show: bool,
    name: str,
) -> Metrics:
    size = len(dataset)  # type: ignore[arg-type]
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=_ShardSampler(size, context.rank, context.world_size),
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )
    totals = _Totals()
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            bar = _progress(len(loader), "eval", show)
            for batch in loader:
                inputs, target = _split_batch(batch, device, name)
                logits = logits_of(module(*inputs))
                totals.add(_scalar_loss(loss_fn(logits, target)), logits, target)
                bar.update(1)
            bar.close()
    finally:
        module.train(was_training)
    return totals.reduce(context, device)


def evaluate(
    model: nn.Module,
    dataset: Dataset[Any],
    *,
    batch_size: int,
    loss_fn: LossFn | None = None,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    progress: bool = False,
) -> Metrics:
    """Mean loss, accuracy and error of ``model`` on ``dataset`` (in eval mode, no gradients).

    The model's train/eval mode is restored afterwards. Inside an initialised process group
    each process evaluates a disjoint shard and the sums are all-reduced, so every process gets
    the metrics of the whole dataset.

    Args:
        model: returns logits or a (Named)tuple whose first field is the logits.
        dataset: map-style dataset of ``(input, ..., target)`` items.
        batch_size: samples per forward pass (per process).
        loss_fn: ``loss_fn(logits, target)`` batch-mean loss; default cross-entropy.
        device: where to run; default the device of the model's parameters.
        num_workers: data-loader workers.
        progress: show a progress bar (rank 0 only).

    Returns:
        :class:`Metrics` ``{"loss", "accuracy", "error", "n"}``; ``accuracy`` and ``error`` are
        ``None`` when the target is not class indices.

    Example:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> x = torch.eye(4); y = torch.tensor([0, 1, 2, 1])
        >>> model = torch.nn.Linear(4, 3, bias=False)
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.eye(3, 4) * 10)
        >>> m = evaluate(model, TensorDataset(x, y), batch_size=2)
        >>> m["accuracy"], m["error"], m["n"]
        (0.75, 0.25, 4)
    """
    _check_module(model, "model")
    _check_dataset(dataset, "dataset")
    _check_int(batch_size, "batch_size", 1)
    _check_int(num_workers, "num_workers", 0)
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    module = model.module if isinstance(model, DistributedDataParallel) else model
    dev = torch.device(device) if device is not None else _module_device(module)
    context = DistributedContext()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank, local_rank, world = distributed_env()
        context = DistributedContext(rank, local_rank, world, torch.distributed.get_backend())
    return _run_evaluation(
        module,
        dataset,
        batch_size=batch_size,
        loss_fn=loss_fn if loss_fn is not None else F.cross_entropy,
        device=dev,
        num_workers=num_workers,
        context=context,
        show=progress and context.is_main,
        name="dataset",
    )


def _resolve_device(name: str, local_rank: int, world_size: int) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank if world_size > 1 else 0)
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"TrainConfig.device is {name!r} but CUDA is not available")
        if world_size > 1:
            return torch.device("cuda", local_rank)
        if device.index is None:
            return torch.device("cuda", torch.cuda.current_device())
    return device


def _resolve_monitor(config: TrainConfig, val_set: object) -> str:
    monitor = config.monitor or ("val_loss" if val_set is not None else "train_loss")
    if monitor.startswith("val_") and val_set is None:
        raise ValueError(f"TrainConfig.monitor={monitor!r} needs a val_set, but val_set is None")
    return monitor


def _build_param_groups(
    model: nn.Module, param_groups: Sequence[Mapping[str, Any]] | None, config: TrainConfig
) -> list[dict[str, Any]]:
    names = {id(p): n for n, p in model.named_parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("model has no trainable parameters (requires_grad=True)")
    if param_groups is None:
        return [{"params": trainable}]
    if isinstance(param_groups, Mapping) or not isinstance(param_groups, Iterable):
        raise TypeError("param_groups must be a sequence of dicts, each with a 'params' entry")
    groups: list[dict[str, Any]] = []
    seen: set[int] = set()
    for i, group in enumerate(param_groups):
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError(f"param_groups[{i}] must be a dict with a 'params' entry")
        g = dict(group)
        raw = g["params"]
        params = [raw] if isinstance(raw, Tensor) else list(raw)
        for p in params:
            if not isinstance(p, Tensor) or id(p) not in names:
                raise ValueError(f"param_groups[{i}] holds a parameter that is not in model")
            if id(p) in seen:
                raise ValueError(f"param_groups[{i}] repeats parameter {names[id(p)]!r}")
            seen.add(id(p))
        if "lr_multiplier" in g:
            if "lr" in g:
                raise ValueError(f"param_groups[{i}] sets both 'lr' and 'lr_multiplier'")
            multiplier = g.pop("lr_multiplier")
            if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)):
                raise ValueError(f"param_groups[{i}]['lr_multiplier'] must be a number")
            if not (math.isfinite(multiplier) and multiplier > 0):
                raise ValueError(f"param_groups[{i}]['lr_multiplier'] must be > 0")
            g["lr"] = config.lr * float(multiplier)
        g["params"] = params
        groups.append(g)
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(
            f"param_groups leaves {len(missing)} trainable parameter(s) out ({shown}); add them "
            "to a group or set requires_grad=False"
        )
    return groups


def _make_optimizer(groups: list[dict[str, Any]], config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            nesterov=config.nesterov,
        )
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(
        groups, lr=config.lr, betas=config.betas, eps=config.eps, weight_decay=config.weight_decay
    )


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
        try:
            lines = self.path.read_bytes().splitlines()
        except OSError:
            return None
        for raw in reversed(lines):
            try:
                record = json.loads(raw)
            except ValueError:  # a line torn by a killed process
                continue
            if isinstance(record, dict) and isinstance(record.get("event"), str):
                return str(record["event"])
        return None


def _recorded_epochs(events_path: Path) -> int:
    """How many ``epoch`` events ``train_events.jsonl`` records (0 when there is no log)."""
    try:
        lines = events_path.read_bytes().splitlines()
    except OSError:
        return 0
    count = 0
    for raw in lines:
        try:
            record = json.loads(raw)
        except ValueError:  # a line torn by a killed process
            continue
        if isinstance(record, dict) and record.get("event") == "epoch":
            count += 1
    return count


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


def _seed_epoch(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _improves(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _summary(record: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {record['epoch']}/{epochs}"]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        if record.get(key) is not None:
            parts.append(f"{key} {record[key]:.4f}")
    parts.append(f"lr {record['lr']:.3g}")
    parts.append(f"{record['time']:.1f}s")
    return "  ".join(parts)


# ---------------------------------------------------------------------------------------------
# fit


def fit(
    model: nn.Module,
    train_set: Dataset[Any],
    val_set: Dataset[Any] | None = None,
    *,
    config: TrainConfig,
    loss_fn: LossFn | None = None,
    param_groups: Sequence[Mapping[str, Any]] | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train ``model`` in place on ``train_set``; evaluate on ``val_set``; checkpoint; resume.

    Runs as one process, or unchanged under ``torchrun --nproc-per-node N`` (gloo on CPU,
    NCCL on CUDA; the model is wrapped in ``DistributedDataParallel`` and the data split by
    ``DistributedSampler``). The process group is created by the first ``fit`` and reused by
    every later ``fit`` and ``evaluate`` of the job; it is destroyed when the process exits.

    Args:
        model: the network; moved to the configured device. Its initial weights are the
            caller's (seed with :func:`~attnlab.train.seeding.seed_everything` before building).
        train_set: map-style dataset of ``(input, ..., target)`` items; shuffled every epoch
            with an order that depends only on ``(config.seed, epoch)``.
        val_set: optional dataset evaluated every ``config.eval_every`` epochs and at the end.
        config: the :class:`~attnlab.train.config.TrainConfig`.
        loss_fn: ``loss_fn(logits, target)`` batch-mean loss; default cross-entropy.
        param_groups: optimiser groups covering every trainable parameter exactly once: dicts
            with ``"params"`` and optionally ``"lr"`` (absolute), ``"lr_multiplier"`` (times
            ``config.lr``) or other optimiser options, e.g.
            ``spatial_transformer_param_groups(model, config.lr)``. Schedules scale every group.
        run_dir: folder for ``last.pt`` (every epoch), ``best.pt`` (each improvement of the
            monitored metric) and ``train_events.jsonl``; created if needed and checked for
            writability and free space before training. ``None`` writes nothing. Without
            ``resume`` it must not hold a ``last.pt`` already (no run is overwritten).
        resume: continue from ``run_dir/last.pt`` (model, optimiser, schedule, history, best
            metric, early-stopping state); with no checkpoint there yet, start afresh. The
            configuration must equal the checkpoint's except ``epochs``, ``num_workers``,
            ``device`` and ``dist_timeout_s`` (a longer ``epochs`` extends the run; with the
            cosine schedule that changes the rates). A finished run returns at once.
        progress: show tqdm progress bars and per-epoch summaries on stderr (rank 0 only).
        callbacks: :class:`Callback` instances.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError / TypeError: bad arguments (the message names the argument or field).
        OSError: ``run_dir`` cannot be written or lacks space, or already holds a run.
        CheckpointError: the checkpoint to resume from is corrupt, unsafe or for another model.
        FloatingPointError: the loss became NaN or infinite.

    Example:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(64, 2); y = (x[:, 0] > 0).long()
        >>> model = torch.nn.Linear(2, 2)
        >>> cfg = TrainConfig(epochs=5, batch_size=16, optimizer="sgd", lr=0.5)
        >>> result = fit(model, TensorDataset(x, y), TensorDataset(x, y), config=cfg,
        ...              progress=False)
        >>> len(result.history), result.final["val_accuracy"] > 0.9
        (5, True)
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    _check_module(model, "model")
    if isinstance(model, DistributedDataParallel):
        raise TypeError("model must be the plain module; fit wraps it in DistributedDataParallel")
    _check_dataset(train_set, "train_set")
    if val_set is not None:
        _check_dataset(val_set, "val_set")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    callbacks = tuple(callbacks)
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks[{i}] must be a Callback, got {type(cb).__name__}")
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be True or False, got {resume!r}")
    if resume and run_dir is None:
        raise ValueError("resume=True needs the run_dir that holds the checkpoint")
    monitor = _resolve_monitor(config, val_set)
    _, local_rank, world_size = distributed_env()
    per_rank = per_rank_batch_size(config.batch_size, world_size)
    device = _resolve_device(config.device, local_rank, world_size)
    groups = _build_param_groups(model, param_groups, config)

    # The group outlives this call: every fit of a torchrun job reuses it (see distributed.py).
    context = init_distributed(device_type=device.type, timeout_s=config.dist_timeout_s)
    run_path = _prepare_run_dir(run_dir, resume, model, config, context, device)
    with deterministic_mode(config.deterministic):
        return _train(
            model,
            train_set,
            val_set,
            config=config,
            loss_fn=loss_fn if loss_fn is not None else F.cross_entropy,
            groups=groups,
            run_path=run_path,
            resume=resume,
            progress=progress,
            callbacks=callbacks,
            context=context,
            device=device,
            per_rank=per_rank,
            monitor=monitor,
        )


def _train(
    model: nn.Module,
    train_set: Dataset[Any],
    val_set: Dataset[Any] | None,
    *,
    config: TrainConfig,
    loss_fn: LossFn,
    groups: list[dict[str, Any]],
    run_path: Path | None,
    resume: bool,
    progress: bool,
    callbacks: tuple[Callback, ...],
    context: DistributedContext,
    device: torch.device,
    per_rank: int,
    monitor: str,
) -> TrainResult:
    events = _EventLog(run_path / EVENTS_FILE if run_path is not None and context.is_main else None)
    progress_info: dict[str, int] = {"epoch": 0, "step": 0}
    try:
        return _train_epochs(
            model,
            train_set,
            val_set,
            config=config,
            loss_fn=loss_fn,
            groups=groups,
            run_path=run_path,
            resume=resume,
            show=progress and context.is_main,
            callbacks=callbacks,
            context=context,
            device=device,
            per_rank=per_rank,
            monitor=monitor,
            events=events,
            progress_info=progress_info,
        )
    except BaseException as err:
        events.write("error", type=type(err).__name__, message=str(err), **progress_info)
        raise


def _train_epochs(
    model: nn.Module,
    train_set: Dataset[Any],
    val_set: Dataset[Any] | None,
    *,
    config: TrainConfig,
    loss_fn: LossFn,
    groups: list[dict[str, Any]],
    run_path: Path | None,
    resume: bool,
    show: bool,
    callbacks: tuple[Callback, ...],
    context: DistributedContext,
    device: torch.device,
    per_rank: int,
    monitor: str,
    events: _EventLog,
    progress_info: dict[str, int],
) -> TrainResult:
    started = time.perf_counter()
    last_path = run_path / LAST_CHECKPOINT if run_path is not None else None
    best_path = run_path / BEST_CHECKPOINT if run_path is not None else None
    mode = metric_mode(monitor)

    model.to(device)
    optimizer = _make_optimizer(groups, config)
    for g in optimizer.param_groups:
        g.setdefault("initial_lr", g["lr"])
    plateau = PlateauState()
    history: list[dict[str, Any]] = []
    start_epoch = 0
    step = 0
    best_epoch: int | None = None
    best_metric: float | None = None
    stopped_early = False
    resumed_from: int | None = None
    best_weights: Mapping[str, Any] | None = None
    wrote_best = False

    if resume and last_path is not None and not last_path.is_file():
        _refuse_lost_progress(last_path)
    if resume and last_path is not None and last_path.is_file():
        # What ended the previous attempt: "finish" / "error" were recorded; anything else
        # (an "epoch" line last) means the process was killed (kill -9, power loss, OOM killer).
        previous = events.last_event()
        removed = _remove_stale_temporaries(last_path.parent) if context.is_main else []
        state = load_checkpoint(last_path)
        _check_resume_state(state, config, monitor, last_path)
        _load_model(model, state["model"], last_path)
        optimizer.load_state_dict(state["optimizer"])
        plateau.load_state_dict(state["scheduler"]["plateau"])
        history = [dict(r) for r in state["history"]]
        start_epoch = int(state["epoch"])
        step = int(state["step"])
        progress_info.update(epoch=start_epoch, step=step)
        best_epoch = state["best"]["epoch"]
        best_metric = state["best"]["metric"]
        stopped_early = bool(state["stopped_early"])
        set_rng_state(state["rng"])
        resumed_from = start_epoch
        wrote_best = best_path is not None and best_path.is_file()
        if config.restore_best and best_epoch is not None and not wrote_best:
            raise CheckpointError(
                f"cannot resume from {str(last_path)!r}: its best epoch {best_epoch} was saved "
                f"to {BEST_CHECKPOINT}, which is missing, and restore_best needs it; restore "
                "the file, or start over explicitly in a new run_dir (CLI: a new --out)"
            )
        if config.restore_best and wrote_best and best_path is not None:
            best_weights = load_checkpoint(best_path)["model"]
        events.write(
            "resume",
            epoch=start_epoch,
            step=step,
            checkpoint=str(last_path),
            previous_event=previous,
            interrupted=previous not in ("finish", "error"),
            removed_temporaries=removed,
        )
    else:
        events.write(
            "start",
            config=config.to_dict(),
            monitor=monitor,
            world_size=context.world_size,
            device=str(device),
            note="no checkpoint to resume from" if resume else None,
        )

    train_module: nn.Module = model
    if context.distributed:
        train_module = DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=config.find_unused_parameters,
        )
    sampler: DistributedSampler[Any] = DistributedSampler(
        train_set,
        num_replicas=context.world_size,
        rank=context.rank,
        shuffle=True,
        seed=config.seed,
    )
    loader_generator = torch.Generator()
    loader = DataLoader(
        train_set,
        batch_size=per_rank,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=config.drop_last,
        generator=loader_generator,
        pin_memory=device.type == "cuda",
    )
    steps_per_epoch = len(loader)
    if config.max_steps_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)
    if steps_per_epoch == 0:
        raise ValueError(
            f"train_set gives no full batch of {per_rank} samples per process with drop_last=True"
        )

    fit_state = FitState(
        config=config,
        model=model,
        optimizer=optimizer,
        rank=context.rank,
        world_size=context.world_size,
        epoch=start_epoch,
        step=step,
        history=history,
    )
    for cb in callbacks:
        cb.on_train_begin(fit_state)
    epoch_index = start_epoch
    while epoch_index < config.epochs and not stopped_early and not fit_state.stop_training:
        epoch = epoch_index + 1
        epoch_started = time.perf_counter()
        _seed_epoch(derive_seed(config.seed, epoch_index, context.rank))
        loader_generator.manual_seed(derive_seed(config.seed, epoch_index, context.rank, 1))
        sampler.set_epoch(epoch_index)
        factor = lr_factor(config, epoch_index) * plateau.scale
        for g in optimizer.param_groups:
            g["lr"] = g["initial_lr"] * factor
        fit_state.epoch = progress_info["epoch"] = epoch
        for cb in callbacks:
            cb.on_epoch_begin(fit_state)

        train_module.train()
        totals = _Totals()
        bar = _progress(steps_per_epoch, f"epoch {epoch}/{config.epochs}", show)
        for i, batch in enumerate(loader):
            if i >= steps_per_epoch:
                break
            inputs, target = _split_batch(batch, device, "train_set")
            optimizer.zero_grad(set_to_none=True)
            logits = logits_of(train_module(*inputs))
            loss = loss_fn(logits, target)
            value = _loss_value(loss, f"at epoch {epoch}, step {step + 1}")
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            step += 1
            totals.add(value, logits.detach(), target)
            fit_state.step = progress_info["step"] = step
            fit_state.loss = value
            bar.update(1)
            if show:
                bar.set_postfix(totals.postfix(), refresh=False)
            for cb in callbacks:
                cb.on_step_end(fit_state)
        bar.close()
        train_metrics = totals.reduce(context, device)

        record: dict[str, Any] = {
            "epoch": epoch,
            "step": step,
            "lr": config.lr * factor,
            "train_loss": train_metrics["loss"],
            "train_accuracy": train_metrics["accuracy"],
            "val_loss": None,
            "val_accuracy": None,
            "val_error": None,
        }
        if val_set is not None and (epoch % config.eval_every == 0 or epoch == config.epochs):
            val_metrics = _run_evaluation(
                model,
                val_set,
                batch_size=per_rank,
                loss_fn=loss_fn,
                device=device,
                num_workers=config.num_workers,
                context=context,
                show=show,
                name="val_set",
            )
            record["val_loss"] = val_metrics["loss"]
            record["val_accuracy"] = val_metrics["accuracy"]
            record["val_error"] = val_metrics["error"]
        record["time"] = time.perf_counter() - epoch_started
        history.append(record)

        improved = False
        value_now = record.get(monitor)
        if value_now is not None:
            if _improves(value_now, best_metric, mode, config.min_delta):
                best_metric, best_epoch, improved = float(value_now), epoch, True
            if config.schedule == "plateau":
                plateau.step(
                    value_now,
                    mode=mode,
                    patience=config.plateau_patience,
                    gamma=config.gamma,
                    floor=config.min_lr / config.lr,
                )
            patience = config.early_stopping_patience
            if patience is not None and epoch - (best_epoch or 0) >= patience:
                stopped_early = True
        if improved and config.restore_best:
            best_weights = {
                k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
            }

        if context.is_main and last_path is not None and best_path is not None:
            checkpoint = {
                "format": CHECKPOINT_FORMAT,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": {"plateau": plateau.state_dict(), "lr_factor": factor},
                "epoch": epoch,
                "step": step,
                "rng": get_rng_state(),
                "history": [dict(r) for r in history],
                "config": config.to_dict(),
                "monitor": monitor,
                "best": {"epoch": best_epoch, "metric": best_metric},
                "stopped_early": stopped_early,
                "world_size": context.world_size,
                "torch_version": str(torch.__version__),
            }
            if improved:
                save_checkpoint(best_path, checkpoint)
                wrote_best = True
            save_checkpoint(last_path, checkpoint)
        events.write("epoch", **record, improved=improved)
        if stopped_early:
            events.write("early_stop", epoch=epoch, best_epoch=best_epoch, monitor=monitor)
        if show:
            tqdm.write(_summary(record, config.epochs), file=sys.stderr)

        fit_state.epoch = epoch
        for cb in callbacks:
            cb.on_epoch_end(fit_state)
        if context.distributed:
            # every rank stops after the same epoch: rank 0's decision (early stopping and
            # callbacks) holds for all, so no rank waits in a collective the others skip
            stopped_early = broadcast_flag(stopped_early, context, device)
            fit_state.stop_training = broadcast_flag(fit_state.stop_training, context, device)
        epoch_index += 1

    if config.restore_best and best_weights is not None:
        model.load_state_dict(best_weights)
    last = history[-1] if history else {}
    result = TrainResult(
        history=history,
        monitor=monitor,
        best_epoch=best_epoch,
        best_metric=best_metric,
        final={k: v for k, v in last.items() if k not in ("epoch", "step", "time")},
        epochs_run=len(history),
        steps=step,
        stopped_early=stopped_early,
        resumed_from_epoch=resumed_from,
        world_size=context.world_size,
        checkpoint=last_path if last_path is not None and history else None,
        best_checkpoint=best_path if wrote_best else None,
        time_s=time.perf_counter() - started,
    )
    events.write(
        "finish",
        epochs_run=result.epochs_run,
        steps=step,
        stopped_early=stopped_early,
        best_epoch=best_epoch,
        best_metric=best_metric,
    )
    for cb in callbacks:
        cb.on_train_end(fit_state)
    return result
