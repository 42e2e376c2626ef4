"""The shared dot-product kernel: every path (fused, autograd, in-place) against masked_softmax."""

from __future__ import annotations

import importlib
import sys

import pytest
import torch
from torch import Tensor

from attnlab.core.attend import dot_product_attention
from attnlab.core.masks import causal_mask, masked_softmax
from helpers import assert_close, gradcheck

fastpath_module = importlib.import_module("attnlab.core._fastpath")
F64 = torch.float64
EXACT = {"rtol": 0.0, "atol": 1e-12}


def _reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    mask: Tensor | None,
    bias: Tensor | None,
    causal: bool,
) -> tuple[Tensor, Tensor]:
    """Scores, the library's masked_softmax, and a matmul: the definition of the kernel."""
    scores = scale * q @ k.transpose(-2, -1)
    if bias is not None:
        scores = scores + bias
    if causal:
        allowed = causal_mask(q.shape[-2], k.shape[-2])
        mask = allowed if mask is None else mask & allowed
    weights = masked_softmax(scores, None if mask is None else mask.expand(scores.shape))
    return weights @ v, weights


SHAPES = {
    "3d": (2, 5, 7),  # (B, Lq, Lk), single head
    "4d": (2, 3, 5, 7),  # (B, H, Lq, Lk), multi-head
    "5d": (2, 2, 3, 4, 6),  # any number of leading dimensions
}


def _case(shape: str, mask_kind: str, with_bias: bool, d: int = 4):
    *lead, q_len, k_len = SHAPES[shape]
    g = torch.Generator().manual_seed(0)
    q = torch.randn(*lead, q_len, d, dtype=F64, generator=g)
    k = torch.randn(*lead, k_len, d, dtype=F64, generator=g)
    v = torch.randn(*lead, k_len, d + 1, dtype=F64, generator=g)
    ones = [1] * (len(lead) - 1)
    mask = None
    if mask_kind == "keys":  # (B, 1.., 1, Lk) padding
        mask = torch.rand(lead[0], *ones, 1, k_len, generator=g) < 0.7
        mask[..., 0] = True
    elif mask_kind == "full":  # (B, 1.., Lq, Lk) with a query that sees no key
        mask = torch.rand(lead[0], *ones, q_len, k_len, generator=g) < 0.5
        mask.view(-1, q_len, k_len)[0, 1] = False
        assert (~mask.any(-1)).any()
    if mask is not None:
        assert mask.any() and (~mask).any()
    bias = torch.randn(*lead, q_len, k_len, dtype=F64, generator=g) if with_bias else None
    return q, k, v, mask, bias


@pytest.mark.parametrize("mode", ["grad", "no_grad"])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("with_bias", [False, True], ids=["", "bias"])
@pytest.mark.parametrize("mask_kind", ["none", "keys", "full"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_path_matches_masked_softmax(
    shape: str, mask_kind: str, with_bias: bool, causal: bool, need_weights: bool, mode: str
) -> None:
    q, k, v, mask, bias = _case(shape, mask_kind, with_bias)
    ref_context, ref_weights = _reference(q, k, v, 0.3, mask, bias, causal)
    saved = [t.clone() for t in (q, k, v, mask, bias) if t is not None]
    if mode == "grad":
        q.requires_grad_()
    with torch.set_grad_enabled(mode == "grad"):
        context, weights = dot_product_attention(
            q, k, v, scale=0.3, mask=mask, attn_bias=bias, need_weights=need_weights, causal=causal
        )
    torch.testing.assert_close(context, ref_context, **EXACT)
    if need_weights:
        assert weights is not None
        torch.testing.assert_close(weights, ref_weights, **EXACT)
        assert (weights[ref_weights == 0] == 0).all()  # exact zeros where masked
    else:
        assert weights is None
    # nothing was written into the inputs
    for before, after in zip(saved, [t for t in (q, k, v, mask, bias) if t is not None],
                             strict=True):
        assert torch.equal(before, after)


@pytest.mark.parametrize("need_weights", [True, False])
def test_strided_views_of_a_packed_projection(need_weights: bool) -> None:
    packed = torch.randn(2, 128, 3, 4, 8, dtype=F64)  # (b, i, 3, h, d) like F.linear's output
    q, k, v = packed.permute(2, 0, 3, 1, 4).unbind(0)  # (b, h, i, d) views
    assert not q.is_contiguous()
    mask = torch.rand(2, 1, 1, 128) < 0.8
    with torch.no_grad():
        got = dot_product_attention(q, k, v, scale=0.5, mask=mask, need_weights=need_weights)
        want = dot_product_attention(
            q.contiguous(), k.contiguous(), v.contiguous(), scale=0.5, mask=mask,
            need_weights=need_weights,
        )
    torch.testing.assert_close(got[0], want[0], **EXACT)


@pytest.mark.parametrize("mode", ["grad", "no_grad"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_rows_without_keys_are_zero_with_finite_gradients(need_weights: bool, mode: str) -> None:
    q, k, v, mask, _ = _case("4d", "full", False)
    empty = ~mask.any(-1)  # (b, 1, i)
    q.requires_grad_(mode == "grad")
    k.requires_grad_(mode == "grad")
    with torch.set_grad_enabled(mode == "grad"):
        context, weights = dot_product_attention(
            q, k, v, scale=1.0, mask=mask, need_weights=need_weights
        )
    rows = empty.unsqueeze(-1).expand((*context.shape[:-1], 1)).squeeze(-1)
    assert torch.isfinite(context).all() and (context[rows] == 0).all()
    if weights is not None:
        assert (weights[rows] == 0).all()
    if mode == "grad":
        loss = context.pow(2).sum() + (0 if weights is None else weights.pow(2).sum())
        loss.backward()
        assert q.grad is not None and k.grad is not None
        assert torch.isfinite(q.grad).all() and torch.isfinite(k.grad).all()
        assert (q.grad[rows] == 0).all()


def test_causal_with_more_queries_than_keys_gives_zero_rows() -> None:
    q, k, v = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)
    for need_weights in (True, False):
        context, _ = dot_product_attention(
            q, k, v, scale=0.5, causal=True, need_weights=need_weights
        )
        assert (context[:, :, :2] == 0).all() and (context[:, :, 2:] != 0).all()


def test_no_grad_dropout_keeps_the_weights() -> None:
    q, k, v, mask, _ = _case("4d", "keys", False)
    with torch.no_grad():
        plain, weights = dot_product_attention(q, k, v, scale=0.5, mask=mask)
        dropped, dropped_weights = dot_product_attention(q, k, v, scale=0.5, mask=mask,
                                                         dropout=0.5)
    assert dropped_weights is not None and weights is not None
    torch.testing.assert_close(dropped_weights, weights, **EXACT)
    assert not torch.allclose(dropped, plain)


def test_gradcheck_weights_path() -> None:
    q, k, v, mask, bias = _case("4d", "full", True)
    q, k, v, bias = (t[:1, :2].detach().requires_grad_() for t in (q, k, v, bias))
    mask = mask[:1]
    assert (~mask.any(-1)).any()

    def fn(q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
        context, weights = dot_product_attention(q, k, v, scale=0.7, mask=mask, attn_bias=bias)
        assert weights is not None
        return context, weights

    assert gradcheck(fn, (q, k, v, bias))


def test_large_score_buffers_use_huge_pages_and_stay_exact() -> None:
    # (1, 2048, 4096) float32 scores are 32 MiB: the huge-page allocation path.
    q, k, v = torch.randn(1, 2048, 4), torch.randn(1, 4096, 4), torch.randn(1, 4096, 3)
    mask = torch.rand(1, 1, 4096) < 0.5
    with torch.no_grad():
        context, weights = dot_product_attention(q, k, v, scale=0.5, mask=mask)
    assert weights is not None
    assert weights.numel() * weights.element_size() >= fastpath_module._HUGE_PAGE_MIN_BYTES
    ref_context, ref_weights = _reference(q[:, :64], k, v, 0.5, mask, None, False)
    assert_close(weights[:, :64], ref_weights)
    assert_close(context[:, :64], ref_context)
    if sys.platform.startswith("linux"):
        assert fastpath_module._madvise_huge_pages() is not None
