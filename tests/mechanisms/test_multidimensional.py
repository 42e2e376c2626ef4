"""Multi-dimensional attention: DiSAN feature-wise attention and Lin et al.'s structured
self-attention with its penalty."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.core.masks import lengths_to_mask
from attnlab.core.registry import list_mechanisms
from attnlab.mechanisms.multidimensional import (
    FeatureWiseAttention,
    FeatureWiseAttentionOutput,
    StructuredSelfAttention,
    StructuredSelfAttentionOutput,
    structured_penalty,
)
from helpers import assert_close, gradcheck, random_query_key_mask
from reference.multidim import feature_wise_reference, structured_reference

F64 = torch.float64

# ============================================================================ feature-wise


@pytest.mark.parametrize("batch", [1, 3])
def test_feature_wise_shapes(batch: int, dtype: torch.dtype, device: torch.device) -> None:
    s2t = FeatureWiseAttention(5, hidden_dim=7, dtype=dtype, device=device)
    x = torch.randn(batch, 6, 5, dtype=dtype, device=device)
    out = s2t(x)
    assert isinstance(out, FeatureWiseAttentionOutput) and out._fields == ("context", "weights")
    assert out.context.shape == (batch, 5) and out.context.dtype == dtype
    assert out.weights.shape == (batch, 6, 5)
    t2t = FeatureWiseAttention(5, query_dim=3, dtype=dtype, device=device)
    out = t2t(x, torch.randn(batch, 4, 3, dtype=dtype, device=device))
    assert out.context.shape == (batch, 4, 5)
    assert out.weights.shape == (batch, 4, 6, 5)


def test_source2token_matches_reference() -> None:
    attn = FeatureWiseAttention(4, hidden_dim=3, dtype=F64)
    x = torch.randn(3, 5, 4, dtype=F64)
    mask = lengths_to_mask([5, 2, 0], 5)
    out = attn(x, mask=mask)
    context, weights = feature_wise_reference(
        x, attn.token_proj.weight.detach(), attn.token_proj.bias.detach(),
        attn.out_proj.weight.detach(), mask=mask,
    )
    assert_close(out.context, context)
    assert_close(out.weights, weights)


@pytest.mark.parametrize("token2token", [False, True])
def test_with_query_matches_reference(token2token: bool) -> None:
    attn = FeatureWiseAttention(4, query_dim=4 if token2token else 2, hidden_dim=3, dtype=F64)
    x = torch.randn(2, 5, 4, dtype=F64)
    query = x if token2token else torch.randn(2, 3, 2, dtype=F64)
    q_len = query.shape[1]
    mask = random_query_key_mask(2, q_len, 5, seed=3)
    out = attn(x, query, mask=mask)
    assert attn.query_proj is not None
    context, weights = feature_wise_reference(
        x, attn.token_proj.weight.detach(), attn.token_proj.bias.detach(),
        attn.out_proj.weight.detach(), query=query, W2=attn.query_proj.weight.detach(), mask=mask,
    )
    assert_close(out.context, context)
    assert_close(out.weights, weights)


def test_feature_wise_weights_sum_to_one_over_tokens_for_every_feature() -> None:
    attn = FeatureWiseAttention(6, dtype=F64)
    x = torch.randn(2, 7, 6, dtype=F64)
    mask = lengths_to_mask([7, 3], 7)
    assert mask.any() and (~mask).any()
    out = attn(x, mask=mask)
    assert (out.weights >= 0).all()
    assert_close(out.weights.sum(1), torch.ones(2, 6, dtype=F64))
    assert (out.weights[1, 3:] == 0).all()
    # features get different distributions (that is the point of multi-dimensional attention)
    assert not torch.allclose(out.weights[0, :, 0], out.weights[0, :, 1])
    assert_close(out.context, (out.weights * x).sum(1))


def test_feature_wise_padding_invariance() -> None:
    attn = FeatureWiseAttention(4, query_dim=4, dtype=F64)
    x = torch.randn(2, 5, 4, dtype=F64)
    mask = lengths_to_mask([5, 3], 5)
    x_pad = torch.cat([x, torch.randn(2, 2, 4, dtype=F64)], 1)
    mask_pad = lengths_to_mask([5, 3], 7)
    s2t = FeatureWiseAttention(4, dtype=F64)
    assert_close(s2t(x, mask=mask).context, s2t(x_pad, mask=mask_pad).context)
    a, b = attn(x, x, mask=mask), attn(x_pad, x, mask=mask_pad)
    assert_close(a.context, b.context)
    assert_close(a.weights, b.weights[:, :, :5])
    assert (b.weights[:, :, 5:] == 0).all()


def test_feature_wise_fully_masked_rows() -> None:
    attn = FeatureWiseAttention(3, query_dim=3, dtype=F64)
    x = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)
    mask = lengths_to_mask([4, 0], 4)
    out = attn(x, mask=mask)
    s2t = FeatureWiseAttention(3, dtype=F64)(x, mask=mask)
    assert (s2t.context[1] == 0).all() and (s2t.weights[1] == 0).all()
    assert (out.context[1] == 0).all() and (out.weights[1] == 0).all()
    (out.context.sum() + s2t.context.sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_feature_wise_gradcheck() -> None:
    attn = FeatureWiseAttention(3, query_dim=2, hidden_dim=2, dtype=F64)
    x = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)
    q = torch.randn(2, 2, 2, dtype=F64, requires_grad=True)
    mask = lengths_to_mask([4, 2], 4)
    assert gradcheck(lambda x, q: attn(x, q, mask=mask), (x, q))
    s2t = FeatureWiseAttention(3, dtype=F64)
    assert gradcheck(lambda x: s2t(x, mask=mask), (x,))


def test_feature_wise_rejects_bad_inputs() -> None:
    s2t = FeatureWiseAttention(4)
    x = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="query_dim"):
        s2t(x, torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="x"):
        s2t(torch.randn(5, 4))
    with pytest.raises(ValueError, match="dim"):
        s2t(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="mask"):
        s2t(x, mask=torch.ones(2, 5, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        s2t(x, mask=torch.ones(2, 5))
    t2t = FeatureWiseAttention(4, query_dim=3)
    with pytest.raises(ValueError, match="query_dim"):
        t2t(x, torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="batch"):
        t2t(x, torch.randn(3, 3, 3))
    with pytest.raises(TypeError, match="activation"):
        FeatureWiseAttention(4, activation="elu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hidden_dim"):
        FeatureWiseAttention(4, hidden_dim=0)


# ============================================================================ structured


@pytest.mark.parametrize("batch", [1, 3])
def test_structured_shapes(batch: int, dtype: torch.dtype, device: torch.device) -> None:
    attn = StructuredSelfAttention(6, hidden_dim=5, num_hops=4, dtype=dtype, device=device)
    out = attn(torch.randn(batch, 7, 6, dtype=dtype, device=device))
    assert isinstance(out, StructuredSelfAttentionOutput) and out._fields == ("context", "weights")
    assert out.context.shape == (batch, 4, 6) and out.context.dtype == dtype
    assert out.weights.shape == (batch, 4, 7)
    assert attn.penalty(out.weights).shape == ()


def test_structured_paper_defaults() -> None:
    attn = StructuredSelfAttention(8)
    assert attn.ws1.weight.shape == (350, 8) and attn.ws2.weight.shape == (30, 350)
    assert attn.ws1.bias is None and attn.ws2.bias is None


def test_structured_matches_reference_including_penalty() -> None:
    attn = StructuredSelfAttention(4, hidden_dim=3, num_hops=2, dtype=F64)
    H = torch.randn(3, 5, 4, dtype=F64)
    lengths = [5, 2, 0]
    mask = lengths_to_mask(lengths, 5)
    out = attn(H, mask=mask)
    M, A, P = structured_reference(
        H, attn.ws1.weight.detach(), attn.ws2.weight.detach(), lengths=lengths
    )
    assert_close(out.context, M)
    assert_close(out.weights, A)
    assert_close(structured_penalty(out.weights, mask), P)
    assert_close(structured_penalty(out.weights), P)  # empty sentences found from A itself
    assert_close(attn.penalty(out.weights, mask), P[:2].mean())  # the empty one is left out


def test_penalty_is_zero_for_orthogonal_one_hot_hops_and_positive_otherwise() -> None:
    A = torch.zeros(2, 3, 5, dtype=F64)
    A[0, 0, 4] = A[0, 1, 0] = A[0, 2, 2] = 1.0
    A[1, 0, 1] = A[1, 1, 3] = A[1, 2, 0] = 1.0
    assert (structured_penalty(A) == 0).all()
    assert StructuredSelfAttention(5, num_hops=3).penalty(A.float()) == 0
    A[1, 2] = A[1, 0]  # two hops on the same token
    assert structured_penalty(A)[1] > 0 and structured_penalty(A)[0] == 0


@settings(max_examples=25, deadline=None)
@given(
    hops=st.integers(1, 4),
    length=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_penalty_positive_for_soft_attention(hops: int, length: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(1, hops, length, generator=g, dtype=F64).softmax(-1)
    P = structured_penalty(A)
    manual = ((A[0] @ A[0].T - torch.eye(hops, dtype=F64)) ** 2).sum()
    assert_close(P[0], manual)
    one_hot = bool(((A == 0) | (A == 1)).all())
    if not one_hot:
        assert P[0] > 0


def test_structured_padding_invariance_of_outputs_and_penalty() -> None:
    attn = StructuredSelfAttention(4, hidden_dim=3, num_hops=3, dtype=F64)
    H = torch.randn(2, 5, 4, dtype=F64)
    mask = lengths_to_mask([5, 3], 5)
    H_pad = torch.cat([H, torch.randn(2, 3, 4, dtype=F64)], 1)
    mask_pad = lengths_to_mask([5, 3], 8)
    a, b = attn(H, mask=mask), attn(H_pad, mask=mask_pad)
    assert_close(a.context, b.context)
    assert_close(a.weights, b.weights[..., :5])
    assert (b.weights[..., 5:] == 0).all()
    assert_close(attn.penalty(a.weights, mask), attn.penalty(b.weights, mask_pad))
    # appending an empty sentence to the batch leaves the mean penalty unchanged
    H3 = torch.cat([H, torch.randn(1, 5, 4, dtype=F64)])
    mask3 = torch.cat([mask, torch.zeros(1, 5, dtype=torch.bool)])
    c = attn(H3, mask=mask3)
    assert_close(attn.penalty(c.weights, mask3), attn.penalty(a.weights, mask))
    empty = torch.zeros(1, 5, dtype=torch.bool)
    assert attn.penalty(attn(H[:1], mask=empty).weights, empty) == 0


def test_structured_fully_masked_rows_and_gradients() -> None:
    attn = StructuredSelfAttention(4, hidden_dim=3, num_hops=2, dtype=F64)
    H = torch.randn(2, 4, 4, dtype=F64, requires_grad=True)
    mask = torch.ones(2, 2, 4, dtype=torch.bool)
    mask[1, 0] = False  # hop 0 of sentence 1 may see nothing
    out = attn(H, mask=mask)
    assert (out.weights[1, 0] == 0).all() and (out.context[1, 0] == 0).all()
    (out.context.sum() + attn.penalty(out.weights)).backward()
    assert H.grad is not None and torch.isfinite(H.grad).all()
    for p in attn.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_structured_gradcheck_forward_and_penalty() -> None:
    attn = StructuredSelfAttention(3, hidden_dim=2, num_hops=2, dtype=F64)
    H = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)
    mask = lengths_to_mask([4, 2], 4)

    def fn(H: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = attn(H, mask=mask)
        return out.context, out.weights, attn.penalty(out.weights, mask)

    assert gradcheck(fn, (H,))


def test_structured_rejects_bad_inputs() -> None:
    attn = StructuredSelfAttention(4, hidden_dim=3, num_hops=2)
    H = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="H"):
        attn(torch.randn(5, 4))
    with pytest.raises(ValueError, match="dim"):
        attn(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="mask"):
        attn(H, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="num_hops"):
        StructuredSelfAttention(4, num_hops=0)
    with pytest.raises(ValueError, match="weights"):
        structured_penalty(torch.randn(2, 3))
    with pytest.raises(ValueError, match="mask"):
        structured_penalty(torch.rand(2, 3, 5), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        structured_penalty(torch.rand(2, 3, 5), torch.ones(2, 5))


def test_registered_with_multi_dimensional_tags() -> None:
    entries = {e.name: e for e in list_mechanisms(representations="multi-dimensional")}
    expected = {
        "feature_wise": (FeatureWiseAttention, "1709.04696"),
        "structured_self_attention": (StructuredSelfAttention, "1703.03130"),
    }
    for name, (cls, arxiv) in expected.items():
        entry = entries[name]
        assert entry.cls is cls and arxiv in entry.paper.url
        assert entry.tags["sequences"] == ("self",)
        module, args, kwargs = entry.example()
        mask = kwargs["mask"]
        assert mask.any() and (~mask).any()
        out = module(*args, **kwargs)
        assert torch.isfinite(out.context).all()
