"""Alignment (score) functions: ``e_ij = a(q_i, k_j)``.

Chaudhari et al., "An Attentive Survey of Attention Models" (arXiv:1904.02874, section 3, eq. 1)
write attention as ``e_ij = a(q_i, k_j)``, ``alpha_ij = p(e_i)_j``, ``c_i = sum_j alpha_ij v_j``.
This module holds the alignment functions ``a``; the names of the bilinear variants follow the
score table of Brauwers and Frasincar, "A General Survey on Attention Mechanisms in Deep Learning"
(arXiv:2203.14263).

Every score is an ``nn.Module`` usable on its own::

    scores = score(query, key)      # query (B, Lq, Dq), key (B, Lk, Dk) -> scores (B, Lq, Lk)

Letters: ``b`` batch, ``i`` query position, ``j`` key position, ``d`` feature, ``h`` hidden unit of
an additive/MLP score, ``r`` random feature of a kernel score.

==============================  ==========================================  ==================
class                           score ``e_ij``                              paper
==============================  ==========================================  ==================
:class:`DotScore`               ``q_i . k_j``                               Luong 2015
:class:`ScaledDotScore`         ``q_i . k_j / sqrt(d_k)``                   Vaswani 2017
:class:`GeneralScore`           ``q_i^T W k_j``                             Luong 2015
:class:`BiasedGeneralScore`     ``(W^T q_i + b) . k_j``                     Sordoni 2016
:class:`ActivatedGeneralScore`  ``act(q_i^T W k_j + b)``                    Ma 2017
:class:`ConcatScore`            ``v^T tanh(W [q_i; k_j])``                  Luong 2015
:class:`AdditiveScore`          ``v^T tanh(W q_i + U k_j)``                 Bahdanau 2015
:class:`CosineScore`            ``beta cos(q_i, k_j)``                      Graves 2014
:class:`LocationScore`          ``(W q_i)_j`` (no key content)              Luong 2015
:class:`DeepScore`              ``v^T f(... f(W q_i + U k_j))``             Pavlopoulos 2017
:class:`KernelScore`            ``phi(q_i) . phi(k_j)``, random features    Choromanski 2021
==============================  ==========================================  ==================

Dot-product-like scores (dot, scaled dot, general, biased general, cosine) implement
:meth:`Score.factorize`, so :func:`attnlab.core.attend.attend` computes them with one matmul or the
fused ``F.scaled_dot_product_attention`` kernel.

Memory of additive-type scores
------------------------------
A literal implementation of ``v^T tanh(W q_i + U k_j)`` broadcasts to a ``(B, Lq, Lk, H)`` tensor,
which autograd also keeps for the backward pass. The additive, concat and deep scores never build
it: they are evaluated by the bounded-memory kernels of :mod:`attnlab.core._additive_kernel`
(:func:`additive_scores`: tiles with a recomputing backward pass; deep scores: blocks of query rows
under activation checkpointing).

The base class :class:`Score` is defined in :mod:`attnlab.core._score_base` and the additive family
in :mod:`attnlab.core.additive_scores`; both are re-exported here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core._additive_kernel import additive_scores, default_chunk_bytes
from attnlab.core._score_base import Activation, Score, checked_dims, factory_kwargs
from attnlab.core.additive_scores import AdditiveScore, ConcatScore, DeepScore
from attnlab.core.checks import check_finite_positive, check_size

__all__ = [
    "SCORE_NAMES",
    "ActivatedGeneralScore",
    "AdditiveScore",
    "BiasedGeneralScore",
    "ConcatScore",
    "CosineScore",
    "DeepScore",
    "DotScore",
    "GeneralScore",
    "KernelScore",
    "LocationScore",
    "ScaledDotScore",
    "Score",
    "additive_scores",
    "build_score",
    "default_chunk_bytes",
    "resolve_score",
]


# --------------------------------------------------------------------------------------------
# Dot-product family
# --------------------------------------------------------------------------------------------


class DotScore(Score):
    """Dot-product score (Luong et al. 2015, eq. 8, "dot").

    .. math:: e_{ij} = q_i^\\top k_j

    Paper: Luong, Pham, Manning, "Effective Approaches to Attention-based Neural Machine
    Translation", https://arxiv.org/abs/1508.04025.

    Shape:
        query ``(B, Lq, D)``, key ``(B, Lk, D)`` -> scores ``(B, Lq, Lk)``.

    Example:
        >>> import torch
        >>> DotScore()(torch.ones(1, 2, 3), torch.ones(1, 4, 3)).shape
        torch.Size([1, 2, 4])
    """

    requires_equal_dims = True

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """Scores ``(B, Lq, Lk)`` of queries ``(B, Lq, D)`` against keys ``(B, Lk, D)``."""
        self._check_inputs(query, key)
        return torch.bmm(query, key.transpose(1, 2))  # (b, i, j)

    def factorize(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor, float]:
        """``(query, key, 1.0)``: the score is ``q @ k^T`` (see :meth:`Score.factorize`)."""
        self._check_inputs(query, key)
        return query, key, 1.0


class ScaledDotScore(Score):
    """Scaled dot-product score (Vaswani et al. 2017, eq. 1).

    .. math:: e_{ij} = \\frac{q_i^\\top k_j}{\\sqrt{d_k}}

    Paper: Vaswani et al., "Attention Is All You Need", https://arxiv.org/abs/1706.03762.

    Args:
        scale: the factor multiplying ``q . k``; ``None`` (default) uses the paper's
            ``1 / sqrt(d_k)`` with ``d_k`` read from the key at call time.

    Shape:
        query ``(B, Lq, D)``, key ``(B, Lk, D)`` -> scores ``(B, Lq, Lk)``.

    Example:
        >>> import torch
        >>> ScaledDotScore()(torch.ones(1, 1, 4), torch.ones(1, 1, 4))
        tensor([[[2.]]])
    """

    requires_equal_dims = True

    def __init__(self, *, scale: float | None = None) -> None:
        super().__init__()
        self.scale = (
            None if scale is None else check_finite_positive(scale, "scale", kind="a float or None")
        )

    def _scale(self, key: Tensor) -> float:
        return self.scale if self.scale is not None else 1.0 / math.sqrt(key.shape[-1])

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """Scores ``(B, Lq, Lk)`` of queries ``(B, Lq, D)`` against keys ``(B, Lk, D)``."""
        self._check_inputs(query, key)
        # Scaling the (B, Lq, D) query is cheaper than scaling the (B, Lq, Lk) scores.
        return torch.bmm(query * self._scale(key), key.transpose(1, 2))  # (b, i, j)

    def factorize(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor, float]:
        """``(query, key, scale)``: the score is ``scale * q @ k^T`` (:meth:`Score.factorize`)."""
        self._check_inputs(query, key)
        return query, key, self._scale(key)

    def extra_repr(self) -> str:
        return "scale=1/sqrt(d_k)" if self.scale is None else f"scale={self.scale}"


class GeneralScore(Score):
    """Bilinear ("general") score (Luong et al. 2015, eq. 8, "general").

    .. math:: e_{ij} = q_i^\\top W k_j

    Paper: Luong, Pham, Manning, "Effective Approaches to Attention-based Neural Machine
    Translation", https://arxiv.org/abs/1508.04025 (``W`` is the paper's ``W_a``).

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).

    Attributes:
        weight: ``W``, ``(Dq, Dk)``, Xavier-uniform initialised.

    Shape:
        query ``(B, Lq, Dq)``, key ``(B, Lk, Dk)`` -> scores ``(B, Lq, Lk)``.

    Example:
        >>> import torch
        >>> GeneralScore(3, 5)(torch.randn(2, 4, 3), torch.randn(2, 6, 5)).shape
        torch.Size([2, 4, 6])
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.query_dim, self.key_dim = checked_dims(query_dim, key_dim)
        self.weight = nn.Parameter(
            torch.empty(self.query_dim, self.key_dim, **factory_kwargs(device, dtype))
        )
        nn.init.xavier_uniform_(self.weight)

    def _project_query(self, query: Tensor) -> Tensor:
        return torch.matmul(query, self.weight)  # q^T W: (b, i, d_k)

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """Scores ``(B, Lq, Lk)`` of queries ``(B, Lq, Dq)`` against keys ``(B, Lk, Dk)``."""
        self._check_inputs(query, key)
        return torch.bmm(self._project_query(query), key.transpose(1, 2))  # (b, i, j)

    def factorize(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor, float] | None:
        """``(q W, key, 1.0)``: the bilinear score as one product (see :meth:`Score.factorize`)."""
        self._check_inputs(query, key)
        return self._project_query(query), key, 1.0

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}"


class BiasedGeneralScore(GeneralScore):
    """Biased bilinear score (Sordoni et al. 2016; "biased general" in Brauwers & Frasincar).

    .. math:: e_{ij} = k_j^\\top (W^\\top q_i + b) = q_i^\\top W k_j + b^\\top k_j

    The bias ``b`` lives in key space, so it adds a per-key term ``b . k_j``; a scalar bias would
    cancel in any softmax and is not offered.

    Paper: Sordoni, Bachman, Trischler, Bengio, "Iterative Alternating Neural Attention for Machine
    Reading", https://arxiv.org/abs/1606.02245 (bilinear attention with a bias term); the
    name follows the score table of https://arxiv.org/abs/2203.14263.

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).

    Attributes:
        weight: ``W``, ``(Dq, Dk)``.
        key_bias: ``b``, ``(Dk,)``, zero-initialised.

    Example:
        >>> import torch
        >>> BiasedGeneralScore(3)(torch.randn(2, 4, 3), torch.randn(2, 6, 3)).shape
        torch.Size([2, 4, 6])
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(query_dim, key_dim, device=device, dtype=dtype)
        assert self.key_dim is not None
        self.key_bias = nn.Parameter(torch.zeros(self.key_dim, **factory_kwargs(device, dtype)))

    def _project_query(self, query: Tensor) -> Tensor:
        return torch.matmul(query, self.weight) + self.key_bias  # W^T q + b: (b, i, d_k)


class ActivatedGeneralScore(GeneralScore):
    """Activated bilinear score (Ma et al. 2017; "activated general").

    .. math:: e_{ij} = \\mathrm{act}(q_i^\\top W k_j + b)

    Paper: Ma, Li, Zhang, Wang, "Interactive Attention Networks for Aspect-Level Sentiment
    Classification", https://arxiv.org/abs/1709.00893 (``act = tanh``, ``W = W_a``, ``b = b_a``).

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        activation: ``act``, elementwise (default ``torch.tanh``, as in the paper).

    Attributes:
        weight: ``W``, ``(Dq, Dk)``.
        score_bias: the scalar ``b``, zero-initialised.

    Example:
        >>> import torch
        >>> s = ActivatedGeneralScore(3)(torch.randn(2, 4, 3), torch.randn(2, 6, 3))
        >>> bool(s.abs().max() <= 1)
        True
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        activation: Activation = torch.tanh,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(query_dim, key_dim, device=device, dtype=dtype)
        if not callable(activation):
            raise TypeError(f"activation must be callable, got {type(activation).__name__}")
        self.activation = activation
        self.score_bias = nn.Parameter(torch.zeros((), **factory_kwargs(device, dtype)))

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """Scores ``(B, Lq, Lk)`` of queries ``(B, Lq, Dq)`` against keys ``(B, Lk, Dk)``."""
        return self.activation(super().forward(query, key) + self.score_bias)

    def factorize(self, query: Tensor, key: Tensor) -> None:
        """``None``: the activation keeps the score from factorising."""
        return None


class CosineScore(Score):
    """Cosine-similarity score with sharpening (Graves et al. 2014, eqs. 5-6).

    .. math:: e_{ij} = \\beta \\, \\frac{q_i^\\top k_j}{\\max(\\lVert q_i\\rVert, \\epsilon)
              \\max(\\lVert k_j\\rVert, \\epsilon)}

    Paper: Graves, Wayne, Danihelka, "Neural Turing Machines", https://arxiv.org/abs/1410.5401
    (content addressing: ``K[u, v]`` of eq. 6 scaled by the key strength ``beta`` of eq. 5).

    Args:
        sharpening: ``beta > 0``, the key strength (default 1: plain cosine similarity).
        learnable_sharpening: learn ``beta`` (stored as ``log beta`` so it stays positive).
        eps: the norm floor ``epsilon``: a zero vector gets score 0, never NaN.

    Shape:
        query ``(B, Lq, D)``, key ``(B, Lk, D)`` -> scores in ``[-beta, beta]``, ``(B, Lq, Lk)``.

    Note:
        In the NTM the controller emits ``beta`` per step; here it is one constant or parameter.

    Example:
        >>> import torch
        >>> score = CosineScore(sharpening=2.0)
        >>> score(torch.ones(1, 1, 3), -torch.ones(1, 1, 3)).round(decimals=4)
        tensor([[[-2.]]])
    """

    requires_equal_dims = True

    def __init__(
        self,
        *,
        sharpening: float = 1.0,
        learnable_sharpening: bool = False,
        eps: float = 1e-8,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        sharpening = check_finite_positive(sharpening, "sharpening", kind="a float")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.eps = float(eps)
        self.learnable_sharpening = bool(learnable_sharpening)
        if self.learnable_sharpening:
            self.log_sharpening: nn.Parameter | None = nn.Parameter(
                torch.tensor(math.log(sharpening), **factory_kwargs(device, dtype))
            )
            self.sharpening: float | None = None
        else:
            self.log_sharpening = None
            self.sharpening = float(sharpening)

    def _normalised(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor]:
        return F.normalize(query, dim=-1, eps=self.eps), F.normalize(key, dim=-1, eps=self.eps)

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """Scores ``(B, Lq, Lk)`` of queries ``(B, Lq, D)`` against keys ``(B, Lk, D)``."""
        q, k, scale = self.factorize(query, key)
        return torch.bmm(q * scale, k.transpose(1, 2))  # (b, i, j)

    def factorize(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor, float]:
        """The unit-normalised ``(q, k, scale)``, sharpening included (:meth:`Score.factorize`)."""
        self._check_inputs(query, key)
        q, k = self._normalised(query, key)
        if self.log_sharpening is not None:
            # A learnable beta is a tensor; fold it into the query so ``scale`` stays a float.
            return q * self.log_sharpening.exp(), k, 1.0
        assert self.sharpening is not None
        return q, k, self.sharpening

    def extra_repr(self) -> str:
        if self.learnable_sharpening:
            return "learnable_sharpening=True"
        return f"sharpening={self.sharpening}"


# --------------------------------------------------------------------------------------------
# Location-based and kernel scores
# --------------------------------------------------------------------------------------------


class LocationScore(Score):
    """Location-based score of Luong et al. (2015, eq. 9): from the query alone.

    .. math:: e_{ij} = (W q_i)_j, \\qquad j < L_k \\le \\text{max\\_length}

    Paper: Luong, Pham, Manning, "Effective Approaches to Attention-based Neural Machine
    Translation", https://arxiv.org/abs/1508.04025 (``a_t = softmax(W_a h_t)``).

    The keys contribute only their number ``Lk``: ``W`` has one row per source position, and the
    first ``Lk`` rows are used. ``Lk > max_length`` is an error.

    Args:
        query_dim: ``Dq``.
        max_length: the longest key sequence, the number of rows of ``W``.

    Attributes:
        weight: ``W``, ``(max_length, Dq)``.

    Shape:
        query ``(B, Lq, Dq)``, key ``(B, Lk, any)`` -> scores ``(B, Lq, Lk)``.

    Example:
        >>> import torch
        >>> LocationScore(3, max_length=10)(torch.randn(2, 4, 3), torch.randn(2, 6, 7)).shape
        torch.Size([2, 4, 6])
    """

    def __init__(
        self,
        query_dim: int,
        *,
        max_length: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.query_dim = check_size(query_dim, "query_dim")
        self.max_length = check_size(max_length, "max_length")
        positions = nn.Linear(
            self.query_dim, self.max_length, bias=False, **factory_kwargs(device, dtype)
        )
        self.weight = positions.weight

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """Scores ``(B, Lq, Lk)`` from the queries ``(B, Lq, Dq)`` alone; ``key`` gives ``Lk``."""
        self._check_inputs(query, key)
        k_len = key.shape[1]
        if k_len > self.max_length:
            raise ValueError(
                f"key has length Lk={k_len} but this location score was built with "
                f"max_length={self.max_length}"
            )
        return F.linear(query, self.weight[:k_len])  # (b, i, j)

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, max_length={self.max_length}"


def _orthogonal_gaussian(num_features: int, dim: int, generator: torch.Generator) -> Tensor:
    """``(num_features, dim)`` rows, orthogonal within blocks of ``dim``, Gaussian row norms.

    Choromanski et al. 2021 (orthogonal random features): each block is an
    orthonormal basis (QR of a Gaussian matrix) with rows rescaled by the norms of independent
    ``N(0, I_dim)`` vectors, so every row is marginally ``N(0, I_dim)``.
    """
    num_blocks = -(-num_features // dim)
    gaussian = torch.randn(num_blocks, dim, dim, generator=generator, dtype=torch.float64)
    basis, upper = torch.linalg.qr(gaussian)
    # Fix the signs so each basis is Haar-distributed; LAPACK's raw Q is not, and a biased
    # direction would bias the kernel estimate.
    basis = basis * torch.sign(torch.diagonal(upper, dim1=-2, dim2=-1)).unsqueeze(-2)
    blocks = basis.transpose(-2, -1)  # rows of each block are orthonormal
    rows = blocks.reshape(num_blocks * dim, dim)[:num_features]
    norms = torch.randn(num_features, dim, generator=generator, dtype=torch.float64).norm(dim=1)
    return rows * norms.unsqueeze(1)


class KernelScore(Score):
    """Generalised-kernel score with positive random features (Performer, FAVOR+).

    .. math::

        \\phi(x) = \\frac{1}{\\sqrt{m}} \\exp\\Big(\\omega_r^\\top \\tilde x
            - \\frac{\\lVert \\tilde x \\rVert^2}{2}\\Big)_{r=1..m},
        \\quad \\tilde x = x / d^{1/4}, \\qquad e_{ij} = \\phi(q_i)^\\top \\phi(k_j) \\ge 0

    with ``omega_r ~ N(0, I_d)``. Then ``E[e_ij] = exp(q_i . k_j / sqrt(d))``: normalising the
    scores by their row sum (the ``"linear"`` distribution) approximates softmax scaled-dot
    attention, and :class:`attnlab.mechanisms.kernel.KernelAttention` does so in linear time.

    Paper: Choromanski et al., "Rethinking Attention with Performers",
    https://arxiv.org/abs/2009.14794 (Lemma 1: positive random features for the softmax kernel;
    orthogonal random features).

    Args:
        dim: ``d``, the feature size of queries and keys.
        num_features: ``m`` (default ``round(d ln d)``, at least ``d``: the paper's
            ``m = Theta(d log d)``).
        orthogonal: draw orthogonal random features (FAVOR+) rather than i.i.d. ones.
        seed: seed of the module's own generator: the features are reproducible and do not touch
            the global random state.

    Attributes:
        projection: buffer ``(m, d)``, the rows ``omega_r``; replaced by :meth:`redraw_features`.

    Shape:
        query ``(B, Lq, d)``, key ``(B, Lk, d)`` -> scores ``(B, Lq, Lk)``, all ``>= 0``.

    Example:
        >>> import torch
        >>> s = KernelScore(4, num_features=64)(torch.randn(2, 3, 4), torch.randn(2, 5, 4))
        >>> s.shape, bool((s >= 0).all())
        (torch.Size([2, 3, 5]), True)
    """

    requires_equal_dims = True
    projection: Tensor

    def __init__(
        self,
        dim: int,
        *,
        num_features: int | None = None,
        orthogonal: bool = True,
        seed: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.query_dim = self.key_dim = check_size(dim, "dim")
        if num_features is None:
            num_features = max(dim, round(dim * math.log(dim)))
        self.num_features = check_size(num_features, "num_features")
        self.orthogonal = bool(orthogonal)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)
        dtype = torch.get_default_dtype() if dtype is None else dtype
        self.register_buffer(
            "projection", torch.empty(self.num_features, dim, device=device, dtype=dtype)
        )
        self.redraw_features()

    @torch.no_grad()
    def redraw_features(self) -> None:
        """Draw new random features ``omega`` from the module's generator (in place)."""
        d, m = self.projection.shape[1], self.num_features
        if self.orthogonal:
            omega = _orthogonal_gaussian(m, d, self._generator)
        else:
            omega = torch.randn(m, d, generator=self._generator, dtype=torch.float64)
        self.projection.copy_(omega)

    def log_features(self, x: Tensor) -> Tensor:
        """``log phi(x)``: ``(..., d) -> (..., m)``, before any stabilising shift."""
        x = x * self.projection.shape[1] ** -0.25  # x~ = x / d^(1/4)
        projected = torch.matmul(x, self.projection.t())  # omega^T x~: (..., r)
        return (
            projected - 0.5 * x.square().sum(-1, keepdim=True) - 0.5 * math.log(self.num_features)
        )

    def features(self, x: Tensor) -> Tensor:
        """``phi(x) > 0``: ``(..., d) -> (..., m)``."""
        return self.log_features(x).exp()

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """Scores ``(B, Lq, Lk)``: dot products of the random features of queries and keys."""
        self._check_inputs(query, key)
        return torch.bmm(self.features(query), self.features(key).transpose(1, 2))  # (b, i, j)

    def extra_repr(self) -> str:
        return (
            f"dim={self.query_dim}, num_features={self.num_features}, orthogonal={self.orthogonal}"
        )


# --------------------------------------------------------------------------------------------
# Construction by name
# --------------------------------------------------------------------------------------------

SCORE_NAMES: tuple[str, ...] = (
    "dot",
    "scaled_dot",
    "general",
    "biased_general",
    "activated_general",
    "concat",
    "additive",
    "cosine",
    "deep",
)
"""Score names :func:`build_score` accepts (``location`` and ``kernel`` need their own arguments:
build :class:`LocationScore` / :class:`KernelScore` directly)."""


def build_score(
    name: str,
    *,
    query_dim: int,
    key_dim: int | None = None,
    hidden_dim: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Score:
    """Build a score from its name with default hyper-parameters.

    Args:
        name: one of :data:`SCORE_NAMES`.
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        hidden_dim: ``H`` for ``concat``, ``additive`` and ``deep`` (ignored by the others).

    Example:
        >>> build_score("additive", query_dim=4, hidden_dim=8)
        AdditiveScore(
          query_dim=4, key_dim=4, hidden_dim=8
          (query_proj): Linear(in_features=4, out_features=8, bias=False)
          (key_proj): Linear(in_features=4, out_features=8, bias=False)
        )
    """
    query_dim, key_dim = checked_dims(query_dim, key_dim)
    fk = factory_kwargs(device, dtype)
    if name in ("dot", "scaled_dot", "cosine"):
        if key_dim != query_dim:
            raise ValueError(
                f"score {name!r} needs query_dim == key_dim, got {query_dim} and {key_dim}"
            )
        if name == "dot":
            return DotScore()
        if name == "scaled_dot":
            return ScaledDotScore()
        return CosineScore(**fk)
    if name == "general":
        return GeneralScore(query_dim, key_dim, **fk)
    if name == "biased_general":
        return BiasedGeneralScore(query_dim, key_dim, **fk)
    if name == "activated_general":
        return ActivatedGeneralScore(query_dim, key_dim, **fk)
    if name == "concat":
        return ConcatScore(query_dim, key_dim, hidden_dim=hidden_dim, **fk)
    if name == "additive":
        return AdditiveScore(query_dim, key_dim, hidden_dim=hidden_dim, **fk)
    if name == "deep":
        return DeepScore(query_dim, key_dim, hidden_dim=hidden_dim, **fk)
    if name in ("location", "kernel"):
        cls = (
            "LocationScore(query_dim, max_length=...)" if name == "location" else "KernelScore(dim)"
        )
        raise ValueError(f"score {name!r} needs its own arguments: pass an instance, {cls}")
    raise ValueError(f"unknown score {name!r}; expected one of {SCORE_NAMES} or a Score instance")


def resolve_score(
    score: str | Score,
    *,
    query_dim: int,
    key_dim: int | None = None,
    hidden_dim: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Score:
    """``score`` itself when it is a :class:`Score`, else the score of that name
    (:func:`build_score`, with the other arguments).

    Example:
        >>> type(resolve_score("dot", query_dim=4)).__name__
        'DotScore'
    """
    if isinstance(score, str):
        return build_score(
            score,
            query_dim=query_dim,
            key_dim=key_dim,
            hidden_dim=hidden_dim,
            device=device,
            dtype=dtype,
        )
    if not isinstance(score, Score):
        raise TypeError(
            f"score must be a score name or a Score instance, got {type(score).__name__}"
        )
    return score
