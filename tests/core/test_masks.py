from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.core.masks import (
    band_mask,
    causal_mask,
    lengths_to_mask,
    masked_normalize,
    masked_softmax,
)
from helpers import assert_close, gradcheck


def test_lengths_to_mask_matches_loop() -> None:
    lengths = [0, 3, 5, 1]
    mask = lengths_to_mask(lengths, 6)
    for b, n in enumerate(lengths):
        for j in range(6):
            assert bool(mask[b, j]) == (j < n)
    assert lengths_to_mask(torch.tensor([2, 4])).shape == (2, 4)


@pytest.mark.parametrize(
    ("lengths", "max_length", "error", "match"),
    [
        ([[1, 2]], None, ValueError, "lengths must be a 1-D"),
        ([1.0, 2.0], None, TypeError, "lengths must hold integers"),
        ([1, -2], None, ValueError, "lengths must be >= 0"),
        ([1, 5], 3, ValueError, "max_length=3"),
    ],
)
def test_lengths_to_mask_bad_input(lengths, max_length, error, match) -> None:
    with pytest.raises(error, match=match):
        lengths_to_mask(lengths, max_length)


def test_causal_mask_square_and_rectangular() -> None:
    m = causal_mask(4)
    assert torch.equal(m, torch.ones(4, 4, dtype=torch.bool).tril())
    # decoder with 2 cached keys: queries aligned to the end of the keys
    m = causal_mask(2, 4)
    assert m.tolist() == [[True, True, True, False], [True, True, True, True]]
    assert causal_mask(3, batch_size=2).shape == (2, 3, 3)


@pytest.mark.parametrize("window", [1, 2, 3, 5])
@pytest.mark.parametrize("causal", [False, True])
def test_band_mask_matches_loop(window: int, causal: bool) -> None:
    m = band_mask(7, 6, window_size=window, causal=causal)
    for i in range(7):
        for j in range(6):
            want = (0 <= i - j < window) if causal else abs(i - j) <= window // 2
            assert bool(m[i, j]) == want


def test_band_mask_rejects_bad_window() -> None:
    with pytest.raises(ValueError, match="window_size"):
        band_mask(4, window_size=0)


def test_masked_softmax_exact_zeros_and_empty_rows() -> None:
    scores = torch.randn(3, 4, 5, dtype=torch.float64)
    mask = torch.rand(3, 4, 5) < 0.5
    mask[0, 0] = False
    mask[1, 1] = True
    assert mask.any() and (~mask).any()
    w = masked_softmax(scores, mask)
    assert torch.all(w[~mask] == 0)
    assert torch.all(w[0, 0] == 0)
    valid = mask.any(-1)
    assert_close(w.sum(-1)[valid], torch.ones_like(w.sum(-1)[valid]))
    # reference: softmax over the valid entries only
    for b in range(3):
        for i in range(4):
            idx = mask[b, i].nonzero().flatten()
            if len(idx):
                assert_close(w[b, i, idx], scores[b, i, idx].softmax(-1))


def test_masked_softmax_gradients_finite_on_empty_rows() -> None:
    scores = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[0, 1] = False
    mask[1, :, 2:] = False
    w = masked_softmax(scores, mask)
    (w * torch.randn_like(w)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.all(scores.grad[0, 1] == 0)
    assert torch.all(scores.grad[1, :, 2:] == 0)


def test_masked_softmax_gradcheck() -> None:
    scores = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(2, 3, 4) < 0.6
    mask[0, 0] = False
    assert gradcheck(lambda s: masked_softmax(s, mask, temperature=0.7), (scores,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_masked_softmax_low_precision_and_large_logits(dtype: torch.dtype) -> None:
    scores = (torch.randn(2, 8) * 1e4).to(dtype)
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[0, :3] = False
    mask[1] = False
    w = masked_softmax(scores, mask)
    assert torch.isfinite(w).all()
    assert torch.all(w[1] == 0) and torch.all(w[0, :3] == 0)
    assert_close(w[0].sum().float(), torch.tensor(1.0), rtol=1e-2, atol=1e-2)


def test_masked_softmax_tiny_temperature_is_argmax() -> None:
    scores = torch.tensor([[0.1, 0.3, 0.2]])
    w = masked_softmax(scores, temperature=1e-6)
    assert w.tolist() == [[0.0, 1.0, 0.0]]
    with pytest.raises(ValueError, match="temperature"):
        masked_softmax(scores, temperature=0.0)


def test_masked_normalize_rejects_float_mask() -> None:
    with pytest.raises(TypeError, match="mask"):
        masked_normalize(torch.zeros(2, 3), torch.ones(2, 3), lambda x: x.softmax(-1))


@settings(max_examples=30, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 6), min_size=1, max_size=4),
    extra=st.integers(1, 4),
)
def test_padding_invariance_property(lengths: list[int], extra: int) -> None:
    """Appending masked keys changes nothing (catches a dropped mask)."""
    k_len = max(lengths) if max(lengths) > 0 else 1
    g = torch.Generator().manual_seed(len(lengths) * 7 + extra)
    scores = torch.randn(len(lengths), 3, k_len, generator=g, dtype=torch.float64)
    mask = lengths_to_mask(lengths, k_len).unsqueeze(1)
    padded_scores = torch.cat(
        [scores, torch.randn(len(lengths), 3, extra, generator=g, dtype=torch.float64) * 50], -1
    )
    padded_mask = lengths_to_mask(lengths, k_len + extra).unsqueeze(1)
    w = masked_softmax(scores, mask)
    w_padded = masked_softmax(padded_scores, padded_mask)
    assert torch.equal(w_padded[..., k_len:], torch.zeros_like(w_padded[..., k_len:]))
    assert_close(w_padded[..., :k_len], w)
