"""HierarchicalAttentionNetwork (Yang et al. 2016) and the flat attention baseline."""

from __future__ import annotations

import pytest
import torch

from attnlab.architectures.han import (
    BiGRUEncoder,
    FlatAttentionNetwork,
    FlatAttentionOutput,
    HANOutput,
    HierarchicalAttentionNetwork,
)
from attnlab.mechanisms.hierarchical import HierarchicalAttention
from helpers import assert_close, gradcheck
from reference.han_network import flat_network, han_network

F64 = torch.float64
VOCAB = 30
SIZES = {"embed_dim": 6, "hidden_dim": 4, "attention_dim": 5}
MODELS = [HierarchicalAttentionNetwork, FlatAttentionNetwork]


def _documents() -> tuple[torch.Tensor, torch.Tensor]:
    """3 documents, up to 4 sentences of up to 5 words: ragged, one padded sentence, one empty
    document; padded positions hold token 0."""
    lengths = torch.tensor([[5, 2, 3, 1], [4, 1, 0, 0], [0, 0, 0, 0]])
    mask = torch.arange(5) < lengths.unsqueeze(-1)  # (b, s, w)
    assert mask.any() and (~mask).any()
    tokens = torch.randint(1, VOCAB, (3, 4, 5)) * mask
    return tokens, mask


def _model(cls: type, **kwargs: object) -> torch.nn.Module:
    options: dict[str, object] = {**SIZES, "dtype": F64}
    options.update(kwargs)
    return cls(VOCAB, 3, **options).eval()


def test_han_is_built_on_hierarchical_attention() -> None:
    model = _model(HierarchicalAttentionNetwork)
    assert isinstance(model.attention, HierarchicalAttention)
    assert isinstance(model.attention.sentence_encoder, BiGRUEncoder)


@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("cls", MODELS)
def test_shapes_and_backward(cls: type, B: int, device: torch.device, dtype: torch.dtype) -> None:
    model = cls(VOCAB, 3, **SIZES, device=device, dtype=dtype)
    tokens, mask = _documents()
    out = model(tokens[:B].to(device), mask[:B].to(device))
    assert out.logits.shape == (B, 3) and out.logits.dtype == dtype
    if cls is HierarchicalAttentionNetwork:
        assert isinstance(out, HANOutput)
        assert out.weights.shape == (B, 4) and out.word_weights.shape == (B, 4, 5)
    else:
        assert isinstance(out, FlatAttentionOutput) and out.weights.shape == (B, 4, 5)
    assert out.document.shape == (B, 2 * SIZES["hidden_dim"])
    out.logits.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_han_matches_literal_reference() -> None:
    model = _model(HierarchicalAttentionNetwork)
    tokens, mask = _documents()
    out = model(tokens, mask)
    logits, sent_alpha, word_alpha = han_network(tokens, mask, model)
    assert_close(out.logits, logits)
    assert_close(out.weights, sent_alpha)
    assert_close(out.word_weights, word_alpha)


def test_flat_matches_literal_reference() -> None:
    model = _model(FlatAttentionNetwork)
    tokens, mask = _documents()
    out = model(tokens, mask)
    logits, weights = flat_network(tokens, mask, model)
    assert_close(out.logits, logits)
    assert_close(out.weights, weights)


def test_han_weights_are_distributions_with_zeros_at_padding() -> None:
    tokens, mask = _documents()
    out = _model(HierarchicalAttentionNetwork)(tokens, mask)
    sentences = mask.any(-1)
    assert (out.word_weights[~mask] == 0).all() and (out.weights[~sentences] == 0).all()
    assert_close(out.word_weights.sum(-1)[sentences], torch.ones(int(sentences.sum()), dtype=F64))
    assert_close(out.weights.sum(-1)[:2], torch.ones(2, dtype=F64))
    assert (out.weights[2] == 0).all()  # the empty document: zero weights, finite logits
    assert torch.isfinite(out.logits).all()


def test_flat_weights_are_distributions_with_zeros_at_padding() -> None:
    tokens, mask = _documents()
    out = _model(FlatAttentionNetwork)(tokens, mask)
    assert (out.weights[~mask] == 0).all()
    assert_close(out.weights.sum((1, 2))[:2], torch.ones(2, dtype=F64))
    assert (out.weights[2] == 0).all() and torch.isfinite(out.logits).all()


@pytest.mark.parametrize("cls", MODELS)
def test_padded_token_ids_do_not_matter(cls: type) -> None:
    model = _model(cls)
    tokens, mask = _documents()
    noisy = torch.where(mask, tokens, torch.randint(1, VOCAB, tokens.shape))
    assert not torch.equal(noisy, tokens)
    a, b = model(tokens, mask), model(noisy, mask)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("cls", MODELS)
def test_appending_padding_changes_nothing(cls: type) -> None:
    model = _model(cls)
    tokens, mask = _documents()
    big_tokens = torch.randint(1, VOCAB, (3, 6, 8))
    big_mask = torch.zeros(3, 6, 8, dtype=torch.bool)
    big_tokens[:, :4, :5], big_mask[:, :4, :5] = tokens, mask
    a, b = model(tokens, mask), model(big_tokens, big_mask)
    assert_close(b.logits, a.logits)
    assert_close(b.document, a.document)
    if cls is HierarchicalAttentionNetwork:
        assert_close(b.weights[:, :4], a.weights)
        assert (b.weights[:, 4:] == 0).all()
        assert_close(b.word_weights[:, :4, :5], a.word_weights)
    else:
        assert_close(b.weights[:, :4, :5], a.weights)
    assert (b[1 if cls is FlatAttentionNetwork else 2][~big_mask] == 0).all()


def test_default_mask_is_tokens_not_padding() -> None:
    model = _model(HierarchicalAttentionNetwork)
    tokens, mask = _documents()
    assert_close(model(tokens).logits, model(tokens, mask).logits)


def test_gradcheck_of_the_han_attention_steps() -> None:
    model = _model(HierarchicalAttentionNetwork)
    _, mask = _documents()
    words = torch.randn(3, 4, 5, 2 * SIZES["hidden_dim"], dtype=F64, requires_grad=True)

    def step(w: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = model.attention(w * mask.unsqueeze(-1), mask=mask)
        return out.context, out.weights, out.word_weights

    assert gradcheck(step, (words,))


def test_gradcheck_of_the_flat_attention_step() -> None:
    model = _model(FlatAttentionNetwork)
    h = torch.randn(2, 6, 2 * SIZES["hidden_dim"], dtype=F64, requires_grad=True)
    seq_mask = torch.arange(6) < torch.tensor([[6], [3]])
    assert seq_mask.any() and (~seq_mask).any()

    def step(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        keys = torch.tanh(model.proj(x))
        out = model.attention(model.context.expand(2, 1, -1), keys, x, mask=seq_mask)
        return out.context, out.weights

    assert gradcheck(step, (h,))


def test_bigru_encoder_ignores_padding_and_empty_rows() -> None:
    enc = BiGRUEncoder(3, 2, dtype=F64)
    x = torch.randn(3, 4, 3, dtype=F64)
    mask = torch.arange(4) < torch.tensor([[4], [2], [0]])
    out = enc(x, mask)
    assert (out[~mask] == 0).all()
    x2 = x.clone()
    x2[~mask] = 100.0
    assert_close(enc(x2, mask), out)
    full, _ = enc.gru(x[1:2, :2])
    assert_close(out[1, :2], full[0])


@pytest.mark.parametrize("cls", MODELS)
def test_bad_inputs_name_the_argument(cls: type) -> None:
    model = _model(cls)
    tokens, mask = _documents()
    with pytest.raises(TypeError, match="tokens"):
        model(tokens.float(), mask)
    with pytest.raises(ValueError, match="tokens"):
        model(tokens[0], mask[0])
    with pytest.raises(ValueError, match="tokens"):
        model(tokens + VOCAB, mask)
    with pytest.raises(TypeError, match="mask"):
        model(tokens, mask.long())
    with pytest.raises(ValueError, match="mask"):
        model(tokens, mask[:, :3])
    holes = mask.clone()
    holes[0, 0, 1] = False  # a gap inside a sentence
    with pytest.raises(ValueError, match="mask"):
        model(tokens, holes)
    gap = mask.clone()
    gap[1, 0] = False  # an empty sentence before a non-empty one
    with pytest.raises(ValueError, match="mask"):
        model(tokens, gap)
    with pytest.raises(ValueError, match="vocab_size"):
        cls(0, 3)
    with pytest.raises(ValueError, match="num_classes"):
        cls(VOCAB, 0)
    with pytest.raises(ValueError, match="pad_index"):
        cls(VOCAB, 3, pad_index=VOCAB)
    with pytest.warns(DeprecationWarning, match="padding_idx= is deprecated"):
        assert cls(VOCAB, 3, padding_idx=2).pad_index == 2
    with pytest.raises(TypeError, match="deprecated alias padding_idx"), \
            pytest.warns(DeprecationWarning):
        cls(VOCAB, 3, pad_index=1, padding_idx=2)
    with pytest.raises(ValueError, match="dropout"):
        cls(VOCAB, 3, dropout=1.5)
