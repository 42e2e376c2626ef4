"""Attention-via-attention (Zhao & Zhang 2018): word-level attention guides character attention."""

from __future__ import annotations

import pytest
import torch

from attnlab.core.registry import list_mechanisms
from attnlab.mechanisms.attention_via_attention import (
    AttentionViaAttention,
    AttentionViaAttentionOutput,
)
from helpers import assert_close, gradcheck, random_query_key_mask
from reference.ava import ava

F64 = torch.float64
B, LQ, LW, LC, DQ, DW, DC, H = 3, 4, 5, 9, 6, 5, 4, 7


def _inputs():
    return (torch.randn(B, LQ, DQ, dtype=F64), torch.randn(B, LW, DW, dtype=F64),
            torch.randn(B, LC, DC, dtype=F64))


def _params(m: AttentionViaAttention):
    return dict(W_w=m.word_score.query_proj.weight, U_w=m.word_score.key_proj.weight,
                v_w=m.word_score.v, W_c=m.char_score.query_proj.weight,
                U_c=m.char_score.key_proj.weight, v_c=m.char_score.v)


def _padding_masks():
    word_mask = torch.arange(LW) < torch.tensor([[LW], [2], [0]])  # example 2: no valid word
    char_mask = torch.arange(LC) < torch.tensor([[LC - 1], [5], [4]])
    return word_mask, char_mask


@pytest.mark.parametrize("batch", [1, 3])
def test_shapes(batch: int, device: torch.device, dtype: torch.dtype) -> None:
    module = AttentionViaAttention(DQ, DW, DC, H, device=device, dtype=dtype)
    q = torch.randn(batch, LQ, DQ, device=device, dtype=dtype)
    w = torch.randn(batch, LW, DW, device=device, dtype=dtype)
    c = torch.randn(batch, LC, DC, device=device, dtype=dtype)
    out = module(q, w, c)
    assert isinstance(out, AttentionViaAttentionOutput)
    assert out.context.shape == (batch, LQ, DW + DC)
    assert out.weights.shape == (batch, LQ, LC) and out.word_weights.shape == (batch, LQ, LW)
    assert out.word_context.shape == (batch, LQ, DW) and out.char_context.shape == (batch, LQ, DC)
    assert out.context.dtype == dtype


@pytest.mark.parametrize("kind", ["padding", "per_query"])
def test_matches_literal_reference(kind: str) -> None:
    q, w, c = _inputs()
    module = AttentionViaAttention(DQ, DW, DC, H, dtype=F64)
    if kind == "padding":
        word_mask, char_mask = _padding_masks()
        full_w, full_c = word_mask[:, None].expand(B, LQ, LW), char_mask[:, None].expand(B, LQ, LC)
    else:
        word_mask = full_w = random_query_key_mask(B, LQ, LW, seed=1)
        char_mask = full_c = random_query_key_mask(B, LQ, LC, seed=2)
    out = module(q, w, c, word_mask=word_mask, char_mask=char_mask)
    context, char_w, word_w, word_c, char_c = ava(q, w, c, full_w, full_c, _params(module))
    assert_close(out.context, context)
    assert_close(out.weights, char_w)
    assert_close(out.word_weights, word_w)
    assert_close(out.word_context, word_c)
    assert_close(out.char_context, char_c)


def test_weight_invariants() -> None:
    q, w, c = _inputs()
    word_mask, char_mask = _padding_masks()
    out = AttentionViaAttention(DQ, DW, DC, H, dtype=F64)(
        q, w, c, word_mask=word_mask, char_mask=char_mask
    )
    for weights, mask in ((out.weights, char_mask), (out.word_weights, word_mask)):
        assert (weights >= 0).all()
        assert (weights.transpose(0, 1)[:, ~mask] == 0).all()
        assert_close(weights.sum(-1), mask.any(-1, keepdim=True).expand(B, LQ).to(F64))
    assert (out.word_context[2] == 0).all()  # no valid word: c^w = 0 ...
    assert_close(out.weights[2].sum(-1), torch.ones(LQ, dtype=F64))  # ... characters still seen


def test_word_level_guides_the_character_level() -> None:
    """The character weights depend on the words only through the word-level context."""
    q, w, c = _inputs()
    module = AttentionViaAttention(DQ, DW, DC, H, dtype=F64)
    base = module(q, w, c)
    assert not torch.allclose(module(q, torch.randn_like(w), c).weights, base.weights)
    with torch.no_grad():  # cut the guidance: W_c's columns that read c^w set to zero
        module.char_score.query_proj.weight[:, DQ:] = 0
    a = module(q, w, c).weights
    b = module(q, torch.randn_like(w), c).weights
    assert_close(a, b)


def test_padding_invariance() -> None:
    q, w, c = _inputs()
    module = AttentionViaAttention(DQ, DW, DC, H, dtype=F64)
    ref = module(q, w, c)
    w_pad = torch.cat([w, 1e3 * torch.randn(B, 2, DW, dtype=F64)], 1)
    c_pad = torch.cat([c, 1e3 * torch.randn(B, 3, DC, dtype=F64)], 1)
    word_mask = (torch.arange(LW + 2) < LW).expand(B, LW + 2)
    char_mask = (torch.arange(LC + 3) < LC).expand(B, LC + 3)
    out = module(q, w_pad, c_pad, word_mask=word_mask, char_mask=char_mask)
    assert_close(out.context, ref.context)
    assert_close(out.weights[..., :LC], ref.weights)
    assert_close(out.word_weights[..., :LW], ref.word_weights)
    assert (out.weights[..., LC:] == 0).all() and (out.word_weights[..., LW:] == 0).all()


def test_fully_masked_rows_give_zeros_and_finite_grads() -> None:
    q, w, c = (t.requires_grad_(True) for t in _inputs())
    word_mask = random_query_key_mask(B, LQ, LW, seed=3)  # query 0 of example 0: no word
    char_mask = random_query_key_mask(B, LQ, LC, seed=4)  # query 0 of example 0: no character
    module = AttentionViaAttention(DQ, DW, DC, H, dtype=F64)
    out = module(q, w, c, word_mask=word_mask, char_mask=char_mask)
    assert (out.context[0, 0] == 0).all() and (out.weights[0, 0] == 0).all()
    (out.context.sum() + out.weights.square().sum()).backward()
    for t in (q.grad, w.grad, c.grad, *(p.grad for p in module.parameters())):
        assert t is not None and torch.isfinite(t).all()


def test_gradcheck() -> None:
    q, w, c = (t[:, :2, :3].clone().requires_grad_(True) for t in _inputs())
    word_mask = torch.tensor([[True, False], [False, False], [True, True]])  # a row with no word
    char_mask = torch.tensor([[True, True], [True, False], [False, False]])  # ... no character
    module = AttentionViaAttention(3, 3, 3, 2, dtype=F64)

    def fn(query, words, chars):
        out = module(query, words, chars, word_mask=word_mask, char_mask=char_mask)
        return out.context, out.weights, out.word_weights

    assert gradcheck(fn, (q, w, c))


def test_bad_inputs_name_the_argument() -> None:
    module = AttentionViaAttention(DQ, DW, DC, H)
    q, w, c = (t.float() for t in _inputs())
    with pytest.raises(ValueError, match="query"):
        module(q[0], w, c)
    with pytest.raises(ValueError, match="word_dim"):
        module(q, c, c)
    with pytest.raises(ValueError, match="char_dim"):
        module(q, w, w)
    with pytest.raises(ValueError, match="batch size"):
        module(q, w[:1], c)
    with pytest.raises(TypeError, match="word_mask"):
        module(q, w, c, word_mask=torch.ones(B, LW))
    with pytest.raises(ValueError, match="char_mask"):
        module(q, w, c, char_mask=torch.ones(B, LW, dtype=torch.bool))


def test_registered_as_multi_level_distinctive_attention() -> None:
    names = {e.name: e for e in list_mechanisms(levels="multi", sequences="distinctive")}
    entry = names["attention_via_attention"]
    assert entry.cls is AttentionViaAttention
    module, args, kwargs = entry.example()
    assert all(m.any() and (~m).any() for m in kwargs.values())
    module(*args, **kwargs)
