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
   ``run_dir/train_events.jsonl`` (start, resume, epoch, early stop, model, finish or error);
7. at the end, writes the best weights to ``run_dir/model`` in the ``save_pretrained`` layout
   (see :mod:`attnlab.train.export`; a model that cannot be saved gives a warning instead).

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

Layout: this module holds :func:`fit` and the trainer behind it; :func:`evaluate` and the batch
helpers live in :mod:`attnlab.train.evaluation`, the event log, :class:`Callback`,
:class:`FitState` and :class:`TrainResult` in :mod:`attnlab.train.events`, the run folder's
files and the resume checks in :mod:`attnlab.train.resume`, the optimiser in
:mod:`attnlab.train.optim`. Their public names are importable from here as well.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from attnlab.train.checkpoint import load_checkpoint, save_checkpoint
from attnlab.train.config import TrainConfig, metric_mode
from attnlab.train.distributed import (
    DistributedContext,
    broadcast_flag,
    distributed_env,
    init_distributed,
    per_rank_batch_size,
    resolve_device,
)
from attnlab.train.evaluation import (
    LossFn,
    Metrics,
    _check_dataset,
    _check_loss_fn,
    _check_module,
    _loss_value,
    _progress,
    _run_evaluation,
    _split_batch,
    _Totals,
    evaluate,
    logits_of,
)
from attnlab.train.events import EVENTS_FILE, Callback, FitState, TrainResult, _EventLog
from attnlab.train.export import MODEL_DIR, export_model
from attnlab.train.optim import _build_param_groups, _make_optimizer, _scale_lr
from attnlab.train.resume import (
    BEST_CHECKPOINT,
    CHECKPOINT_FORMAT,
    LAST_CHECKPOINT,
    _check_resume_state,
    _load_model,
    _prepare_run_dir,
    _refuse_lost_progress,
    _remove_stale_temporaries,
    _saved_best_weights,
)
from attnlab.train.schedule import PlateauState, lr_factor
from attnlab.train.seeding import (
    derive_seed,
    deterministic_mode,
    get_rng_state,
    seed_everything,
    set_rng_state,
)

# Names defined in the modules split out of this one are re-exported here, where they were
# first published: ``from attnlab.train.loop import Callback, EVENTS_FILE`` keeps working.
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


def _resolve_monitor(config: TrainConfig, val_set: object) -> str:
    monitor = config.monitor or ("val_loss" if val_set is not None else "train_loss")
    if monitor.startswith("val_") and val_set is None:
        raise ValueError(f"TrainConfig.monitor={monitor!r} needs a val_set, but val_set is None")
    return monitor


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


def _check_fit_arguments(
    model: object,
    train_set: object,
    val_set: object,
    *,
    config: object,
    loss_fn: object,
    callbacks: Sequence[Callback],
    run_dir: object,
    resume: object,
) -> tuple[LossFn, tuple[Callback, ...]]:
    """Refuse bad arguments of :func:`fit`, naming the argument; the loss and the callbacks."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    _check_module(model, "model")
    if isinstance(model, DistributedDataParallel):
        raise TypeError("model must be the plain module; fit wraps it in DistributedDataParallel")
    _check_dataset(train_set, "train_set")
    if val_set is not None:
        _check_dataset(val_set, "val_set")
    loss = _check_loss_fn(loss_fn)
    callbacks = tuple(callbacks)
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks[{i}] must be a Callback, got {type(cb).__name__}")
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be True or False, got {resume!r}")
    if resume and run_dir is None:
        raise ValueError("resume=True needs the run_dir that holds the checkpoint")
    return loss, callbacks


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
            monitored metric), ``train_events.jsonl`` and, at the end, ``model/`` (the best
            weights as ``config.json`` + ``model.safetensors``: ``attnlab.from_pretrained(
            run_dir / "model")``); created if needed and checked for writability and free
            space before training. ``None`` writes nothing. Without ``resume`` it must not hold
            a ``last.pt`` already (no run is overwritten).
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
    loss, hooks = _check_fit_arguments(
        model,
        train_set,
        val_set,
        config=config,
        loss_fn=loss_fn,
        callbacks=callbacks,
        run_dir=run_dir,
        resume=resume,
    )
    monitor = _resolve_monitor(config, val_set)
    _, local_rank, world_size = distributed_env()
    per_rank = per_rank_batch_size(config.batch_size, world_size)
    device = resolve_device(
        config.device, local_rank=local_rank, world_size=world_size, what="TrainConfig.device"
    )
    groups = _build_param_groups(model, param_groups, config)

    # The group outlives this call: every fit of a torchrun job reuses it (see distributed.py).
    context = init_distributed(device_type=device.type, timeout_s=config.dist_timeout_s)
    run_path = _prepare_run_dir(run_dir, resume, model, config, context, device)
    events = _EventLog(run_path / EVENTS_FILE if run_path is not None and context.is_main else None)
    trainer: _Trainer | None = None
    with deterministic_mode(config.deterministic):
        try:
            trainer = _Trainer(
                model,
                train_set,
                val_set,
                config=config,
                loss_fn=loss,
                groups=groups,
                callbacks=hooks,
                context=context,
                device=device,
                per_rank=per_rank,
                monitor=monitor,
                run_path=run_path,
                events=events,
                show=progress and context.is_main,
            )
            return trainer.run(resume=resume)
        except BaseException as err:
            epoch, step = (0, 0) if trainer is None else (trainer.epoch, trainer.step)
            events.write("error", type=type(err).__name__, message=str(err), epoch=epoch, step=step)
            raise


# ---------------------------------------------------------------------------------------------
# the trainer behind fit


@dataclass
class _Feed:
    """What one process trains on: its shard of ``train_set`` and the module that steps."""

    module: nn.Module  # the DistributedDataParallel wrapper under torchrun, else the model
    sampler: DistributedSampler[Any]
    loader: DataLoader[Any]
    generator: torch.Generator  # the loader's, re-seeded every epoch
    steps_per_epoch: int


class _Trainer:
    """One call of :func:`fit`: the training objects, the run's progress and its files.

    ``epoch`` (the running epoch, 1-based, or the epochs already done before the first) and
    ``step`` are what the ``error`` event records when training raises. ``state`` is what
    callbacks see; they may change it, but only its ``stop_training`` is read back.
    """

    def __init__(
        self,
        model: nn.Module,
        train_set: Dataset[Any],
        val_set: Dataset[Any] | None,
        *,
        config: TrainConfig,
        loss_fn: LossFn,
        groups: list[dict[str, Any]],
        callbacks: tuple[Callback, ...],
        context: DistributedContext,
        device: torch.device,
        per_rank: int,
        monitor: str,
        run_path: Path | None,
        events: _EventLog,
        show: bool,
    ) -> None:
        self.started = time.perf_counter()
        self.model, self.train_set, self.val_set = model, train_set, val_set
        self.config, self.loss_fn, self.callbacks = config, loss_fn, callbacks
        self.context, self.device, self.per_rank = context, device, per_rank
        self.monitor, self.mode = monitor, metric_mode(monitor)
        self.last_path = run_path / LAST_CHECKPOINT if run_path is not None else None
        self.best_path = run_path / BEST_CHECKPOINT if run_path is not None else None
        self.events, self.show = events, show
        self.epoch = 0
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.best_epoch: int | None = None
        self.best_metric: float | None = None
        self.stopped_early = False
        self.resumed_from: int | None = None
        self.best_weights: Mapping[str, Any] | None = None
        self.wrote_best = False
        self.plateau = PlateauState()
        model.to(device)
        self.optimizer = _make_optimizer(groups, config)
        self.state = FitState(
            config=config,
            model=model,
            optimizer=self.optimizer,
            rank=context.rank,
            world_size=context.world_size,
            history=self.history,
        )

    def run(self, *, resume: bool) -> TrainResult:
        """Resume or start, train the remaining epochs, and return the result."""
        self._resume_or_start(resume)
        feed = self._make_feed()
        self.state.epoch, self.state.step = self.epoch, self.step
        for cb in self.callbacks:
            cb.on_train_begin(self.state)
        for epoch_index in range(self.epoch, self.config.epochs):
            if self.stopped_early or self.state.stop_training:
                break
            self._run_epoch(feed, epoch_index + 1)
        return self._finish()

    # -- resume ----------------------------------------------------------------------------

    def _resume_or_start(self, resume: bool) -> None:
        last_path, best_path = self.last_path, self.best_path
        if resume and last_path is not None and best_path is not None:
            if last_path.is_file():
                self._resume(last_path, best_path)
                return
            _refuse_lost_progress(last_path)
        self.events.write(
            "start",
            config=self.config.to_dict(),
            monitor=self.monitor,
            world_size=self.context.world_size,
            device=str(self.device),
            note="no checkpoint to resume from" if resume else None,
        )

    def _resume(self, last_path: Path, best_path: Path) -> None:
        """Restore model, optimiser, schedule, history, best metric and RNGs from ``last.pt``."""
        # What ended the previous attempt: "finish" / "error" were recorded; anything else
        # (an "epoch" line last) means the process was killed (kill -9, power loss, OOM killer).
        previous = self.events.last_event()
        removed = _remove_stale_temporaries(last_path.parent) if self.context.is_main else []
        state = load_checkpoint(last_path)
        _check_resume_state(state, self.config, self.monitor, last_path)
        _load_model(self.model, state["model"], last_path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.plateau.load_state_dict(state["scheduler"]["plateau"])
        self.history.extend(dict(r) for r in state["history"])
        self.epoch = self.resumed_from = int(state["epoch"])
        self.step = int(state["step"])
        self.best_epoch = state["best"]["epoch"]
        self.best_metric = state["best"]["metric"]
        self.stopped_early = bool(state["stopped_early"])
        set_rng_state(state["rng"])
        self.wrote_best = best_path.is_file()
        if self.config.restore_best:
            self.best_weights = _saved_best_weights(best_path, self.best_epoch, last_path)
        self.events.write(
            "resume",
            epoch=self.epoch,
            step=self.step,
            checkpoint=str(last_path),
            previous_event=previous,
            interrupted=previous not in ("finish", "error"),
            removed_temporaries=removed,
        )

    # -- one epoch -------------------------------------------------------------------------

    def _make_feed(self) -> _Feed:
        module: nn.Module = self.model
        if self.context.distributed:
            module = DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=self.config.find_unused_parameters,
            )
        sampler: DistributedSampler[Any] = DistributedSampler(
            self.train_set,
            num_replicas=self.context.world_size,
            rank=self.context.rank,
            shuffle=True,
            seed=self.config.seed,
        )
        generator = torch.Generator()
        loader = DataLoader(
            self.train_set,
            batch_size=self.per_rank,
            sampler=sampler,
            num_workers=self.config.num_workers,
            drop_last=self.config.drop_last,
            generator=generator,
            pin_memory=self.device.type == "cuda",
        )
        steps = len(loader)
        if self.config.max_steps_per_epoch is not None:
            steps = min(steps, self.config.max_steps_per_epoch)
        if steps == 0:
            raise ValueError(
                f"train_set gives no full batch of {self.per_rank} samples per process with "
                "drop_last=True"
            )
        return _Feed(module, sampler, loader, generator, steps)

    def _run_epoch(self, feed: _Feed, epoch: int) -> None:
        started = time.perf_counter()
        factor = self._begin_epoch(feed, epoch)
        train_metrics = self._train_steps(feed, epoch)
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": self.step,
            "lr": self.config.lr * factor,
            "train_loss": train_metrics["loss"],
            "train_accuracy": train_metrics["accuracy"],
            "val_loss": None,
            "val_accuracy": None,
            "val_error": None,
        }
        val_metrics = self._validate(epoch)
        if val_metrics is not None:
            record["val_loss"] = val_metrics["loss"]
            record["val_accuracy"] = val_metrics["accuracy"]
            record["val_error"] = val_metrics["error"]
        record["time"] = time.perf_counter() - started
        self.history.append(record)
        improved = self._track_best(record)
        self._save_checkpoints(epoch, factor, improved)
        self._end_epoch(record, improved)

    def _begin_epoch(self, feed: _Feed, epoch: int) -> float:
        """Seed every RNG from ``(seed, epoch, rank)``, set the rate; the schedule's factor."""
        index, rank = epoch - 1, self.context.rank
        seed_everything(derive_seed(self.config.seed, index, rank))
        feed.generator.manual_seed(derive_seed(self.config.seed, index, rank, 1))
        feed.sampler.set_epoch(index)
        factor = lr_factor(self.config, index) * self.plateau.scale
        _scale_lr(self.optimizer, factor)
        self.state.epoch = self.epoch = epoch
        for cb in self.callbacks:
            cb.on_epoch_begin(self.state)
        return factor

    def _train_steps(self, feed: _Feed, epoch: int) -> Metrics:
        """One pass over this process's shard; the loss and accuracy summed over processes."""
        feed.module.train()
        totals = _Totals()
        bar = _progress(feed.steps_per_epoch, f"epoch {epoch}/{self.config.epochs}", self.show)
        for i, batch in enumerate(feed.loader):
            if i >= feed.steps_per_epoch:
                break
            inputs, target = _split_batch(batch, self.device, "train_set")
            self.optimizer.zero_grad(set_to_none=True)
            logits = logits_of(feed.module(*inputs))
            loss = self.loss_fn(logits, target)
            value = _loss_value(loss, f"at epoch {epoch}, step {self.step + 1}")
            loss.backward()
            if self.config.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            self.step += 1
            totals.add(value, logits.detach(), target)
            self.state.step = self.step
            self.state.loss = value
            bar.update(1)
            if self.show:
                bar.set_postfix(totals.postfix(), refresh=False)
            for cb in self.callbacks:
                cb.on_step_end(self.state)
        bar.close()
        return totals.reduce(self.context, self.device)

    def _validate(self, epoch: int) -> Metrics | None:
        """Metrics on ``val_set`` every ``eval_every`` epochs and at the last; else ``None``."""
        if self.val_set is None:
            return None
        if epoch % self.config.eval_every != 0 and epoch != self.config.epochs:
            return None
        return _run_evaluation(
            self.model,
            self.val_set,
            batch_size=self.per_rank,
            loss_fn=self.loss_fn,
            device=self.device,
            num_workers=self.config.num_workers,
            context=self.context,
            show=self.show,
            name="val_set",
        )

    def _track_best(self, record: dict[str, Any]) -> bool:
        """Update best metric, plateau and early stopping; whether the epoch improved."""
        config, improved = self.config, False
        value = record.get(self.monitor)
        if value is not None:
            if _improves(value, self.best_metric, self.mode, config.min_delta):
                self.best_metric, self.best_epoch, improved = float(value), record["epoch"], True
            if config.schedule == "plateau":
                self.plateau.step(
                    value,
                    mode=self.mode,
                    patience=config.plateau_patience,
                    gamma=config.gamma,
                    floor=config.min_lr / config.lr,
                )
            patience = config.early_stopping_patience
            if patience is not None and record["epoch"] - (self.best_epoch or 0) >= patience:
                self.stopped_early = True
        if improved and config.restore_best:
            self.best_weights = {
                k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()
            }
        return improved

    def _save_checkpoints(self, epoch: int, factor: float, improved: bool) -> None:
        """Rank 0 writes ``best.pt`` (on improvement), then ``last.pt``, each atomically."""
        if not self.context.is_main or self.last_path is None or self.best_path is None:
            return
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {"plateau": self.plateau.state_dict(), "lr_factor": factor},
            "epoch": epoch,
            "step": self.step,
            "rng": get_rng_state(),
            "history": [dict(r) for r in self.history],
            "config": self.config.to_dict(),
            "monitor": self.monitor,
            "best": {"epoch": self.best_epoch, "metric": self.best_metric},
            "stopped_early": self.stopped_early,
            "world_size": self.context.world_size,
            "torch_version": str(torch.__version__),
        }
        if improved:
            save_checkpoint(self.best_path, checkpoint)
            self.wrote_best = True
        save_checkpoint(self.last_path, checkpoint)

    def _end_epoch(self, record: dict[str, Any], improved: bool) -> None:
        """Log the epoch, call the hooks, and agree with the other ranks on stopping."""
        epoch = record["epoch"]
        self.events.write("epoch", **record, improved=improved)
        if self.stopped_early:
            self.events.write(
                "early_stop", epoch=epoch, best_epoch=self.best_epoch, monitor=self.monitor
            )
        if self.show:
            tqdm.write(_summary(record, self.config.epochs), file=sys.stderr)
        self.state.epoch = epoch
        for cb in self.callbacks:
            cb.on_epoch_end(self.state)
        if self.context.distributed:
            # every rank stops after the same epoch: rank 0's decision (early stopping and
            # callbacks) holds for all, so no rank waits in a collective the others skip
            self.stopped_early = broadcast_flag(self.stopped_early, self.context, self.device)
            self.state.stop_training = broadcast_flag(
                self.state.stop_training, self.context, self.device
            )

    # -- end -------------------------------------------------------------------------------

    def _export(self) -> Path | None:
        """Rank 0 writes the best weights to ``run_dir/model`` (the last weights when no epoch
        was ever best); the folder, or ``None`` when there is none (see :mod:`.export`)."""
        if not self.context.is_main or self.last_path is None or not self.history:
            return None
        last_epoch = self.history[-1]["epoch"]
        epoch = self.best_epoch if self.best_epoch is not None else last_epoch
        weights: Mapping[str, Any] | None = None
        restored = self.config.restore_best and self.best_weights is not None
        if epoch != last_epoch and not restored:
            if self.best_path is None or not self.best_path.is_file():
                warnings.warn(f"the trained model was not exported: the best epoch {epoch}'s "
                              f"{BEST_CHECKPOINT} is missing", RuntimeWarning, stacklevel=4)
                return None
            weights = load_checkpoint(self.best_path)["model"]
        folder = export_model(self.model, self.last_path.parent / MODEL_DIR, weights=weights)
        self.events.write("model", folder=None if folder is None else str(folder), epoch=epoch)
        return folder

    def _finish(self) -> TrainResult:
        """Restore the best weights if asked, export the best model, log ``finish``, call the
        hooks; the result."""
        if self.config.restore_best and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
        model_dir = self._export()
        last = self.history[-1] if self.history else {}
        result = TrainResult(
            history=self.history,
            monitor=self.monitor,
            best_epoch=self.best_epoch,
            best_metric=self.best_metric,
            final={k: v for k, v in last.items() if k not in ("epoch", "step", "time")},
            epochs_run=len(self.history),
            steps=self.step,
            stopped_early=self.stopped_early,
            resumed_from_epoch=self.resumed_from,
            world_size=self.context.world_size,
            checkpoint=self.last_path if self.last_path is not None and self.history else None,
            best_checkpoint=self.best_path if self.wrote_best else None,
            time_s=time.perf_counter() - self.started,
            model_dir=model_dir,
        )
        self.events.write(
            "finish",
            epochs_run=result.epochs_run,
            steps=self.step,
            stopped_early=self.stopped_early,
            best_epoch=self.best_epoch,
            best_metric=self.best_metric,
        )
        for cb in self.callbacks:
            cb.on_train_end(self.state)
        return result
