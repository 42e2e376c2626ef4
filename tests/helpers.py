"""Test helpers: per-dtype tolerances, float64 gradcheck, mask generators."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

TOLERANCES: dict[torch.dtype, dict[str, float]] = {
    torch.float64: {"rtol": 1e-9, "atol": 1e-10},
    torch.float32: {"rtol": 1e-4, "atol": 1e-5},
    torch.float16: {"rtol": 1e-2, "atol": 1e-2},
    torch.bfloat16: {"rtol": 2e-2, "atol": 2e-2},
}


def tol(dtype: torch.dtype) -> dict[str, float]:
    """``rtol``/``atol`` for comparing results computed in ``dtype``."""
    return TOLERANCES[dtype]


def assert_close(actual: Tensor, expected: Tensor, **kwargs: Any) -> None:
    """``torch.testing.assert_close`` with the dtype's tolerance unless given."""
    opts = dict(tol(actual.dtype))
    opts.update(kwargs)
    torch.testing.assert_close(actual, expected, **opts)


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Tensor], **kwargs: Any) -> bool:
    """float64 ``torch.autograd.gradcheck`` on the floating inputs that require grad."""
    for x in inputs:
        if isinstance(x, Tensor) and x.is_floating_point():
            assert x.dtype == torch.float64, "gradcheck needs float64 inputs"
    return torch.autograd.gradcheck(fn, tuple(inputs), eps=1e-6, atol=1e-5, rtol=1e-4, **kwargs)


def random_key_mask(batch: int, k_len: int, *, min_len: int = 1, seed: int = 0) -> Tensor:
    """A ``(B, Lk)`` padding mask with random lengths in ``[min_len, Lk]`` that masks something.

    The last batch element always has length ``min_len < Lk``, so the mask provably masks.
    """
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_len, k_len + 1, (batch,), generator=g)
    lengths[-1] = min_len
    mask = torch.arange(k_len).unsqueeze(0) < lengths.unsqueeze(1)
    assert mask.any() and (~mask).any()
    return mask


def random_query_key_mask(
    batch: int, q_len: int, k_len: int, *, p: float = 0.5, empty_rows: bool = True, seed: int = 0
) -> Tensor:
    """A ``(B, Lq, Lk)`` random mask; with ``empty_rows`` query 0 of batch 0 sees no key."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(batch, q_len, k_len, generator=g) < p
    mask[:, :, 0] |= ~mask.any(-1)  # every row valid ...
    if empty_rows:
        mask[0, 0] = False  # ... except one, fully masked
    assert mask.any() and (~mask).any()
    return mask


def forward_argument_names(module: torch.nn.Module, count: int) -> list[str]:
    """The names under which ``module.forward`` reports its first ``count`` positional inputs
    (``embeddings[i]`` for a ``*embeddings`` parameter)."""
    names: list[str] = []
    for param in inspect.signature(module.forward).parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            names += [f"{param.name}[{i}]" for i in range(count - len(names))]
        elif param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            names.append(param.name)
    return names[:count]


def require_smoke_data(name: str) -> None:
    """Skip when experiment ``name`` lacks its smoke-scale data; fail instead when
    ``ATTNLAB_DATA`` is set (CI), where every dataset must be there."""
    import os

    import pytest

    from attnlab.experiments.registry import get_experiment
    from attnlab.experiments.runner import resolve_data_dir

    missing = get_experiment(name).data_missing(resolve_data_dir(None), "smoke")
    if missing:
        if os.environ.get("ATTNLAB_DATA"):
            pytest.fail(f"ATTNLAB_DATA is set but {name} lacks data: {missing}")
        pytest.skip(f"data missing: {missing}")
