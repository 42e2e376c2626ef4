from __future__ import annotations

import pytest
import torch

from attnlab.core.checks import (
    check_attn_bias,
    check_dim,
    check_mask,
    check_positive,
    check_probability,
    check_tensor,
)


def test_check_tensor_messages() -> None:
    with pytest.raises(TypeError, match="query must be a torch.Tensor"):
        check_tensor([1, 2], "query", ndim=3, layout="(B, Lq, D)")
    with pytest.raises(ValueError, match=r"key must be a 3-D tensor .*got shape \(2, 3\)"):
        check_tensor(torch.zeros(2, 3), "key", ndim=3, layout="(B, Lk, D)")
    with pytest.raises(TypeError, match="value must be a floating-point"):
        check_tensor(torch.zeros(2, 3, 4, dtype=torch.long), "value", ndim=3, layout="(B, L, D)")
    x = torch.zeros(1, 2, 3)
    assert check_tensor(x, "x", ndim=(3, 4), layout="...") is x


def test_check_dim() -> None:
    check_dim(torch.zeros(2, 3, 4), -1, 4, "key", "key_dim")
    with pytest.raises(ValueError, match="key_dim is 5"):
        check_dim(torch.zeros(2, 3, 4), -1, 5, "key", "key_dim")


@pytest.mark.parametrize(
    ("mask", "error", "match"),
    [
        ([True], TypeError, "mask must be a boolean torch.Tensor"),
        (torch.ones(2, 5), TypeError, "mask must be a boolean tensor"),
        (torch.ones(2, 4, dtype=torch.bool), ValueError, r"\(B, Lk\) = \(2, 5\)"),
        (torch.ones(5, dtype=torch.bool), ValueError, "got a 1-D tensor"),
        (torch.ones(2, 2, 5, dtype=torch.bool), ValueError, r"\(B, Lq, Lk\) = \(2, 3, 5\)"),
        (torch.ones(3, 3, 5, dtype=torch.bool), ValueError, "rank 3"),
        (torch.ones(2, 1, 3, 5, dtype=torch.bool), ValueError, "4-D"),
    ],
)
def test_check_mask_rejects(mask, error, match) -> None:
    with pytest.raises(error, match=match):
        check_mask(mask, batch=2, q_len=3, k_len=5)


def test_check_mask_shapes() -> None:
    assert check_mask(torch.ones(2, 5, dtype=torch.bool), batch=2, q_len=3, k_len=5).shape == (
        2, 1, 5,
    )
    assert check_mask(torch.ones(1, 3, 5, dtype=torch.bool), batch=2, q_len=3, k_len=5).shape == (
        1, 3, 5,
    )
    # B == Lq must not be confused: a (B, Lk) mask is always a key mask
    m = torch.tensor([[True, False], [False, True]])
    assert torch.equal(check_mask(m, batch=2, q_len=2, k_len=2)[:, 0], m)


def test_check_attn_bias() -> None:
    assert check_attn_bias(torch.zeros(3, 5), batch=2, q_len=3, k_len=5).shape == (1, 3, 5)
    assert check_attn_bias(
        torch.zeros(2, 4, 3, 5), batch=2, q_len=3, k_len=5, num_heads=4
    ).shape == (2, 4, 3, 5)
    assert check_attn_bias(torch.zeros(3, 5), batch=2, q_len=3, k_len=5, num_heads=4).shape == (
        1, 1, 3, 5,
    )
    with pytest.raises(TypeError, match="attn_bias must be a floating-point"):
        check_attn_bias(torch.zeros(3, 5, dtype=torch.bool), batch=2, q_len=3, k_len=5)
    with pytest.raises(ValueError, match="attn_bias must have shape"):
        check_attn_bias(torch.zeros(2, 4, 3, 5), batch=2, q_len=3, k_len=5)
    with pytest.raises(ValueError, match="attn_bias must have shape"):
        check_attn_bias(torch.zeros(1, 3, 5), batch=2, q_len=3, k_len=5)


def test_scalar_checks() -> None:
    check_positive(1.0, "tau")
    check_positive(0, "eps", allow_zero=True)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="tau"):
            check_positive(bad, "tau")
    with pytest.raises(TypeError, match="tau"):
        check_positive("1", "tau")  # type: ignore[arg-type]
    check_probability(0.0, "dropout")
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="dropout"):
            check_probability(bad, "dropout")
    with pytest.raises(TypeError, match="dropout"):
        check_probability(True, "dropout")  # type: ignore[arg-type]
