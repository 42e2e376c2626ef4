"""The training configuration: one frozen, validated dataclass shared by every experiment.

Experiments hold their paper hyper-parameters in their own configuration and build a
:class:`TrainConfig` from it; :func:`attnlab.train.loop.fit` reads nothing else. Every field is
checked when the object is built, and a bad value raises an error that names the field.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import torch

__all__ = [
    "MONITORS",
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainConfig",
    "metric_mode",
]

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")
"""Optimiser names accepted by :attr:`TrainConfig.optimizer`."""

SCHEDULES: tuple[str, ...] = ("none", "step", "multistep", "cosine", "plateau")
"""Learning-rate schedules accepted by :attr:`TrainConfig.schedule`."""

MONITORS: tuple[str, ...] = (
    "val_loss",
    "val_accuracy",
    "val_error",
    "train_loss",
    "train_accuracy",
)
"""Metrics that best-checkpointing, early stopping and the plateau schedule can watch."""


def metric_mode(metric: str) -> Literal["min", "max"]:
    """Whether a larger (``"max"``) or smaller (``"min"``) value of ``metric`` is better.

    Example:
        >>> metric_mode("val_accuracy"), metric_mode("val_loss"), metric_mode("val_error")
        ('max', 'min', 'min')
    """
    if metric not in MONITORS:
        raise ValueError(f"metric must be one of {MONITORS}, got {metric!r}")
    return "max" if metric.endswith("accuracy") else "min"


def _where(name: str) -> str:
    return f"TrainConfig.{name}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(
        value
    )


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`~attnlab.train.loop.fit` trains a model.

    Attributes:
        epochs: number of passes over the training set (>= 1).
        batch_size: the **global** batch size: under ``torchrun --nproc-per-node N`` each process
            takes ``batch_size / N`` samples per step (``batch_size`` must be divisible by ``N``),
            so a run gives the same updates whatever the number of processes.
        optimizer: ``"sgd"``, ``"adam"`` or ``"adamw"``.
        lr: base learning rate (> 0); parameter groups may scale it (see ``fit``).
        momentum: SGD momentum in ``[0, 1)``; ignored by Adam/AdamW (they use ``betas``).
        betas: Adam/AdamW coefficients, each in ``[0, 1)``; ignored by SGD.
        eps: Adam/AdamW denominator term (> 0).
        weight_decay: L2 penalty (SGD, Adam) or decoupled decay (AdamW), >= 0.
        nesterov: Nesterov momentum; needs ``optimizer="sgd"`` and ``momentum > 0``.
        schedule: learning-rate schedule, evaluated per epoch (epochs counted from 0):
            ``"none"``; ``"step"`` (times ``gamma`` every ``step_size`` epochs); ``"multistep"``
            (times ``gamma`` at each epoch in ``milestones``); ``"cosine"`` (anneals from ``lr``
            to ``min_lr`` over the epochs after warm-up); ``"plateau"`` (times ``gamma`` when the
            monitored metric has not improved for more than ``plateau_patience`` evaluations).
        step_size: epochs between decays of ``"step"`` (required by it).
        milestones: strictly increasing epochs at which ``"multistep"`` decays (required by it).
        gamma: decay factor in ``(0, 1]`` (``(0, 1)`` for ``"plateau"``).
        plateau_patience: evaluations without improvement that ``"plateau"`` tolerates.
        min_lr: floor of ``"cosine"`` and ``"plateau"`` for the base rate, ``0 <= min_lr < lr``;
            groups with another rate get the same fraction ``min_lr / lr`` of theirs.
        warmup_epochs: epochs of linear warm-up; epoch ``e < warmup_epochs`` uses
            ``(e + 1) / (warmup_epochs + 1)`` of the scheduled rate. Step and multistep epochs
            count from the start of training; cosine starts after the warm-up.
        grad_clip: maximal global gradient norm (``clip_grad_norm_``); ``None`` = no clipping.
        early_stopping_patience: stop when the monitored metric has not improved for this many
            epochs (checked at evaluated epochs); ``None`` = never stop early.
        min_delta: an improvement must exceed this amount (>= 0).
        monitor: the metric for best checkpoint, early stopping and ``"plateau"``: one of
            :data:`MONITORS`; ``None`` = ``"val_loss"`` when a validation set is given,
            else ``"train_loss"``.
        eval_every: evaluate the validation set every this many epochs (and always after the
            last epoch).
        restore_best: load the best weights (by ``monitor``) into the model when training ends.
        seed: seed of every random stream (>= 0); epoch ``e`` on rank ``r`` starts from RNG
            states derived from ``(seed, e, r)``, so a resumed run repeats an uninterrupted one.
        deterministic: ask PyTorch for deterministic algorithms while training
            (``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN deterministic);
            the previous global setting is restored afterwards.
        device: ``"auto"`` (CUDA when available, else CPU; ``cuda:LOCAL_RANK`` under torchrun),
            or any ``torch.device`` string.
        num_workers: data-loader worker processes (0 = load in the training process).
        drop_last: drop the last incomplete batch of each epoch.
        max_steps_per_epoch: stop each epoch after this many optimiser steps (smoke runs);
            ``None`` = the whole training set.
        find_unused_parameters: passed to ``DistributedDataParallel`` (needed when some
            parameters do not take part in every forward pass).
        dist_timeout_s: timeout of distributed collectives in seconds; a job whose peer died
            fails with an error after this long instead of hanging.

    Example:
        >>> cfg = TrainConfig(epochs=2, batch_size=32, optimizer="sgd", lr=0.1, momentum=0.9)
        >>> cfg.schedule, cfg.to_dict()["momentum"]
        ('none', 0.9)
        >>> TrainConfig(epochs=0)
        Traceback (most recent call last):
        ...
        ValueError: TrainConfig.epochs must be an integer >= 1, got 0
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    nesterov: bool = False
    schedule: str = "none"
    step_size: int | None = None
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    plateau_patience: int = 10
    min_lr: float = 0.0
    warmup_epochs: int = 0
    grad_clip: float | None = None
    early_stopping_patience: int | None = None
    min_delta: float = 0.0
    monitor: str | None = None
    eval_every: int = 1
    restore_best: bool = False
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"
    num_workers: int = 0
    drop_last: bool = False
    max_steps_per_epoch: int | None = None
    find_unused_parameters: bool = False
    dist_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        self._validate()

    # -- validation ----------------------------------------------------------------------------

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _int(self, name: str, *, minimum: int, optional: bool = False) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        if not _is_int(value) or value < minimum:
            what = f"an integer >= {minimum}" + (" or None" if optional else "")
            raise ValueError(f"{_where(name)} must be {what}, got {value!r}")

    def _real(
        self,
        name: str,
        *,
        low: float,
        high: float = math.inf,
        low_open: bool = False,
        high_open: bool = True,
        optional: bool = False,
    ) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        ok = _is_real(value)
        if ok:
            ok = (value > low if low_open else value >= low) and (
                value < high if high_open else value <= high
            )
        if not ok:
            left = "(" if low_open else "["
            right = ")" if high_open else "]"
            what = f"a finite number in {left}{low}, {high}{right}" + (
                " or None" if optional else ""
            )
            raise ValueError(f"{_where(name)} must be {what}, got {value!r}")
        self._set(name, float(value))

    def _bool(self, name: str) -> None:
        value = getattr(self, name)
        if not isinstance(value, bool):
            raise ValueError(f"{_where(name)} must be True or False, got {value!r}")

    def _choice(self, name: str, choices: tuple[str, ...], *, optional: bool = False) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        if value not in choices:
            extra = " or None" if optional else ""
            raise ValueError(f"{_where(name)} must be one of {choices}{extra}, got {value!r}")

    def _validate(self) -> None:
        self._int("epochs", minimum=1)
        self._int("batch_size", minimum=1)
        self._choice("optimizer", OPTIMIZERS)
        self._real("lr", low=0.0, low_open=True)
        self._real("momentum", low=0.0, high=1.0)
        betas = self.betas
        if (
            not isinstance(betas, (tuple, list))
            or len(betas) != 2
            or not all(_is_real(b) and 0.0 <= b < 1.0 for b in betas)
        ):
            raise ValueError(
                f"{_where('betas')} must be two finite numbers in [0, 1), got {betas!r}"
            )
        self._set("betas", (float(betas[0]), float(betas[1])))
        self._real("eps", low=0.0, low_open=True)
        self._real("weight_decay", low=0.0)
        self._bool("nesterov")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0.0):
            raise ValueError(
                f"{_where('nesterov')}=True needs optimizer='sgd' and momentum > 0, got "
                f"optimizer={self.optimizer!r}, momentum={self.momentum!r}"
            )
        self._choice("schedule", SCHEDULES)
        self._int("step_size", minimum=1, optional=True)
        if self.schedule == "step" and self.step_size is None:
            raise ValueError(f"{_where('step_size')} is required by schedule='step', got None")
        milestones = self.milestones
        if not isinstance(milestones, (tuple, list)) or not all(
            _is_int(m) and m >= 1 for m in milestones
        ):
            raise ValueError(
                f"{_where('milestones')} must be a sequence of integers >= 1, got {milestones!r}"
            )
        if any(b <= a for a, b in itertools.pairwise(milestones)):
            raise ValueError(
                f"{_where('milestones')} must be strictly increasing, got {milestones!r}"
            )
        self._set("milestones", tuple(milestones))
        if self.schedule == "multistep" and not self.milestones:
            raise ValueError(f"{_where('milestones')} is required by schedule='multistep', got ()")
        self._real("gamma", low=0.0, high=1.0, low_open=True, high_open=self.schedule == "plateau")
        self._int("plateau_patience", minimum=0)
        self._real("min_lr", low=0.0)
        if self.min_lr >= self.lr:
            raise ValueError(
                f"{_where('min_lr')} must be smaller than lr={self.lr!r}, got {self.min_lr!r}"
            )
        self._int("warmup_epochs", minimum=0)
        if self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"{_where('warmup_epochs')} must be smaller than epochs={self.epochs!r}, got "
                f"{self.warmup_epochs!r}"
            )
        self._real("grad_clip", low=0.0, low_open=True, optional=True)
        self._int("early_stopping_patience", minimum=1, optional=True)
        self._real("min_delta", low=0.0)
        self._choice("monitor", MONITORS, optional=True)
        self._int("eval_every", minimum=1)
        self._bool("restore_best")
        self._int("seed", minimum=0)
        self._bool("deterministic")
        if not isinstance(self.device, str):
            raise ValueError(f"{_where('device')} must be a string, got {self.device!r}")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, ValueError) as err:
                raise ValueError(
                    f"{_where('device')} must be 'auto' or a torch device such as 'cpu' or "
                    f"'cuda:0', got {self.device!r}"
                ) from err
        self._int("num_workers", minimum=0)
        self._bool("drop_last")
        self._int("max_steps_per_epoch", minimum=1, optional=True)
        self._bool("find_unused_parameters")
        self._real("dist_timeout_s", low=0.0, low_open=True)

    # -- conversion ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a plain ``dict`` (tuples kept), e.g. for checkpoints or JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a configuration from :meth:`to_dict` output (lists become tuples).

        Unknown keys raise a ``ValueError`` naming them.

        Example:
            >>> cfg = TrainConfig(epochs=3, schedule="multistep", milestones=(1, 2))
            >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
            True
        """
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s): {', '.join(unknown)}")
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)
