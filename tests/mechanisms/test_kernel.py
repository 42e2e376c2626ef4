"""Kernel (Performer) attention: linear path, materialised path, approximation of softmax."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

from attnlab.core.distributions import LinearNormalization
from attnlab.core.registry import list_mechanisms
from attnlab.mechanisms.attention import ScaledDotAttention
from attnlab.mechanisms.kernel import KernelAttention
from helpers import assert_close, gradcheck, random_key_mask, random_query_key_mask
from reference import scores as ref

F64 = torch.float64


def _inputs(
    batch: int = 2, q_len: int = 3, k_len: int = 5, dim: int = 4, dv: int = 3, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, q_len, dim, generator=g, dtype=F64),
        torch.randn(batch, k_len, dim, generator=g, dtype=F64),
        torch.randn(batch, k_len, dv, generator=g, dtype=F64),
    )


def _module(num_features: int = 8, seed: int = 0, **kwargs: Any) -> KernelAttention:
    return KernelAttention(
        4, value_dim=3, num_features=num_features, seed=seed, dtype=F64, **kwargs
    )


@pytest.mark.parametrize("mask_kind", ["none", "key", "query_key"])
def test_weights_match_paper_loops(mask_kind: str) -> None:
    module = _module()
    q, k, v = _inputs()
    mask = {
        "none": None,
        "key": random_key_mask(2, 5, min_len=2),
        "query_key": random_query_key_mask(2, 3, 5),
    }[mask_kind]
    out = module(q, k, v, mask=mask)
    scores = ref.kernel_score(q, k, module.score.projection)
    context, weights = ref.sum_normalized_attention(scores, v, mask)
    assert_close(out.weights, weights)
    assert_close(out.context, context)


@pytest.mark.parametrize("mask_kind", ["none", "key", "key_with_empty_sequence"])
def test_linear_path_equals_materialised_path(mask_kind: str) -> None:
    module = _module()
    q, k, v = (x.requires_grad_() for x in _inputs(q_len=4, k_len=6))
    mask = None
    if mask_kind != "none":
        mask = random_key_mask(2, 6, min_len=2)
        assert mask.any() and (~mask).any()
        if mask_kind == "key_with_empty_sequence":
            mask[1] = False
    linear = module(q, k, v, mask=mask, need_weights=False)
    full = module(q, k, v, mask=mask)
    assert linear.weights is None and full.weights is not None
    assert_close(linear.context, full.context)
    for a, b in zip(
        torch.autograd.grad(linear.context.sum(), (q, k, v)),
        torch.autograd.grad(full.context.sum(), (q, k, v)),
        strict=True,
    ):
        assert_close(a, b)
    if mask_kind == "key_with_empty_sequence":
        assert torch.all(linear.context[1] == 0) and torch.all(full.context[1] == 0)


def test_query_key_mask_without_weights_uses_the_materialised_path() -> None:
    module = _module()
    q, k, v = _inputs(q_len=4, k_len=6)
    mask = random_query_key_mask(2, 4, 6)
    fast = module(q, k, v, mask=mask, need_weights=False)
    full = module(q, k, v, mask=mask)
    assert fast.weights is None
    assert_close(fast.context, full.context)
    assert torch.all(fast.context[0, 0] == 0)  # query 0 of batch 0 sees no key


class _LargestTensor(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_linear_path_never_builds_a_query_by_key_tensor() -> None:
    module = KernelAttention(4, num_features=8)
    q, k = torch.randn(1, 64, 4), torch.randn(1, 96, 4)
    mask = torch.arange(96).unsqueeze(0) < 80
    with _LargestTensor() as probe:
        module(q, k, mask=mask, need_weights=False).context.sum()
    assert probe.largest < 64 * 96 / 4
    with _LargestTensor() as probe:
        module(q, k, mask=mask)
    assert probe.largest == 64 * 96  # the probe can fail


@pytest.mark.parametrize("need_weights", [True, False])
def test_rows_without_keys_are_zero_with_finite_gradients(need_weights: bool) -> None:
    module = _module()
    q, k, v = (x.requires_grad_() for x in _inputs(k_len=4))
    mask = torch.ones(2, 4, dtype=torch.bool)
    mask[0] = False
    out = module(q, k * 30, v, mask=mask, need_weights=need_weights)  # huge masked keys too
    assert torch.all(out.context[0] == 0) and torch.isfinite(out.context).all()
    if need_weights:
        assert out.weights is not None and torch.all(out.weights[0] == 0)
    out.context.square().sum().backward()
    for x in (q, k, v):
        assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("need_weights", [True, False])
def test_padding_invariance(need_weights: bool) -> None:
    module = _module()
    q, k, v = _inputs()
    mask = random_key_mask(2, 5, min_len=2)
    base = module(q, k, v, mask=mask, need_weights=need_weights)
    padded = module(
        q,
        torch.cat([k, 50 * torch.randn(2, 3, 4, dtype=F64)], dim=1),
        torch.cat([v, torch.randn(2, 3, 3, dtype=F64)], dim=1),
        mask=torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], dim=1),
        need_weights=need_weights,
    )
    assert_close(padded.context, base.context)
    if need_weights:
        assert padded.weights is not None and base.weights is not None
        assert_close(padded.weights[..., :5], base.weights)
        assert torch.all(padded.weights[..., 5:] == 0)


def test_weight_invariants_and_shapes(dtype: torch.dtype) -> None:
    module = KernelAttention(4, num_features=16, dtype=dtype)
    q, k, _ = (x.to(dtype) for x in _inputs(batch=1, q_len=4, k_len=7))
    mask = random_query_key_mask(1, 4, 7)
    out = module(q, k, mask=mask)
    assert out.context.shape == (1, 4, 4) and out.context.dtype == dtype
    assert out.weights is not None and out.weights.shape == (1, 4, 7)
    assert (out.weights >= 0).all() and torch.all(out.weights[~mask] == 0)
    has_key = mask.any(-1)
    assert_close(out.weights.sum(-1)[has_key], torch.ones(int(has_key.sum()), dtype=dtype))


def test_large_inputs_stay_finite_and_accurate_in_float32() -> None:
    """The stabilising shifts keep float32 features from underflowing to an all-zero row."""
    q, k, v = (x * 10 for x in _inputs(q_len=4, k_len=6))
    module = _module(num_features=32)
    exact = module(q, k, v, need_weights=False).context
    module32 = _module(num_features=32).float()
    literal = module32.score(q.float(), k.float())
    assert (literal.sum(-1) == 0).any()  # unshifted float32 features underflow here
    for need_weights in (True, False):
        approx = module32(q.float(), k.float(), v.float(), need_weights=need_weights).context
        assert torch.isfinite(approx).all()
        assert (approx.double() - exact).abs().max() < 1e-3


def test_approaches_softmax_attention_as_num_features_grows() -> None:
    """Performer's estimator converges to softmax(q k^T / sqrt(d)) attention (seeded)."""
    q, k, v = (x * 0.5 for x in _inputs(batch=2, q_len=6, k_len=8))
    mask = random_key_mask(2, 8, min_len=3)
    exact = ScaledDotAttention(4, value_dim=3)(q, k, v, mask=mask).context

    def error(num_features: int) -> float:
        errors = [
            (_module(num_features, seed=s)(q, k, v, mask=mask).context - exact).abs().mean()
            for s in range(4)
        ]
        return float(torch.stack(errors).mean())

    errors = [error(m) for m in (4, 64, 2048)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02


def test_feature_redraw_interval() -> None:
    module = _module(feature_redraw_interval=2)
    q, k, v = _inputs()
    first = module.score.projection.clone()
    module.train()
    module(q, k, v)
    module(q, k, v)
    assert torch.equal(module.score.projection, first)
    module(q, k, v)  # the third call starts a new interval with new features
    assert not torch.equal(module.score.projection, first)
    second = module.score.projection.clone()
    module.eval()
    for _ in range(5):
        module(q, k, v)
    assert torch.equal(module.score.projection, second)

    fixed = _module().train()
    for _ in range(5):
        fixed(q, k, v)
    assert torch.equal(fixed.score.projection, first)


@pytest.mark.parametrize("mask_kind", ["key", "query_key"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_gradcheck(need_weights: bool, mask_kind: str) -> None:
    module = _module()
    q, k, v = (x.requires_grad_() for x in _inputs(q_len=3, k_len=4))
    mask = (
        random_key_mask(2, 4, min_len=2) if mask_kind == "key" else random_query_key_mask(2, 3, 4)
    )
    assert gradcheck(
        lambda q, k, v: module(q, k, v, mask=mask, need_weights=need_weights).context, (q, k, v)
    )


def test_linear_normalization() -> None:
    normalize_by_sum = LinearNormalization()
    scores = torch.tensor([[[1.0, 3.0, 4.0], [2.0, 2.0, 0.0]]])
    mask = torch.tensor([[[True, True, False], [False, False, False]]])
    weights = normalize_by_sum(scores, mask)
    assert_close(weights, torch.tensor([[[0.25, 0.75, 0.0], [0.0, 0.0, 0.0]]]))
    assert_close(normalize_by_sum(scores), scores / scores.sum(-1, keepdim=True))


def test_bad_inputs_name_the_argument() -> None:
    module = _module()
    q, k, v = _inputs()
    with pytest.raises(ValueError, match="query_dim == key_dim"):
        KernelAttention(4, 5)
    with pytest.raises(ValueError, match="num_features"):
        KernelAttention(4, num_features=0)
    with pytest.raises(ValueError, match="feature_redraw_interval"):
        KernelAttention(4, feature_redraw_interval=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        KernelAttention(4, dropout=0.1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="query must be a 3-D"):
        module(q[0], k, v)
    with pytest.raises(ValueError, match="key_dim"):
        module(q, k[..., :3], v)
    with pytest.raises(ValueError, match="value_dim"):
        module(q, k, v[..., :2])
    with pytest.raises(ValueError, match="batch size"):
        module(q, k[:1], v[:1])
    with pytest.raises(TypeError, match="mask must be a boolean"):
        module(q, k, v, mask=torch.ones(2, 5))
    with pytest.raises(ValueError, match="mask of rank 2"):
        module(q, k, v, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="unexpected keyword"):
        module(q, k, v, attn_bias=torch.zeros(3, 5))


def test_registry_entry() -> None:
    (entry,) = [e for e in list_mechanisms() if e.name == "kernel"]
    assert entry.cls is KernelAttention
    assert entry.tags["sequences"] == ("distinctive", "self")
    assert entry.paper.url == "https://arxiv.org/abs/2009.14794"
    module, args, kwargs = entry.example()
    assert kwargs["mask"].any() and (~kwargs["mask"]).any()
    out = module(*args, **kwargs)
    assert out._fields[:2] == ("context", "weights")
    out.context.sum().backward()
    assert args[0].grad is not None
