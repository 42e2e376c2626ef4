"""MultiHeadAttention's KVCache: incremental steps equal the full recomputation (float64)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from attnlab.mechanisms.multihead import KVCache, MultiHeadAttention
from helpers import assert_close, gradcheck, random_key_mask, random_query_key_mask

F64 = torch.float64
TIGHT = {"rtol": 0.0, "atol": 1e-12}


def _module(*, causal: bool = True, kdim: int | None = None, vdim: int | None = None,
            seed: int = 0) -> MultiHeadAttention:
    torch.manual_seed(seed)
    m = MultiHeadAttention(12, 3, kdim=kdim, vdim=vdim, causal=causal, dtype=F64).eval()
    with torch.no_grad():  # biases start at 0: make them matter
        for p in m.parameters():
            if p.dim() == 1:
                p.normal_()
    return m


def _step_masks(mask: Tensor | None, t: int, chunk: int) -> Tensor | None:
    """The slice of a full-sequence mask seen by queries ``t .. t + chunk - 1``."""
    if mask is None:
        return None
    if mask.dim() == 2:  # (b, j): the keys seen so far
        return mask[:, : t + chunk]
    return mask[:, t : t + chunk, : t + chunk]  # (b, i, j)


# ---------------------------------------------------------------------------------------------
# self-attention: the cache grows by the new tokens


@pytest.mark.parametrize("mask_kind", [None, "keys", "queries_keys"])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("chunk", [1, 2])
def test_causal_self_attention_steps_equal_full(
    mask_kind: str | None, need_weights: bool, chunk: int
) -> None:
    m = _module()
    x = torch.randn(3, 6, 12, dtype=F64)
    mask = {
        None: None,
        "keys": random_key_mask(3, 6, min_len=2),
        "queries_keys": random_query_key_mask(3, 6, 6),
    }[mask_kind]
    full = m(x, mask=mask)
    assert full.weights is not None
    cache = KVCache()
    contexts = []
    for t in range(0, 6, chunk):
        step = m(x[:, t : t + chunk], mask=_step_masks(mask, t, chunk), cache=cache,
                 need_weights=need_weights)
        contexts.append(step.context)
        assert cache.length == t + chunk
        if need_weights:
            assert step.weights is not None
            assert step.weights.shape == (3, 3, chunk, t + chunk)
            assert_close(step.weights, full.weights[:, :, t : t + chunk, : t + chunk], **TIGHT)
        else:
            assert step.weights is None
    assert_close(torch.cat(contexts, 1), full.context, **TIGHT)


def test_self_attention_bias_and_mixed_paths() -> None:
    # attn_bias sliced like the mask; the fused and the weights path alternate between steps
    m = _module()
    x = torch.randn(2, 5, 12, dtype=F64)
    bias = torch.randn(2, 3, 5, 5, dtype=F64)
    mask = random_key_mask(2, 5, min_len=2)
    full = m(x, mask=mask, attn_bias=bias).context
    cache = KVCache()
    steps = [
        m(x[:, t : t + 1], mask=mask[:, : t + 1], attn_bias=bias[:, :, t : t + 1, : t + 1],
          cache=cache, need_weights=t % 2 == 0).context
        for t in range(5)
    ]
    assert_close(torch.cat(steps, 1), full, **TIGHT)


def test_non_causal_step_sees_the_prefix() -> None:
    # without causal, a step attends over everything cached so far: the last row of the prefix
    m = _module(causal=False)
    x = torch.randn(2, 4, 12, dtype=F64)
    cache = KVCache()
    for t in range(4):
        step = m(x[:, t : t + 1], cache=cache).context
        assert_close(step, m(x[:, : t + 1]).context[:, -1:], **TIGHT)


def test_reorder_follows_the_batch() -> None:
    m = _module()
    x = torch.randn(3, 4, 12, dtype=F64)
    index = torch.tensor([2, 0, 0, 1])
    cache = KVCache()
    m(x[:, :2], cache=cache)
    cache.reorder(index)
    rest = m(x[index, 2:], cache=cache).context
    assert_close(rest, m(x[index]).context[:, 2:], **TIGHT)


def test_gradcheck_cached_step() -> None:
    m = _module(seed=1)
    prefix = torch.randn(2, 2, 12, dtype=F64)
    x = torch.randn(2, 1, 12, dtype=F64, requires_grad=True)
    mask = torch.tensor([[True, False, True], [True, True, True]])

    def step(x: Tensor) -> Tensor:
        cache = KVCache()
        m(prefix, cache=cache)
        return m(x, mask=mask, cache=cache).context

    assert gradcheck(step, (x,))


# ---------------------------------------------------------------------------------------------
# cross-attention: the memory is projected once


@pytest.mark.parametrize(("kdim", "vdim", "same_value"), [(None, None, True), (None, None, False),
                                                          (5, 7, False)])
@pytest.mark.parametrize("need_weights", [True, False])
def test_cross_attention_cache_equals_recompute(
    kdim: int | None, vdim: int | None, same_value: bool, need_weights: bool
) -> None:
    m = _module(causal=False, kdim=kdim, vdim=vdim)
    query = torch.randn(3, 4, 12, dtype=F64)
    key = torch.randn(3, 6, kdim or 12, dtype=F64)
    value = key if same_value else torch.randn(3, 6, vdim or 12, dtype=F64)
    mask = random_key_mask(3, 6, min_len=2)
    full = m(query, key, value, mask=mask)
    assert full.weights is not None
    cache = KVCache()
    for t in range(4):
        step = m(query[:, t : t + 1], key, value, mask=mask, cache=cache,
                 need_weights=need_weights)
        assert cache.length == 6
        assert_close(step.context, full.context[:, t : t + 1], **TIGHT)
        if need_weights:
            assert step.weights is not None
            assert_close(step.weights, full.weights[:, :, t : t + 1], **TIGHT)


def test_cross_attention_cache_is_not_projected_again() -> None:
    m = _module(causal=False)
    query, memory = torch.randn(2, 2, 12, dtype=F64), torch.randn(2, 5, 12, dtype=F64)
    cache = KVCache()
    m(query[:, :1], memory, cache=cache)
    before = m(query[:, 1:], memory).context
    assert cache.key is not None
    with torch.no_grad():
        assert m.in_proj_weight is not None
        m.in_proj_weight[12:].zero_()  # W^K and W^V: a re-projection would change the output
    assert_close(m(query[:, 1:], memory, cache=cache).context, before, **TIGHT)
    assert not torch.allclose(m(query[:, 1:], memory).context, before)  # the zeroing matters


# ---------------------------------------------------------------------------------------------
# bad inputs


def test_bad_caches_are_refused() -> None:
    m = _module()
    x = torch.randn(2, 3, 12, dtype=F64)
    with pytest.raises(TypeError, match="cache"):
        m(x, cache={"key": None})  # type: ignore[arg-type]
    cache = KVCache()
    m(x, cache=cache)
    with pytest.raises(ValueError, match="cache"):
        m(x[:1], cache=cache)
    with pytest.raises(ValueError, match="mask"):  # Lk counts the cached keys
        m(x[:, :1], mask=torch.ones(2, 1, dtype=torch.bool), cache=cache)
    assert cache.length == 3  # a refused call leaves the cache as it was
    cross = KVCache()
    memory = torch.randn(2, 4, 12, dtype=F64)
    m(x, memory, cache=cross)
    with pytest.raises(ValueError, match="memory"):
        m(x, memory[:, :3], cache=cross)
