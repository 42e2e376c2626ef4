"""Distribution functions: map alignment scores to attention weights.

Every distribution here is a callable ``(scores, mask=None) -> weights`` over the last dimension
and goes through :func:`attnlab.core.masks.masked_normalize`, so masked keys get exactly 0 and
rows with no valid key get zeros (never NaN).

The family (Chaudhari et al., "An Attentive Survey of Attention Models", arXiv:1904.02874,
section 3, the distribution function ``p``):

* :class:`Softmax` (with temperature) and :class:`LinearNormalization`;
* :func:`sparsemax` / :class:`Sparsemax` and :func:`entmax15` / :class:`Entmax15`: sparse
  projections onto the simplex, exact sort-based algorithms with closed-form backward passes;
* :func:`gumbel_softmax` / :class:`GumbelSoftmax`: the relaxed (soft) and straight-through (hard)
  Gumbel-softmax sample;
* :func:`sample_categorical`, :func:`argmax_categorical` / :class:`Categorical`: one key per query,
  drawn from the weights, with its log-probability (stochastic hard attention); the two
  functions live in :mod:`attnlab.core.sampling` and are re-exported here.

Convention:
    Scores must be finite or ``-inf`` (``-inf`` keys get zero weight, as if masked). Half
    precision inputs (``float16``, ``bfloat16``) are computed in ``float32`` and the result cast
    back to the input dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from attnlab.core.checks import (
    check_bool,
    check_finite_positive,
    check_scores,
    check_scores_mask,
)
from attnlab.core.masks import masked_normalize, masked_softmax, tempered_softmax
from attnlab.core.sampling import CategoricalSample, argmax_categorical, sample_categorical

__all__ = [
    "Categorical",
    "CategoricalSample",
    "Distribution",
    "Entmax15",
    "GumbelSoftmax",
    "LinearNormalization",
    "Softmax",
    "Sparsemax",
    "argmax_categorical",
    "entmax15",
    "gumbel_softmax",
    "is_plain_softmax",
    "register_distribution_name",
    "resolve_distribution",
    "sample_categorical",
    "sparsemax",
]


@runtime_checkable
class Distribution(Protocol):
    """Protocol of a distribution function: ``(scores, mask=None) -> weights`` over ``dim=-1``."""

    def __call__(self, scores: Tensor, mask: Tensor | None = None) -> Tensor: ...


# ---------------------------------------------------------------------------------------------
# shared helpers (the argument checks are in attnlab.core.checks)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision inputs are computed in float32 (sorting, cumulative sums, exp)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _shift_to_max(z: Tensor) -> Tensor:
    """``z - max(z)`` along the last dim; a row whose max is not finite is left unshifted."""
    top = z.amax(dim=-1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    return z - top


def _last_true(condition: Tensor) -> Tensor:
    """1-based position of the last ``True`` along the last dim (at least 1), keepdim, int64."""
    positions = torch.arange(1, condition.shape[-1] + 1, device=condition.device)
    return (condition * positions).amax(dim=-1, keepdim=True).clamp_min(1)


# ---------------------------------------------------------------------------------------------
# sparsemax


def _sparsemax_last_dim(z: Tensor) -> Tensor:
    """Sparsemax of ``z`` along the last dim (Martins & Astudillo 2016, Prop. 1, Algorithm 1)."""
    # Shift so that max_j z_j = 0. The top entry gets p_(1) = -tau(z) <= 1, so tau(z) >= -1 and
    # every entry <= -1 is outside the support: clamping it to -1 changes nothing, and keeps every
    # sum below bounded by the row length however huge the negative fill of masked entries is.
    z = _shift_to_max(z).clamp_min(-1.0)
    z_sorted, _ = torch.sort(z, dim=-1, descending=True)  # z_(1) >= ... >= z_(K)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cumsum_minus_one = z_sorted.cumsum(dim=-1) - 1.0  # sum_{j <= k} z_(j) - 1
    # k(z) = max{k : 1 + k z_(k) > sum_{j <= k} z_(j)}
    support_size = _last_true(k * z_sorted > cumsum_minus_one)
    # tau(z) = (sum_{j <= k(z)} z_(j) - 1) / k(z)
    tau = cumsum_minus_one.gather(-1, support_size - 1) / support_size.to(z.dtype)
    return (z - tau).clamp_min(0.0)  # sparsemax_i(z) = [z_i - tau(z)]_+


class _SparsemaxFunction(torch.autograd.Function):
    """Sparsemax along the last dim with the closed-form Jacobian-vector product."""

    @staticmethod
    def forward(ctx: FunctionCtx, scores: Tensor) -> Tensor:
        weights = _sparsemax_last_dim(scores.to(_compute_dtype(scores.dtype)))
        ctx.save_for_backward(weights)
        return weights.to(scores.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        (weights,) = ctx.saved_tensors
        support = (weights > 0).to(weights.dtype)  # s_j = 1[j in S(z)]
        grad = grad_output.to(weights.dtype) * support
        # J v = s * (v - v_hat), v_hat = sum_{j in S} v_j / |S|
        v_hat = grad.sum(dim=-1, keepdim=True) / support.sum(dim=-1, keepdim=True).clamp_min(1.0)
        return (grad - v_hat * support).to(grad_output.dtype)


def _along_last_dim(fn: Callable[[Tensor], Tensor], dim: int) -> Callable[[Tensor], Tensor]:
    def apply(x: Tensor) -> Tensor:
        if x.shape[dim] == 0:
            return x.clone()
        return fn(x.movedim(dim, -1)).movedim(-1, dim)

    return apply


def sparsemax(scores: Tensor, dim: int = -1, *, mask: Tensor | None = None) -> Tensor:
    """Sparsemax: the Euclidean projection of the scores onto the probability simplex.

    Martins & Astudillo, "From Softmax to Sparsemax: A Sparse Model of Attention and Multi-Label
    Classification", ICML 2016, arXiv:1602.02068 (eq. 2, Prop. 1 and Algorithm 1):

    .. math::

        \\operatorname{sparsemax}(z) = \\arg\\min_{p \\in \\Delta} \\lVert p - z \\rVert^2,
        \\qquad p_i = [z_i - \\tau(z)]_+, \\qquad
        \\tau(z) = \\frac{\\sum_{j \\le k(z)} z_{(j)} - 1}{k(z)}

    with :math:`z_{(1)} \\ge \\dots \\ge z_{(K)}` the sorted scores and
    :math:`k(z) = \\max\\{k : 1 + k z_{(k)} > \\sum_{j \\le k} z_{(j)}\\}`. The exact sort-based
    algorithm runs in :math:`O(K \\log K)`; the backward pass is the paper's closed-form
    Jacobian-vector product :math:`J v = s \\odot (v - \\hat v \\mathbf 1)`, with :math:`s` the
    support indicator and :math:`\\hat v = \\sum_{j \\in S} v_j / |S|`.

    Args:
        scores: ``z``, any shape ``(..., K, ...)``.
        dim: the dimension to normalise over (the keys).
        mask: boolean, ``True`` = may attend, broadcastable to ``scores``; masked entries get
            exactly 0 and rows with no valid entry get zeros (with zero gradients).

    Shape:
        scores: ``(..., K)`` (with ``dim=-1``); output: same shape as ``scores``.

    Returns:
        Sparse weights that are ``>= 0`` and sum to 1 over the valid entries of each row.

    Example:
        >>> import torch
        >>> sparsemax(torch.tensor([[0.0, 0.5, 2.0], [1.0, 1.2, 0.0]]))
        tensor([[0.0000, 0.0000, 1.0000],
                [0.4000, 0.6000, 0.0000]])
    """
    scores = check_scores(scores)
    mask = check_scores_mask(mask, scores)
    normalize = _along_last_dim(_SparsemaxFunction.apply, dim)
    return masked_normalize(scores, mask, normalize, dim=dim)


# ---------------------------------------------------------------------------------------------
# 1.5-entmax


def _entmax15_last_dim(z: Tensor) -> Tensor:
    """1.5-entmax of ``z`` along the last dim (Peters et al. 2019, exact sort-based algorithm)."""
    # 1.5-entmax(z)_i = [z_i / 2 - tau]_+^2 with sum_i p_i = 1. After shifting max_j z_j / 2 to 0,
    # p_(1) = tau^2 <= 1 gives tau >= -1, so entries <= -1 are outside the support and can be
    # clamped to -1 (this bounds every sum below, whatever the masked fill value).
    z = (_shift_to_max(z) / 2).clamp_min(-1.0)
    z_sorted, _ = torch.sort(z, dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    # For a support made of the k largest entries, sum_{j <= k} (z_(j) - tau)^2 = 1 is a quadratic
    # in tau whose relevant (smaller) root is tau_k = mean_k - sqrt(delta_k), with
    # delta_k = (1 - k (mean of squares_k - mean_k^2)) / k.
    mean = z_sorted.cumsum(dim=-1) / k
    mean_of_squares = (z_sorted * z_sorted).cumsum(dim=-1) / k
    spread = k * (mean_of_squares - mean * mean)
    delta = ((1.0 - spread) / k).clamp_min(0.0)
    tau_k = mean - delta.sqrt()
    # The support is the largest k with tau_k <= z_(k). Entries at the clamp value -1 have zero
    # mass (tau >= -1); leaving them out also keeps rounding from moving tau off -1 when a row
    # has a single valid key, whose weight is then exactly 1.
    support_size = _last_true((tau_k <= z_sorted) & (z_sorted > -1.0))
    tau = tau_k.gather(-1, support_size - 1)
    return (z - tau).clamp_min(0.0).square()


class _Entmax15Function(torch.autograd.Function):
    """1.5-entmax along the last dim with the closed-form Jacobian-vector product."""

    @staticmethod
    def forward(ctx: FunctionCtx, scores: Tensor) -> Tensor:
        weights = _entmax15_last_dim(scores.to(_compute_dtype(scores.dtype)))
        ctx.save_for_backward(weights)
        return weights.to(scores.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        (weights,) = ctx.saved_tensors
        # J = diag(s) - s s^T / sum_j s_j with s_j = p_j^{2 - alpha} = sqrt(p_j) on the support.
        s = weights.sqrt()
        grad = grad_output.to(weights.dtype) * s
        coef = grad.sum(dim=-1, keepdim=True) / s.sum(dim=-1, keepdim=True)
        return (grad - coef * s).to(grad_output.dtype)


def entmax15(scores: Tensor, dim: int = -1, *, mask: Tensor | None = None) -> Tensor:
    """1.5-entmax: a sparse distribution between softmax (alpha = 1) and sparsemax (alpha = 2).

    Peters, Niculae & Martins, "Sparse Sequence-to-Sequence Models", ACL 2019,
    arXiv:1905.05702 (alpha-entmax, Prop. 1, with alpha = 1.5 and its exact sort-based
    algorithm; Prop. 2 for the backward pass):

    .. math::

        \\operatorname{entmax}_{1.5}(z) = \\arg\\max_{p \\in \\Delta} p^\\top z + H^T_{1.5}(p),
        \\qquad p_i = \\left[\\tfrac{z_i}{2} - \\tau\\right]_+^2, \\quad \\sum_i p_i = 1

    The threshold ``tau`` is found exactly by sorting: for each candidate support size ``k``
    the quadratic equation :math:`\\sum_{j \\le k} (z_{(j)}/2 - \\tau)^2 = 1` is solved in closed
    form and the largest consistent ``k`` is kept. The backward pass uses the Jacobian
    :math:`\\operatorname{diag}(s) - s s^\\top / \\sum_j s_j` with :math:`s = \\sqrt{p}`.

    Args:
        scores: ``z``, any shape ``(..., K, ...)``.
        dim: the dimension to normalise over (the keys).
        mask: boolean, ``True`` = may attend, broadcastable to ``scores``; masked entries get
            exactly 0 and rows with no valid entry get zeros (with zero gradients).

    Shape:
        scores: ``(..., K)`` (with ``dim=-1``); output: same shape as ``scores``.

    Returns:
        Sparse weights that are ``>= 0`` and sum to 1 over the valid entries of each row.

    Example:
        >>> import torch
        >>> entmax15(torch.tensor([[0.0, 1.0, 5.0], [1.0, 1.0, -1.0]]))
        tensor([[0.0000, 0.0000, 1.0000],
                [0.5000, 0.5000, 0.0000]])
    """
    scores = check_scores(scores)
    mask = check_scores_mask(mask, scores)
    normalize = _along_last_dim(_Entmax15Function.apply, dim)
    return masked_normalize(scores, mask, normalize, dim=dim)


# ---------------------------------------------------------------------------------------------
# Gumbel-softmax


class _StraightThrough(torch.autograd.Function):
    """Forward: ``hard`` exactly; backward: the gradient goes to ``soft`` unchanged."""

    @staticmethod
    def forward(ctx: FunctionCtx, soft: Tensor, hard: Tensor) -> Tensor:
        return hard.clone()

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        return grad_output, None


def _gumbel_noise(
    shape: torch.Size,
    *,
    dtype: torch.dtype,
    device: torch.device,
    generator: torch.Generator | None,
) -> Tensor:
    """Standard Gumbel noise ``g = -log(-log u)``, ``u ~ U(0, 1)``, always finite."""
    u = torch.rand(shape, dtype=dtype, device=device, generator=generator)
    u = u.clamp_min(torch.finfo(dtype).tiny)  # u = 0 would give g = -inf
    return -torch.log(-torch.log(u))


def gumbel_softmax(
    scores: Tensor,
    *,
    tau: float = 1.0,
    hard: bool = False,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A Gumbel-softmax sample over the last dim: soft, or straight-through hard.

    Jang, Gu & Poole, "Categorical Reparameterization with Gumbel-Softmax", ICLR 2017,
    arXiv:1611.01144 (eq. 2; straight-through estimator, section 2.2) and Maddison, Mnih & Teh,
    "The Concrete Distribution", ICLR 2017, arXiv:1611.00712:

    .. math::

        y_j = \\frac{\\exp((s_j + g_j) / \\tau)}{\\sum_k \\exp((s_k + g_k) / \\tau)},
        \\qquad g_j = -\\log(-\\log u_j),\\; u_j \\sim U(0, 1)

    The scores play the role of the unnormalised log-probabilities :math:`\\log \\pi_j`. With
    ``hard=True`` the forward value is the one-hot vector of :math:`\\arg\\max_j y_j` (the
    Gumbel-max trick: that index is distributed as ``softmax(scores)``, whatever ``tau``) and
    the backward pass uses the gradient of the soft sample ``y``.

    Args:
        scores: ``(..., K)`` unnormalised log-probabilities.
        tau: the temperature :math:`\\tau > 0`; as it goes to 0 the soft sample approaches a
            one-hot vector.
        hard: return the straight-through one-hot sample.
        mask: boolean, ``True`` = may attend, broadcastable to ``scores``. Masked keys are never
            selected and get exactly 0; rows with no valid key get zeros.
        generator: a ``torch.Generator`` on the scores' device, for reproducible noise.

    Shape:
        scores: ``(..., K)``; output: same shape.

    Returns:
        The soft sample (rows sum to 1 over valid keys), or the one-hot hard sample.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> y = gumbel_softmax(torch.zeros(2, 4), tau=0.5, hard=True, generator=g)
        >>> y.sum(-1), ((y == 0) | (y == 1)).all()
        (tensor([1., 1.]), tensor(True))
    """
    scores = check_scores(scores)
    tau = check_finite_positive(tau, "tau")
    check_bool(hard, "hard", expected="a bool")
    mask = check_scores_mask(mask, scores)
    compute = _compute_dtype(scores.dtype)
    x = scores.to(compute)
    noise = _gumbel_noise(x.shape, dtype=compute, device=x.device, generator=generator)
    y_soft = masked_normalize(x + noise, mask, tempered_softmax(tau))
    if hard and y_soft.shape[-1] > 0:  # (with no key at all the sample is empty already)
        index = y_soft.detach().argmax(dim=-1, keepdim=True)
        y_hard = torch.zeros_like(y_soft).scatter_(-1, index, 1.0)
        if mask is not None:
            # rows with no valid key: argmax of an all-zero row would pick key 0; keep them zero
            y_hard = y_hard * mask.any(dim=-1, keepdim=True).to(y_hard.dtype)
        # a row holding NaN or inf samples nothing: it stays NaN (the non-finite rule)
        finite_rows = torch.isfinite(y_soft.detach()).all(dim=-1, keepdim=True)
        y_hard = torch.where(finite_rows, y_hard, torch.full_like(y_hard, float("nan")))
        y_soft = _StraightThrough.apply(y_soft, y_hard)
    return y_soft.to(scores.dtype)


# ---------------------------------------------------------------------------------------------
# Distribution classes


class Softmax:
    """Softmax with temperature ``T``: ``a = softmax(s / T)`` (Bahdanau et al. 2015, eq. 6).

    Args:
        temperature: ``T > 0``; lower is sharper.

    Example:
        >>> import torch
        >>> Softmax(temperature=0.5)(torch.tensor([[0.0, 1.0]]))
        tensor([[0.1192, 0.8808]])
    """

    def __init__(self, temperature: float = 1.0) -> None:
        self.temperature = check_finite_positive(temperature, "temperature")

    def __call__(self, scores: Tensor, mask: Tensor | None = None) -> Tensor:
        scores = check_scores(scores)
        mask = check_scores_mask(mask, scores)
        if self.temperature == 1.0:
            return masked_softmax(scores, mask)
        # Shift before dividing by T: large scores over a tiny T must not overflow.
        return masked_normalize(scores, mask, tempered_softmax(self.temperature))

    def __repr__(self) -> str:
        return f"Softmax(temperature={self.temperature})"


class LinearNormalization:
    """Normalise non-negative scores by their sum: ``a_ij = s_ij / sum_k s_ik``.

    The distribution of kernel attention (Choromanski et al. 2021, "Rethinking Attention with
    Performers", arXiv:2009.14794, eq. 5), whose scores ``phi(q)^T phi(k)`` are already positive.
    A row whose valid scores sum to zero gets a zero row.

    Example:
        >>> import torch
        >>> mask = torch.tensor([[True, True, False]])
        >>> LinearNormalization()(torch.tensor([[1.0, 3.0, 4.0]]), mask)
        tensor([[0.2500, 0.7500, 0.0000]])
    """

    @staticmethod
    def _normalize(scores: Tensor) -> Tensor:
        # masked_normalize hands masked entries over as the dtype's lowest value: clamp them to 0
        # so they add nothing to the row sum (the scores themselves are >= 0).
        scores = scores.clamp_min(0.0)
        total = scores.sum(dim=-1, keepdim=True)
        return scores / torch.where(total > 0, total, torch.ones_like(total))

    def __call__(self, scores: Tensor, mask: Tensor | None = None) -> Tensor:
        scores = check_scores(scores)
        return masked_normalize(scores, check_scores_mask(mask, scores), self._normalize)

    def __repr__(self) -> str:
        return "LinearNormalization()"


class _SimplexProjection:
    """A parameter-free distribution that calls its class's ``_function(scores, mask=mask)``."""

    _function: Callable[..., Tensor]

    def __call__(self, scores: Tensor, mask: Tensor | None = None) -> Tensor:
        return self._function(scores, mask=mask)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Sparsemax(_SimplexProjection):
    """The :func:`sparsemax` distribution (Martins & Astudillo 2016, arXiv:1602.02068).

    Example:
        >>> import torch
        >>> Sparsemax()(torch.tensor([[1.0, 1.2, 0.0]]), torch.tensor([[True, True, False]]))
        tensor([[0.4000, 0.6000, 0.0000]])
    """

    _function = staticmethod(sparsemax)


class Entmax15(_SimplexProjection):
    """The :func:`entmax15` distribution (Peters, Niculae & Martins 2019, arXiv:1905.05702).

    Example:
        >>> import torch
        >>> Entmax15()(torch.tensor([[1.0, 1.0, 3.0]]), torch.tensor([[True, True, False]]))
        tensor([[0.5000, 0.5000, 0.0000]])
    """

    _function = staticmethod(entmax15)


class GumbelSoftmax:
    """The :func:`gumbel_softmax` distribution: a fresh sample on every call.

    Jang et al. 2017 (arXiv:1611.01144); Maddison et al. 2017 (arXiv:1611.00712).

    Args:
        tau: the temperature :math:`\\tau > 0` (the papers' :math:`\\tau` / :math:`\\lambda`).
        hard: straight-through one-hot samples (one-hot forward, soft gradient).
        generator: optional ``torch.Generator`` for reproducible noise.

    Example:
        >>> import torch
        >>> dist = GumbelSoftmax(tau=0.5, hard=True, generator=torch.Generator().manual_seed(0))
        >>> dist(torch.zeros(1, 3), torch.tensor([[False, True, False]]))
        tensor([[0., 1., 0.]])
    """

    def __init__(
        self, tau: float = 1.0, hard: bool = False, *, generator: torch.Generator | None = None
    ) -> None:
        self.tau = check_finite_positive(tau, "tau")
        self.hard = check_bool(hard, "hard", expected="a bool")
        self.generator = generator

    def __call__(self, scores: Tensor, mask: Tensor | None = None) -> Tensor:
        return gumbel_softmax(
            scores, tau=self.tau, hard=self.hard, mask=mask, generator=self.generator
        )

    def __repr__(self) -> str:
        return f"GumbelSoftmax(tau={self.tau}, hard={self.hard})"


class Categorical:
    """Hard attention as a distribution: ``softmax(s / T)``, then one sampled key per query.

    Xu et al. 2015, "Show, Attend and Tell", arXiv:1502.03044 (section 4.1). The call returns
    the one-hot weights of :func:`sample_categorical` (or of :func:`argmax_categorical` when
    ``deterministic=True``, the usual evaluation-time choice).

    Note:
        The one-hot weights carry no gradient to the scores: the estimator of the paper
        (REINFORCE, eq. 10-12) needs ``log_prob``, so mechanisms that learn hard attention call
        :func:`sample_categorical` directly. Rows with no valid key give zero rows.

    Args:
        temperature: ``T > 0`` of the softmax the keys are drawn from.
        deterministic: take the most likely key instead of sampling.
        generator: optional ``torch.Generator`` for reproducible draws.

    Example:
        >>> import torch
        >>> Categorical(deterministic=True)(torch.tensor([[0.0, 2.0, 1.0]]))
        tensor([[0., 1., 0.]])
    """

    def __init__(
        self,
        temperature: float = 1.0,
        *,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        self.temperature = check_finite_positive(temperature, "temperature")
        self.deterministic = bool(deterministic)
        self.generator = generator

    def __call__(self, scores: Tensor, mask: Tensor | None = None) -> Tensor:
        scores = check_scores(scores)
        mask = check_scores_mask(mask, scores)
        weights = masked_normalize(scores, mask, tempered_softmax(self.temperature))
        if self.deterministic:
            return argmax_categorical(weights, mask=mask).one_hot
        return sample_categorical(weights, mask=mask, generator=self.generator).one_hot

    def __repr__(self) -> str:
        return f"Categorical(temperature={self.temperature}, deterministic={self.deterministic})"


# ---------------------------------------------------------------------------------------------
# names


def _gumbel_hard() -> GumbelSoftmax:
    return GumbelSoftmax(hard=True)


_BY_NAME: dict[str, Callable[[], Distribution]] = {
    "softmax": Softmax,
    "linear": LinearNormalization,
    "sparsemax": Sparsemax,
    "entmax15": Entmax15,
    "gumbel": GumbelSoftmax,
    "gumbel_hard": _gumbel_hard,
    "categorical": Categorical,
}


def register_distribution_name(name: str, cls: Callable[[], Distribution]) -> None:
    """Make ``cls()`` available to :func:`resolve_distribution` under ``name``."""
    if name in _BY_NAME:
        raise ValueError(f"distribution name {name!r} is already taken by {_BY_NAME[name]}")
    _BY_NAME[name] = cls


def resolve_distribution(distribution: str | Distribution) -> Distribution:
    """Turn a name or a callable into a distribution.

    Names: ``"softmax"``, ``"linear"``, ``"sparsemax"``, ``"entmax15"``, ``"gumbel"`` (soft
    Gumbel-softmax, ``tau=1``), ``"gumbel_hard"`` (straight-through), ``"categorical"``
    (sampled one-hot weights), plus any added with :func:`register_distribution_name`. Pass an
    instance (e.g. ``GumbelSoftmax(tau=0.5)``) for other settings.

    Example:
        >>> resolve_distribution("softmax")
        Softmax(temperature=1.0)
        >>> resolve_distribution("gumbel_hard")
        GumbelSoftmax(tau=1.0, hard=True)
    """
    if isinstance(distribution, str):
        try:
            factory = _BY_NAME[distribution]
        except KeyError:
            raise ValueError(
                f"unknown distribution {distribution!r}; expected one of {sorted(_BY_NAME)} "
                "or a callable (scores, mask) -> weights"
            ) from None
        return factory()
    if not callable(distribution):
        raise TypeError(
            f"distribution must be a name or a callable (scores, mask) -> weights, "
            f"got {type(distribution).__name__}"
        )
    return distribution


def is_plain_softmax(distribution: Distribution) -> float | None:
    """The temperature if ``distribution`` is a :class:`Softmax` (fusable), else ``None``."""
    if type(distribution) is Softmax:
        return distribution.temperature
    return None
