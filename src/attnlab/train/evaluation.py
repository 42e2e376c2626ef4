"""Evaluation and the per-batch pieces the training loop shares with it.

:func:`evaluate` computes the mean loss, accuracy and error of a model on a dataset, on one
process or split over the processes of a ``torchrun`` job. The conventions on dataset items,
model outputs and losses are those of :mod:`attnlab.train.loop`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler
from tqdm import tqdm

from attnlab.train.distributed import DistributedContext, all_reduce_sum, current_context

__all__ = ["LossFn", "Metrics", "evaluate", "logits_of"]

LossFn = Callable[[Tensor, Tensor], Tensor]
"""``loss_fn(logits, target) -> scalar`` mean loss over the batch."""


class Metrics(TypedDict):
    """Evaluation result: mean ``loss`` over ``n`` samples, ``accuracy``, ``error = 1 - acc``."""

    loss: float
    accuracy: float | None
    error: float | None
    n: int


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


def _check_loss_fn(loss_fn: object) -> LossFn:
    """``loss_fn`` if callable, cross-entropy when ``None``."""
    if loss_fn is None:
        return F.cross_entropy
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    return loss_fn


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
    loss = _check_loss_fn(loss_fn)
    module = model.module if isinstance(model, DistributedDataParallel) else model
    dev = torch.device(device) if device is not None else _module_device(module)
    # Joins no group: inside one, each process takes its shard; outside, the whole dataset.
    context = current_context()
    return _run_evaluation(
        module,
        dataset,
        batch_size=batch_size,
        loss_fn=loss,
        device=dev,
        num_workers=num_workers,
        context=context,
        show=progress and context.is_main,
        name="dataset",
    )
