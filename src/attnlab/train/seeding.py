"""Seeding, RNG state capture and deterministic mode.

Reproducibility contract of the training loop: every epoch ``e`` on rank ``r`` starts from RNG
states derived from ``(seed, e, r)`` by :func:`derive_seed`, and the data order of epoch ``e``
depends only on ``(seed, e)``. A run resumed from the checkpoint of epoch ``k`` therefore
repeats epochs ``k + 1 ...`` of the uninterrupted run exactly, without replaying random draws.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

__all__ = [
    "derive_seed",
    "deterministic_mode",
    "get_rng_state",
    "seed_everything",
    "set_rng_state",
]


def derive_seed(seed: int, *keys: int) -> int:
    """A well-mixed 63-bit seed from ``seed`` and integer ``keys`` (e.g. epoch and rank).

    Uses :class:`numpy.random.SeedSequence`, so nearby inputs give unrelated streams.

    Example:
        >>> derive_seed(0, 1, 0) == derive_seed(0, 1, 0) != derive_seed(0, 2, 0)
        True
    """
    if seed < 0 or any(k < 0 for k in keys):
        raise ValueError(f"seed and keys must be >= 0, got seed={seed}, keys={keys}")
    state = np.random.SeedSequence([seed, *keys]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and PyTorch (CPU and every GPU).

    Call it before building a model so that its initial weights are reproducible.

    Example:
        >>> seed_everything(3); a = torch.rand(2)
        >>> seed_everything(3); bool((a == torch.rand(2)).all())
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def get_rng_state() -> dict[str, Any]:
    """The states of Python's, NumPy's and PyTorch's generators as tensors and numbers.

    Only plain data, so that it can be stored in a checkpoint loaded with ``weights_only=True``.

    Example:
        >>> state = get_rng_state(); a = torch.rand(2)
        >>> set_rng_state(state); bool((a == torch.rand(2)).all())
        True
    """
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "python": {
            "version": int(version),
            "state": torch.tensor(internal, dtype=torch.int64),
            "gauss": gauss,
        },
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generator states captured by :func:`get_rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        (
            npy["name"],
            npy["keys"].numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


@contextlib.contextmanager
def deterministic_mode(enabled: bool) -> Iterator[None]:
    """Within the block, ask PyTorch for deterministic algorithms when ``enabled``.

    Sets ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an operation without a
    deterministic implementation warns instead of failing), cuDNN ``deterministic=True`` and
    ``benchmark=False``, and ``CUBLAS_WORKSPACE_CONFIG`` when unset (needed by cuBLAS). The
    previous global settings are restored on exit. With ``enabled=False`` nothing changes.

    Example:
        >>> before = torch.are_deterministic_algorithms_enabled()
        >>> with deterministic_mode(True):
        ...     torch.are_deterministic_algorithms_enabled()
        True
        >>> torch.are_deterministic_algorithms_enabled() == before
        True
    """
    if not enabled:
        yield
        return
    was_enabled = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn_deterministic = torch.backends.cudnn.deterministic
    cudnn_benchmark = torch.backends.cudnn.benchmark
    set_cublas = "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    if set_cublas:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_enabled, warn_only=was_warn_only)
        torch.backends.cudnn.deterministic = cudnn_deterministic
        torch.backends.cudnn.benchmark = cudnn_benchmark
        if set_cublas:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
