"""``attend``: the survey's general attention model as one function.

Chaudhari et al. (arXiv:1904.02874, section 3, eqs. 1-3): given a query ``q_i``, keys ``k_j`` and
values ``v_j``,

.. math::

    e_{ij} = a(q_i, k_j), \\qquad \\alpha_{ij} = p(e_i)_j, \\qquad c_i = \\sum_j \\alpha_{ij} v_j

with ``a`` an alignment (score) function and ``p`` a distribution function.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core._fastpath import fast_dot_product_attention
from attnlab.core.checks import (
    check_attn_bias,
    check_mask,
    check_probability,
    check_query_key_value,
)
from attnlab.core.distributions import Distribution, is_plain_softmax, resolve_distribution
from attnlab.core.masks import additive_mask, causal_mask
from attnlab.core.output import AttentionOutput
from attnlab.core.scores import Score
from attnlab.core.weight_selection import WeightSelection, check_need_weights, selected_weights

__all__ = ["attend", "dot_product_attention"]

ScoreFn = Callable[[Tensor, Tensor], Tensor]


def _empty_rows(valid_row: Tensor) -> Tensor | None:
    """``~valid_row``, or ``None`` when every row has a key.

    Only checked eagerly on CPU, where it costs no device sync; on accelerators and under
    ``torch.compile`` (where it would break the graph) the rows are always fixed up, which is
    correct either way.
    """
    if (
        valid_row.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and bool(valid_row.all())
    ):
        return None
    return ~valid_row


def _allowed_keys(
    mask: Tensor | None, q_len: int, k_len: int, device: torch.device, *, causal: bool
) -> tuple[Tensor | None, Tensor | None]:
    """The mask with the causal pattern folded in and its rows without a valid key opened to
    every key, and those rows (``(..., Lq, 1)``, to be zeroed in the output), or ``None``."""
    if causal:
        allowed = causal_mask(q_len, k_len, device=device)
        mask = allowed if mask is None else mask & allowed
    if mask is None:
        return None, None
    empty = _empty_rows(mask.any(dim=-1, keepdim=True))
    return (mask, None) if empty is None else (mask | empty, empty)


def dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    scale: float,
    mask: Tensor | None = None,
    attn_bias: Tensor | None = None,
    dropout: float = 0.0,
    need_weights: bool | WeightSelection = True,
    causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Softmax attention of ``scale * q k^T`` on already validated tensors.

    The shared kernel of every dot-product family, single-head ``(B, L, D)`` and multi-head
    ``(B, H, L, D)``: scaled dot-product attention (Vaswani et al., "Attention Is All You Need",
    arXiv:1706.03762, eq. 1),

    .. math:: \\operatorname{softmax}(s\\, Q K^\\top + \\text{bias}) V

    with exact zeros at masked keys and zero rows (zero context, finite gradients) for queries
    with no valid key.

    * ``need_weights=True`` with a gradient to compute: the equation as written below, with the
      mask converted once to an additive ``0 / -inf`` term (``attn_bias`` included); rows with no
      valid key are normalised over all keys and then zeroed, which gives the same weights as
      :func:`attnlab.core.masks.masked_softmax`.
    * otherwise a fast path of :mod:`attnlab.core._fastpath` gives the same result:
      ``need_weights=False`` is one call to ``F.scaled_dot_product_attention`` (``causal``
      becomes its ``is_causal`` when ``Lq == Lk`` and there is no other mask or bias, rows with no
      valid key are opened to every key for the kernel, so no backend can produce NaN, and their
      context is zeroed afterwards); weights without a gradient (``torch.no_grad``,
      ``torch.inference_mode`` or frozen inputs) are computed in place in the returned buffers.
    * ``need_weights=WeightSelection(...)``: the context of ``need_weights=False`` and the
      weights of the selected heads and query rows only, rebuilt from ``q`` and ``k`` by
      :func:`attnlab.core.weight_selection.selected_weights` (equal to the corresponding entries
      of ``need_weights=True``).

    Args:
        q: ``(..., Lq, D)`` queries (already projected).
        k: ``(..., Lk, D)`` keys.
        v: ``(..., Lk, Dv)`` values.
        scale: the factor ``s`` of the scores, e.g. ``D ** -0.5``.
        mask: boolean, ``True`` = may attend, broadcastable to ``(..., Lq, Lk)``.
        attn_bias: additive float bias broadcastable to ``(..., Lq, Lk)``. Keep it finite; use
            ``mask`` to exclude keys (a row whose keys are all ``-inf`` has no distribution).
        dropout: dropout probability on the weights (the returned weights are pre-dropout).
        need_weights: return the weights, or ``None`` and use the fused kernel, or a
            :class:`~attnlab.core.weight_selection.WeightSelection`: the fused kernel's context
            and the weights ``(B, len(heads), len(queries), Lk)`` (``(B, len(queries), Lk)`` for
            3-D ``q``) of the selected entries. Its indices are checked here.
        causal: also forbid query ``i`` to see key ``j > i + Lk - Lq``
            (see :func:`attnlab.core.masks.causal_mask`).

    Returns:
        ``(context (..., Lq, Dv), weights (..., Lq, Lk) or None)`` (the selected weights for a
        selection). The context may be a strided view (the CPU flash kernel writes
        ``(B, Lq, H, Dv)`` memory).

    Example:
        >>> import torch
        >>> q, k, v = torch.randn(2, 4, 3, 8), torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8)
        >>> mask = torch.tensor([[True] * 5, [True, True, False, False, False]])[:, None, None]
        >>> context, weights = dot_product_attention(q, k, v, scale=8 ** -0.5, mask=mask)
        >>> context.shape, weights.shape, bool(weights[1, ..., 2:].eq(0).all())
        (torch.Size([2, 4, 3, 8]), torch.Size([2, 4, 3, 5]), True)
    """
    if isinstance(need_weights, WeightSelection):
        context, _ = dot_product_attention(
            q, k, v, scale=scale, mask=mask, attn_bias=attn_bias, dropout=dropout,
            need_weights=False, causal=causal,
        )
        weights = selected_weights(
            q, k, scale=scale, selection=need_weights, mask=mask, attn_bias=attn_bias,
            causal=causal,
        )
        return context, weights
    q_len, k_len = q.shape[-2], k.shape[-2]
    is_causal = (  # a plain causal pattern is left to the fused kernel's own flag
        causal and not need_weights and mask is None and attn_bias is None and q_len == k_len
    )
    mask, empty = _allowed_keys(mask, q_len, k_len, q.device, causal=causal and not is_causal)
    fast = fast_dot_product_attention(
        q, k, v, scale=scale, mask=mask, attn_bias=attn_bias, empty=empty, dropout=dropout,
        need_weights=need_weights, is_causal=is_causal,
    )
    if fast is not None:
        return fast

    scores = torch.matmul(q * scale, k.transpose(-2, -1))  # s q_i . k_j: (..., i, j)
    additive = additive_mask(mask, attn_bias, q.dtype)
    if additive is not None:
        scores = scores + additive  # attn_bias at the allowed keys, -inf at the masked ones
    weights = torch.softmax(scores, dim=-1)  # alpha_ij
    if empty is not None:
        weights = weights.masked_fill(empty, 0.0)  # a query without a valid key: a zero row
    attn = F.dropout(weights, p=dropout) if dropout > 0 else weights
    context = torch.matmul(attn, v)  # c_i = sum_j alpha_ij v_j: (..., i, d)
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
    need_weights: bool | WeightSelection = True,
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
            ``None``. A :class:`~attnlab.core.weight_selection.WeightSelection` (``queries``
            only: these weights have no heads) returns the weights of the selected query rows,
            ``(B, len(queries), Lk)``: on the fused route only those rows are computed, on the
            other routes the full weights are computed and their rows taken.

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
    check_query_key_value(
        query, key, value, module=score if isinstance(score, nn.Module) else None
    )
    batch, q_len, k_len = query.shape[0], query.shape[1], key.shape[1]
    check_probability(dropout, "dropout")
    need_weights = check_need_weights(need_weights, num_heads=None, q_len=q_len)
    if mask is not None:
        mask = check_mask(mask, batch=batch, q_len=q_len, k_len=k_len, like=("query", query))
    if attn_bias is not None:
        attn_bias = check_attn_bias(
            attn_bias, batch=batch, q_len=q_len, k_len=k_len, like=("query", query)
        )
    dist = resolve_distribution(distribution)
    if not callable(score):
        raise TypeError(
            f"score must be callable (query, key) -> scores, got {type(score).__name__}"
        )

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
    if isinstance(need_weights, WeightSelection):
        assert isinstance(need_weights.queries, tuple)
        rows = torch.tensor(need_weights.queries, dtype=torch.long, device=weights.device)
        weights = weights.index_select(1, rows)  # (b, i', j)
    return AttentionOutput(context, weights)
