"""Property-based tests of the core over lengths, masks and dtypes (hypothesis).

For any shapes (empty batches and sequences included), any boolean mask (fully masked rows
included) and any floating dtype:

* weights are finite, ``>= 0``, exactly ``0`` at masked keys;
* every row sums to 1 (it has a valid key) or is all zeros (it has none);
* padding invariance: appending masked keys, whatever their values, changes nothing;
* the fused path of multi-head attention equals its weights path.

Tensors are drawn from a seeded generator chosen by hypothesis, so a failure reproduces from
its printed example. ``max_examples`` is small: the whole file runs in a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import Tensor

from attnlab.core.attend import attend
from attnlab.core.distributions import resolve_distribution
from attnlab.core.masks import lengths_to_mask, masked_softmax
from attnlab.core.scores import AdditiveScore, DotScore, Score
from attnlab.mechanisms.multihead import MultiHeadAttention

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
# Row sums of weights computed in a low precision are exact only up to its rounding.
SUM_TOL = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 2e-2, torch.float16: 2e-3}


@dataclass(frozen=True)
class Problem:
    """Shapes, a seed and a mask pattern; :meth:`mask` builds ``(B, Lq | 1, Lk)`` or, shared
    by the batch, ``(1, Lq, Lk)``."""

    batch: int
    q_len: int
    k_len: int
    seed: int
    density: float
    per_query: bool
    shared: bool

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)

    def mask(self) -> Tensor:
        g = torch.Generator().manual_seed(self.seed + 1)
        rows = self.q_len if self.per_query else 1
        lead = 1 if self.shared else self.batch
        mask = torch.rand(lead, rows, self.k_len, generator=g) < self.density
        if mask.numel():
            mask.view(-1, self.k_len)[0] = False  # at least one fully masked row
        if self.shared:  # one (1, Lq, Lk) pattern for the whole batch
            mask = mask.expand(1, self.q_len, self.k_len)
        return mask


@st.composite
def problems(draw: st.DrawFn, *, min_batch: int = 0, min_len: int = 0) -> Problem:
    return Problem(
        batch=draw(st.integers(min_batch, 3)),
        q_len=draw(st.integers(min_len, 4)),
        k_len=draw(st.integers(min_len, 6)),
        seed=draw(st.integers(0, 2**16)),
        density=draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])),
        per_query=draw(st.booleans()),
        shared=draw(st.booleans()),
    )


def check_weights(weights: Tensor, mask: Tensor, dtype: torch.dtype) -> None:
    """The distribution contract on ``weights (..., Lq, Lk)`` against a broadcastable mask."""
    mask = mask.expand(weights.shape)
    assert torch.isfinite(weights).all()
    assert (weights >= 0).all()
    assert (weights[~mask] == 0).all(), "masked keys must get exactly 0"
    sums = weights.double().sum(-1)
    valid = mask.any(-1)
    tol = SUM_TOL[dtype]
    assert torch.allclose(sums[valid], torch.ones_like(sums[valid]), atol=tol, rtol=0)
    assert (sums[~valid] == 0).all(), "a row with no valid key must be all zeros"


@SETTINGS
@given(
    problem=problems(),
    dtype=st.sampled_from(DTYPES),
    temperature=st.sampled_from([1.0, 0.5, 1e-3, 7.0]),
    scale=st.sampled_from([1.0, 1e4]),
)
@example(  # scores / T overflows float16 unless the row maximum is subtracted first
    problem=Problem(2, 3, 4, seed=0, density=0.7, per_query=True, shared=False),
    dtype=torch.float16, temperature=1e-3, scale=1e4,
)
def test_masked_softmax_contract(
    problem: Problem, dtype: torch.dtype, temperature: float, scale: float
) -> None:
    g = problem.generator()
    scores = (scale * torch.randn(problem.batch, problem.q_len, problem.k_len, generator=g))
    scores = scores.to(dtype).requires_grad_(True)
    mask = problem.mask()
    weights = masked_softmax(scores, mask, temperature=temperature)
    assert weights.dtype == dtype and weights.shape == scores.shape
    check_weights(weights, mask, dtype)
    weights.double().pow(2).sum().backward()
    assert scores.grad is not None and torch.isfinite(scores.grad).all()
    assert (scores.grad.expand_as(scores)[~mask.expand_as(scores)] == 0).all()


class PositiveScore(Score):
    """``sigmoid(q . k)``: positive scores for the linear normalisation."""

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        return torch.sigmoid(query @ key.transpose(-2, -1))


def score_for(distribution: str, dim: int) -> Score:
    if distribution == "linear":
        return PositiveScore()
    if distribution in ("sparsemax", "entmax15"):
        return AdditiveScore(dim, dim, hidden_dim=3)
    return DotScore()


DISTRIBUTIONS = ["softmax", "sparsemax", "entmax15", "linear", "gumbel", "gumbel_hard",
                 "categorical"]


@SETTINGS
@given(
    problem=problems(),
    distribution=st.sampled_from(DISTRIBUTIONS),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    need_weights=st.booleans(),
)
def test_attend_contract_with_every_distribution(
    problem: Problem, distribution: str, dtype: torch.dtype, need_weights: bool
) -> None:
    torch.manual_seed(problem.seed)  # the sampling distributions draw from the global stream
    g = problem.generator()
    dim = 4
    query = torch.randn(problem.batch, problem.q_len, dim, generator=g, dtype=dtype)
    key = torch.randn(problem.batch, problem.k_len, dim, generator=g, dtype=dtype)
    value = torch.randn(problem.batch, problem.k_len, 3, generator=g, dtype=dtype)
    mask = problem.mask()
    if mask.shape[1] == 1 and not problem.shared:
        mask = mask[:, 0]  # the (B, Lk) key padding form
    score = score_for(distribution, dim).to(dtype)
    out = attend(query, key, value, score=score, distribution=distribution, mask=mask,
                 need_weights=need_weights)
    assert out.context.shape == (problem.batch, problem.q_len, 3)
    assert torch.isfinite(out.context).all()
    full = mask if mask.dim() == 3 else mask[:, None]
    no_key = ~full.any(-1).expand(problem.batch, problem.q_len)
    assert (out.context[no_key] == 0).all(), "a query with no valid key gets zero context"
    if out.weights is None:
        assert not need_weights
        return
    check_weights(out.weights, full, dtype)
    if distribution in ("gumbel_hard", "categorical"):
        assert ((out.weights == 0) | (out.weights == 1)).all()


DETERMINISTIC = ["softmax", "sparsemax", "entmax15", "linear"]


@SETTINGS
@given(
    problem=problems(min_batch=1),
    distribution=st.sampled_from(DETERMINISTIC),
    extra=st.integers(1, 4),
    padding_scale=st.sampled_from([1.0, 1e3, 1e30]),
)
def test_padding_invariance(
    problem: Problem, distribution: str, extra: int, padding_scale: float
) -> None:
    """Masked keys, whatever their (finite) values, change neither weights nor context."""
    g = problem.generator()
    dtype = torch.float64
    dim = 4
    query = torch.randn(problem.batch, problem.q_len, dim, generator=g, dtype=dtype)
    key = torch.randn(problem.batch, problem.k_len, dim, generator=g, dtype=dtype)
    value = torch.randn(problem.batch, problem.k_len, 3, generator=g, dtype=dtype)
    mask = problem.mask().expand(problem.batch, problem.q_len, problem.k_len)
    pad_key = padding_scale * torch.randn(problem.batch, extra, dim, generator=g, dtype=dtype)
    pad_value = padding_scale * torch.randn(problem.batch, extra, 3, generator=g, dtype=dtype)
    padded_mask = torch.cat(
        [mask, torch.zeros(problem.batch, problem.q_len, extra, dtype=torch.bool)], dim=-1
    )
    score = score_for(distribution, dim).to(dtype)
    base = attend(query, key, value, score=score, distribution=distribution, mask=mask)
    padded = attend(query, torch.cat([key, pad_key], 1), torch.cat([value, pad_value], 1),
                    score=score, distribution=distribution, mask=padded_mask)
    assert base.weights is not None and padded.weights is not None
    assert (padded.weights[..., problem.k_len:] == 0).all()
    torch.testing.assert_close(padded.weights[..., : problem.k_len], base.weights)
    torch.testing.assert_close(padded.context, base.context)


@SETTINGS
@given(
    problem=problems(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    causal=st.booleans(),
    grad=st.booleans(),
)
def test_multihead_fused_equals_weights_path(
    problem: Problem, dtype: torch.dtype, causal: bool, grad: bool
) -> None:
    torch.manual_seed(problem.seed)
    module = MultiHeadAttention(8, 2, causal=causal, dtype=dtype).eval()
    g = problem.generator()
    query = torch.randn(problem.batch, problem.q_len, 8, generator=g, dtype=dtype)
    memory = torch.randn(problem.batch, problem.k_len, 8, generator=g, dtype=dtype)
    mask = problem.mask()
    if mask.shape[1] == 1 and not problem.shared:
        mask = mask[:, 0]
    with torch.set_grad_enabled(grad):
        full = module(query, memory, mask=mask)
        fused = module(query, memory, mask=mask, need_weights=False)
    assert fused.weights is None and full.weights is not None
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {}
    torch.testing.assert_close(fused.context, full.context, **tol)
    allowed = mask if mask.dim() == 3 else mask[:, None]
    allowed = allowed.expand(problem.batch, problem.q_len, problem.k_len)
    if causal:
        allowed = allowed & torch.ones(problem.q_len, problem.k_len, dtype=torch.bool).tril(
            problem.k_len - problem.q_len
        )
    check_weights(full.weights, allowed[:, None], dtype)
    no_key = ~allowed.any(-1)
    # the fused path zeroes the attention of a query with no key; the output projection's
    # bias is all that remains of it
    bias = module.out_proj.bias
    assert bias is not None
    expected = bias.detach().expand(int(no_key.sum()), 8)
    torch.testing.assert_close(fused.context[no_key], expected, **tol)


@SETTINGS
@given(lengths=st.lists(st.integers(0, 6), min_size=0, max_size=4), extra=st.integers(0, 3))
def test_lengths_to_mask_matches_a_loop(lengths: list[int], extra: int) -> None:
    max_length = (max(lengths) if lengths else 0) + extra
    mask = lengths_to_mask(lengths, max_length)
    assert mask.shape == (len(lengths), max_length)
    for b, n in enumerate(lengths):
        assert mask[b].tolist() == [j < n for j in range(max_length)]


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_distributions_keep_the_dtype(name: str) -> None:
    dist = resolve_distribution(name)
    for dtype in DTYPES:
        scores = torch.randn(2, 3, 5).to(dtype)
        if name == "linear":
            scores = scores.abs()
        mask = torch.rand(2, 3, 5) < 0.6
        mask[0, 0] = False
        weights = dist(scores, mask)
        assert weights.dtype == dtype
        check_weights(weights, mask, dtype)
