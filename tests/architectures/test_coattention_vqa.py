"""CoAttentionVQA / NoAttentionVQA: shapes, gradients, masks, gradcheck, reference, bad inputs."""

from __future__ import annotations

import pytest
import torch

from attnlab.architectures.coattention_vqa import (
    CoAttentionVQA,
    ConvRegionEncoder,
    NoAttentionVQA,
    QuestionEncoder,
    bits_to_tokens,
)
from helpers import assert_close, gradcheck
from reference.coattention_vqa import parallel_coattention_answer

SMALL = {"channels": (4, 6), "embed_dim": 5, "question_dim": 6, "attention_dim": 4,
         "hidden_dim": 8}


def _bits(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    bits = torch.zeros(batch, 11)
    bits[torch.arange(batch), torch.randint(0, 6, (batch,), generator=g)] = 1
    bits[torch.arange(batch), 6 + torch.randint(0, 2, (batch,), generator=g)] = 1
    bits[torch.arange(batch), 8 + torch.randint(0, 3, (batch,), generator=g)] = 1
    return bits


@pytest.mark.parametrize("coattention", ["parallel", "alternating"])
@pytest.mark.parametrize("num_hops", [1, 2])
def test_forward_backward_every_parameter(coattention: str, num_hops: int) -> None:
    torch.manual_seed(0)
    model = CoAttentionVQA(10, coattention=coattention, num_hops=num_hops, **SMALL)
    image = torch.rand(2, 3, 16, 16)
    out = model(image, _bits(5), image_index=torch.tensor([0, 1, 1, 0, 1]))
    assert out.logits.shape == (5, 10)
    assert out.image_weights.shape == (5, num_hops, 16)  # 16 x 16 -> 4 x 4 regions
    assert out.question_weights.shape == (5, num_hops, 3)  # 3 set bits per question
    assert out.memory_weights.shape == (5, num_hops, num_hops - 1)
    assert_close(out.image_weights.sum(-1), torch.ones(5, num_hops))
    total = out.question_weights.sum(-1) + out.memory_weights.sum(-1)
    assert_close(total, torch.ones(5, num_hops))
    out.logits.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bits_question_parts_are_the_set_bits() -> None:
    bits = _bits(6, seed=1)
    tokens, mask = bits_to_tokens(bits)
    for b in range(6):  # literal: the set bit positions, in order, then padding
        words = [i for i in range(11) if bits[b, i] == 1]
        assert tokens[b, : len(words)].tolist() == words
        assert mask[b].tolist() == [True] * len(words) + [False] * (11 - len(words))
    model = CoAttentionVQA(10, **SMALL)
    weights = model(torch.rand(6, 3, 16, 16), bits).question_weights[:, 0]
    assert weights.shape == (6, 3) and torch.all(weights > 0)
    # a question with fewer set bits gets exact zeros at the padded parts
    bits[0, 8:] = 0
    weights = model(torch.rand(6, 3, 16, 16), bits).question_weights[:, 0]
    assert torch.all(weights[0, 2:] == 0) and torch.all(weights[1:] > 0)


@pytest.mark.parametrize("rnn", ["lstm", "gru", "none"])
def test_token_mask_provably_masks(rnn: str) -> None:
    torch.manual_seed(0)
    model = CoAttentionVQA(10, vocab_size=20, question_format="tokens", rnn=rnn, **SMALL).eval()
    image = torch.rand(3, 3, 16, 16)
    tokens = torch.randint(0, 20, (3, 7))
    mask = torch.arange(7) < torch.tensor([[7], [4], [2]])
    assert mask.any() and (~mask).any()
    out = model(image, tokens, question_mask=mask)
    assert torch.all(out.question_weights[:, 0][~mask] == 0)
    # changing the padded tokens changes nothing
    other = torch.where(mask, tokens, torch.randint(0, 20, (3, 7)))
    assert not torch.equal(other, tokens)
    assert_close(model(image, other, question_mask=mask).logits, out.logits)
    # padding invariance: the unpadded question alone gives the same answer
    for b, length in enumerate((7, 4, 2)):
        alone = model(image[b : b + 1], tokens[b : b + 1, :length])
        assert_close(alone.logits, out.logits[b : b + 1])
    # and the mask matters
    unmasked = model(image, tokens)
    assert not torch.allclose(unmasked.logits[1:], out.logits[1:])


def test_shared_images_equal_repeated_images() -> None:
    torch.manual_seed(0)
    model = CoAttentionVQA(10, num_hops=2, **SMALL).eval()
    image = torch.rand(2, 3, 16, 16)
    index = torch.tensor([1, 0, 1])
    shared = model(image, _bits(3), image_index=index)
    repeated = model(image[index], _bits(3))
    assert_close(shared.logits, repeated.logits)
    assert_close(shared.image_weights, repeated.image_weights)


def test_matches_literal_reference() -> None:
    torch.manual_seed(0)
    model = CoAttentionVQA(10, rnn="none", dtype=torch.float64, **SMALL).eval()
    regions = torch.randn(4, 9, model.image_encoder.out_dim, dtype=torch.float64)
    bits = _bits(4, seed=2).double()
    expected = parallel_coattention_answer(model, regions, bits)
    assert_close(model.answer(regions, bits).logits, expected)


@pytest.mark.parametrize("coattention", ["parallel", "alternating"])
def test_gradcheck_coattention_step(coattention: str) -> None:
    torch.manual_seed(0)
    model = CoAttentionVQA(
        4, coattention=coattention, num_hops=2, rnn="gru", dtype=torch.float64, **SMALL
    )
    regions = torch.randn(2, 3, model.image_encoder.out_dim, dtype=torch.float64,
                          requires_grad=True)
    bits = _bits(2).double()
    assert gradcheck(lambda r: model.answer(r, bits).logits, (regions,))


def test_no_attention_baseline() -> None:
    torch.manual_seed(0)
    model = NoAttentionVQA(10, image_size=(16, 16), channels=(4, 6), hidden_dims=(8, 8))
    out = model(torch.rand(2, 3, 16, 16), _bits(4), image_index=torch.tensor([0, 0, 1, 1]))
    assert out.logits.shape == (4, 10)
    out.logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    tokens = NoAttentionVQA(3, image_size=(16, 16), vocab_size=9, question_format="tokens",
                            channels=(4,), hidden_dims=(8,), rnn="none").eval()
    q = torch.tensor([[1, 2, 3], [4, 5, 6]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    image = torch.rand(2, 3, 16, 16)
    changed = torch.where(mask, q, torch.zeros_like(q))
    assert_close(tokens(image, q, question_mask=mask).logits,
                 tokens(image, changed, question_mask=mask).logits)


def test_region_encoder_coordinates() -> None:
    enc = ConvRegionEncoder(channels=(4, 4)).eval()
    regions = enc(torch.rand(1, 3, 12, 12))  # 12 -> 6 -> 3: 9 regions
    assert regions.shape == (1, 9, 6)
    assert regions[0, :, 4].tolist() == [-1.0, 0.0, 1.0] * 3  # x, row-major
    assert regions[0, :, 5].tolist() == [-1.0] * 3 + [0.0] * 3 + [1.0] * 3  # y


def test_bad_inputs() -> None:
    model = CoAttentionVQA(10, **SMALL)
    image = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="question"):
        model(image, torch.zeros(2, 10))
    with pytest.raises(ValueError, match="question"):
        model(image, torch.full((2, 11), 0.5))
    with pytest.raises(ValueError, match="question_mask"):
        model(image, _bits(2), question_mask=torch.ones(2, 11, dtype=torch.bool))
    with pytest.raises(ValueError, match="image"):
        model(torch.rand(2, 1, 16, 16), _bits(2))
    with pytest.raises(ValueError, match="image"):
        model(torch.rand(3, 16, 16), _bits(2))
    with pytest.raises(ValueError, match="image_index"):
        model(image, _bits(2), image_index=torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="batch"):
        model(image, _bits(3))
    with pytest.raises(ValueError, match="coattention"):
        CoAttentionVQA(10, coattention="stacked")
    with pytest.raises(ValueError, match="num_hops"):
        CoAttentionVQA(10, num_hops=0)
    tokens = CoAttentionVQA(10, vocab_size=5, question_format="tokens", **SMALL)
    with pytest.raises(ValueError, match="question tokens"):
        tokens(image, torch.tensor([[1, 5], [0, 1]]))
    with pytest.raises(ValueError, match="question_mask"):
        tokens(image, torch.tensor([[1, 2], [0, 1]]),
               question_mask=torch.tensor([[False, True], [True, True]]))
    with pytest.raises(ValueError, match="rnn"):
        QuestionEncoder(5, 4, 4, rnn="transformer")
