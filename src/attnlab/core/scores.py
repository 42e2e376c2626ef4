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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core._additive_kernel import (
    additive_scores,
    checkpointed_row_chunks,
    default_chunk_bytes,
)
from attnlab.core.checks import (
    check_dim,
    check_finite_positive,
    check_same_batch,
    check_size,
    check_tensor,
)

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

Activation = Callable[[Tensor], Tensor]


# --------------------------------------------------------------------------------------------
# Base class and argument checks
# --------------------------------------------------------------------------------------------


class Score(nn.Module):
    """Base class of alignment functions: ``forward(query, key) -> (B, Lq, Lk)`` scores.

    Subclasses whose score factorises as ``scale * f(q) . g(k)`` override :meth:`factorize` so that
    :func:`attnlab.attend` can compute weights with one matmul, or dispatch to
    ``F.scaled_dot_product_attention`` when weights are not requested.

    Attributes:
        query_dim: the feature size ``Dq`` the score was built for (``None``: any).
        key_dim: the feature size ``Dk`` the score was built for (``None``: any).
        requires_equal_dims: ``True`` when the score needs ``Dq == Dk`` (dot products, cosine).
    """

    requires_equal_dims: ClassVar[bool] = False
    query_dim: int | None = None
    key_dim: int | None = None

    def forward(self, query: Tensor, key: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def factorize(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor, float] | None:
        """``(f(q), g(k), scale)`` with ``score = scale * f(q) @ g(k)^T``, or ``None``."""
        return None

    def _check_inputs(self, query: Tensor, key: Tensor) -> None:
        """Validate ``query (B, Lq, Dq)`` and ``key (B, Lk, Dk)`` against this score."""
        check_tensor(query, "query", ndim=3, layout="(B, Lq, Dq)", like=("", self))
        check_tensor(key, "key", ndim=3, layout="(B, Lk, Dk)", like=("query", query))
        check_same_batch(query=query, key=key)
        if self.query_dim is not None:
            check_dim(query, -1, self.query_dim, "query", "query_dim")
        if self.key_dim is not None:
            check_dim(key, -1, self.key_dim, "key", "key_dim")
        if self.requires_equal_dims and query.shape[-1] != key.shape[-1]:
            raise ValueError(
                f"{type(self).__name__} needs query and key of the same feature size, got "
                f"query (..., {query.shape[-1]}) and key (..., {key.shape[-1]})"
            )



def _factory(device: torch.device | str | None, dtype: torch.dtype | None) -> dict[str, Any]:
    return {"device": device, "dtype": dtype}


def _dims(query_dim: int, key_dim: int | None) -> tuple[int, int]:
    """Checked ``(query_dim, key_dim)``; ``key_dim`` defaults to ``query_dim``."""
    query_dim = check_size(query_dim, "query_dim")
    return query_dim, query_dim if key_dim is None else check_size(key_dim, "key_dim")


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
        self._check_inputs(query, key)
        return torch.bmm(query, key.transpose(1, 2))  # (b, i, j)

    def factorize(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor, float]:
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
        self._check_inputs(query, key)
        # Scaling the (B, Lq, D) query is cheaper than scaling the (B, Lq, Lk) scores.
        return torch.bmm(query * self._scale(key), key.transpose(1, 2))  # (b, i, j)

    def factorize(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor, float]:
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
        self.query_dim, self.key_dim = _dims(query_dim, key_dim)
        self.weight = nn.Parameter(
            torch.empty(self.query_dim, self.key_dim, **_factory(device, dtype))
        )
        nn.init.xavier_uniform_(self.weight)

    def _project_query(self, query: Tensor) -> Tensor:
        return torch.matmul(query, self.weight)  # q^T W: (b, i, d_k)

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        self._check_inputs(query, key)
        return torch.bmm(self._project_query(query), key.transpose(1, 2))  # (b, i, j)

    def factorize(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor, float] | None:
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
        self.key_bias = nn.Parameter(torch.zeros(self.key_dim, **_factory(device, dtype)))

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
        self.score_bias = nn.Parameter(torch.zeros((), **_factory(device, dtype)))

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        return self.activation(super().forward(query, key) + self.score_bias)

    def factorize(self, query: Tensor, key: Tensor) -> None:
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
                torch.tensor(math.log(sharpening), **_factory(device, dtype))
            )
            self.sharpening: float | None = None
        else:
            self.log_sharpening = None
            self.sharpening = float(sharpening)

    def _normalised(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor]:
        return F.normalize(query, dim=-1, eps=self.eps), F.normalize(key, dim=-1, eps=self.eps)

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        q, k, scale = self.factorize(query, key)
        return torch.bmm(q * scale, k.transpose(1, 2))  # (b, i, j)

    def factorize(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor, float]:
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
# Additive family: bounded-memory kernels in attnlab.core._additive_kernel
# --------------------------------------------------------------------------------------------


class _HiddenLayerScore(Score):
    """Shared set-up of the additive family ``v^T f(W q_i + U k_j)``: sizes, tile budget, ``v``."""

    query_dim: int
    key_dim: int

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None,
        hidden_dim: int | None,
        chunk_bytes: int | None,
    ) -> None:
        super().__init__()
        self.query_dim, self.key_dim = _dims(query_dim, key_dim)
        self.hidden_dim = (
            self.query_dim if hidden_dim is None else check_size(hidden_dim, "hidden_dim")
        )
        self.chunk_bytes = None if chunk_bytes is None else check_size(chunk_bytes, "chunk_bytes")

    def _vector(self, factory: dict[str, Any]) -> nn.Parameter:
        """``v`` ``(H,)``, initialised as ``nn.Linear(H, 1)`` initialises its weight."""
        v = nn.Parameter(torch.empty(self.hidden_dim, **factory))
        bound = 1.0 / math.sqrt(self.hidden_dim)
        nn.init.uniform_(v, -bound, bound)
        return v

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}, hidden_dim={self.hidden_dim}"


class AdditiveScore(_HiddenLayerScore):
    """Additive score of Bahdanau et al. (2015, eq. 6 and appendix A.1.2).

    .. math:: e_{ij} = v^\\top \\tanh(W q_i + U k_j [+ b])

    Paper: Bahdanau, Cho, Bengio, "Neural Machine Translation by Jointly Learning to Align and
    Translate", https://arxiv.org/abs/1409.0473 (``W = W_a``, ``U = U_a``, ``v = v_a``; the query
    is the decoder state ``s_{i-1}``, the keys the annotations ``h_j``).

    Computed by :func:`additive_scores`: bounded memory (no ``(B, Lq, Lk, H)`` tensor) in the
    forward and backward passes.

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        hidden_dim: ``H``, the size of ``v`` (defaults to ``query_dim``: the paper's ``W_a`` is
            square, ``n x n``).
        hidden_bias: add a bias ``b`` inside the ``tanh`` (the paper's formula has none; the
            survey tables write one).
        chunk_bytes: tile budget of :func:`additive_scores` (``None``: per-device default).

    Attributes:
        query_proj: ``W``, ``nn.Linear(Dq, H, bias=False)``.
        key_proj: ``U`` (and ``b``), ``nn.Linear(Dk, H)``.
        v: ``(H,)``.

    Shape:
        query ``(B, Lq, Dq)``, key ``(B, Lk, Dk)`` -> scores ``(B, Lq, Lk)``.

    Example:
        >>> import torch
        >>> AdditiveScore(3, 5, hidden_dim=8)(torch.randn(2, 4, 3), torch.randn(2, 6, 5)).shape
        torch.Size([2, 4, 6])
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        hidden_dim: int | None = None,
        hidden_bias: bool = False,
        chunk_bytes: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(query_dim, key_dim, hidden_dim, chunk_bytes)
        fk = _factory(device, dtype)
        self.query_proj = nn.Linear(self.query_dim, self.hidden_dim, bias=False, **fk)
        self.key_proj = nn.Linear(self.key_dim, self.hidden_dim, bias=hidden_bias, **fk)
        self.v = self._vector(fk)

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        self._check_inputs(query, key)
        return additive_scores(
            self.query_proj(query), self.key_proj(key), self.v, chunk_bytes=self.chunk_bytes
        )

class ConcatScore(_HiddenLayerScore):
    """Concat score of Luong et al. (2015, eq. 8, "concat").

    .. math:: e_{ij} = v^\\top \\tanh(W [q_i; k_j] [+ b])

    Paper: Luong, Pham, Manning, "Effective Approaches to Attention-based Neural Machine
    Translation", https://arxiv.org/abs/1508.04025 (``W = W_a``, ``v = v_a``).

    ``W [q; k] = W_{:, :Dq} q + W_{:, Dq:} k``, so the concatenation is never built; the score is
    computed by :func:`additive_scores` in bounded memory. It differs from
    :class:`AdditiveScore` only in its parametrisation (one matrix over the concatenation) and in
    its paper.

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        hidden_dim: ``H`` (defaults to ``query_dim``, the paper's hidden size).
        hidden_bias: add a bias ``b`` inside the ``tanh`` (not in the paper).
        chunk_bytes: tile budget of :func:`additive_scores` (``None``: per-device default).

    Attributes:
        weight: ``W``, ``(H, Dq + Dk)``.
        hidden_bias: ``b``, ``(H,)`` or ``None``.
        v: ``(H,)``.

    Example:
        >>> import torch
        >>> ConcatScore(3, 5, hidden_dim=8)(torch.randn(2, 4, 3), torch.randn(2, 6, 5)).shape
        torch.Size([2, 4, 6])
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        hidden_dim: int | None = None,
        hidden_bias: bool = False,
        chunk_bytes: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(query_dim, key_dim, hidden_dim, chunk_bytes)
        fk = _factory(device, dtype)
        concat = nn.Linear(self.query_dim + self.key_dim, self.hidden_dim, bias=hidden_bias, **fk)
        self.weight = concat.weight
        self.hidden_bias = concat.bias
        self.v = self._vector(fk)

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        self._check_inputs(query, key)
        query_proj = F.linear(query, self.weight[:, : self.query_dim])  # (b, i, h)
        key_proj = F.linear(key, self.weight[:, self.query_dim :], self.hidden_bias)  # (b, j, h)
        return additive_scores(query_proj, key_proj, self.v, chunk_bytes=self.chunk_bytes)


class DeepScore(_HiddenLayerScore):
    """Deep (MLP) score after Pavlopoulos et al. (2017, "deep attention").

    .. math::

        E^{(1)}_{ij} = f(W q_i + U k_j + b_1), \\quad
        E^{(l)}_{ij} = f(W_l E^{(l-1)}_{ij} + b_l), \\quad
        e_{ij} = v^\\top E^{(L)}_{ij}

    Paper: Pavlopoulos, Malakasiotis, Androutsopoulos, "Deeper Attention to Abusive User Content
    Moderation", EMNLP 2017, https://aclanthology.org/D17-1117 (section 3: the attention MLP with
    ReLU layers over the RNN states ``h_t``).

    Note:
        The paper's MLP sees only the states ``h_t`` (a classification-specific attention with no
        query); here its first layer sees the query as well, ``W q_i + U k_j``, so that the score
        is an alignment function ``a(q_i, k_j)``. The paper's final scalar bias is dropped: it
        cancels in every softmax. Depth and width are hyper-parameters (the defaults are ours).
        The ``(B, Lq, Lk, H)`` activations are computed in chunks of query rows under activation
        checkpointing, so forward and backward memory is one chunk (times ``num_layers`` during
        the recomputation) beyond the inputs and scores.

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        hidden_dim: width ``H`` of every layer (defaults to ``query_dim``).
        num_layers: ``L >= 1`` hidden layers.
        activation: ``f`` (default ``F.relu``, as in the paper).
        chunk_bytes: budget of one chunk's ``(nb, ni, Lk, H)`` activation (``None``: per-device
            default).

    Attributes:
        query_proj: ``W``, ``nn.Linear(Dq, H, bias=False)``.
        key_proj: ``U`` and ``b_1``, ``nn.Linear(Dk, H)``.
        layers: ``W_l, b_l`` for ``l = 2..L``.
        v: ``(H,)``.

    Example:
        >>> import torch
        >>> DeepScore(3, 5, hidden_dim=8)(torch.randn(2, 4, 3), torch.randn(2, 6, 5)).shape
        torch.Size([2, 4, 6])
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        hidden_dim: int | None = None,
        num_layers: int = 2,
        activation: Activation = F.relu,
        chunk_bytes: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(query_dim, key_dim, hidden_dim, chunk_bytes)
        self.num_layers = check_size(num_layers, "num_layers")
        if not callable(activation):
            raise TypeError(f"activation must be callable, got {type(activation).__name__}")
        self.activation = activation
        fk = _factory(device, dtype)
        self.query_proj = nn.Linear(self.query_dim, self.hidden_dim, bias=False, **fk)
        self.key_proj = nn.Linear(self.key_dim, self.hidden_dim, **fk)
        self.layers = nn.ModuleList(
            nn.Linear(self.hidden_dim, self.hidden_dim, **fk) for _ in range(self.num_layers - 1)
        )
        self.v = self._vector(fk)

    def _chunk(self, query_proj: Tensor, key_proj: Tensor) -> Tensor:
        e = self.activation(query_proj.unsqueeze(2) + key_proj.unsqueeze(1))  # (b, i, j, h)
        for layer in self.layers:
            e = self.activation(layer(e))
        return torch.matmul(e, self.v)  # (b, i, j)

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        self._check_inputs(query, key)
        return checkpointed_row_chunks(
            self._chunk,
            self.query_proj(query),  # (b, i, h)
            self.key_proj(key),  # (b, j, h)
            chunk_bytes=self.chunk_bytes,
            parameters=[self.v, *self.layers.parameters()],
        )

    def extra_repr(self) -> str:
        return (
            f"query_dim={self.query_dim}, key_dim={self.key_dim}, hidden_dim={self.hidden_dim}, "
            f"num_layers={self.num_layers}"
        )


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
            self.query_dim, self.max_length, bias=False, **_factory(device, dtype)
        )
        self.weight = positions.weight

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
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
    query_dim, key_dim = _dims(query_dim, key_dim)
    fk = _factory(device, dtype)
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
