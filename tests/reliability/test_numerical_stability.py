"""Numerical stability: large-magnitude logits, half precision on CPU, tiny temperatures.

The core (``masked_softmax``, every distribution, ``attend``) and every registered mechanism's
example (registry-driven) must give finite outputs and gradients, and weights that keep the
contract, when

* the logits are about ``1e4`` (and queries scaled so that dot products reach ``1e6``);
* the inputs and parameters are ``float16`` or ``bfloat16`` (on CPU);
* the temperature is tiny (down to ``1e-30``).

Half precision is checked against a float64 run of the same module within the dtype's
tolerance; every registered example converts (``entry.example(dtype=...)``) and runs in both
half dtypes on CPU, forward and backward.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

import attnlab
from attnlab.core.attend import attend
from attnlab.core.distributions import GumbelSoftmax, Softmax, entmax15, resolve_distribution
from attnlab.core.distributions import sparsemax as sparsemax_fn
from attnlab.core.masks import masked_softmax
from attnlab.core.scores import AdditiveScore, DotScore

ENTRIES = attnlab.list_mechanisms()
HALF = [torch.float16, torch.bfloat16]
DISTRIBUTIONS = ["softmax", "sparsemax", "entmax15", "linear", "gumbel", "gumbel_hard",
                 "categorical"]
# Half-precision tolerances against float64 for a whole module (several roundings deep).
MODULE_TOL = {torch.float16: {"rtol": 5e-2, "atol": 5e-2},
              torch.bfloat16: {"rtol": 1.5e-1, "atol": 1.5e-1}}


def _float_tensors(x: Any) -> list[Tensor]:
    if isinstance(x, Tensor):
        return [x] if x.is_floating_point() else []
    if isinstance(x, (tuple, list)):
        return [t for y in x for t in _float_tensors(y)]
    return []


def _check_rows(weights: Tensor, mask: Tensor | None = None, *, atol: float = 1e-3) -> None:
    assert torch.isfinite(weights).all()
    assert (weights >= 0).all()
    sums = weights.double().sum(-1)
    if mask is None:
        valid = torch.ones_like(sums, dtype=torch.bool)
    else:
        mask = mask.expand(weights.shape)
        assert (weights[~mask] == 0).all()
        valid = mask.any(-1)
    assert torch.allclose(sums[valid], torch.ones_like(sums[valid]), atol=atol, rtol=0)
    assert (sums[~valid] == 0).all()


# ---------------------------------------------------------------------------------------------
# the core


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, *HALF])
@pytest.mark.parametrize("temperature", [1.0, 1e-3, 1e-8, 1e-30])
def test_masked_softmax_large_logits_and_tiny_temperatures(
    dtype: torch.dtype, temperature: float
) -> None:
    limit = 6e4 if dtype == torch.float16 else 1e4  # float16 cannot hold much more
    scores = torch.tensor([[limit, -limit, 0.0, limit / 2], [1.0, 2.0, 3.0, 4.0],
                           [-limit, -limit, -limit, -limit]], dtype=dtype, requires_grad=True)
    mask = torch.tensor([[True, True, False, True], [True] * 4, [False] * 4])
    weights = masked_softmax(scores, mask, temperature=temperature)
    assert weights.dtype == dtype
    _check_rows(weights, mask)
    assert weights[0, 0] == 1  # the largest valid logit wins outright
    if temperature < 1:
        assert weights[1, 3] == 1
    weights.float().square().sum().backward()
    assert scores.grad is not None and torch.isfinite(scores.grad).all()


@pytest.mark.parametrize("temperature", [1e-3, 1e-8, 1e-30])
def test_softmax_and_gumbel_at_tiny_temperature(temperature: float) -> None:
    scores = torch.tensor([[1e4, 9999.0, -1e4], [0.0, 0.0, 0.0]], requires_grad=True)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    for dist in (Softmax(temperature), GumbelSoftmax(tau=temperature),
                 GumbelSoftmax(tau=temperature, hard=True)):
        weights = dist(scores, mask)
        _check_rows(weights, mask)
        weights.square().sum().backward()
        assert scores.grad is not None and torch.isfinite(scores.grad).all()
        scores.grad = None


@pytest.mark.parametrize("dtype", [torch.float32, *HALF])
def test_sparse_distributions_with_huge_logits(dtype: torch.dtype) -> None:
    scores = torch.tensor([[3e4, -3e4, 1.0], [1e-3, 2e-3, 0.0]]).to(dtype)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    for fn in (sparsemax_fn, entmax15):
        weights = fn(scores, mask=mask)
        assert weights.dtype == dtype
        _check_rows(weights, mask, atol=1e-2)
        assert weights[0, 0] == 1


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, *HALF])
@pytest.mark.parametrize("magnitude", [1.0, 1e3])
def test_attend_with_large_scores_and_half_precision(
    distribution: str, dtype: torch.dtype, magnitude: float
) -> None:
    """Queries scaled by ``magnitude``: dot-product scores reach ``~1e6`` in float32 (and
    overflow float16 unless the kernel guards it: the weights must stay finite)."""
    torch.manual_seed(0)
    query = (torch.randn(2, 3, 4) * magnitude).to(dtype).requires_grad_(True)
    key = torch.randn(2, 5, 4).to(dtype).requires_grad_(True)
    value = torch.randn(2, 5, 3).to(dtype).requires_grad_(True)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    if distribution == "linear":
        score: Any = lambda q, k: torch.sigmoid(q @ k.transpose(-2, -1))  # noqa: E731
    elif distribution == "softmax":
        score = DotScore()
    else:
        score = AdditiveScore(4, 4, hidden_dim=3).to(dtype)
    out = attend(query, key, value, score=score, distribution=distribution, mask=mask)
    assert out.weights is not None and out.context.dtype == dtype
    _check_rows(out.weights, mask[:, None], atol=2e-2)
    assert torch.isfinite(out.context).all()
    out.context.float().sum().backward()
    # sampled one-hot weights pass no gradient to the scores (REINFORCE uses log_prob)
    inputs = (value,) if distribution == "categorical" else (query, key, value)
    for x in inputs:
        assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("dtype", HALF)
def test_fused_and_weights_paths_agree_in_half_precision(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    query, key, value = (torch.randn(2, 3, 8).to(dtype), torch.randn(2, 6, 8).to(dtype),
                         torch.randn(2, 6, 8).to(dtype))
    mask = torch.tensor([[True] * 6, [False] * 6])
    full = attend(query, key, value, score=DotScore(), mask=mask)
    fused = attend(query, key, value, score=DotScore(), mask=mask, need_weights=False)
    torch.testing.assert_close(fused.context, full.context, **MODULE_TOL[dtype])
    assert (full.context[1] == 0).all() and (fused.context[1] == 0).all()


def test_distributions_in_half_precision_match_float64() -> None:
    torch.manual_seed(0)
    scores = torch.randn(4, 7) * 5
    mask = torch.rand(4, 7) < 0.7
    mask[0] = False
    for name in ("softmax", "sparsemax", "entmax15", "linear"):
        dist = resolve_distribution(name)
        source = scores.abs() if name == "linear" else scores
        reference = dist(source.double(), mask)
        for dtype in HALF:
            torch.testing.assert_close(
                dist(source.to(dtype), mask).double(), reference, rtol=0, atol=2e-2
            )


# ---------------------------------------------------------------------------------------------
# every registered mechanism


def _scaled(args: tuple[Any, ...], factor: float) -> tuple[Any, ...]:
    return tuple(a * factor if isinstance(a, Tensor) and a.is_floating_point() else a
                 for a in args)


def _run(entry: Any, dtype: torch.dtype, factor: float = 1.0) -> tuple[Any, Any]:
    torch.manual_seed(0)
    module, args, kwargs = entry.example(dtype=dtype)
    module.eval()  # deterministic paths (argmax for hard attention), no dropout
    return module, module(*_scaled(args, factor), **kwargs)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_registered_mechanism_with_large_inputs(entry: Any) -> None:
    """Inputs scaled by 1e4 (float32): finite outputs and gradients, weights keep the contract."""
    torch.manual_seed(0)
    module, args, kwargs = entry.example()
    module.train()
    args = tuple(a.detach().mul(1e4).requires_grad_(True) if isinstance(a, Tensor)
                 and a.is_floating_point() else a for a in args)
    out = module(*args, **kwargs)
    tensors = _float_tensors(tuple(out))
    for t in tensors:
        assert torch.isfinite(t).all(), f"{entry.name}: non-finite output at 1e4 inputs"
    loss = sum((t / (1 + t.detach().abs().max())).sum() for t in tensors if t.requires_grad)
    assert isinstance(loss, Tensor)
    loss.backward()
    for name, p in module.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), f"{entry.name}: gradient of {name}"
    for a in args:
        if isinstance(a, Tensor) and a.grad is not None:
            assert torch.isfinite(a.grad).all(), f"{entry.name}: input gradient"


@pytest.mark.parametrize("dtype", HALF, ids=["float16", "bfloat16"])
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_registered_mechanism_in_half_precision(entry: Any, dtype: torch.dtype) -> None:
    """The example converted to ``dtype``: same dtype out, finite, close to float64."""
    _, reference = _run(entry, torch.float64)
    module, out = _run(entry, dtype)
    assert out.context.dtype == dtype
    for t in _float_tensors(tuple(out)):
        assert torch.isfinite(t).all(), f"{entry.name}: non-finite output in {dtype}"
    torch.testing.assert_close(out.context.double(), reference.context, **MODULE_TOL[dtype])
    # (the spatial transformer's weights are theta, not a distribution)
    if isinstance(out.weights, Tensor) and entry.name != "spatial_transformer":
        assert (out.weights >= 0).all()
    # and a backward pass in the same precision
    module.train()
    torch.manual_seed(0)
    _, args, kwargs = entry.example(dtype=dtype)
    again = module(*args, **kwargs)
    loss = sum(t.float().sum() for t in _float_tensors(tuple(again)) if t.requires_grad)
    if isinstance(loss, Tensor):
        loss.backward()
        for name, p in module.named_parameters():
            if p.grad is not None:
                assert torch.isfinite(p.grad).all(), f"{entry.name}: gradient of {name}"
