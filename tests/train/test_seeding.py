"""Seeding, RNG state capture (as plain tensors) and deterministic mode."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from attnlab.train.checkpoint import load_checkpoint, save_checkpoint
from attnlab.train.seeding import (
    derive_seed,
    deterministic_mode,
    get_rng_state,
    seed_everything,
    set_rng_state,
)


def _draw() -> tuple[float, float, float, float]:
    return random.random(), random.gauss(0, 1), float(np.random.randn()), float(torch.rand(()))


def test_rng_state_round_trips_through_a_safe_checkpoint(tmp_path: Path) -> None:
    seed_everything(11)
    random.gauss(0, 1)  # leave a cached Gaussian in Python's generator
    np.random.randn()  # and in NumPy's
    path = save_checkpoint(tmp_path / "rng.pt", {"rng": get_rng_state()})
    expected = [_draw() for _ in range(3)]
    seed_everything(12)  # move every generator away
    set_rng_state(load_checkpoint(path)["rng"])
    assert [_draw() for _ in range(3)] == expected


def test_seed_everything() -> None:
    seed_everything(5)
    a = _draw()
    seed_everything(5)
    assert _draw() == a
    seed_everything(6)
    assert _draw() != a
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="seed"):
            seed_everything(bad)  # type: ignore[arg-type]


def test_derive_seed() -> None:
    seeds = {derive_seed(s, e, r) for s in range(3) for e in range(20) for r in range(4)}
    assert len(seeds) == 3 * 20 * 4
    assert all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3)
    with pytest.raises(ValueError, match="seed"):
        derive_seed(-1)


def test_deterministic_mode_restores_settings() -> None:
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    with deterministic_mode(True):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    with deterministic_mode(False):
        assert torch.are_deterministic_algorithms_enabled() == before[0]
    after = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    assert after == before
    with pytest.raises(RuntimeError, match="boom"), deterministic_mode(True):
        raise RuntimeError("boom")
    assert torch.are_deterministic_algorithms_enabled() == before[0]
