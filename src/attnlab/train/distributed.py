"""Process-group set-up for ``torchrun``, and the collectives the training loop needs.

A script that calls :func:`~attnlab.train.loop.fit` runs unchanged as one process or under
``torchrun --nproc-per-node N``: torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``, and :func:`init_distributed` reads them, joins the group
(gloo for CPU training, NCCL for CUDA) with a timeout, and reports who this process is.

The process group lives as long as the process: the first :func:`init_distributed` creates it,
every later call (every ``fit``, ``evaluate`` and experiment of one ``torchrun`` job) reuses it,
and it is destroyed when the process exits (or by :func:`shutdown_distributed`). Creating and
destroying it around each ``fit`` would make the ranks rendezvous again on the same port while
a slower peer still holds the old group, which fails (gloo: "connection refused") or hangs.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistributedContext",
    "all_reduce_sum",
    "broadcast_flag",
    "broadcast_object",
    "current_context",
    "distributed_env",
    "finish_distributed",
    "init_distributed",
    "per_rank_batch_size",
    "resolve_device",
    "shutdown_distributed",
]


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is in the (possibly one-process) job.

    Attributes:
        rank: global rank, 0 for the main process.
        local_rank: rank on this machine (selects the GPU).
        world_size: number of processes.
        backend: ``"gloo"``, ``"nccl"`` or ``None`` for a single process.
        initialized_here: whether attnlab created the process group (it then destroys it at
            exit, or when :func:`shutdown_distributed` is called); a group the caller created
            is left to the caller.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str | None = None
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process takes part."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from err
    if value < 0:
        raise ValueError(f"environment variable {name} must be >= 0, got {value}")
    return value


def distributed_env() -> tuple[int, int, int]:
    """``(rank, local_rank, world_size)`` from an initialised group or the torchrun variables.

    Without either, ``(0, 0, 1)``.

    Example:
        >>> rank, local_rank, world_size = distributed_env()
        >>> 0 <= rank < world_size
        True
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), _env_int("LOCAL_RANK", 0), dist.get_world_size()
    world = _env_int("WORLD_SIZE", 1)
    if world == 0:
        raise ValueError("environment variable WORLD_SIZE must be >= 1, got 0")
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if rank >= world:
        raise ValueError(f"environment variable RANK={rank} must be < WORLD_SIZE={world}")
    return rank, local_rank, world


def current_context() -> DistributedContext:
    """This process's place in the live process group; a single process's when there is none.

    Joins nothing (see :func:`init_distributed` for that): without an initialised group the
    context is rank 0 of 1 whatever the torchrun variables say.

    Example:
        >>> current_context().world_size  # no process group here
        1
    """
    if not (dist.is_available() and dist.is_initialized()):
        return DistributedContext()
    rank, local_rank, world = distributed_env()
    ours = _OWNED_GROUP["created"]
    return DistributedContext(rank, local_rank, world, str(dist.get_backend()), ours)


def resolve_device(
    name: str | torch.device, *, local_rank: int = 0, world_size: int = 1, what: str = "device"
) -> torch.device:
    """The device a process trains on, from a device name such as ``TrainConfig.device``.

    ``"auto"`` is CUDA when available (``cuda:local_rank`` when ``world_size > 1``, else
    ``cuda:0``), otherwise the CPU. A CUDA name under several processes becomes
    ``cuda:local_rank``, so that each process drives its own GPU; a bare ``"cuda"`` in one
    process becomes the current CUDA device. Any other name is returned as a device. ``what``
    names the setting in messages (e.g. ``"TrainConfig.device"``).

    Raises:
        RuntimeError: a CUDA device is asked for but CUDA is not available.

    Example:
        >>> resolve_device("cpu", local_rank=1, world_size=2)
        device(type='cpu')
    """
    if str(name) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank if world_size > 1 else 0)
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"{what} is {name!r} but CUDA is not available")
        if world_size > 1:
            return torch.device("cuda", local_rank)
        if device.index is None:
            return torch.device("cuda", torch.cuda.current_device())
    return device


def per_rank_batch_size(global_batch_size: int, world_size: int) -> int:
    """The batch each process takes so that together they take ``global_batch_size``.

    Example:
        >>> per_rank_batch_size(64, 4)
        16
        >>> per_rank_batch_size(10, 4)
        Traceback (most recent call last):
        ...
        ValueError: batch_size (global) 10 is not divisible by the number of processes 4
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if global_batch_size % world_size:
        raise ValueError(
            f"batch_size (global) {global_batch_size} is not divisible by the number of "
            f"processes {world_size}"
        )
    return global_batch_size // world_size


def init_distributed(*, device_type: str, timeout_s: float) -> DistributedContext:
    """Join the process group described by the environment, if any.

    A single process (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) gets a context with
    ``world_size=1`` and no group. An initialised group is used as is: one the caller created
    stays the caller's, one an earlier call created stays alive for the next (a ``torchrun``
    job may call ``fit`` any number of times). Otherwise the group is created with the
    ``env://`` method, backend ``"nccl"`` when ``device_type == "cuda"`` else ``"gloo"``, and
    the given timeout for collectives, and it is destroyed when the process exits.

    Args:
        device_type: ``"cpu"`` or ``"cuda"``: the device the model trains on.
        timeout_s: collective timeout; a job whose peer died fails after it.

    Example:
        >>> context = init_distributed(device_type="cpu", timeout_s=60)  # one process here
        >>> context.world_size, context.is_main
        (1, True)
    """
    if not dist.is_available():
        rank, local_rank, world = distributed_env()
        if world > 1:
            raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
        return DistributedContext()
    if dist.is_initialized():
        return current_context()
    rank, local_rank, world = distributed_env()
    if world == 1:
        return DistributedContext(rank=0, local_rank=local_rank, world_size=1)
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if not os.environ.get(name):
            raise ValueError(
                f"environment variable {name} must be set when WORLD_SIZE={world} "
                "(launch with torchrun, which sets it)"
            )
    backend = "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(
        backend=backend,
        init_method="env://",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=timeout_s),
    )
    if not _OWNED_GROUP["registered"]:
        atexit.register(_destroy_owned_group)
        _OWNED_GROUP["registered"] = True
    _OWNED_GROUP["created"] = True
    return DistributedContext(rank, local_rank, world, backend, True)


# Whether attnlab created the live process group (and so destroys it at exit).
_OWNED_GROUP: dict[str, bool] = {"created": False, "registered": False}


def _destroy_owned_group() -> None:
    if _OWNED_GROUP["created"] and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _OWNED_GROUP["created"] = False


def finish_distributed(*, synchronize: bool) -> None:
    """End of a job: destroy the process group attnlab created, after a barrier if asked.

    With ``synchronize`` (every rank reached the same clean end) the ranks first wait for each
    other, so that no rank tears its connections down while a peer is still receiving the last
    collective; without it (this rank failed, and its peers may be inside another collective)
    the group is destroyed at once. A no-op without a group of attnlab's.
    """
    if not (_OWNED_GROUP["created"] and dist.is_available() and dist.is_initialized()):
        return
    if synchronize:
        with contextlib.suppress(RuntimeError):  # a peer is gone: nothing left to wait for
            dist.barrier()
    _destroy_owned_group()


def shutdown_distributed(context: DistributedContext) -> None:
    """Destroy the process group now if attnlab created it (it is destroyed at exit anyway).

    Call it only when no rank will use the group again: a later ``fit`` creates a new one,
    which needs every rank to rendezvous again.
    """
    if context.initialized_here:
        _destroy_owned_group()


def _collective_device(context: DistributedContext, device: torch.device) -> torch.device:
    return device if context.backend == "nccl" else torch.device("cpu")


def all_reduce_sum(
    values: list[float], context: DistributedContext, device: torch.device
) -> list[float]:
    """Sum ``values`` over all processes (float64); identity for a single process."""
    if not context.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_collective_device(context, device))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.tolist()]


def broadcast_object(obj: Any, context: DistributedContext) -> Any:
    """Rank 0's picklable ``obj`` on every process; identity for a single process.

    Use it only for small, trusted values exchanged between the ranks of one job (it pickles).
    """
    if not context.distributed:
        return obj
    holder = [obj if context.is_main else None]
    if context.backend == "nccl":
        dist.broadcast_object_list(holder, src=0, device=torch.device("cuda", context.local_rank))
    else:
        dist.broadcast_object_list(holder, src=0)
    return holder[0]


def broadcast_flag(flag: bool, context: DistributedContext, device: torch.device) -> bool:
    """Rank 0's ``flag`` on every process; identity for a single process."""
    if not context.distributed:
        return flag
    t = torch.tensor([int(flag)], dtype=torch.int64, device=_collective_device(context, device))
    dist.broadcast(t, src=0)
    return bool(t.item())
