"""relevance (Chefer et al. 2021), gradient x input and random attribution, in float64, against
literal references fed by an independent capture of the attention and its gradient."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from attnlab.architectures.seq2seq import Seq2Seq
from attnlab.architectures.transformer import DecoderOnlyTransformer, Transformer
from attnlab.interpret import gradient_x_input, random_attribution, relevance
from reference.relevance import (
    capture_attention_gradients,
    gradient_x_input_loop,
    relevance_loop,
    seq2seq_relevance_loop,
)

TOL = {"rtol": 1e-9, "atol": 1e-12}
F64 = torch.float64


def _transformer(shared: bool = False) -> Transformer:
    torch.manual_seed(0)
    return Transformer(11, 11, dim=8, num_heads=2, num_encoder_layers=2, num_decoder_layers=2,
                       hidden_dim=16, dropout=0.0, pad_index=0, share_embeddings=shared,
                       dtype=F64).eval()


SRC = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 0]])
TGT = torch.tensor([[1, 3, 4], [1, 5, 0]])


def _roles(model: Transformer) -> list[tuple[str, nn.Module]]:
    roles: list[tuple[str, nn.Module]] = [("source_self", l.self_attn)
                                          for l in model.encoder.layers]
    for layer in model.decoder.layers:
        roles += [("target_self", layer.self_attn), ("cross", layer.multihead_attn)]
    return roles


def _target(model: nn.Module, inputs: tuple[Any, ...], position: int) -> Tensor:
    with torch.no_grad():
        return model(*inputs).logits[:, position].argmax(-1)


# ---------------------------------------------------------------------------------------------
# relevance


@pytest.mark.parametrize("position", [1, 2])
def test_transformer_relevance_matches_the_literal_rules(position: int) -> None:
    model = _transformer()
    target = torch.tensor([3, 7])
    calls = capture_attention_gradients(model, _roles(model), (SRC, TGT), target, position)
    assert [role for role, _, _ in calls] == [
        "source_self", "source_self", "target_self", "cross", "target_self", "cross"
    ]
    R_ts, R_tt = relevance_loop(calls, source_len=4, target_len=3)
    out = relevance(model, (SRC, TGT), target, position=position)
    assert R_ts is not None and out.source_map is not None and out.prefix_map is not None
    torch.testing.assert_close(out.source_map, R_ts, **TOL)
    torch.testing.assert_close(out.prefix_map, R_tt, **TOL)
    torch.testing.assert_close(out.source, R_ts[:, position], **TOL)
    torch.testing.assert_close(out.prefix, R_tt[:, position], **TOL)
    assert out.source_map.abs().sum() > 0  # the cross-attention rule did something


def test_relevance_respects_padding_and_causality() -> None:
    model = _transformer()
    out = relevance(model, (SRC, TGT), position=1)
    assert out.source is not None and out.prefix is not None and out.prefix_map is not None
    assert out.source[1, 3] == 0  # a padded source token
    assert out.prefix[:, 2].eq(0).all()  # a later target token
    assert torch.equal(out.prefix_map, out.prefix_map.tril())  # causal decoder
    assert out.source.ge(0).all() and out.prefix_map.diagonal(dim1=1, dim2=2).ge(1).all()


def test_decoder_only_relevance_matches_the_literal_rules() -> None:
    torch.manual_seed(1)
    model = DecoderOnlyTransformer(10, dim=8, num_heads=2, num_layers=3, hidden_dim=16,
                                   dropout=0.0, dtype=F64).eval()
    tokens = torch.tensor([[1, 2, 3, 4], [4, 3, 2, 1]])
    target = _target(model, (tokens,), 2)
    roles = [("target_self", layer.self_attn) for layer in model.decoder.layers]
    calls = capture_attention_gradients(model, roles, (tokens,), target, 2)
    _, R_tt = relevance_loop(calls, source_len=None, target_len=4)
    out = relevance(model, (tokens,), position=2)
    assert out.source is None and out.source_map is None and out.prefix_map is not None
    torch.testing.assert_close(out.prefix_map, R_tt, **TOL)


@pytest.mark.parametrize("attention", ["additive", "general"])
def test_seq2seq_relevance_is_the_gradient_weighted_alignment(attention: str) -> None:
    torch.manual_seed(2)
    model = Seq2Seq(10, 12, embed_dim=8, hidden_dim=16, attention=attention, dtype=F64).eval()
    inputs = (torch.tensor([[4, 5, 6, 2], [7, 2, 0, 0]]), torch.tensor([4, 2]),
              torch.tensor([[1, 5, 6], [1, 8, 0]]))
    target = _target(model, inputs, 2)
    calls = capture_attention_gradients(model, [("cross", model.attention)], inputs, target, 2)
    expected = seq2seq_relevance_loop(calls)
    out = relevance(model, inputs, position=2)
    assert out.prefix is None and out.prefix_map is None and out.source_map is not None
    torch.testing.assert_close(out.source_map, expected, **TOL)
    torch.testing.assert_close(out.source, expected[:, 2], **TOL)
    assert out.source[1, 2:].eq(0).all()  # padded source tokens


def test_target_may_be_none_an_int_or_a_tensor() -> None:
    model = _transformer()
    predicted = _target(model, (SRC, TGT), -1)
    by_none = relevance(model, (SRC, TGT))
    by_tensor = relevance(model, (SRC, TGT), predicted)
    assert by_none.source is not None and by_tensor.source is not None
    torch.testing.assert_close(by_none.source, by_tensor.source)
    by_int = relevance(model, (SRC, TGT), 4)
    assert by_int.source is not None and not torch.allclose(by_int.source, by_none.source)


def test_a_frozen_model_is_explained_and_stays_frozen() -> None:
    model = _transformer()
    expected = relevance(model, (SRC, TGT), 3)
    for p in model.parameters():
        p.requires_grad_(False)
    got = relevance(model, (SRC, TGT), 3)
    assert got.source is not None and expected.source is not None
    torch.testing.assert_close(got.source, expected.source)
    assert not any(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_relevance_inside_no_grad() -> None:
    model = _transformer()
    with torch.no_grad():
        out = relevance(model, (SRC, TGT), 3)
    assert out.source is not None and out.source.abs().sum() > 0


def test_bad_models_and_arguments_are_rejected() -> None:
    model = _transformer()
    with pytest.raises(TypeError, match="Transformer"):
        relevance(nn.Linear(2, 2), (torch.zeros(1, 2),))
    with pytest.raises(ValueError, match="src, tgt"):
        relevance(model, (SRC,))
    with pytest.raises(ValueError, match="position"):
        relevance(model, (SRC, TGT), position=3)
    with pytest.raises(ValueError, match="target"):
        relevance(model, (SRC, TGT), 11)
    with pytest.raises(ValueError, match="target"):
        relevance(model, (SRC, TGT), torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="no attention"):
        relevance(Seq2Seq(5, 5, embed_dim=4, hidden_dim=4, attention=None),
                  (torch.tensor([[1, 2]]), torch.tensor([2]), torch.tensor([[1]])))
    local = Seq2Seq(5, 5, embed_dim=4, hidden_dim=4, attention="local-p", window_size=3)
    with pytest.raises(ValueError, match="windows"):
        relevance(local, (torch.tensor([[1, 2, 3]]), torch.tensor([3]), torch.tensor([[1, 2]])))


# ---------------------------------------------------------------------------------------------
# baselines


@pytest.mark.parametrize("shared", [False, True])
def test_gradient_x_input_matches_finite_differences(shared: bool) -> None:
    model = _transformer(shared)
    position, target = 1, torch.tensor([3, 7])
    out = gradient_x_input(model, (SRC, TGT), target, position=position)
    source = gradient_x_input_loop(model, model.src_embedding, (SRC, TGT), target, position,
                                   call=0, length=4)
    prefix = gradient_x_input_loop(model, model.tgt_embedding, (SRC, TGT), target, position,
                                   call=1 if shared else 0, length=3)
    assert out.source is not None and out.prefix is not None
    torch.testing.assert_close(out.source, source, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(out.prefix, prefix, rtol=1e-6, atol=1e-8)
    assert out.prefix[:, 2].eq(0).all() and out.source[1, 3] == 0


def test_gradient_x_input_of_seq2seq_and_decoder_only() -> None:
    torch.manual_seed(3)
    model = Seq2Seq(10, 12, embed_dim=8, hidden_dim=16, attention="general", dtype=F64).eval()
    inputs = (torch.tensor([[4, 5, 6, 2], [7, 2, 3, 0]]), torch.tensor([4, 3]),
              torch.tensor([[1, 5, 6], [1, 8, 2]]))
    target = torch.tensor([2, 9])
    out = gradient_x_input(model, inputs, target, position=2)
    source = gradient_x_input_loop(model, model.src_embed, inputs, target, 2, call=0, length=4)
    prefix = gradient_x_input_loop(model, model.tgt_embed, inputs, target, 2, call=None,
                                   length=3)
    assert out.source is not None and out.prefix is not None
    torch.testing.assert_close(out.source, source, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(out.prefix, prefix, rtol=1e-6, atol=1e-8)
    lm = DecoderOnlyTransformer(10, dim=8, num_heads=2, num_layers=2, hidden_dim=16,
                                dropout=0.0, dtype=F64).eval()
    tokens = torch.tensor([[1, 2, 3, 4]])
    got = gradient_x_input(lm, (tokens,), 5, position=2)
    expected = gradient_x_input_loop(lm, lm.embedding, (tokens,), torch.tensor([5]), 2, call=0,
                                     length=4)
    assert got.source is None and got.prefix is not None
    torch.testing.assert_close(got.prefix, expected, rtol=1e-6, atol=1e-8)


def test_random_attribution_is_seeded_and_respects_padding() -> None:
    model = _transformer()
    a = random_attribution(model, (SRC, TGT), position=1, seed=3)
    b = random_attribution(model, (SRC, TGT), position=1, seed=3)
    c = random_attribution(model, (SRC, TGT), position=1, seed=4)
    assert a.source is not None and b.source is not None and c.source is not None
    assert a.prefix is not None and b.prefix is not None
    assert torch.equal(a.source, b.source) and torch.equal(a.prefix, b.prefix)
    assert not torch.equal(a.source, c.source)
    assert a.source[1, 3] == 0 and a.prefix[:, 2].eq(0).all()
    assert a.source.ge(0).all() and a.source.lt(1).all()
    seq = Seq2Seq(10, 12, embed_dim=8, hidden_dim=16)
    r = random_attribution(seq, (torch.tensor([[4, 5, 0]]), torch.tensor([2]),
                                 torch.tensor([[1, 2]])))
    assert r.source is not None and r.source[0, 2] == 0
    with pytest.raises(ValueError, match="position"):
        random_attribution(model, (SRC, TGT), position=5)
