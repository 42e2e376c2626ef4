"""The optimiser :func:`~attnlab.train.loop.fit` builds from a :class:`TrainConfig`.

Parameter groups let part of a model train at another rate (e.g. a spatial transformer's
localisation network); every group must hold trainable parameters of the model, each once.
Schedules scale every group's rate by the same factor, from the rate it started with.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from attnlab.train.config import TrainConfig

__all__: list[str] = []


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
    """The configured optimiser, each group remembering its starting rate as ``initial_lr``."""
    optimizer: torch.optim.Optimizer
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            groups,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            nesterov=config.nesterov,
        )
    else:
        cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
        optimizer = cls(
            groups,
            lr=config.lr,
            betas=config.betas,
            eps=config.eps,
            weight_decay=config.weight_decay,
        )
    for g in optimizer.param_groups:
        g.setdefault("initial_lr", g["lr"])
    return optimizer


def _scale_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Set every group's rate to its starting rate times ``factor``."""
    for g in optimizer.param_groups:
        g["lr"] = g["initial_lr"] * factor
