"""``attend``: the survey's general attention model as one function.

Chaudhari et al. (arXiv:1904.02874, section 3, eqs. 1-3): given a query ``q_i``, keys ``k_j`` and
values ``v_j``,

.. math::

    e_{ij} = a(q_i, k_j), \\qquad \\alpha_{ij} = p(e_i)_j, \\qquad c_i = \\sum_j \\alpha_{ij} v_j

with ``a`` an alignment (score) function and ``p`` a distribution function.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from attnlab.core.checks import (
    check_attn_bias,
    check_mask,
    check_probability,
    check_tensor,
)
from attnlab.core.distributions import Distribution, is_plain_softmax, resolve_distribution
from attnlab.core.masks import masked_softmax
from attnlab.core.output import AttentionOutput
from attnlab.core.scores import Score

__all__ = ["attend", "dot_product_attention"]

ScoreFn = Callable[[Tensor, Tensor], Tensor]


def dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    scale: float,
    mask: Tensor | None = None,
    attn_bias: Tensor | None = None,
    dropout: float = 0.0,
    need_weights: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Softmax attention of ``scale * q k^T`` on already validated ``(..., L, D)`` tensors.

    The shared kernel of every dot-product family (single- and multi-head). ``mask`` (boolean,
    ``True`` = may attend) and ``attn_bias`` must already broadcast to ``(..., Lq, Lk)``.

    * ``need_weights=False``: one call to ``F.scaled_dot_product_attention``. Rows with no valid
      key are opened to every key for the kernel (so it never sees an empty row and cannot produce
      NaN) and their context is zeroed afterwards.
    * ``need_weights=True``: one matmul, one masked normalisation, one matmul; weights are the
      pre-dropout distribution.

    Returns:
        ``(context, weights)``; ``weights`` is ``None`` when not requested.
    """
    valid_row = None
    if mask is not None:
        valid_row = mask.any(dim=-1, keepdim=True)
    if not need_weights:
        attn_mask: Tensor | None = None
        if mask is not None:
            assert valid_row is not None
            attn_mask = mask | ~valid_row
        if attn_bias is not None:
            bias = attn_bias.to(q.dtype)
            attn_mask = bias if attn_mask is None else bias.masked_fill(~attn_mask, -math.inf)
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=dropout, scale=scale
        )
        if valid_row is not None:
            context = context.masked_fill(~valid_row, 0.0)
        return context, None
    if scale != 1.0:
        q = q * scale  # scaling (Lq, D) is cheaper than scaling (Lq, Lk)
    scores = torch.matmul(q, k.transpose(-2, -1))  # (..., i, j)
    if attn_bias is not None:
        scores = scores + attn_bias
    weights = masked_softmax(scores, mask)
    attn = F.dropout(weights, p=dropout) if dropout > 0 else weights
    context = torch.matmul(attn, v)  # (..., i, d)
    return context, weights


def attend(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    score: Score | ScoreFn,
    distribution: str | Distribution = "softmax",
    mask: Tensor | None = None,
    attn_bias: Tensor | None = None,
    dropout: float = 0.0,
    need_weights: bool = True,
) -> AttentionOutput:
    """Attend from ``query`` over ``key``/``value`` with any score and distribution.

    Args:
        query: ``(B, Lq, Dq)``.
        key: ``(B, Lk, Dk)``.
        value: ``(B, Lk, Dv)``.
        score: an alignment function ``(query, key) -> (B, Lq, Lk)``, usually a
            :class:`~attnlab.core.scores.Score` module.
        distribution: a name (``"softmax"``, ``"sparsemax"``, ``"entmax15"``, ``"gumbel"``, ...)
            or a callable ``(scores, mask) -> weights``.
        mask: boolean, ``True`` = may attend; ``(B, Lk)``, ``(B, Lq, Lk)`` or ``(1, Lq, Lk)``.
        attn_bias: additive float bias ``(Lq, Lk)`` or ``(B, Lq, Lk)``, added to the scores.
        dropout: dropout on the weights (pass 0 at evaluation; modules do this for you).
        need_weights: when ``False`` and the score factorises as a dot product under a plain
            softmax, the fused ``F.scaled_dot_product_attention`` kernel runs and ``weights`` is
            ``None``.

    Returns:
        :class:`AttentionOutput` with ``context (B, Lq, Dv)`` and ``weights (B, Lq, Lk)``.

    Example:
        >>> import torch
        >>> from attnlab.core.scores import Score
        >>> class Dot(Score):
        ...     def forward(self, q, k):
        ...         return q @ k.transpose(-2, -1)
        >>> q, kv = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
        >>> out = attend(q, kv, kv, score=Dot(), mask=torch.ones(2, 5, dtype=torch.bool))
        >>> out.context.shape, out.weights.shape
        (torch.Size([2, 3, 4]), torch.Size([2, 3, 5]))
    """
    check_tensor(query, "query", ndim=3, layout="(B, Lq, Dq)")
    check_tensor(key, "key", ndim=3, layout="(B, Lk, Dk)")
    check_tensor(value, "value", ndim=3, layout="(B, Lk, Dv)")
    batch, q_len, k_len = query.shape[0], query.shape[1], key.shape[1]
    if key.shape[0] != batch or value.shape[0] != batch:
        raise ValueError(
            "query, key and value must have the same batch size, got "
            f"{batch}, {key.shape[0]} and {value.shape[0]}"
        )
    if value.shape[1] != k_len:
        raise ValueError(
            f"key and value must have the same length Lk, got {k_len} and {value.shape[1]}"
        )
    check_probability(dropout, "dropout")
    if mask is not None:
        mask = check_mask(mask, batch=batch, q_len=q_len, k_len=k_len)
    if attn_bias is not None:
        attn_bias = check_attn_bias(attn_bias, batch=batch, q_len=q_len, k_len=k_len)
    dist = resolve_distribution(distribution)
    if not callable(score):
        raise TypeError(f"score must be callable (query, key) -> scores, got {type(score).__name__}")

    temperature = is_plain_softmax(dist)
    factors = score.factorize(query, key) if isinstance(score, Score) else None
    if factors is not None and temperature is not None:
        q, k, scale = factors
        context, weights = dot_product_attention(
            q,
            k,
            value,
            scale=scale / temperature,
            mask=mask,
            attn_bias=attn_bias,
            dropout=dropout,
            need_weights=need_weights,
        )
        return AttentionOutput(context, weights)

    scores = score(query, key)
    if not isinstance(scores, Tensor) or tuple(scores.shape) != (batch, q_len, k_len):
        got = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"score must return scores of shape (B, Lq, Lk) = "
                         f"({batch}, {q_len}, {k_len}), got {got}")
    if attn_bias is not None:
        scores = scores + attn_bias
    weights = dist(scores, mask)
    attn = F.dropout(weights, p=dropout) if dropout > 0 else weights
    context = torch.bmm(attn, value)  # (b, i, d)
    return AttentionOutput(context, weights)
