"""Learning-rate schedules as closed-form functions of the epoch, plus the plateau state.

The rate of parameter group ``g`` in epoch ``e`` (counted from 0) is

.. math::

    \\eta_g(e) = \\eta_g^{0} \\cdot w(e) \\cdot s(e) \\cdot p(e)

with :math:`\\eta_g^{0}` the group's initial rate, :math:`w` the linear warm-up, :math:`s` the
schedule's factor (:func:`lr_factor`) and :math:`p` the factor accumulated by the plateau schedule
(:class:`PlateauState`, 1 for the other schedules). Being a function of the epoch rather than of
a chain of ``scheduler.step()`` calls, the rate of a resumed run is exactly that of an
uninterrupted one. The tests check the sequences against PyTorch's ``StepLR``, ``MultiStepLR``,
``CosineAnnealingLR`` and ``ReduceLROnPlateau``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Literal

from attnlab.train.config import TrainConfig

__all__ = ["PlateauState", "lr_factor"]


def lr_factor(config: TrainConfig, epoch: int) -> float:
    """Warm-up times schedule factor of the base rates in epoch ``epoch`` (0-based).

    The plateau schedule's reductions are not included (they depend on the metrics; see
    :class:`PlateauState`); for ``schedule="plateau"`` this is the warm-up alone.

    Example:
        >>> cfg = TrainConfig(epochs=6, lr=1.0, schedule="step", step_size=2, gamma=0.5)
        >>> [lr_factor(cfg, e) for e in range(6)]
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
        >>> cfg = TrainConfig(epochs=5, lr=1.0, schedule="cosine", warmup_epochs=1)
        >>> [round(lr_factor(cfg, e), 3) for e in range(5)]
        [0.5, 1.0, 0.854, 0.5, 0.146]
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
    factor = 1.0
    if config.schedule == "step":
        assert config.step_size is not None  # guaranteed by TrainConfig validation
        factor = config.gamma ** (epoch // config.step_size)
    elif config.schedule == "multistep":
        factor = config.gamma ** bisect_right(config.milestones, epoch)
    elif config.schedule == "cosine":
        floor = config.min_lr / config.lr
        span = config.epochs - config.warmup_epochs
        t = min(max(epoch - config.warmup_epochs, 0), span)
        factor = floor + (1.0 - floor) * (1.0 + math.cos(math.pi * t / span)) / 2.0
    if epoch < config.warmup_epochs:
        factor *= (epoch + 1) / (config.warmup_epochs + 1)
    return factor


@dataclass
class PlateauState:
    """State of the reduce-on-plateau schedule.

    After each evaluation of the monitored metric: an improvement (strictly better than the
    best so far) resets the count of bad evaluations; otherwise the count grows, and when it
    exceeds ``patience`` the factor is multiplied by ``gamma`` (never below ``floor``) and the
    count restarts. This is PyTorch's ``ReduceLROnPlateau`` with ``threshold=0`` and
    ``cooldown=0``.

    Example:
        >>> p = PlateauState()
        >>> for m in [3.0, 2.0, 2.5, 2.5, 2.5]:
        ...     p.step(m, mode="min", patience=1, gamma=0.5, floor=0.0)
        >>> p.scale, p.best
        (0.5, 2.0)
    """

    best: float | None = None
    bad_epochs: int = 0
    scale: float = 1.0

    def step(
        self,
        metric: float,
        *,
        mode: Literal["min", "max"],
        patience: int,
        gamma: float,
        floor: float,
    ) -> None:
        """Account for one evaluation of the monitored metric."""
        if self.best is None:
            better = not math.isnan(metric)
        else:
            better = metric < self.best if mode == "min" else metric > self.best
        if better:
            self.best = metric
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > patience:
            self.scale = max(self.scale * gamma, floor)
            self.bad_epochs = 0

    def state_dict(self) -> dict[str, Any]:
        """Plain-data state for checkpoints."""
        return {"best": self.best, "bad_epochs": self.bad_epochs, "scale": self.scale}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.best = state["best"]
        self.bad_epochs = int(state["bad_epochs"])
        self.scale = float(state["scale"])
