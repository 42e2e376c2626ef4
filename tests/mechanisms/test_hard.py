"""Stochastic hard attention (Xu et al. 2015), REINFORCE loss and the moving-average baseline."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Categorical

from attnlab.core.registry import list_mechanisms
from attnlab.core.scores import AdditiveScore, GeneralScore
from attnlab.mechanisms.hard import (
    HARD_ATTENTION_MODES,
    HardAttention,
    HardAttentionOutput,
    MovingAverageBaseline,
    reinforce_loss,
)
from helpers import assert_close, gradcheck, random_query_key_mask
from reference.hard import hard_attention_reference

F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _valid_rows(mask: torch.Tensor) -> torch.Tensor:
    return mask.any(-1)


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("mode", HARD_ATTENTION_MODES)
def test_shapes_and_fields(
    batch: int, mode: str, dtype: torch.dtype, device: torch.device
) -> None:
    attn = HardAttention(5, 4, hidden_dim=6, mode=mode, dtype=dtype, device=device)
    q = torch.randn(batch, 3, 5, dtype=dtype, device=device)
    k = torch.randn(batch, 7, 4, dtype=dtype, device=device)
    g = torch.Generator(device=device).manual_seed(0)
    out = attn(q, k, generator=g)
    assert isinstance(out, HardAttentionOutput)
    assert out._fields == ("context", "weights", "indices", "log_prob", "probs", "entropy")
    assert out.context.shape == (batch, 3, 4) and out.context.dtype == dtype
    assert out.weights.shape == out.probs.shape == (batch, 3, 7)
    assert out.indices.shape == out.log_prob.shape == out.entropy.shape == (batch, 3)
    assert out.indices.dtype == torch.int64
    value = torch.randn(batch, 7, 2, dtype=dtype, device=device)
    assert attn(q, k, value).context.shape == (batch, 3, 2)
    assert out.context.device == q.device


# ----------------------------------------------------------------------------- reference


@pytest.mark.parametrize("mode", HARD_ATTENTION_MODES)
@pytest.mark.parametrize("training", [True, False])
def test_matches_paper_literal_reference(mode: str, training: bool) -> None:
    attn = HardAttention(3, 2, hidden_dim=4, mode=mode, dtype=F64).train(training)
    q, k = torch.randn(2, 4, 3, dtype=F64), torch.randn(2, 5, 2, dtype=F64)
    value = torch.randn(2, 5, 3, dtype=F64)
    mask = random_query_key_mask(2, 4, 5, seed=1)
    out = attn(q, k, value, mask=mask, generator=_gen(3))
    score = attn.score
    assert isinstance(score, AdditiveScore)
    probs, log_prob, entropy, context = hard_attention_reference(
        q, k, value, out.indices, W=score.query_proj.weight, U=score.key_proj.weight, v=score.v,
        mask=mask,
    )
    assert_close(out.probs, probs)
    assert_close(out.log_prob, log_prob)
    assert_close(out.entropy, entropy)
    assert_close(out.context, context)


# ----------------------------------------------------------------------------- family checks


@pytest.mark.parametrize("mode", HARD_ATTENTION_MODES)
@pytest.mark.parametrize("training", [True, False])
def test_one_hot_and_log_prob_equal_torch_categorical(mode: str, training: bool) -> None:
    attn = HardAttention(4, hidden_dim=5, mode=mode, dtype=F64).train(training)
    q, k = torch.randn(3, 6, 4, dtype=F64), torch.randn(3, 8, 4, dtype=F64)
    mask = random_query_key_mask(3, 6, 8, seed=2)
    out = attn(q, k, mask=mask, generator=_gen(1))
    valid = _valid_rows(mask)
    w = out.weights
    assert ((w == 0) | (w == 1)).all()
    assert_close(w.sum(-1), valid.to(F64))
    assert torch.equal(w.argmax(-1)[valid], out.indices[valid])
    # never a masked key
    assert (w[~mask] == 0).all()
    assert mask.gather(2, out.indices.unsqueeze(-1)).squeeze(-1)[valid].all()
    dist = Categorical(probs=out.probs[valid])
    assert_close(out.log_prob[valid], dist.log_prob(out.indices[valid]))
    assert_close(out.entropy[valid], dist.entropy())
    assert_close(out.context, torch.bmm(w, k))


@pytest.mark.parametrize("mode", HARD_ATTENTION_MODES)
def test_fully_masked_rows_give_zeros_and_finite_gradients(mode: str) -> None:
    attn = HardAttention(4, hidden_dim=5, mode=mode, dtype=F64)
    q = torch.randn(2, 3, 4, dtype=F64, requires_grad=True)
    k = torch.randn(2, 5, 4, dtype=F64, requires_grad=True)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    mask[0, 1] = False
    mask[1] = False
    assert mask.any() and (~mask).any()
    out = attn(q, k, mask=mask, generator=_gen())
    empty = ~mask.any(-1)
    assert (out.weights[empty] == 0).all() and (out.context[empty] == 0).all()
    assert (out.log_prob[empty] == 0).all() and (out.entropy[empty] == 0).all()
    assert (out.probs[empty] == 0).all()
    loss = sum(t.sum() for t in (out.context, out.log_prob, out.entropy, out.probs, out.weights))
    loss.backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()
    assert k.grad is not None and torch.isfinite(k.grad).all()
    for p in attn.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("mode", HARD_ATTENTION_MODES)
def test_samples_follow_the_attention_distribution(mode: str) -> None:
    # The Gumbel-max trick and multinomial sampling must both draw from alpha = softmax(e).
    attn = HardAttention(2, score=GeneralScore(2, dtype=F64), mode=mode)
    n = 4000
    q = torch.tensor([[[1.0, -0.5]]], dtype=F64).expand(n, 1, 2)
    k = torch.tensor([[[0.3, 1.0], [1.2, 0.1], [-0.7, 0.4], [2.0, 2.0]]], dtype=F64)
    k = k.expand(n, 4, 2)
    mask = torch.tensor([True, True, True, False]).expand(n, 4)
    with torch.no_grad():
        out = attn(q, k, mask=mask, generator=_gen(7))
    freq = out.weights[:, 0].mean(0)
    assert freq[3] == 0
    torch.testing.assert_close(freq, out.probs[0, 0], atol=0.035, rtol=0)


def test_evaluation_is_deterministic_argmax() -> None:
    attn = HardAttention(4, hidden_dim=5, mode="gumbel").eval()
    q, k = torch.randn(2, 3, 4), torch.randn(2, 6, 4)
    mask = torch.tensor([[True] * 6, [False, True, True, False, True, False]])
    first = attn(q, k, mask=mask, generator=_gen(0))
    second = attn(q, k, mask=mask, generator=_gen(1))
    assert torch.equal(first.indices, second.indices)
    assert torch.equal(first.weights, second.weights)
    assert torch.equal(first.indices, first.probs.argmax(-1))


def test_training_samples_vary_with_the_generator() -> None:
    attn = HardAttention(4, hidden_dim=5)
    q, k = torch.randn(4, 8, 4), torch.randn(4, 6, 4)
    a = attn(q, k, generator=_gen(0)).indices
    b = attn(q, k, generator=_gen(1)).indices
    assert not torch.equal(a, b)
    assert torch.equal(a, attn(q, k, generator=_gen(0)).indices)


def test_reinforce_mode_context_has_no_gradient_to_the_scores() -> None:
    attn = HardAttention(4, hidden_dim=5, mode="reinforce")
    q, k = torch.randn(2, 3, 4), torch.randn(2, 6, 4)
    v = torch.randn(2, 6, 3, requires_grad=True)
    out = attn(q, k, v, generator=_gen())
    out.context.sum().backward()
    assert all(p.grad is None for p in attn.parameters())
    assert v.grad is not None and v.grad.abs().sum() > 0
    assert not out.weights.requires_grad and out.log_prob.requires_grad


def test_straight_through_gumbel_gives_gradients_to_the_scores() -> None:
    attn = HardAttention(4, hidden_dim=5, mode="gumbel", tau=0.5)
    q, k = torch.randn(2, 3, 4), torch.randn(2, 6, 4)
    v = torch.randn(2, 6, 3)
    out = attn(q, k, v, generator=_gen())
    assert ((out.weights == 0) | (out.weights == 1)).all()
    (out.context * torch.randn_like(out.context)).sum().backward()
    grads = [p.grad for p in attn.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads if g is not None) > 0


def test_reinforce_estimator_is_unbiased_on_a_toy_problem() -> None:
    # E_s[f(s)] with s ~ softmax(q^T W k); REINFORCE with and without a baseline must estimate
    # its gradient with respect to W (seeded, loose tolerance).
    torch.manual_seed(0)
    score = GeneralScore(3, dtype=F64)
    attn = HardAttention(3, score=score, dtype=F64)
    n = 20000
    q = torch.randn(1, 1, 3, dtype=F64).expand(n, 1, 3)
    k = torch.randn(1, 4, 3, dtype=F64).expand(n, 4, 3)
    f = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64)
    out = attn(q, k, generator=_gen(11))
    expected = -torch.autograd.grad((out.probs[0, 0] * f).sum(), score.weight, retain_graph=True)[0]
    reward = f[out.indices[:, 0]]
    for baseline in (None, float(f.mean()), torch.full((n,), 1.0, dtype=F64)):
        loss = reinforce_loss(out.log_prob, reward, baseline)
        estimate = torch.autograd.grad(loss, score.weight, retain_graph=True)[0]
        error = (estimate - expected).norm() / expected.norm()
        assert error < 0.1, (baseline, error)


def test_entropy_bonus_gradient() -> None:
    logits = torch.randn(5, 4, dtype=F64, requires_grad=True)
    probs = logits.softmax(-1)
    entropy = Categorical(probs=probs).entropy()
    log_prob = probs[:, 0].log()
    reward = torch.randn(5, dtype=F64)
    loss = reinforce_loss(log_prob, reward, 0.2, entropy, entropy_weight=0.3)
    manual = -((reward - 0.2) * log_prob + 0.3 * entropy).mean()
    assert_close(loss, manual)
    g1 = torch.autograd.grad(loss, logits, retain_graph=True)[0]
    g2 = torch.autograd.grad(manual, logits)[0]
    assert_close(g1, g2)


def test_reinforce_loss_sums_steps_and_detaches_reward_and_baseline() -> None:
    log_prob = torch.randn(3, 4, dtype=F64, requires_grad=True)
    reward = torch.randn(3, dtype=F64, requires_grad=True)
    baseline = torch.tensor(0.5, dtype=F64, requires_grad=True)
    loss = reinforce_loss(log_prob, reward, baseline)
    assert_close(loss, -((reward - 0.5) * log_prob.sum(-1)).mean())
    loss.backward()
    assert reward.grad is None and baseline.grad is None
    assert log_prob.grad is not None


def test_reinforce_loss_rejects_bad_inputs() -> None:
    lp = torch.randn(3, 2)
    with pytest.raises(ValueError, match="reward"):
        reinforce_loss(lp, torch.randn(4))
    with pytest.raises(ValueError, match="reward"):
        reinforce_loss(lp, torch.randn(3, 1))
    with pytest.raises(ValueError, match="baseline"):
        reinforce_loss(lp, torch.randn(3), torch.randn(2))
    with pytest.raises(TypeError, match="baseline"):
        reinforce_loss(lp, torch.randn(3), "mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="entropy"):
        reinforce_loss(lp, torch.randn(3), entropy_weight=0.1)
    with pytest.raises(ValueError, match="entropy"):
        reinforce_loss(lp, torch.randn(3), None, torch.randn(3), entropy_weight=0.1)
    with pytest.raises(ValueError, match="entropy_weight"):
        reinforce_loss(lp, torch.randn(3), None, torch.randn(3, 2), entropy_weight=-1.0)
    with pytest.raises(ValueError, match="log_prob"):
        reinforce_loss(torch.tensor(1.0), torch.randn(1))


def test_moving_average_baseline_follows_the_paper() -> None:
    baseline = MovingAverageBaseline()
    rewards = [torch.tensor([1.0, 3.0]), torch.tensor([-4.0]), torch.tensor([0.5, 0.5, 2.0])]
    b = 0.0
    for r in rewards:
        assert baseline(r).item() == pytest.approx(b)  # b_{k-1} is returned
        b = 0.9 * b + 0.1 * r.mean().item()
        assert baseline.value.item() == pytest.approx(b)
    assert int(baseline.num_updates) == 3
    baseline.eval()
    assert baseline(torch.tensor([100.0])).item() == pytest.approx(b)
    assert baseline.value.item() == pytest.approx(b)
    with pytest.raises(ValueError, match="momentum"):
        MovingAverageBaseline(1.0)
    with pytest.raises(ValueError, match="reward"):
        baseline(torch.zeros(0))


# ----------------------------------------------------------------------------- invariances


@pytest.mark.parametrize("mode", HARD_ATTENTION_MODES)
def test_padding_invariance(mode: str) -> None:
    attn = HardAttention(4, 3, hidden_dim=5, mode=mode, dtype=F64)
    q, k = torch.randn(2, 3, 4, dtype=F64), torch.randn(2, 5, 3, dtype=F64)
    v = torch.randn(2, 5, 2, dtype=F64)
    mask = torch.tensor([[True] * 5, [True, True, False, True, False]])
    k_pad = torch.cat([k, torch.randn(2, 3, 3, dtype=F64)], 1)
    v_pad = torch.cat([v, torch.randn(2, 3, 2, dtype=F64)], 1)
    mask_pad = torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], 1)
    assert mask_pad.any() and (~mask_pad).any()
    attn.eval()
    a, b = attn(q, k, v, mask=mask), attn(q, k_pad, v_pad, mask=mask_pad)
    assert torch.equal(a.indices, b.indices)
    for name in ("context", "log_prob", "entropy"):
        assert_close(getattr(a, name), getattr(b, name))
    assert_close(a.probs, b.probs[..., :5])
    assert (b.probs[..., 5:] == 0).all()
    attn.train()
    a, b = attn(q, k, v, mask=mask, generator=_gen()), attn(q, k_pad, v_pad, mask=mask_pad)
    assert_close(a.probs, b.probs[..., :5])
    assert (b.weights[..., 5:] == 0).all()


@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_soft_path(training: bool) -> None:
    # probs, log_prob and entropy are differentiable; the sample is held fixed by the seed.
    attn = HardAttention(3, hidden_dim=4, dtype=F64).train(training)
    q = torch.randn(2, 2, 3, dtype=F64, requires_grad=True)
    k = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)
    mask = torch.tensor([[True, True, False, True], [False, False, False, False]])

    def fn(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = attn(q, k, mask=mask, generator=_gen(5))
        return out.probs, out.log_prob, out.entropy

    assert gradcheck(fn, (q, k))


def test_gradcheck_straight_through_context_wrt_value() -> None:
    attn = HardAttention(3, hidden_dim=4, mode="gumbel", dtype=F64)
    q, k = torch.randn(2, 2, 3, dtype=F64), torch.randn(2, 4, 3, dtype=F64)
    v = torch.randn(2, 4, 2, dtype=F64, requires_grad=True)
    assert gradcheck(lambda v: attn(q, k, v, generator=_gen(2)).context, (v,))


# ----------------------------------------------------------------------------- bad inputs


def test_rejects_bad_inputs() -> None:
    attn = HardAttention(4, hidden_dim=5)
    q, k = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="query"):
        attn(torch.randn(3, 4), k)
    with pytest.raises(ValueError, match="key"):
        attn(q, torch.randn(2, 5))
    with pytest.raises(ValueError, match="key_dim"):
        attn(q, torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="batch"):
        attn(q, torch.randn(3, 5, 4))
    with pytest.raises(ValueError, match="value"):
        attn(q, k, torch.randn(2, 4, 4))
    with pytest.raises(TypeError, match="mask"):
        attn(q, k, mask=torch.ones(2, 5))
    with pytest.raises(ValueError, match="mask"):
        attn(q, k, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mode"):
        HardAttention(4, mode="sample")
    with pytest.raises(ValueError, match="tau"):
        HardAttention(4, tau=0.0)
    with pytest.raises(TypeError, match="score"):
        HardAttention(4, score=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="score"):
        HardAttention(4, score="nonsense")


def test_registered_with_hard_tags() -> None:
    entries = {e.name: e for e in list_mechanisms(positions="hard")}
    entry = entries["hard"]
    assert entry.cls is HardAttention
    assert set(entry.tags["sequences"]) == {"distinctive", "self"}
    assert entry.tags["positions"] == ("hard",)
    assert "1502.03044" in entry.paper.url
    module, args, kwargs = entry.example()
    mask = kwargs["mask"]
    assert mask.any() and (~mask).any()
    out = module(*args, **kwargs)
    assert (out.weights[1, :, 3:] == 0).all()
