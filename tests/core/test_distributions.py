"""Distribution functions: sparsemax, 1.5-entmax, Gumbel-softmax, categorical sampling.

sparsemax and entmax15 are checked against the independent ``entmax`` package (forward and
backward, with masks and ``-inf`` padding); the samplers against ``torch.distributions`` and
empirical frequencies under seeded generators.
"""

from __future__ import annotations

from collections.abc import Callable

import entmax
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.core.attend import attend
from attnlab.core.distributions import (
    Categorical,
    Entmax15,
    GumbelSoftmax,
    LinearNormalization,
    Softmax,
    Sparsemax,
    argmax_categorical,
    entmax15,
    gumbel_softmax,
    register_distribution_name,
    resolve_distribution,
    sample_categorical,
    sparsemax,
)
from attnlab.core.masks import masked_softmax
from attnlab.core.scores import Score
from helpers import assert_close, gradcheck, random_key_mask, random_query_key_mask, tol

SparseFn = Callable[..., torch.Tensor]

# (ours, the entmax package's)
SPARSE = [
    pytest.param(sparsemax, entmax.sparsemax, id="sparsemax"),
    pytest.param(entmax15, entmax.entmax15, id="entmax15"),
]
PACKAGE_TOL = {"rtol": 0.0, "atol": 1e-6}  # the bar: match entmax to 1e-6 in float64


def _value_and_grad(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, upstream: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_(True)
    y = fn(x)
    (grad,) = torch.autograd.grad((y * upstream).sum(), x)
    return y.detach(), grad


# ---------------------------------------------------------------------------------------------
# sparsemax / entmax15 against the entmax package


@pytest.mark.parametrize(("ours", "theirs"), SPARSE)
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 7), (4, 17)])
def test_sparse_matches_entmax_package(
    ours: SparseFn, theirs: SparseFn, shape: tuple[int, ...], device: torch.device
) -> None:
    x = torch.randn(*shape, dtype=torch.float64, device=device) * 2
    upstream = torch.randn_like(x)
    y, gx = _value_and_grad(ours, x, upstream)
    y_ref, gx_ref = _value_and_grad(theirs, x, upstream)
    torch.testing.assert_close(y, y_ref, **PACKAGE_TOL)
    torch.testing.assert_close(gx, gx_ref, **PACKAGE_TOL)
    if shape[-1] > 4:
        assert (y == 0).any(), "inputs this spread out must give exact zeros"


@pytest.mark.parametrize(("ours", "theirs"), SPARSE)
def test_sparse_matches_entmax_package_along_other_dim(ours: SparseFn, theirs: SparseFn) -> None:
    x = torch.randn(3, 6, 4, dtype=torch.float64)
    upstream = torch.randn_like(x)
    y, gx = _value_and_grad(lambda t: ours(t, 1), x, upstream)
    y_ref, gx_ref = _value_and_grad(lambda t: theirs(t, dim=1), x, upstream)
    torch.testing.assert_close(y, y_ref, **PACKAGE_TOL)
    torch.testing.assert_close(gx, gx_ref, **PACKAGE_TOL)


@pytest.mark.parametrize(("ours", "theirs"), SPARSE)
def test_masked_matches_entmax_package_on_valid_entries(
    ours: SparseFn, theirs: SparseFn, device: torch.device
) -> None:
    """Each masked row equals the package applied to that row's valid entries only."""
    x = torch.randn(3, 4, 6, dtype=torch.float64, device=device) * 2
    mask = random_query_key_mask(3, 4, 6, seed=1).to(device)
    upstream = torch.randn_like(x)
    y, gx = _value_and_grad(lambda t: ours(t, mask=mask), x, upstream)
    for b in range(3):
        for i in range(4):
            valid = mask[b, i]
            if not valid.any():
                assert torch.all(y[b, i] == 0) and torch.all(gx[b, i] == 0)
                continue
            y_ref, g_ref = _value_and_grad(theirs, x[b, i, valid], upstream[b, i, valid])
            torch.testing.assert_close(y[b, i, valid], y_ref, **PACKAGE_TOL)
            torch.testing.assert_close(gx[b, i, valid], g_ref, **PACKAGE_TOL)
            assert torch.all(y[b, i, ~valid] == 0) and torch.all(gx[b, i, ~valid] == 0)


@pytest.mark.parametrize(("ours", "theirs"), SPARSE)
def test_masked_matches_entmax_package_with_minus_inf_padding(
    ours: SparseFn, theirs: SparseFn
) -> None:
    """A key-padding mask equals padding the scores with -inf (both ours and the package's)."""
    x = torch.randn(4, 3, 8, dtype=torch.float64) * 3
    mask = random_key_mask(4, 8, min_len=2, seed=3)[:, None, :]  # (b, 1, j)
    assert mask.any() and (~mask).any()
    padded = x.masked_fill(~mask, float("-inf"))
    upstream = torch.randn_like(x)
    y, gx = _value_and_grad(lambda t: ours(t, mask=mask), x, upstream)
    y_ref, g_ref = _value_and_grad(theirs, padded, upstream)
    torch.testing.assert_close(y, y_ref, **PACKAGE_TOL)
    torch.testing.assert_close(gx, g_ref.nan_to_num(0.0), **PACKAGE_TOL)
    # -inf scores without a mask behave like masked keys too
    y_inf, g_inf = _value_and_grad(ours, padded, upstream)
    torch.testing.assert_close(y_inf, y, **PACKAGE_TOL)
    assert torch.isfinite(g_inf).all() and torch.all(g_inf[~mask.expand_as(x)] == 0)


@pytest.mark.parametrize("fn", [sparsemax, entmax15])
def test_fully_masked_rows_are_zero_with_finite_grads(fn: SparseFn) -> None:
    x = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    mask[0, 1] = False
    mask[1, :, 1:] = False  # one valid key: weight exactly 1
    y = fn(x, mask=mask)
    assert torch.all(y[0, 1] == 0)
    assert torch.all(y[1, :, 0] == 1) and torch.all(y[1, :, 1:] == 0)
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert torch.all(x.grad[0, 1] == 0) and torch.all(x.grad[1] == 0)
    # a row of all -inf scores and no mask is finite too (uniform, as for all-equal scores)
    z = fn(torch.full((1, 4), float("-inf"), dtype=torch.float64))
    assert torch.isfinite(z).all()


@pytest.mark.parametrize("fn", [sparsemax, entmax15])
@pytest.mark.parametrize("masked", [False, True])
def test_sparse_gradcheck(fn: SparseFn, masked: bool) -> None:
    g = torch.Generator().manual_seed(7)
    # distinct values (no ties) spread enough to give a non-trivial support
    x = torch.randn(2, 3, 6, dtype=torch.float64, generator=g).requires_grad_(True)
    mask = random_query_key_mask(2, 3, 6, seed=2) if masked else None
    assert gradcheck(lambda t: fn(t, mask=mask), (x,))


@pytest.mark.parametrize("fn", [sparsemax, entmax15])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_sparse_low_precision_and_large_logits(fn: SparseFn, dtype: torch.dtype) -> None:
    x = (torch.randn(3, 8, dtype=torch.float64) * 1e4).to(dtype).requires_grad_(True)
    mask = torch.ones(3, 8, dtype=torch.bool)
    mask[0, :3] = False
    mask[2] = False
    y = fn(x, mask=mask)
    assert y.dtype == dtype and torch.isfinite(y).all()
    assert torch.all(y[2] == 0) and torch.all(y[0, :3] == 0) and (y >= 0).all()
    assert_close(y[:2].sum(-1).float(), torch.ones(2))
    (y.float() * torch.randn(3, 8)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # same answer as float64 on the same (rounded) inputs
    expected = fn(x.detach().double(), mask=mask)
    assert_close(y.double(), expected, **tol(dtype))


@pytest.mark.parametrize("fn", [sparsemax, entmax15])
def test_sparse_half_precision_moderate_logits_match_float64(fn: SparseFn) -> None:
    x = torch.randn(4, 6, 9) * 2
    mask = random_query_key_mask(4, 6, 9, seed=4)
    for dtype in (torch.float16, torch.bfloat16):
        low = x.to(dtype)
        assert_close(fn(low, mask=mask).double(), fn(low.double(), mask=mask), **tol(dtype))


# ---------------------------------------------------------------------------------------------
# property tests

_row = st.lists(
    st.floats(-20.0, 20.0, allow_nan=False, allow_infinity=False, width=64),
    min_size=1,
    max_size=8,
)


def _row_and_mask(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    values = draw(_row)
    keep = draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    return torch.tensor([values], dtype=torch.float64), torch.tensor([keep])


row_and_mask = st.composite(_row_and_mask)


@pytest.mark.parametrize("fn", [sparsemax, entmax15])
@settings(max_examples=25, deadline=None)
@given(data=row_and_mask(), shift=st.floats(-100.0, 100.0, width=64))
def test_sparse_properties(
    fn: SparseFn, data: tuple[torch.Tensor, torch.Tensor], shift: float
) -> None:
    x, mask = data
    y = fn(x, mask=mask)
    assert (y >= 0).all() and torch.all(y[~mask] == 0)
    if mask.any():
        assert abs(float(y.sum()) - 1.0) < 1e-9
    else:
        assert torch.all(y == 0)
    # invariance to adding a constant to every score
    assert_close(fn(x + shift, mask=mask), y, rtol=0.0, atol=1e-9)


@pytest.mark.parametrize("fn", [sparsemax, entmax15])
@settings(max_examples=25, deadline=None)
@given(data=row_and_mask(), padding=_row)
def test_sparse_padding_invariance(
    fn: SparseFn, data: tuple[torch.Tensor, torch.Tensor], padding: list[float]
) -> None:
    """Appending masked keys, whatever their scores, changes nothing on the original keys."""
    x, mask = data
    pad = torch.tensor([padding], dtype=torch.float64)
    y = fn(x, mask=mask)
    y_padded = fn(
        torch.cat([x, pad], dim=-1),
        mask=torch.cat([mask, torch.zeros_like(pad, dtype=torch.bool)], dim=-1),
    )
    assert torch.all(y_padded[:, x.shape[-1] :] == 0)
    assert_close(y_padded[:, : x.shape[-1]], y, rtol=0.0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Gumbel-softmax


def test_gumbel_soft_rows_sum_to_one_with_masks(device: torch.device) -> None:
    scores = torch.randn(3, 4, 6, device=device)
    mask = random_query_key_mask(3, 4, 6, seed=5).to(device)
    y = gumbel_softmax(scores, tau=0.7, mask=mask)
    valid = mask.any(-1)
    assert (y >= 0).all() and torch.all(y[~mask] == 0) and torch.all(y[~valid] == 0)
    assert_close(y.sum(-1)[valid], torch.ones_like(y.sum(-1)[valid]))


def test_gumbel_hard_is_one_hot_with_the_soft_gradient() -> None:
    scores = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    mask = random_query_key_mask(4, 3, 5, seed=6)
    upstream = torch.randn(4, 3, 5, dtype=torch.float64)

    def run(hard: bool) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(123)
        y = gumbel_softmax(scores, tau=0.5, hard=hard, mask=mask, generator=g)
        (grad,) = torch.autograd.grad((y * upstream).sum(), scores)
        return y, grad

    y_soft, g_soft = run(False)
    y_hard, g_hard = run(True)
    valid = mask.any(-1)
    assert torch.all((y_hard == 0) | (y_hard == 1))
    assert torch.all(y_hard.sum(-1)[valid] == 1) and torch.all(y_hard[~valid] == 0)
    assert torch.all(y_hard[~mask] == 0)
    # the hard sample is the argmax of the soft one drawn with the same noise
    assert torch.equal(y_hard.argmax(-1)[valid], y_soft.argmax(-1)[valid])
    torch.testing.assert_close(g_hard, g_soft, rtol=0.0, atol=0.0)
    assert torch.isfinite(g_soft).all() and torch.all(g_soft[~mask] == 0)


def test_gumbel_never_selects_masked_keys() -> None:
    scores = torch.tensor([5.0, 0.0, 30.0, -1.0, 50.0]).expand(4000, 5)  # masked keys dominate
    mask = torch.tensor([False, True, False, True, False])
    y = gumbel_softmax(
        scores, tau=0.1, hard=True, mask=mask, generator=torch.Generator().manual_seed(0)
    )
    assert torch.all(y[:, ~mask] == 0)
    assert torch.all(y.sum(-1) == 1)
    counts = y.sum(0)
    assert counts[1] > 0 and counts[3] > 0


@pytest.mark.parametrize("tau", [0.3, 1.0, 3.0])
def test_gumbel_max_frequencies_follow_softmax(tau: float) -> None:
    """Gumbel-max: the hard index is distributed as softmax(scores), whatever tau."""
    n = 20000
    scores = torch.tensor([1.0, 0.0, -1.0, 2.0, -0.5], dtype=torch.float64)
    y = gumbel_softmax(
        scores.expand(n, 5), tau=tau, hard=True, generator=torch.Generator().manual_seed(1)
    )
    observed = y.sum(0)
    expected = n * scores.softmax(-1)
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < 25.0  # 4 degrees of freedom: P(chi2 > 25) < 1e-4


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("hard", [False, True])
def test_gumbel_tiny_tau_large_logits_low_precision(dtype: torch.dtype, hard: bool) -> None:
    scores = (torch.randn(3, 7) * 1e4).to(dtype).requires_grad_(True)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[0, 2:5] = False
    mask[2] = False
    y = gumbel_softmax(scores, tau=1e-4, hard=hard, mask=mask)
    assert y.dtype == dtype and torch.isfinite(y).all()
    assert torch.all(y[~mask] == 0) and torch.all(y[2] == 0)
    assert_close(y[:2].sum(-1).float(), torch.ones(2), rtol=1e-2, atol=1e-2)
    (y.float() * torch.randn(3, 7)).sum().backward()
    assert scores.grad is not None and torch.isfinite(scores.grad).all()


def test_gumbel_class_and_seeded_reproducibility() -> None:
    scores = torch.randn(2, 6)
    a = GumbelSoftmax(tau=0.5, generator=torch.Generator().manual_seed(3))(scores)
    b = gumbel_softmax(scores, tau=0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert repr(GumbelSoftmax(hard=True)) == "GumbelSoftmax(tau=1.0, hard=True)"


# ---------------------------------------------------------------------------------------------
# categorical sampling


def test_sample_categorical_log_prob_matches_torch_distributions() -> None:
    scores = torch.randn(3, 4, 6, dtype=torch.float64)
    mask = random_query_key_mask(3, 4, 6, seed=8)
    weights = masked_softmax(scores, mask).requires_grad_(True)
    sample = sample_categorical(weights, mask=mask, generator=torch.Generator().manual_seed(0))
    valid = mask.any(-1)
    assert sample.indices.shape == (3, 4) and sample.log_prob.shape == (3, 4)
    assert sample.one_hot.shape == (3, 4, 6) and sample.one_hot.dtype == weights.dtype
    rows = weights[valid]
    reference = torch.distributions.Categorical(probs=rows).log_prob(sample.indices[valid])
    torch.testing.assert_close(sample.log_prob[valid], reference)
    # the gradient with respect to the valid weights matches too; masked weights do not enter
    # log_prob (they are excluded, not just zero), so their gradient is 0, as on empty rows
    (g_ours,) = torch.autograd.grad(sample.log_prob.sum(), weights)
    (g_ref,) = torch.autograd.grad(reference.sum(), weights)
    torch.testing.assert_close(g_ours[mask], g_ref[mask])
    assert torch.all(g_ours[~mask] == 0)
    # convention for rows with no valid key
    assert torch.all(sample.indices[~valid] == 0)
    assert torch.all(sample.one_hot[~valid] == 0) and torch.all(sample.log_prob[~valid] == 0)
    assert torch.equal(sample.one_hot[valid].argmax(-1), sample.indices[valid])


def test_sample_categorical_without_mask_matches_torch_distributions() -> None:
    weights = torch.rand(4, 7, dtype=torch.float64).requires_grad_(True)  # unnormalised
    sample = sample_categorical(weights, generator=torch.Generator().manual_seed(5))
    reference = torch.distributions.Categorical(probs=weights).log_prob(sample.indices)
    torch.testing.assert_close(sample.log_prob, reference)
    (g_ours,) = torch.autograd.grad(sample.log_prob.sum(), weights)
    (g_ref,) = torch.autograd.grad(reference.sum(), weights)
    torch.testing.assert_close(g_ours, g_ref)


def test_sample_categorical_frequencies_and_masking() -> None:
    n = 20000
    weights = torch.tensor([0.1, 0.4, 0.2, 0.3, 0.5, 0.7])
    mask = torch.tensor([True, True, True, True, False, False])
    assert mask.any() and (~mask).any()
    sample = sample_categorical(
        weights.expand(n, 6), mask=mask, generator=torch.Generator().manual_seed(2)
    )
    counts = torch.bincount(sample.indices, minlength=6).double()
    assert torch.all(counts[~mask] == 0)
    expected = n * (weights * mask) / (weights * mask).sum()
    chi2 = float(((counts[mask] - expected[mask]) ** 2 / expected[mask]).sum())
    assert chi2 < 22.0  # 3 degrees of freedom: P(chi2 > 22) < 1e-4
    torch.testing.assert_close(
        sample.log_prob, (expected / n).log()[sample.indices].float(), rtol=1e-5, atol=1e-6
    )


def test_sample_categorical_never_picks_zero_weight_keys() -> None:
    weights = torch.tensor([[0.0, 0.5, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0]]).repeat(500, 1)
    sample = sample_categorical(weights, generator=torch.Generator().manual_seed(4))
    picked = sample.one_hot.sum(0)
    assert picked[0] == 0 and picked[2] == 0 and picked[1] > 0 and picked[3] > 0
    assert torch.isfinite(sample.log_prob).all()
    assert torch.all(sample.one_hot[1::2] == 0) and torch.all(sample.log_prob[1::2] == 0)


def test_argmax_categorical() -> None:
    weights = torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.2, 0.5, 0.3]])
    mask = torch.tensor([[True, True, True], [False, True, True], [False, False, False]])
    out = argmax_categorical(weights, mask=mask)
    assert out.indices.tolist() == [1, 2, 0]
    assert out.one_hot.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    torch.testing.assert_close(out.log_prob, torch.tensor([0.5, 0.75, 1.0]).log())


def test_categorical_distribution_class() -> None:
    scores = torch.randn(2, 3, 5)
    mask = random_query_key_mask(2, 3, 5, seed=9)
    valid = mask.any(-1)
    y = Categorical(temperature=0.5, generator=torch.Generator().manual_seed(0))(scores, mask)
    assert torch.all((y == 0) | (y == 1)) and torch.all(y[~mask] == 0)
    assert torch.all(y.sum(-1)[valid] == 1) and torch.all(y[~valid] == 0)
    greedy = Categorical(deterministic=True)(scores, mask)
    expected = masked_softmax(scores, mask).argmax(-1)
    assert torch.equal(greedy.argmax(-1)[valid], expected[valid])


# ---------------------------------------------------------------------------------------------
# softmax with temperature (kept here: stability of the class)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_softmax_class_tiny_temperature_large_logits(dtype: torch.dtype) -> None:
    scores = (torch.randn(3, 6) * 1e4).to(dtype).requires_grad_(True)
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, :2] = False
    mask[2] = False
    y = Softmax(temperature=1e-3)(scores, mask)
    assert torch.isfinite(y).all() and torch.all(y[~mask] == 0)
    assert_close(y[:2].sum(-1).float(), torch.ones(2), rtol=1e-2, atol=1e-2)
    y.float().sum().backward()
    assert scores.grad is not None and torch.isfinite(scores.grad).all()


def test_softmax_class_matches_masked_softmax() -> None:
    scores = torch.randn(2, 3, 5, dtype=torch.float64)
    mask = random_query_key_mask(2, 3, 5, seed=10)
    assert_close(
        Softmax(temperature=0.7)(scores, mask), masked_softmax(scores, mask, temperature=0.7)
    )


# ---------------------------------------------------------------------------------------------
# bad inputs


@pytest.mark.parametrize(
    "call",
    [
        lambda s, m: sparsemax(s, mask=m),
        lambda s, m: entmax15(s, mask=m),
        lambda s, m: gumbel_softmax(s, mask=m),
        lambda s, m: sample_categorical(s.softmax(-1), mask=m),
        lambda s, m: argmax_categorical(s.softmax(-1), mask=m),
        lambda s, m: Categorical()(s, m),
    ],
)
def test_bad_masks_are_rejected(call: Callable[[torch.Tensor, object], object]) -> None:
    scores = torch.randn(2, 4)
    with pytest.raises(TypeError, match="mask"):
        call(scores, torch.ones(2, 4))
    with pytest.raises(TypeError, match="mask"):
        call(scores, [[True] * 4] * 2)
    with pytest.raises(ValueError, match="mask"):
        call(scores, torch.ones(3, 4, dtype=torch.bool))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_temperatures_are_rejected(bad: float) -> None:
    scores = torch.randn(2, 4)
    with pytest.raises(ValueError, match="tau"):
        gumbel_softmax(scores, tau=bad)
    with pytest.raises(ValueError, match="tau"):
        GumbelSoftmax(tau=bad)
    with pytest.raises(ValueError, match="temperature"):
        Categorical(temperature=bad)
    with pytest.raises(ValueError, match="temperature"):
        Softmax(temperature=bad)
    with pytest.raises(TypeError, match="tau"):
        gumbel_softmax(scores, tau="1")  # type: ignore[arg-type]


def test_bad_scores_and_weights_are_rejected() -> None:
    with pytest.raises(TypeError, match="scores"):
        sparsemax(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="scores"):
        entmax15([[1.0, 2.0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scores"):
        gumbel_softmax(torch.tensor(1.0))
    with pytest.raises(ValueError, match="weights"):
        sample_categorical(torch.tensor([[0.5, -0.1, 0.6]]))
    # a NaN row is not an error: it stays in its row (the non-finite rule)
    assert torch.isnan(argmax_categorical(torch.tensor([[0.5, float("nan"), 0.6]])).log_prob).all()
    with pytest.raises(TypeError, match="hard"):
        gumbel_softmax(torch.zeros(1, 3), hard=1)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# names and attend() end to end


def test_resolve_distribution_names() -> None:
    expected = {
        "softmax": Softmax,
        "linear": LinearNormalization,
        "sparsemax": Sparsemax,
        "entmax15": Entmax15,
        "gumbel": GumbelSoftmax,
        "gumbel_hard": GumbelSoftmax,
        "categorical": Categorical,
    }
    for name, cls in expected.items():
        assert type(resolve_distribution(name)) is cls
    gumbel_hard = resolve_distribution("gumbel_hard")
    assert isinstance(gumbel_hard, GumbelSoftmax) and gumbel_hard.hard
    with pytest.raises(ValueError, match="sparsemax"):
        register_distribution_name("sparsemax", Sparsemax)
    with pytest.raises(ValueError, match="unknown distribution"):
        resolve_distribution("sparsmax")


class _Dot(Score):
    """q . k, the simplest alignment (no factorisation, so every distribution runs generically)."""

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return query @ key.transpose(-2, -1)


@pytest.mark.parametrize(
    "name", ["softmax", "sparsemax", "entmax15", "gumbel", "gumbel_hard", "categorical"]
)
def test_attend_with_each_distribution(name: str) -> None:
    q = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    mask = random_query_key_mask(2, 3, 5, seed=11)
    valid = mask.any(-1)
    out = attend(q, k, v, score=_Dot(), distribution=name, mask=mask)
    assert out.context.shape == (2, 3, 6) and out.weights is not None
    w = out.weights
    assert w.shape == (2, 3, 5) and (w >= 0).all() and torch.all(w[~mask] == 0)
    assert_close(w.sum(-1)[valid], torch.ones_like(w.sum(-1)[valid]))
    assert torch.all(w[~valid] == 0) and torch.all(out.context[~valid] == 0)
    torch.testing.assert_close(out.context, w @ v)
    if name in ("gumbel_hard", "categorical"):
        assert torch.all((w == 0) | (w == 1))
    out.context.sum().backward()
    # sampled one-hot weights carry no gradient to the scores (hard attention learns them
    # through log_prob); every other distribution is differentiable end to end
    learned = (v,) if name == "categorical" else (q, k, v)
    for t in learned:
        assert t.grad is not None and torch.isfinite(t.grad).all()
    if name == "sparsemax":
        assert_close(w[valid], _reference_rows(entmax.sparsemax, _Dot()(q, k), mask)[valid])
    if name == "entmax15":
        assert_close(w[valid], _reference_rows(entmax.entmax15, _Dot()(q, k), mask)[valid])


def _reference_rows(fn: SparseFn, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(scores)
    for b in range(scores.shape[0]):
        for i in range(scores.shape[1]):
            if mask[b, i].any():
                out[b, i, mask[b, i]] = fn(scores[b, i, mask[b, i]].detach(), dim=-1)
    return out
