"""The additive family of alignment functions: ``e_ij = v^T f(W q_i + U k_j)``.

Bahdanau et al. 2015 (:class:`AdditiveScore`), Luong et al. 2015 (:class:`ConcatScore`) and
Pavlopoulos et al. 2017 (:class:`DeepScore`). None of them builds the ``(B, Lq, Lk, H)`` tensor
of a literal implementation: they run on the bounded-memory kernels of
:mod:`attnlab.core._additive_kernel` (see "Memory of additive-type scores" in
:mod:`attnlab.core.scores`, which re-exports these classes).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core._additive_kernel import additive_scores, checkpointed_row_chunks
from attnlab.core._score_base import Activation, Score, checked_dims, factory_kwargs
from attnlab.core.checks import check_size

__all__ = ["AdditiveScore", "ConcatScore", "DeepScore"]


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
        self.query_dim, self.key_dim = checked_dims(query_dim, key_dim)
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
        fk = factory_kwargs(device, dtype)
        self.query_proj = nn.Linear(self.query_dim, self.hidden_dim, bias=False, **fk)
        self.key_proj = nn.Linear(self.key_dim, self.hidden_dim, bias=hidden_bias, **fk)
        self.v = self._vector(fk)

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """Scores ``(B, Lq, Lk)`` of queries ``(B, Lq, Dq)`` against keys ``(B, Lk, Dk)``."""
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
        fk = factory_kwargs(device, dtype)
        concat = nn.Linear(self.query_dim + self.key_dim, self.hidden_dim, bias=hidden_bias, **fk)
        self.weight = concat.weight
        self.hidden_bias = concat.bias
        self.v = self._vector(fk)

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """Scores ``(B, Lq, Lk)`` of queries ``(B, Lq, Dq)`` against keys ``(B, Lk, Dk)``."""
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
        fk = factory_kwargs(device, dtype)
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
        """Scores ``(B, Lq, Lk)`` of queries ``(B, Lq, Dq)`` against keys ``(B, Lk, Dk)``."""
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
