"""Single-head attention modules: against paper-literal loops, contract invariants, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from attnlab.core.registry import list_mechanisms
from attnlab.core.scores import SCORE_NAMES, CosineScore, GeneralScore, Score
from attnlab.mechanisms.attention import (
    AdditiveAttention,
    Attention,
    BahdanauAttention,
    ConcatAttention,
    CosineAttention,
    DotAttention,
    GeneralAttention,
    LocationAttention,
    LuongAttention,
    ScaledDotAttention,
)
from helpers import assert_close, gradcheck, random_key_mask, random_query_key_mask
from reference import scores as ref

F64 = torch.float64
DQ, DK, DV = 4, 6, 3
ScoreRef = Callable[[Tensor, Tensor], Tensor]
Case = tuple[Attention, ScoreRef, int, int]


def _randomise(module: torch.nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)


def _additive() -> Case:
    m = AdditiveAttention(DQ, DK, value_dim=DV, hidden_dim=5, chunk_bytes=5 * 8 * 3, dtype=F64)
    s = m.score
    return (
        m,
        lambda q, k: ref.additive_score(q, k, s.query_proj.weight, s.key_proj.weight, s.v),
        DQ,
        DK,
    )


def _dot() -> Case:
    return DotAttention(DQ, value_dim=DV), ref.dot_score, DQ, DQ


def _scaled_dot() -> Case:
    return ScaledDotAttention(DQ, value_dim=DV), ref.scaled_dot_score, DQ, DQ


def _general() -> Case:
    m = GeneralAttention(DQ, DK, value_dim=DV, dtype=F64)
    return m, lambda q, k: ref.general_score(q, k, m.score.weight), DQ, DK


def _concat() -> Case:
    m = ConcatAttention(DQ, DK, value_dim=DV, hidden_dim=5, hidden_bias=True, dtype=F64)
    _randomise(m)
    s = m.score
    return m, lambda q, k: ref.concat_score(q, k, s.weight, s.v, s.hidden_bias), DQ, DK


def _location() -> Case:
    m = LocationAttention(DQ, DK, value_dim=DV, max_length=9, dtype=F64)
    return m, lambda q, k: ref.location_score(q, k.shape[1], m.score.weight), DQ, DK


def _cosine() -> Case:
    m = CosineAttention(DQ, value_dim=DV, sharpening=3.0, dtype=F64)
    return m, lambda q, k: ref.cosine_score(q, k, 3.0), DQ, DQ


def _generic_biased() -> Case:
    m = Attention(DQ, DK, value_dim=DV, score="biased_general", dtype=F64)
    _randomise(m)
    s = m.score
    return m, lambda q, k: ref.biased_general_score(q, k, s.weight, s.key_bias), DQ, DK


def _generic_activated() -> Case:
    m = Attention(DQ, DK, value_dim=DV, score="activated_general", dtype=F64)
    _randomise(m)
    s = m.score
    return (
        m,
        lambda q, k: ref.activated_general_score(q, k, s.weight, s.score_bias, torch.tanh),
        DQ,
        DK,
    )


def _generic_deep() -> Case:
    m = Attention(DQ, DK, value_dim=DV, score="deep", hidden_dim=5, dtype=F64)
    _randomise(m)
    s = m.score
    layers = [(layer.weight, layer.bias) for layer in s.layers]

    def reference(q: Tensor, k: Tensor) -> Tensor:
        W, U, b = s.query_proj.weight, s.key_proj.weight, s.key_proj.bias
        return ref.deep_score(q, k, W, U, b, layers, s.v, torch.relu)

    return m, reference, DQ, DK


CASES: dict[str, Callable[[], Case]] = {
    "additive": _additive,
    "dot": _dot,
    "scaled_dot": _scaled_dot,
    "general": _general,
    "concat": _concat,
    "location": _location,
    "cosine": _cosine,
    "attention[biased_general]": _generic_biased,
    "attention[activated_general]": _generic_activated,
    "attention[deep]": _generic_deep,
}
NAMES = sorted(CASES)


def _inputs(
    dq: int, dk: int, *, batch: int = 2, q_len: int = 3, k_len: int = 5, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, q_len, dq, generator=g, dtype=F64),
        torch.randn(batch, k_len, dk, generator=g, dtype=F64),
        torch.randn(batch, k_len, DV, generator=g, dtype=F64),
    )


def _build(name: str) -> Case:
    module, score_ref, dq, dk = CASES[name]()
    return module.to(F64).eval(), score_ref, dq, dk


@pytest.mark.parametrize("mask_kind", ["none", "key", "query_key"])
@pytest.mark.parametrize("name", NAMES)
def test_matches_paper_loops(name: str, mask_kind: str) -> None:
    module, score_ref, dq, dk = _build(name)
    q, k, v = _inputs(dq, dk, batch=2, q_len=3, k_len=5)
    mask = {
        "none": None,
        "key": random_key_mask(2, 5, min_len=2),
        "query_key": random_query_key_mask(2, 3, 5),
    }[mask_kind]
    if mask is not None:
        assert mask.any() and (~mask).any()
    out = module(q, k, v, mask=mask)
    context, weights = ref.softmax_attention(score_ref(q, k), v, mask)
    assert_close(out.weights, weights)
    assert_close(out.context, context)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 4, 2), (3, 2, 7)], ids=["B1L1", "B1", "B3"])
@pytest.mark.parametrize("name", NAMES)
def test_shapes(name: str, shape: tuple[int, int, int], dtype: torch.dtype) -> None:
    module, _, dq, dk = _build(name)
    module = module.to(dtype)
    batch, q_len, k_len = shape
    q, k, v = (x.to(dtype) for x in _inputs(dq, dk, batch=batch, q_len=q_len, k_len=k_len))
    out = module(q, k, v)
    assert out.context.shape == (batch, q_len, DV) and out.context.dtype == dtype
    assert out.weights is not None and out.weights.shape == (batch, q_len, k_len)
    assert out._fields[:2] == ("context", "weights")


@pytest.mark.parametrize(
    "factory",
    [
        AdditiveAttention,
        DotAttention,
        ScaledDotAttention,
        GeneralAttention,
        ConcatAttention,
        CosineAttention,
        Attention,
        lambda d: LocationAttention(d, max_length=8),
    ],
    ids=["additive", "dot", "scaled_dot", "general", "concat", "cosine", "attention", "location"],
)
def test_key_defaults_to_query_and_value_to_key(factory: Callable[[int], Attention]) -> None:
    module = factory(DQ).to(F64)
    assert module.key_dim == module.value_dim == DQ
    x, k, _ = _inputs(DQ, DQ, q_len=3, k_len=5)
    assert_close(module(x).context, module(x, x, x).context)
    assert_close(module(x, k).context, module(x, k, k).context)


@pytest.mark.parametrize("name", NAMES)
def test_weight_invariants(name: str) -> None:
    module, _, dq, dk = _build(name)
    q, k, v = _inputs(dq, dk, batch=2, q_len=4, k_len=6)
    mask = random_query_key_mask(2, 4, 6)
    weights = module(q, k, v, mask=mask).weights
    assert weights is not None
    assert (weights >= 0).all()
    assert torch.all(weights[~mask] == 0)
    has_key = mask.any(-1)
    assert_close(weights.sum(-1)[has_key], torch.ones(int(has_key.sum()), dtype=F64))
    assert torch.all(weights.sum(-1)[~has_key] == 0)


@pytest.mark.parametrize("name", NAMES)
def test_padding_invariance(name: str) -> None:
    """Appending masked keys (with arbitrary content) changes nothing."""
    module, _, dq, dk = _build(name)
    q, k, v = _inputs(dq, dk, batch=2, q_len=3, k_len=5)
    mask = random_key_mask(2, 5, min_len=2)
    base = module(q, k, v, mask=mask)
    pad_k, pad_v = torch.randn(2, 3, dk, dtype=F64) * 10, torch.randn(2, 3, DV, dtype=F64) * 10
    padded_mask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], dim=1)
    padded = module(q, torch.cat([k, pad_k], dim=1), torch.cat([v, pad_v], dim=1), mask=padded_mask)
    assert padded.weights is not None and base.weights is not None
    assert_close(padded.context, base.context)
    assert_close(padded.weights[..., :5], base.weights)
    assert torch.all(padded.weights[..., 5:] == 0)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_fully_masked_rows_are_zero_with_finite_gradients(name: str, need_weights: bool) -> None:
    module, _, dq, dk = _build(name)
    q, k, v = (x.requires_grad_() for x in _inputs(dq, dk, batch=2, q_len=3, k_len=4))
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[0, 1] = False  # one query sees nothing
    mask[1] = False  # a whole batch element sees nothing
    out = module(q, k, v, mask=mask, need_weights=need_weights)
    assert torch.all(out.context[0, 1] == 0) and torch.all(out.context[1] == 0)
    loss = out.context.square().sum()
    if need_weights:
        assert out.weights is not None
        assert torch.all(out.weights[0, 1] == 0) and torch.all(out.weights[1] == 0)
        loss = loss + out.weights.square().sum()
    loss.backward()
    for x in (q, k, v, *module.parameters()):
        assert x.grad is None or torch.isfinite(x.grad).all()
    assert v.grad is not None and torch.all(v.grad[1] == 0)


@pytest.mark.parametrize("name", NAMES)
def test_fused_path_matches_weights_path_with_a_mask_that_masks(name: str) -> None:
    module, _, dq, dk = _build(name)
    q, k, v = (x.requires_grad_() for x in _inputs(dq, dk, batch=2, q_len=4, k_len=6))
    inputs = (q, v) if name == "location" else (q, k, v)  # a location score never reads keys
    for mask in (random_key_mask(2, 6, min_len=2), random_query_key_mask(2, 4, 6)):
        assert mask.any() and (~mask).any()
        full = module(q, k, v, mask=mask)
        fast = module(q, k, v, mask=mask, need_weights=False)
        assert fast.weights is None and full.weights is not None
        assert_close(fast.context, full.context)
        grads_full = torch.autograd.grad(full.context.sum(), inputs)
        grads_fast = torch.autograd.grad(fast.context.sum(), inputs)
        for a, b in zip(grads_full, grads_fast, strict=True):
            assert_close(b, a)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name: str) -> None:
    module, _, dq, dk = _build(name)
    q, k, v = _inputs(dq, dk, batch=2, q_len=3, k_len=4)
    mask = random_query_key_mask(2, 3, 4)
    inputs = (q.requires_grad_(), k.requires_grad_(name != "location"), v.requires_grad_())
    assert gradcheck(lambda q, k, v: tuple(module(q, k, v, mask=mask)), inputs)


def test_chunked_additive_attention_equals_one_tile() -> None:
    """Tiles that do not divide Lq (or Lk) change nothing, forward or backward."""
    one_tile = AdditiveAttention(DQ, DK, hidden_dim=5, dtype=F64)
    chunked = AdditiveAttention(DQ, DK, hidden_dim=5, chunk_bytes=5 * 8 * 3, dtype=F64)
    chunked.load_state_dict(one_tile.state_dict())
    q, k, _ = _inputs(DQ, DK, batch=2, q_len=7, k_len=5)
    mask = random_key_mask(2, 5, min_len=2)
    a, b = one_tile(q, k, mask=mask), chunked(q, k, mask=mask)
    assert_close(b.context, a.context)
    assert a.weights is not None and b.weights is not None
    assert_close(b.weights, a.weights)
    (a.context.sum() + a.weights[:, :, 0].sum()).backward()
    (b.context.sum() + b.weights[:, :, 0].sum()).backward()
    for (name, p), (_, r) in zip(
        chunked.named_parameters(), one_tile.named_parameters(), strict=True
    ):
        assert p.grad is not None and r.grad is not None, name
        assert_close(p.grad, r.grad)


def test_dropout_only_in_training() -> None:
    module = ScaledDotAttention(DQ, dropout=0.5).to(F64)
    q, k, v = _inputs(DQ, DQ, q_len=8, k_len=16)
    module.eval()
    assert_close(module(q, k, k).context, ScaledDotAttention(DQ).to(F64)(q, k, k).context)
    module.train()
    out = module(q, k, k)
    assert out.weights is not None
    assert_close(out.weights.sum(-1), torch.ones(2, 8, dtype=F64))  # pre-dropout weights
    reference = ScaledDotAttention(DQ).to(F64)(q, k, k).context
    assert not torch.allclose(out.context, reference)


# ------------------------------------------------------------------------------------------
# Generic Attention
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("score", SCORE_NAMES)
def test_generic_attention_accepts_every_score_name(score: str) -> None:
    dk = DQ if score in ("dot", "scaled_dot", "cosine") else DK
    module = Attention(DQ, dk, score=score, hidden_dim=5)
    q, k = torch.randn(2, 3, DQ), torch.randn(2, 5, dk)
    mask = random_key_mask(2, 5, min_len=2)
    out = module(q, k, mask=mask)
    assert out.context.shape == (2, 3, dk) and out.weights is not None
    assert torch.all(out.weights[~mask.unsqueeze(1).expand(2, 3, 5)] == 0)


def test_generic_attention_with_a_custom_distribution_and_attn_bias() -> None:
    calls: list[tuple[int, ...]] = []

    def half_softmax(scores: Tensor, mask: Tensor | None = None) -> Tensor:
        calls.append(tuple(scores.shape))
        return torch.softmax(scores / 2, dim=-1)

    module = Attention(DQ, value_dim=DV, score="dot", distribution=half_softmax).to(F64)
    q, k, v = _inputs(DQ, DQ)
    attn_bias = torch.randn(3, 5, dtype=F64)
    out = module(q, k, v, attn_bias=attn_bias)
    assert calls == [(2, 3, 5)]
    expected = torch.softmax((q @ k.transpose(1, 2) + attn_bias) / 2, dim=-1)
    assert_close(out.weights, expected)
    assert_close(out.context, expected @ v)


def test_generic_attention_accepts_a_score_instance() -> None:
    score = GeneralScore(DQ, DK)
    module = Attention(DQ, DK, score=score)
    assert module.score is score
    with pytest.raises(ValueError, match="query_dim=4"):
        Attention(5, DK, score=score)
    with pytest.raises(ValueError, match="key_dim=6"):
        Attention(DQ, 7, score=score)
    with pytest.raises(ValueError, match="query_dim == key_dim"):
        Attention(DQ, DK, score=CosineScore())
    with pytest.raises(TypeError, match="score must be"):
        Attention(DQ, score=lambda q, k: q @ k.transpose(1, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown score"):
        Attention(DQ, score="bilinear")


# ------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_name_the_argument(name: str) -> None:
    module, _, dq, dk = _build(name)
    q, k, v = _inputs(dq, dk)
    with pytest.raises(ValueError, match="query must be a 3-D"):
        module(q[0], k, v)
    with pytest.raises(ValueError, match="key must be a 3-D"):
        module(q, k[0], v)
    with pytest.raises(ValueError, match="value must be a 3-D"):
        module(q, k, v[0])
    with pytest.raises(ValueError, match="query_dim"):
        module(torch.randn(2, 3, dq + 1, dtype=F64), k, v)
    with pytest.raises(ValueError, match="key_dim"):
        module(q, torch.randn(2, 5, dk + 1, dtype=F64), v)
    with pytest.raises(ValueError, match="value_dim"):
        module(q, k, torch.randn(2, 5, DV + 1, dtype=F64))
    with pytest.raises(ValueError, match="batch size"):
        module(q, k[:1], v[:1])
    with pytest.raises(ValueError, match="same length"):
        module(q, k, v[:, :4])
    with pytest.raises(ValueError, match="value was given without key"):
        module(q, value=v)
    with pytest.raises(TypeError, match="mask must be a boolean"):
        module(q, k, v, mask=torch.ones(2, 5))
    with pytest.raises(ValueError, match=r"mask of rank 2 must have shape \(B, Lk\)"):
        module(q, k, v, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask of rank 3"):
        module(q, k, v, mask=torch.ones(2, 5, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must have shape"):
        module(q, k, v, mask=torch.ones(2, 1, 3, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="unexpected keyword"):
        module(q, k, v, key_padding_mask=torch.ones(2, 5, dtype=torch.bool))


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "pattern"),
    [
        (AdditiveAttention, {"query_dim": 0}, ValueError, "query_dim"),
        (AdditiveAttention, {"query_dim": 4, "value_dim": 0}, ValueError, "value_dim"),
        (AdditiveAttention, {"query_dim": 4, "hidden_dim": 0}, ValueError, "hidden_dim"),
        (AdditiveAttention, {"query_dim": 4, "hiden_dim": 3}, TypeError, "unexpected keyword"),
        (DotAttention, {"query_dim": 4, "key_dim": 5}, ValueError, "query_dim == key_dim"),
        (ScaledDotAttention, {"query_dim": 4, "dropout": 1.0}, ValueError, "dropout"),
        (GeneralAttention, {"query_dim": 4.0}, TypeError, "query_dim"),
        (CosineAttention, {"query_dim": 4, "sharpening": -1.0}, ValueError, "sharpening"),
        (LocationAttention, {"query_dim": 4}, TypeError, "max_length"),
        (ConcatAttention, {"query_dim": 4, "distribution": "nope"}, ValueError, "distribution"),
        (Attention, {"query_dim": 4, "scores": "dot"}, TypeError, "unexpected keyword"),
    ],
)
def test_bad_constructor_arguments(
    factory: Callable[..., Attention], kwargs: dict[str, Any], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        factory(**kwargs)


def test_location_attention_rejects_long_keys() -> None:
    module = LocationAttention(DQ, max_length=4)
    with pytest.raises(ValueError, match="max_length=4"):
        module(torch.randn(1, 2, DQ), torch.randn(1, 5, DQ))


# ------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------

REGISTERED = {
    "attention": Attention,
    "additive": AdditiveAttention,
    "dot": DotAttention,
    "scaled_dot": ScaledDotAttention,
    "general": GeneralAttention,
    "concat": ConcatAttention,
    "location": LocationAttention,
    "cosine": CosineAttention,
}


def test_author_aliases() -> None:
    assert BahdanauAttention is AdditiveAttention
    assert LuongAttention is GeneralAttention


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_registry_entry(name: str) -> None:
    entries = {e.name: e for e in list_mechanisms()}
    entry = entries[name]
    assert entry.cls is REGISTERED[name]
    assert entry.tags == {
        "sequences": ("distinctive", "self"),
        "levels": ("single",),
        "positions": ("soft",),
        "representations": ("single",),
    }
    assert entry.paper.url.startswith("https://arxiv.org/abs/")
    module, args, kwargs = entry.example()
    mask = kwargs["mask"]
    assert mask.dtype == torch.bool and mask.any() and (~mask).any()
    out = module(*args, **kwargs)
    assert out._fields[:2] == ("context", "weights")
    (out.context.sum() + out.weights.sum()).backward()
    for pname, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname
    assert isinstance(getattr(module, "score", None), Score)
