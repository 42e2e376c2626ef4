"""Stochastic hard attention (Xu et al. 2015) and its REINFORCE training rule.

Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel, Bengio, "Show, Attend and Tell: Neural Image
Caption Generation with Visual Attention", ICML 2015, https://arxiv.org/abs/1502.03044,
section 4.1. Instead of averaging the annotations ``a_i`` with the weights ``alpha_{t,i}`` (soft
attention), the model *samples* one location per step and takes its annotation as the context:

.. math::

    e_{t,i} = f_{att}(a_i, h_{t-1}), \\qquad
    \\alpha_{t,i} = \\frac{\\exp e_{t,i}}{\\sum_k \\exp e_{t,k}}
    \\quad \\text{(eq. 4-5)}

    s_t \\sim \\mathrm{Multinoulli}_L(\\{\\alpha_{t,i}\\}), \\qquad
    \\hat z_t = \\sum_i s_{t,i}\\, a_i \\quad \\text{(eq. 8-9)}

The sampling step has no gradient; the paper learns the attention with the REINFORCE rule
(eq. 10-12): the gradient of the log-likelihood ``log p(y | s, a)`` (the *reward*) with respect to
the attention parameters is estimated by ``(log p(y | s, a) - b) * grad log p(s | a)``, with a
moving-average baseline ``b_k = 0.9 b_{k-1} + 0.1 log p(y | s_k, a)`` and an entropy bonus
``lambda_e * grad H[s]`` (section 4.1, "variance reduction").

This module provides

* :class:`HardAttention`: scores, the soft distribution ``probs`` (``alpha``), one sampled key per
  query, its one-hot ``weights``, ``log_prob`` and the entropy; ``mode="reinforce"`` (the
  paper) or ``mode="gumbel"`` (a straight-through Gumbel-softmax sample, Jang et al. 2017,
  https://arxiv.org/abs/1611.01144, whose one-hot weights pass a gradient to the scores);
  deterministic argmax at evaluation (``module.eval()``);
* :func:`reinforce_loss`: the surrogate loss whose gradient is the estimator of eq. 12;
* :class:`MovingAverageBaseline`: the baseline ``b_k`` of the paper.

Convention:
    * A query with no valid key (all masked, or ``Lk = 0``) gets ``index = 0``, an all-zero
      one-hot row, a zero context, ``log_prob = 0`` and ``entropy = 0``, with zero gradients
      (never NaN).
    * ``log_prob`` equals ``torch.distributions.Categorical(probs=probs).log_prob(indices)`` on
      every row with a valid key, in both modes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from attnlab.core.checks import check_mask, check_positive, check_query_key_value, check_tensor
from attnlab.core.distributions import argmax_categorical, gumbel_softmax, sample_categorical
from attnlab.core.init_args import AttnModule
from attnlab.core.masks import masked_softmax
from attnlab.core.registry import Paper, register_mechanism
from attnlab.core.scores import Score, resolve_score

__all__ = [
    "HARD_ATTENTION_MODES",
    "HardAttention",
    "HardAttentionOutput",
    "MovingAverageBaseline",
    "reinforce_loss",
]

HARD_ATTENTION_MODES: tuple[str, ...] = ("reinforce", "gumbel")
"""Training modes of :class:`HardAttention`: sampled one-hot weights learned by REINFORCE (Xu et
al. 2015, eq. 10-12), or straight-through Gumbel-softmax samples (Jang et al. 2017)."""

XU_PAPER = Paper(
    title="Show, Attend and Tell: Neural Image Caption Generation with Visual Attention",
    authors="Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel, Bengio",
    year=2015,
    url="https://arxiv.org/abs/1502.03044",
)


class HardAttentionOutput(NamedTuple):
    """Result of :class:`HardAttention`.

    Attributes:
        context: ``(B, Lq, Dv)``, the value of the chosen key (``hat z_t`` of eq. 9); zero for a
            query with no valid key.
        weights: ``(B, Lq, Lk)``, the one-hot ``s_t`` of the chosen key (eq. 8); an all-zero row
            for a query with no valid key. In ``mode="reinforce"`` it carries no gradient; in
            ``mode="gumbel"`` (training) the straight-through gradient of the relaxed sample.
        indices: ``(B, Lq)`` int64, the chosen key of each query (0 for a query with no key).
        log_prob: ``(B, Lq)``, ``log p(s_t | a) = log probs[indices]``: the term of the REINFORCE
            gradient (eq. 10-12); differentiable with respect to the scores.
        probs: ``(B, Lq, Lk)``, the soft distribution ``alpha_t`` (eq. 5) the key was drawn from;
            exactly 0 at masked keys.
        entropy: ``(B, Lq)``, ``H[s_t] = -sum_i alpha_{t,i} log alpha_{t,i}``, the entropy bonus
            of section 4.1; differentiable.
    """

    context: Tensor
    weights: Tensor
    indices: Tensor
    log_prob: Tensor
    probs: Tensor
    entropy: Tensor


def _categorical_entropy(probs: Tensor) -> Tensor:
    """``-sum_i p_i log p_i`` over the last dim with ``0 log 0 = 0`` and finite gradients."""
    positive = probs > 0
    safe = torch.where(positive, probs, torch.ones_like(probs))
    return -(probs * safe.log()).sum(dim=-1)


def _log_prob_at(probs: Tensor, indices: Tensor) -> Tensor:
    """``log(p[index] / sum p)`` per row; 0 (with a zero gradient) for an all-zero row, NaN for a
    row holding NaN or inf."""
    finite = torch.isfinite(probs.detach()).all(dim=-1)
    valid = (probs.detach().sum(dim=-1) > 0) & finite
    ones = torch.ones(valid.shape, dtype=probs.dtype, device=probs.device)
    chosen = probs.gather(-1, indices.unsqueeze(-1)).squeeze(-1)
    total = probs.sum(dim=-1)
    log_prob = torch.where(valid, chosen, ones).log() - torch.where(valid, total, ones).log()
    return torch.where(finite, log_prob, torch.full_like(log_prob, float("nan")))


def _hard_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    module = HardAttention(6, 4, hidden_dim=8)
    query, key = torch.randn(2, 3, 6), torch.randn(2, 5, 4)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    return module, (query, key), {"mask": mask, "generator": torch.Generator().manual_seed(0)}


@register_mechanism(
    "hard",
    sequences=("distinctive", "self"),
    levels="single",
    positions="hard",
    representations="single",
    paper=XU_PAPER,
    example=_hard_example,
)
class HardAttention(AttnModule):
    """Stochastic hard attention: one sampled key per query (Xu et al. 2015, section 4.1).

    "Show, Attend and Tell", https://arxiv.org/abs/1502.03044, eq. 4-5 (scores and the soft
    distribution ``alpha``), eq. 8-9 (sample ``s_t`` and context ``hat z_t``), eq. 10-12 (learning
    rule: see :func:`reinforce_loss` and :class:`MovingAverageBaseline`).

    * training, ``mode="reinforce"``: ``s_t ~ Multinoulli(alpha_t)``; ``weights`` is the one-hot
      sample (no gradient), ``log_prob`` and ``entropy`` carry the gradient of eq. 12;
    * training, ``mode="gumbel"``: the key is drawn with the Gumbel-max trick, which gives the
      same distribution ``alpha_t``; ``weights`` is one-hot in the forward pass and passes the
      gradient of the relaxed sample ``softmax((e_t + g) / tau)`` to the scores (straight-through
      Gumbel-softmax, Jang et al. 2017, https://arxiv.org/abs/1611.01144, section 2.2);
    * evaluation (``self.training`` is ``False``): the most likely key, deterministically (ties
      go to the first key). The paper's test-time rule is not stated for the hard model; argmax
      is the usual choice.

    Args:
        query_dim: ``Dq``, the size of the query (the decoder state ``h_{t-1}``).
        key_dim: ``Dk``, the size of the keys (the annotations ``a_i``); defaults to
            ``query_dim``.
        score: the alignment model ``f_att``: a :class:`~attnlab.core.scores.Score` instance or a
            name accepted by :func:`~attnlab.core.scores.build_score`. Default ``"additive"``: the
            paper's ``f_att`` is a multilayer perceptron conditioned on ``h_{t-1}``.
        hidden_dim: the hidden size of a score built by name (``additive``, ``concat``,
            ``deep``); ignored otherwise.
        mode: ``"reinforce"`` or ``"gumbel"``, see above.
        tau: the Gumbel-softmax temperature ``tau > 0`` of ``mode="gumbel"``. It shapes the
            gradient only: the sampled key follows ``alpha`` whatever ``tau``.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        query ``(B, Lq, Dq)``, key ``(B, Lk, Dk)``, value ``(B, Lk, Dv)`` (defaults to the key:
        in the paper the chosen annotation *is* the context), mask ``(B, Lk)`` or
        ``(B, Lq, Lk)``.

    Returns:
        :class:`HardAttentionOutput` ``(context, weights, indices, log_prob, probs, entropy)``.

    Example:
        >>> import torch
        >>> attn = HardAttention(4, hidden_dim=8)
        >>> q, k = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
        >>> mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
        >>> out = attn(q, k, mask=mask, generator=torch.Generator().manual_seed(0))
        >>> out.weights.shape, out.log_prob.shape, bool(out.indices[1].lt(2).all())
        (torch.Size([2, 3, 5]), torch.Size([2, 3]), True)
        >>> bool(out.weights.sum(-1).eq(1).all())
        True
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        score: Score | str = "additive",
        hidden_dim: int | None = None,
        mode: str = "reinforce",
        tau: float = 1.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if mode not in HARD_ATTENTION_MODES:
            raise ValueError(f"mode must be one of {HARD_ATTENTION_MODES}, got {mode!r}")
        check_positive(tau, "tau")
        self.score = resolve_score(
            score,
            query_dim=query_dim,
            key_dim=key_dim,
            hidden_dim=hidden_dim,
            device=device,
            dtype=dtype,
        )
        self.mode = mode
        self.tau = float(tau)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> HardAttentionOutput:
        """Sample (training) or pick (evaluation) one key per query.

        Args:
            query: ``(B, Lq, Dq)``.
            key: ``(B, Lk, Dk)``.
            value: ``(B, Lk, Dv)``; ``None`` uses ``key``.
            mask: boolean, ``True`` = may attend; ``(B, Lk)`` or ``(B, Lq, Lk)``. A masked key is
                never chosen.
            generator: a ``torch.Generator`` for reproducible samples (training only).
        """
        query, key, value = check_query_key_value(query, key, value, module=self)
        batch, q_len, k_len = query.shape[0], query.shape[1], key.shape[1]
        if mask is not None:
            mask = check_mask(mask, batch=batch, q_len=q_len, k_len=k_len, like=("query", query))

        scores = self.score(query, key)  # e_{t,i}, eq. 4: (b, i, j)
        probs = masked_softmax(scores, mask)  # alpha_{t,i}, eq. 5
        entropy = _categorical_entropy(probs)
        if k_len == 0:
            # No key at all: every query follows the no-valid-key convention (index 0, an empty
            # one-hot row, zero log-probability and zero context).
            sample = argmax_categorical(probs)
            indices, weights, log_prob = sample.indices, sample.one_hot, sample.log_prob
        elif not self.training:
            sample = argmax_categorical(probs, mask=mask)
            indices, weights, log_prob = sample.indices, sample.one_hot, sample.log_prob
        elif self.mode == "reinforce":
            sample = sample_categorical(probs, mask=mask, generator=generator)  # eq. 8
            indices, weights, log_prob = sample.indices, sample.one_hot, sample.log_prob
        else:
            # Gumbel-max: argmax(e + g) ~ Categorical(softmax(e)); the straight-through weights
            # are one-hot forward and pass the relaxed sample's gradient backward.
            weights = gumbel_softmax(
                scores, tau=self.tau, hard=True, mask=mask, generator=generator
            )
            indices = weights.detach().argmax(dim=-1)
            log_prob = _log_prob_at(probs, indices)
        context = torch.bmm(weights.to(value.dtype), value)  # hat z_t = sum_i s_{t,i} a_i, eq. 9
        return HardAttentionOutput(context, weights, indices, log_prob, probs, entropy)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, tau={self.tau}"


def _sum_to_batch(x: Tensor) -> Tensor:
    """``(B, ...) -> (B,)`` by summing the trailing dims (a sequence of attention steps)."""
    return x.reshape(x.shape[0], -1).sum(dim=-1)


def reinforce_loss(
    log_prob: Tensor,
    reward: Tensor,
    baseline: Tensor | float | None = None,
    entropy: Tensor | None = None,
    *,
    entropy_weight: float = 0.0,
) -> Tensor:
    """Surrogate loss whose gradient is the REINFORCE estimator of Xu et al. (2015, eq. 12).

    "Show, Attend and Tell", https://arxiv.org/abs/1502.03044, section 4.1. With ``log_prob``
    ``log p(s | a) = sum_t log p(s_t | a)`` of the sampled locations, the reward
    ``r = log p(y | s, a)`` and a baseline ``b``:

    .. math::

        \\mathcal{L} = -\\frac{1}{B} \\sum_{n=1}^{B}
        \\Big[ (r_n - b) \\log p(s^n \\mid a) + \\lambda_e H[s^n] \\Big]

    so ``-grad L`` is the paper's update ``(r - b) grad log p(s|a) + lambda_e grad H[s]``
    averaged over the ``B`` samples. The reward and the baseline are detached: the other term of
    eq. 11, ``grad log p(y | s, a)``, is the ordinary task loss, which the caller adds (e.g.
    ``loss = nll + reinforce_loss(...)``). The paper's weight ``lambda_r`` on the REINFORCE term
    is a multiplication of this loss by the caller.

    Args:
        log_prob: ``(B,)`` or ``(B, T, ...)``: ``log p(s_t | a)`` of each attention step; summed
            over every dim but the first (the steps of one sample share its reward).
        reward: ``(B,)``, e.g. ``log p(y | s, a)`` per sample; detached.
        baseline: a float, a 0-d tensor or ``(B,)``; ``None`` for no baseline. Detached.
        entropy: same shape as ``log_prob``, the entropy of each step's distribution; required
            when ``entropy_weight`` is not 0.
        entropy_weight: ``lambda_e >= 0``, the weight of the entropy bonus.

    Returns:
        A scalar loss to minimise.

    Example:
        >>> import torch
        >>> logits = torch.zeros(4, 3, requires_grad=True)
        >>> log_p = logits.log_softmax(-1)[:, 0]
        >>> reinforce_loss(log_p, torch.tensor([1.0, 0.0, 1.0, 0.0]), 0.5).backward()
        >>> logits.grad.abs().sum() > 0
        tensor(True)
    """
    if not isinstance(log_prob, Tensor) or not log_prob.is_floating_point():
        raise TypeError("log_prob must be a floating-point tensor of shape (B,) or (B, T, ...)")
    if log_prob.dim() == 0:
        raise ValueError("log_prob must have a batch dimension: shape (B,) or (B, T, ...)")
    check_tensor(reward, "reward", ndim=1, layout="(B,)")
    batch = log_prob.shape[0]
    if reward.shape[0] != batch:
        raise ValueError(
            f"reward must have shape (B,) = ({batch},) like log_prob's first dim, "
            f"got {tuple(reward.shape)}"
        )
    advantage = reward.detach().to(log_prob.dtype)
    if baseline is not None:
        if isinstance(baseline, Tensor):
            if baseline.dim() > 1 or (baseline.dim() == 1 and baseline.shape[0] != batch):
                raise ValueError(
                    f"baseline must be a scalar or have shape (B,) = ({batch},), "
                    f"got {tuple(baseline.shape)}"
                )
            advantage = advantage - baseline.detach().to(log_prob.dtype)
        elif isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
            advantage = advantage - float(baseline)
        else:
            raise TypeError(f"baseline must be a float or a tensor, got {type(baseline).__name__}")
    check_positive(entropy_weight, "entropy_weight", allow_zero=True)
    objective = advantage * _sum_to_batch(log_prob)
    if entropy is not None:
        check_tensor(entropy, "entropy", ndim=log_prob.dim(), layout="like log_prob")
        if entropy.shape != log_prob.shape:
            raise ValueError(
                f"entropy must have the shape of log_prob {tuple(log_prob.shape)}, "
                f"got {tuple(entropy.shape)}"
            )
        if entropy_weight != 0:
            objective = objective + entropy_weight * _sum_to_batch(entropy)
    elif entropy_weight != 0:
        raise ValueError("entropy_weight is not 0 but no entropy was given")
    return -objective.mean()


class MovingAverageBaseline(AttnModule):
    """The moving-average reward baseline of Xu et al. (2015, section 4.1).

    "Show, Attend and Tell", https://arxiv.org/abs/1502.03044: ``b_k = 0.9 b_{k-1} + 0.1 r_k``
    with ``r_k = log p(y | s_k, a)`` the reward of mini-batch ``k`` (here its mean over the
    batch).

    Calling the module with the rewards ``r_k`` returns ``b_{k-1}``, the baseline to subtract
    from these rewards, and (in training mode) advances the buffer to ``b_k``. Using ``b_{k-1}``
    keeps the baseline independent of the current samples, so the estimator stays unbiased.
    In evaluation mode the buffer is not updated.

    Args:
        momentum: the ``0.9`` of the paper, in ``[0, 1)``.
        initial: ``b_0`` (the paper does not state it; 0 by default).
        device: device of the buffer.
        dtype: dtype of the buffer.

    Attributes:
        value: 0-d buffer holding the current baseline ``b_k``.
        num_updates: 0-d int64 buffer, the number of updates ``k``.

    Example:
        >>> import torch
        >>> b = MovingAverageBaseline()
        >>> b(torch.tensor([1.0, 3.0]))  # b_0
        tensor(0.)
        >>> b(torch.tensor([0.0]))  # b_1 = 0.9 * 0 + 0.1 * 2
        tensor(0.2000)
    """

    value: Tensor
    num_updates: Tensor

    def __init__(
        self,
        momentum: float = 0.9,
        *,
        initial: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
            raise TypeError(f"momentum must be a float in [0, 1), got {type(momentum).__name__}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.register_buffer("value", torch.tensor(float(initial), device=device, dtype=dtype))
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.int64, device=device))

    def forward(self, reward: Tensor) -> Tensor:
        """Return ``b_{k-1}`` (detached) and, when training, update to ``b_k``.

        Args:
            reward: the rewards of this mini-batch, any shape with at least one element.
        """
        if not isinstance(reward, Tensor) or not reward.is_floating_point():
            raise TypeError(f"reward must be a floating-point tensor, got {type(reward).__name__}")
        if reward.numel() == 0:
            raise ValueError("reward must have at least one element")
        previous = self.value.detach().clone()
        if self.training:
            mean = reward.detach().mean().to(self.value.dtype)
            self.value.mul_(self.momentum).add_((1.0 - self.momentum) * mean)
            self.num_updates.add_(1)
        return previous

    def extra_repr(self) -> str:
        return f"momentum={self.momentum}"
