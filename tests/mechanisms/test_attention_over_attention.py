"""Attention-over-attention (Cui et al. 2017)."""

from __future__ import annotations

import pytest
import torch

from attnlab.core.registry import list_mechanisms
from attnlab.mechanisms.attention_over_attention import (
    AttentionOverAttention,
    AttentionOverAttentionOutput,
)
from helpers import assert_close, gradcheck
from reference.aoa import aoa

F64 = torch.float64


def _inputs(B: int = 4, n: int = 7, m: int = 4, D: int = 5):
    """Masks that mask something; with B >= 4, example 2 has an empty document and example 3 an
    empty query."""
    doc = torch.randn(B, n, D, dtype=F64)
    query = torch.randn(B, m, D, dtype=F64)
    g = torch.Generator().manual_seed(2)
    dl = torch.randint(1, n + 1, (B,), generator=g)
    ql = torch.randint(1, m + 1, (B,), generator=g)
    dl[0], ql[0] = n - 2, m - 1
    if B >= 4:
        dl[2], ql[3] = 0, 0
    dm, qm = torch.arange(n) < dl[:, None], torch.arange(m) < ql[:, None]
    assert dm.any() and (~dm).any() and qm.any() and (~qm).any()
    return doc, query, dm, qm


@pytest.mark.parametrize("B", [1, 3])
def test_shapes(B: int, device: torch.device, dtype: torch.dtype) -> None:
    doc = torch.randn(B, 7, 5, device=device, dtype=dtype)
    query = torch.randn(B, 3, 5, device=device, dtype=dtype)
    out = AttentionOverAttention(device=device, dtype=dtype)(doc, query)
    assert isinstance(out, AttentionOverAttentionOutput)
    assert out.context.shape == (B, 5) and out.weights.shape == (B, 7)
    assert out.query_to_document.shape == (B, 7, 3) == out.document_to_query.shape
    assert out.query_weights.shape == (B, 3)
    assert out.context.dtype == dtype


def test_matches_paper_literal_reference() -> None:
    doc, query, dm, qm = _inputs()
    out = AttentionOverAttention()(doc, query, document_mask=dm, query_mask=qm)
    s, alpha, beta, beta_avg = aoa(doc, query, dm, qm)
    assert_close(out.weights, s)
    assert_close(out.query_to_document, alpha)
    assert_close(out.document_to_query, beta)
    assert_close(out.query_weights, beta_avg)
    assert_close(out.context, torch.einsum("bi,bid->bd", s, doc))


def test_weights_sum_to_one_over_valid_document_words() -> None:
    doc, query, dm, qm = _inputs()
    out = AttentionOverAttention()(doc, query, document_mask=dm, query_mask=qm)
    both = (dm.any(-1) & qm.any(-1)).to(F64)  # 0 for the empty document / empty query
    assert (out.weights >= 0).all()
    assert (out.weights[~dm] == 0).all()
    assert_close(out.weights.sum(-1), both)
    assert_close(out.query_weights.sum(-1), both)
    assert (out.query_weights[~qm] == 0).all()
    pair = dm[:, :, None] & qm[:, None, :]
    assert (out.query_to_document[~pair] == 0).all() and (out.document_to_query[~pair] == 0).all()
    # alpha: columns (valid query words) sum to 1 over the document; beta: rows over the query
    assert_close(out.query_to_document.sum(1), (qm & dm.any(-1, keepdim=True)).to(F64))
    assert_close(out.document_to_query.sum(2), (dm & qm.any(-1, keepdim=True)).to(F64))
    assert (out.context[2:] == 0).all()


def test_single_query_word_reduces_to_the_query_to_document_attention() -> None:
    """With m = 1, beta_avg = 1 and s is the column-wise softmax (the attention-sum reader)."""
    doc, query, dm, _ = _inputs(m=1)
    out = AttentionOverAttention()(doc, query, document_mask=dm)
    assert_close(out.weights, out.query_to_document[:, :, 0])
    expected = torch.softmax((doc @ query[:, 0, :, None])[..., 0].masked_fill(~dm, -1e300), -1)
    assert_close(out.weights[dm.any(-1)], expected[dm.any(-1)])


def test_padding_invariance() -> None:
    doc, query, _, _ = _inputs(B=2)
    module = AttentionOverAttention()
    ref = module(doc, query)
    doc_pad = torch.cat([doc, 1e2 * torch.randn(2, 3, 5, dtype=F64)], 1)
    query_pad = torch.cat([query, 1e2 * torch.randn(2, 2, 5, dtype=F64)], 1)
    dm = torch.arange(10) < 7
    qm = torch.arange(6) < 4
    out = module(doc_pad, query_pad, document_mask=dm.expand(2, 10), query_mask=qm.expand(2, 6))
    assert_close(out.weights[:, :7], ref.weights)
    assert_close(out.context, ref.context)
    assert_close(out.query_weights[:, :4], ref.query_weights)
    assert_close(out.query_to_document[:, :7, :4], ref.query_to_document)
    assert (out.weights[:, 7:] == 0).all()


def test_fully_masked_gives_zeros_and_finite_grads() -> None:
    doc, query, dm, qm = _inputs()
    doc.requires_grad_(True)
    query.requires_grad_(True)
    out = AttentionOverAttention()(doc, query, document_mask=dm, query_mask=qm)
    assert (out.weights[2] == 0).all() and (out.weights[3] == 0).all()
    (out.context.sum() + out.weights.square().sum() + out.query_weights.sum()).backward()
    assert torch.isfinite(doc.grad).all() and torch.isfinite(query.grad).all()
    assert (doc.grad[~dm] == 0).all() and (query.grad[~qm] == 0).all()


def test_gradcheck() -> None:
    doc, query, dm, qm = _inputs(n=4, m=2, D=2)  # example 2: empty doc, 3: empty query
    doc.requires_grad_(True)
    query.requires_grad_(True)
    module = AttentionOverAttention()

    def fn(d, q):
        out = module(d, q, document_mask=dm, query_mask=qm)
        return out.context, out.weights, out.query_weights

    assert gradcheck(fn, (doc, query))


def test_bad_inputs_name_the_argument() -> None:
    module = AttentionOverAttention()
    doc, query = torch.randn(2, 7, 5), torch.randn(2, 3, 5)
    with pytest.raises(ValueError, match="document"):
        module(doc[0], query)
    with pytest.raises(ValueError, match="query"):
        module(doc, torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="batch size"):
        module(doc, query[:1])
    with pytest.raises(TypeError, match="document_mask"):
        module(doc, query, document_mask=torch.ones(2, 7))
    with pytest.raises(ValueError, match="query_mask"):
        module(doc, query, query_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="query_mask"):
        module(doc, query, query_mask=torch.ones(2, 7, 3, dtype=torch.bool))


def test_docstring_warns_about_the_name_collision() -> None:
    doc = AttentionOverAttention.__doc__ or ""
    assert "Huang" in doc and "not" in doc


def test_registered_as_multi_level_co_attention() -> None:
    names = {e.name: e for e in list_mechanisms(levels="multi", sequences="co")}
    entry = names["attention_over_attention"]
    assert entry.cls is AttentionOverAttention
    module, args, kwargs = entry.example()
    assert all(m.any() and (~m).any() for m in kwargs.values())
    assert not list(module.parameters())
