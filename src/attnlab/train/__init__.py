"""The one training loop (single process or ``torchrun``), checkpoints, seeding, schedules."""

from attnlab.train.checkpoint import (
    CheckpointError,
    check_writable,
    load_checkpoint,
    save_checkpoint,
)
from attnlab.train.config import MONITORS, OPTIMIZERS, SCHEDULES, TrainConfig, metric_mode
from attnlab.train.distributed import DistributedContext, per_rank_batch_size
from attnlab.train.loop import (
    Callback,
    FitState,
    Metrics,
    TrainResult,
    evaluate,
    fit,
    logits_of,
)
from attnlab.train.schedule import PlateauState, lr_factor
from attnlab.train.seeding import derive_seed, deterministic_mode, seed_everything

__all__ = [
    "MONITORS",
    "OPTIMIZERS",
    "SCHEDULES",
    "Callback",
    "CheckpointError",
    "DistributedContext",
    "FitState",
    "Metrics",
    "PlateauState",
    "TrainConfig",
    "TrainResult",
    "check_writable",
    "derive_seed",
    "deterministic_mode",
    "evaluate",
    "fit",
    "load_checkpoint",
    "logits_of",
    "lr_factor",
    "metric_mode",
    "per_rank_batch_size",
    "save_checkpoint",
    "seed_everything",
]
