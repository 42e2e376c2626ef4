"""A float mask in torch's convention is refused as ``attn_bias``, with the exact conversion.

``nn.Transformer.generate_square_subsequent_mask(n)`` returns ``0`` where a query may attend and
``-inf`` elsewhere. attnlab rejects ``-inf`` in ``attn_bias`` (a row of ``-inf`` would give NaN
weights) and the error names the boolean mask to pass instead; following it must give what
``nn.MultiheadAttention`` computes with the float mask as ``attn_mask``.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from attnlab.core.checks import check_attn_bias
from attnlab.mechanisms.multihead import MultiHeadAttention

F64 = torch.float64


def _modules(dim: int = 8, num_heads: int = 2) -> tuple[nn.MultiheadAttention, MultiHeadAttention]:
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(dim, num_heads, batch_first=True, dtype=F64).eval()
    with torch.no_grad():  # non-zero biases, so that they are compared too
        reference.in_proj_bias.uniform_(-0.5, 0.5)
        reference.out_proj.bias.uniform_(-0.5, 0.5)
    return reference, MultiHeadAttention.from_torch(reference).eval()


def test_subsequent_mask_as_bias_names_the_mask_to_pass() -> None:
    reference, mha = _modules()
    n = 5
    m = nn.Transformer.generate_square_subsequent_mask(n, dtype=F64)
    assert m.dtype == F64 and torch.isinf(m).any() and (m == 0).any()
    x = torch.randn(3, n, 8, dtype=F64)
    with pytest.raises(ValueError, match=re.escape("pass mask=torch.isfinite(attn_bias)[None]")):
        mha(x, attn_bias=m)

    got = mha(x, mask=torch.isfinite(m)[None])
    want, want_weights = reference(x, x, x, attn_mask=m, average_attn_weights=False)
    torch.testing.assert_close(got.context, want, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(got.weights, want_weights, atol=1e-12, rtol=1e-10)
    # The mask really masks: nothing above the diagonal, in every head.
    assert torch.all(got.weights.triu(1) == 0) and got.weights.tril(-1).gt(0).any()


def test_batched_float_mask_with_a_bias_names_both_arguments() -> None:
    """A ``(B, Lq, Lk)`` float mask holding finite non-zero values (a bias) as well as -inf."""
    reference, mha = _modules()
    batch, n, heads = 2, 4, 2
    g = torch.Generator().manual_seed(1)
    m = torch.randn(batch, n, n, dtype=F64, generator=g)
    m[0, :, 3] = float("-inf")  # a padded key
    m[1, 2] = float("-inf")  # a query with no key at all
    x = torch.randn(batch, n, 8, dtype=F64, generator=g)
    with pytest.raises(ValueError) as info:
        mha(x, attn_bias=m)
    message = str(info.value)
    assert "pass mask=torch.isfinite(attn_bias) instead of attn_bias" in message
    assert "attn_bias=torch.where(torch.isfinite(attn_bias), attn_bias, 0)" in message

    got = mha(x, mask=torch.isfinite(m), attn_bias=torch.where(torch.isfinite(m), m, 0))
    # torch takes a 3-D float attn_mask per (batch, head): (B * H, Lq, Lk).
    want, want_weights = reference(
        x, x, x, attn_mask=m.repeat_interleave(heads, dim=0), average_attn_weights=False
    )
    keep = torch.ones(batch, n, dtype=torch.bool)
    keep[1, 2] = False  # torch gives NaN for the query with no key; attnlab zeros
    torch.testing.assert_close(got.context[keep], want[keep], atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(
        got.weights.transpose(1, 2)[keep], want_weights.transpose(1, 2)[keep],
        atol=1e-12, rtol=1e-10,
    )
    assert torch.isnan(want[1, 2]).all()
    assert torch.all(got.weights[1, :, 2] == 0)
    assert torch.allclose(got.context[1, 2], mha.out_proj.bias)  # zero context, then out_proj


@pytest.mark.parametrize(
    ("shape", "conversion"),
    [((3, 4), "torch.isfinite(attn_bias)[None]"), ((2, 3, 4), "torch.isfinite(attn_bias)"),
     ((2, 2, 3, 4), "torch.isfinite(attn_bias)[:, 0]")],
)
def test_conversion_matches_the_mask_shapes(shape: tuple[int, ...], conversion: str) -> None:
    bias = torch.zeros(shape)
    bias[..., -1] = float("-inf")
    with pytest.raises(ValueError) as info:
        check_attn_bias(bias, batch=2, q_len=3, k_len=4, num_heads=2)
    assert f"pass mask={conversion} instead" in str(info.value)
    assert "torch.where" not in str(info.value)  # the finite part is all zero


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_other_non_finite_values_get_no_conversion(bad: float) -> None:
    """``torch.isfinite`` would silently turn NaN or +inf into masked keys: no such hint."""
    bias = torch.zeros(3, 4)
    bias[0, 1] = bad
    bias[1, 2] = float("-inf")
    with pytest.raises(ValueError, match="must be finite") as info:
        check_attn_bias(bias, batch=2, q_len=3, k_len=4)
    assert "isfinite" not in str(info.value)
