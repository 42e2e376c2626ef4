"""attend(): the general model, on the generic path (a score with no factorisation)."""

from __future__ import annotations

import pytest
import torch

from attnlab.core.attend import attend, dot_product_attention
from attnlab.core.scores import Score
from helpers import assert_close, gradcheck, random_query_key_mask


class _Bilinear(Score):
    """q^T W k, deliberately without ``factorize`` so the generic path runs."""

    def __init__(self, dq: int, dk: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(dq, dk, dtype=torch.float64) / dq**0.5)

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return query @ self.weight @ key.transpose(-2, -1)


class _Dot(Score):
    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return query @ key.transpose(-2, -1)

    def factorize(self, query: torch.Tensor, key: torch.Tensor):
        return query, key, 1.0


def _loop_reference(q, k, v, score, mask):
    """Paper-literal: e_ij = a(q_i, k_j); alpha = softmax over valid j; c_i = sum_j alpha_ij v_j."""
    B, Lq, Lk = q.shape[0], q.shape[1], k.shape[1]
    weights = torch.zeros(B, Lq, Lk, dtype=q.dtype)
    context = torch.zeros(B, Lq, v.shape[-1], dtype=q.dtype)
    for b in range(B):
        for i in range(Lq):
            e = torch.stack([score(q[b, i][None, None], k[b, j][None, None])[0, 0, 0]
                             for j in range(Lk)])
            valid = mask[b, i] if mask.dim() == 3 else mask[b]
            if not valid.any():
                continue
            a = torch.zeros(Lk, dtype=q.dtype)
            a[valid] = torch.softmax(e[valid], 0)
            weights[b, i] = a
            context[b, i] = (a[:, None] * v[b]).sum(0)
    return context, weights


@pytest.mark.parametrize("mask_kind", ["key", "query_key"])
def test_attend_generic_matches_loop(mask_kind: str) -> None:
    q = torch.randn(2, 3, 4, dtype=torch.float64)
    k = torch.randn(2, 5, 6, dtype=torch.float64)
    v = torch.randn(2, 5, 7, dtype=torch.float64)
    score = _Bilinear(4, 6)
    if mask_kind == "key":
        mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    else:
        mask = random_query_key_mask(2, 3, 5)
    assert mask.any() and (~mask).any()
    out = attend(q, k, v, score=score, mask=mask)
    ref_context, ref_weights = _loop_reference(q, k, v, score, mask)
    assert_close(out.weights, ref_weights)
    assert_close(out.context, ref_context)


def test_attend_fused_and_weights_paths_agree_with_mask() -> None:
    q = torch.randn(2, 4, 8, dtype=torch.float64, requires_grad=True)
    kv = torch.randn(2, 6, 8, dtype=torch.float64, requires_grad=True)
    mask = random_query_key_mask(2, 4, 6)
    full = attend(q, kv, kv, score=_Dot(), mask=mask)
    fused = attend(q, kv, kv, score=_Dot(), mask=mask, need_weights=False)
    generic = attend(q, kv, kv, score=_Bilinear(8, 8).requires_grad_(False).eval(), mask=mask)
    assert fused.weights is None and full.weights is not None and generic.weights is not None
    assert_close(fused.context, full.context)
    assert torch.all(full.context[0, 0] == 0) and torch.all(fused.context[0, 0] == 0)
    g_full = torch.autograd.grad(full.context.sum(), (q, kv))
    g_fused = torch.autograd.grad(fused.context.sum(), (q, kv))
    for a, b in zip(g_full, g_fused, strict=True):
        assert torch.isfinite(b).all()
        assert_close(a, b)


def test_attend_gradcheck_generic_and_fused() -> None:
    q = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    kv = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    mask = random_query_key_mask(2, 3, 5)
    score = _Bilinear(4, 4)
    assert gradcheck(lambda a, b: attend(a, b, b, score=score, mask=mask).context, (q, kv))
    assert gradcheck(
        lambda a, b: attend(a, b, b, score=_Dot(), mask=mask, need_weights=False).context, (q, kv)
    )


def test_attend_attn_bias_is_added_to_scores() -> None:
    q, kv = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    bias = torch.randn(3, 5)
    out = attend(q, kv, kv, score=_Dot(), attn_bias=bias)
    expected = torch.softmax(q @ kv.transpose(1, 2) + bias, -1)
    assert_close(out.weights, expected)
    fused = attend(q, kv, kv, score=_Dot(), attn_bias=bias, need_weights=False)
    assert_close(fused.context, expected @ kv)


def test_dot_product_attention_empty_rows_fused_no_nan() -> None:
    q = torch.randn(1, 2, 3, 4, requires_grad=True)
    k = torch.randn(1, 2, 5, 4, requires_grad=True)
    v = torch.randn(1, 2, 5, 4, requires_grad=True)
    mask = torch.zeros(1, 1, 3, 5, dtype=torch.bool)
    mask[..., 1, :2] = True
    for need in (True, False):
        context, _ = dot_product_attention(q, k, v, scale=0.5, mask=mask, need_weights=need)
        assert torch.isfinite(context).all()
        assert torch.all(context[..., 0, :] == 0) and torch.all(context[..., 2, :] == 0)
        grads = torch.autograd.grad(context.sum(), (q, k, v))
        assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"query": torch.randn(3, 4)}, ValueError, "query must be a 3-D"),
        ({"key": torch.randn(3, 5, 4)}, ValueError, "same batch size"),
        ({"value": torch.randn(2, 6, 4)}, ValueError, "same length Lk"),
        ({"mask": torch.ones(2, 5)}, TypeError, "mask must be a boolean"),
        ({"mask": torch.ones(2, 4, dtype=torch.bool)}, ValueError, "mask"),
        ({"attn_bias": torch.ones(2, 2, 5)}, ValueError, "attn_bias"),
        ({"dropout": 1.5}, ValueError, "dropout"),
        ({"distribution": "nope"}, ValueError, "unknown distribution"),
        ({"distribution": 3}, TypeError, "distribution"),
        ({"score": 3}, TypeError, "score must be callable"),
        ({"score": lambda q, k: q.sum(-1)}, ValueError, "score must return scores of shape"),
    ],
)
def test_attend_bad_inputs(kwargs, error, match) -> None:
    args = {
        "query": torch.randn(2, 3, 4),
        "key": torch.randn(2, 5, 4),
        "value": torch.randn(2, 5, 4),
        "score": _Dot(),
    }
    args.update(kwargs)
    q, k, v = args.pop("query"), args.pop("key"), args.pop("value")
    with pytest.raises(error, match=match):
        attend(q, k, v, **args)


def test_attend_rejects_unknown_keyword() -> None:
    with pytest.raises(TypeError):
        attend(torch.randn(1, 2, 3), torch.randn(1, 2, 3), torch.randn(1, 2, 3), score=_Dot(),
               masks=None)  # type: ignore[call-arg]
