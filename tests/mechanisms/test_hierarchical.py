"""Hierarchical attention (Yang et al. 2016, HAN): word level, then sentence level."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnlab.core.registry import list_mechanisms
from attnlab.mechanisms.hierarchical import HierarchicalAttention, HierarchicalAttentionOutput
from helpers import assert_close, gradcheck
from reference.han import han

F64 = torch.float64


def _doc_mask(lengths: list[list[int]], W: int) -> torch.Tensor:
    return torch.arange(W) < torch.tensor(lengths).unsqueeze(-1)  # (b, s, w)


def _inputs(D: int = 5):
    """3 documents of up to 4 sentences of up to 5 words; document 0 has an empty sentence in the
    middle, document 2 is empty."""
    lengths = [[5, 0, 2, 3], [1, 4, 0, 0], [0, 0, 0, 0]]
    mask = _doc_mask(lengths, 5)
    assert mask.any() and (~mask).any()
    return torch.randn(3, 4, 5, D, dtype=F64), mask


def _params(m: HierarchicalAttention):
    return dict(W_w=m.word_proj.weight, b_w=m.word_proj.bias, u_w=m.word_context,
                W_s=m.sentence_proj.weight, b_s=m.sentence_proj.bias, u_s=m.sentence_context)


class _MeanContextEncoder(nn.Module):
    """A mask-aware sentence encoder: h_i = W s_i + mean of the valid sentence vectors."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, out_dim, dtype=F64)
        self.mix = nn.Linear(dim, out_dim, bias=False, dtype=F64)

    def forward(self, sentences: torch.Tensor, sentence_mask: torch.Tensor) -> torch.Tensor:
        m = sentence_mask.unsqueeze(-1).to(sentences.dtype)
        mean = (sentences * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)
        return self.proj(sentences) + self.mix(mean)

    def literal(self, sentences: list[torch.Tensor]) -> list[torch.Tensor]:
        mean = sum(sentences) / len(sentences)
        return [self.proj(s) + self.mix(mean) for s in sentences]


@pytest.mark.parametrize("B", [1, 3])
def test_shapes(B: int, device: torch.device, dtype: torch.dtype) -> None:
    module = HierarchicalAttention(6, hidden_dim=4, device=device, dtype=dtype)
    out = module(torch.randn(B, 2, 5, 6, device=device, dtype=dtype))
    assert isinstance(out, HierarchicalAttentionOutput)
    assert out._fields == ("context", "weights", "word_weights", "sentences")
    assert out.context.shape == (B, 6) and out.weights.shape == (B, 2)
    assert out.word_weights.shape == (B, 2, 5) and out.sentences.shape == (B, 2, 6)
    assert out.context.dtype == dtype and out.context.device.type == device.type


def test_shapes_with_a_sentence_encoder_changing_the_size() -> None:
    module = HierarchicalAttention(
        5, sentence_encoder=_MeanContextEncoder(5, 7), sentence_dim=7, dtype=F64
    )
    words, mask = _inputs()
    out = module(words, mask=mask)
    assert out.context.shape == (3, 7) and out.sentences.shape == (3, 4, 5)


def test_matches_paper_literal_reference() -> None:
    words, mask = _inputs()
    module = HierarchicalAttention(5, hidden_dim=3, dtype=F64)
    out = module(words, mask=mask)
    v, sent_alpha, word_alpha, sent_vec = han(words, mask, **_params(module))
    assert_close(out.context, v)
    assert_close(out.weights, sent_alpha)
    assert_close(out.word_weights, word_alpha)
    assert_close(out.sentences, sent_vec)


def test_matches_reference_with_a_sentence_encoder() -> None:
    words, mask = _inputs()
    encoder = _MeanContextEncoder(5, 7)
    module = HierarchicalAttention(5, sentence_encoder=encoder, sentence_dim=7, dtype=F64)
    out = module(words, mask=mask)
    v, sent_alpha, word_alpha, _ = han(words, mask, **_params(module),
                                       sentence_encoder=encoder.literal)
    assert_close(out.context, v)
    assert_close(out.weights, sent_alpha)
    assert_close(out.word_weights, word_alpha)


def test_no_mask_equals_all_true_mask() -> None:
    words, _ = _inputs()
    module = HierarchicalAttention(5, dtype=F64)
    a = module(words)
    b = module(words, mask=torch.ones(words.shape[:3], dtype=torch.bool))
    assert_close(a.context, b.context)
    assert_close(a.word_weights, b.word_weights)


def test_weight_invariants_and_empty_sentences() -> None:
    words, mask = _inputs()
    out = HierarchicalAttention(5, dtype=F64)(words, mask=mask)
    sentence_valid = mask.any(-1)
    assert (out.word_weights >= 0).all() and (out.weights >= 0).all()
    assert (out.word_weights[~mask] == 0).all()
    assert_close(out.word_weights.sum(-1), sentence_valid.to(F64))
    assert (out.weights[~sentence_valid] == 0).all()  # empty sentences weigh exactly 0
    assert_close(out.weights.sum(-1), sentence_valid.any(-1).to(F64))
    assert (out.sentences[~sentence_valid] == 0).all()
    assert (out.context[2] == 0).all()  # the empty document
    assert all(torch.isfinite(t).all() for t in out)


def test_padding_invariance_at_both_levels() -> None:
    """Appending padded words (W + 3) and padded sentences (S + 2), filled with huge values,
    changes nothing."""
    torch.manual_seed(3)
    B, S, W, D = 2, 3, 4, 5
    words = torch.randn(B, S, W, D, dtype=F64)
    mask = torch.ones(B, S, W, dtype=torch.bool)
    module = HierarchicalAttention(D, dtype=F64)
    ref = module(words, mask=mask)

    more_words = torch.cat([words, 1e3 * torch.randn(B, S, 3, D, dtype=F64)], 2)
    more_words = torch.cat([more_words, 1e3 * torch.randn(B, 2, W + 3, D, dtype=F64)], 1)
    more_mask = torch.zeros(B, S + 2, W + 3, dtype=torch.bool)
    more_mask[:, :S, :W] = True
    out = module(more_words, mask=more_mask)
    assert_close(out.context, ref.context)
    assert_close(out.weights[:, :S], ref.weights)
    assert_close(out.word_weights[:, :S, :W], ref.word_weights)
    assert (out.weights[:, S:] == 0).all() and (out.word_weights[:, :, W:] == 0).all()


def test_an_empty_sentence_in_the_middle_changes_nothing() -> None:
    words, mask = _inputs()
    module = HierarchicalAttention(5, dtype=F64)
    out = module(words, mask=mask)
    kept = [0, 2, 3]  # document 0 without its empty sentence 1
    ref = module(words[:1, kept], mask=mask[:1, kept])
    assert_close(out.context[:1], ref.context)
    assert_close(out.weights[0, kept], ref.weights[0])


def test_fully_padded_inputs_have_finite_zero_gradients() -> None:
    words, mask = _inputs()
    words.requires_grad_(True)
    module = HierarchicalAttention(5, dtype=F64)
    out = module(words, mask=mask)
    (out.context.sum() + out.word_weights.square().sum()).backward()
    assert words.grad is not None and torch.isfinite(words.grad).all()
    assert (words.grad[~mask] == 0).all()  # padded words receive no gradient
    for p in module.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_gradcheck() -> None:
    words, mask = _inputs(D=3)
    words = words[:, :, :3].clone().requires_grad_(True)
    mask = mask[:, :, :3]
    module = HierarchicalAttention(3, hidden_dim=2, dtype=F64)

    def fn(x):
        out = module(x, mask=mask)
        return out.context, out.weights, out.word_weights

    assert gradcheck(fn, (words,))


def test_bad_inputs_name_the_argument() -> None:
    module = HierarchicalAttention(5)
    words = torch.randn(2, 3, 4, 5)
    with pytest.raises(ValueError, match="words"):
        module(words[0])
    with pytest.raises(ValueError, match="dim"):
        module(torch.randn(2, 3, 4, 6))
    with pytest.raises(TypeError, match="mask"):
        module(words, mask=torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match="mask"):
        module(words, mask=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="sentence_dim"):
        HierarchicalAttention(5, sentence_dim=7)
    bad = HierarchicalAttention(5, sentence_encoder=_MeanContextEncoder(5, 7), dtype=F64)
    with pytest.raises(ValueError, match="sentence_encoder"):
        bad(words.double())
    with pytest.raises(TypeError):
        module(words, word_mask=torch.ones(2, 3, 4, dtype=torch.bool))


def test_registered_as_multi_level_self_attention() -> None:
    entry = {e.name: e for e in list_mechanisms(levels="multi", sequences="self")}["hierarchical"]
    assert entry.cls is HierarchicalAttention
    module, args, kwargs = entry.example()
    mask = kwargs["mask"]
    assert mask.any() and (~mask).any() and (~mask.any(-1)).any()  # masks a whole sentence too
    out = module(*args, **kwargs)
    assert (out.weights[~mask.any(-1)] == 0).all()
