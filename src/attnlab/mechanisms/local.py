"""Local attention: each query attends to a window of keys, in O(L * window) time and memory.

Two families share one windowed kernel:

* :class:`LocalAttention`, after Luong, Pham, Manning, "Effective Approaches to Attention-based
  Neural Machine Translation", EMNLP 2015, https://arxiv.org/abs/1508.04025, section 3.2. The
  target state ``h_t`` attends to the source states ``h_s`` inside the window
  ``[p_t - D, p_t + D]`` (``2D + 1`` positions) around an aligned position ``p_t``:

  - *local-m* (``mode="monotonic"``): ``p_t = t``;
  - *local-p* (``mode="predictive"``): ``p_t = S * sigmoid(v_p^T tanh(W_p h_t))`` (eq. 9) with
    ``S`` the source length, and the alignment favours positions near ``p_t`` with a Gaussian
    (eq. 10): ``a_t(s) = align(h_t, h_s) exp(-(s - p_t)^2 / (2 sigma^2))``, ``sigma = D / 2``,
    where ``align`` is the softmax of the scores over the window (eq. 7).

* :class:`SlidingWindowAttention` / :func:`sliding_window_attention`: the plain banded form for
  self-attention, query ``i`` sees keys ``|i - j| <= (w - 1) / 2`` (or, causal, the ``w`` keys
  ``i - w < j <= i``), as used by sparse / long-sequence transformers.

Cost:
    Nothing of size ``Lq x Lk`` is built. Sliding windows (local-m and the band) are computed
    block by block: the queries are cut into blocks of ``C`` consecutive positions, each block is
    scored against the ``C + w - 1`` keys its windows can reach (any
    :class:`~attnlab.core.scores.Score` works, it only sees the blocks), and the band of each
    block is read out with a skew (pad, flatten, reshape) instead of a mask. Time and memory are
    ``O(L (C + w))`` with ``C ~ w``. Windows at data-dependent positions (local-p) gather the
    ``w`` keys and values of each query (``O(Lq w D)`` memory).

Convention:
    * ``weights`` are the *windowed* weights ``(B, Lq, w)``: slot ``k`` of query ``i`` holds the
      weight of key ``positions[b, i, k]``. ``positions`` may lie outside ``[0, Lk)`` at the edges
      of the sequence; those slots (and masked keys) have weight exactly 0.
      :func:`window_to_dense` (or ``output.dense_weights(Lk)``) scatters them into the dense
      ``(B, Lq, Lk)`` matrix for plotting, at ``O(Lq Lk)`` memory.
    * Positions are 0-based. A query with no valid key in its window gets an all-zero row and a
      zero context.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.checks import (
    check_bool,
    check_dim,
    check_mask,
    check_query_key_value,
    check_size,
    check_tensor,
)
from attnlab.core.init_args import AttnModule
from attnlab.core.masks import masked_softmax
from attnlab.core.registry import Paper, register_mechanism
from attnlab.core.scores import Score, resolve_score
from attnlab.mechanisms import flex as _flex

__all__ = [
    "LOCAL_ATTENTION_MODES",
    "LocalAttention",
    "LocalAttentionOutput",
    "SlidingWindowAttention",
    "sliding_window_attention",
    "window_to_dense",
]

ScoreFn = Callable[[Tensor, Tensor], Tensor]

LOCAL_ATTENTION_MODES: tuple[str, ...] = ("monotonic", "predictive")
"""Luong et al.'s local-m (``p_t = t``) and local-p (predicted ``p_t``, eq. 9)."""

LUONG_PAPER = Paper(
    title="Effective Approaches to Attention-based Neural Machine Translation",
    authors="Luong, Pham, Manning",
    year=2015,
    url="https://arxiv.org/abs/1508.04025",
)

# Sliding windows are computed in blocks of at least this many queries: small windows would
# otherwise pay a kernel launch per handful of scores.
_MIN_BLOCK = 16


def window_to_dense(weights: Tensor, positions: Tensor, k_len: int) -> Tensor:
    """Scatter windowed weights ``(B, Lq, w)`` into the dense ``(B, Lq, Lk)`` matrix.

    Slots whose position falls outside ``[0, k_len)`` must have weight 0 (they do in every
    output of this module) and are dropped. This builds an ``O(Lq Lk)`` tensor: use it for
    plotting and tests, not inside a model.

    Args:
        weights: ``(B, Lq, w)`` windowed weights.
        positions: ``(B, Lq, w)`` or ``(Lq, w)`` int64 key position of each slot.
        k_len: ``Lk``.

    Returns:
        ``(B, Lq, Lk)`` weights, 0 outside the windows.

    Example:
        >>> import torch
        >>> w = torch.tensor([[[0.0, 0.6, 0.4], [0.3, 0.7, 0.0]]])
        >>> pos = torch.tensor([[-1, 0, 1], [0, 1, 2]])
        >>> window_to_dense(w, pos, 2)
        tensor([[[0.6000, 0.4000],
                 [0.3000, 0.7000]]])
    """
    check_tensor(weights, "weights", ndim=3, layout="(B, Lq, w)")
    if not isinstance(positions, Tensor) or positions.is_floating_point():
        raise TypeError("positions must be an integer tensor of shape (B, Lq, w) or (Lq, w)")
    positions = positions.expand(weights.shape)
    inside = (positions >= 0) & (positions < k_len)
    dense = weights.new_zeros(weights.shape[0], weights.shape[1], k_len + 1)
    # Out-of-range slots go to an extra last column, cut off below.
    index = torch.where(inside, positions, torch.full_like(positions, k_len))
    return dense.scatter_add(2, index, weights)[..., :k_len]


class LocalAttentionOutput(NamedTuple):
    """Result of :class:`LocalAttention`, :class:`SlidingWindowAttention` and
    :func:`sliding_window_attention`.

    Attributes:
        context: ``(B, Lq, Dv)``, ``c_t = sum_s a_t(s) h_s`` over the window.
        weights: ``(B, Lq, w)``, the *windowed* weights ``a_t(s)``: slot ``k`` is key
            ``positions[..., k]``; 0 at masked and out-of-range slots. They sum to 1 over the valid
            keys, except with the Gaussian of local-p (eq. 10), whose factor ``<= 1`` is applied
            after the softmax as in the paper.
        positions: ``(B, Lq, w)`` int64, the key position of each slot (may be ``< 0`` or
            ``>= Lk`` at the sequence edges).
        centers: ``(B, Lq)``, the window centre ``p_t`` (real-valued for local-p).

    ``weights`` and ``positions`` are ``None`` when :class:`SlidingWindowAttention` is called
    with ``need_weights=False``.
    """

    context: Tensor
    weights: Tensor | None
    positions: Tensor | None
    centers: Tensor

    def dense_weights(self, k_len: int) -> Tensor:
        """The dense ``(B, Lq, Lk)`` weights, see :func:`window_to_dense` (``O(Lq Lk)``)."""
        if self.weights is None or self.positions is None:
            raise ValueError("this output has no weights: it was computed with need_weights=False")
        return window_to_dense(self.weights, self.positions, k_len)



def _window_mask(mask: Tensor | None, positions: Tensor, k_len: int, batch: int) -> Tensor:
    """``(B, Lq, w)``: the slot is inside ``[0, Lk)`` and the user mask allows it.

    ``mask`` is a checked ``(B|1, Lq|1, Lk)`` mask; ``positions`` is ``(B|1, Lq, w)``.
    """
    inside = (positions >= 0) & (positions < k_len)
    if mask is None or k_len == 0:  # no key (Lk = 0): no slot is inside
        return inside.expand(batch, -1, -1)
    q_len, window = positions.shape[-2], positions.shape[-1]
    full = mask.expand(batch, q_len, k_len)  # a view: no (B, Lq, Lk) allocation for (B, Lk) masks
    index = positions.clamp(0, k_len - 1).expand(batch, q_len, window)
    return inside & full.gather(2, index)


def _skew(blocks: Tensor, window: int) -> Tensor:
    """Band of block scores: ``(N, C, C + w - 1) -> (N, C, w)``, ``out[n, i, k] = x[n, i, i + k]``.

    Row ``i`` of the band starts at flat offset ``i (C + w - 1) + i = i (C + w)``: padding the
    flat scores by ``C`` and reading them as rows of ``C + w`` puts every band row at column 0.
    """
    n, c, span = blocks.shape
    flat = F.pad(blocks.reshape(n, c * span), (0, c))  # (n, c * (c + w))
    return flat.reshape(n, c, span + 1)[:, :, :window]


def _unskew(band: Tensor, span: int) -> Tensor:
    """Inverse of :func:`_skew`: ``(N, C, w) -> (N, C, C + w - 1)`` with zeros off the band."""
    n, c, window = band.shape
    rows = F.pad(band, (0, span + 1 - window))  # (n, c, c + w)
    return rows.reshape(n, c * (span + 1))[:, : c * span].reshape(n, c, span)


def _key_blocks(x: Tensor, *, left: int, num_blocks: int, block: int, span: int) -> Tensor:
    """``(B, Lk, D) -> (B * nb, C + w - 1, D)``: the keys each query block can reach.

    Key ``j`` sits at padded index ``j + left``; block ``n`` reads padded indices
    ``[n C, n C + C + w - 1)``.
    """
    batch, k_len, dim = x.shape
    needed = num_blocks * block + span - block
    padded = F.pad(x, (0, 0, left, max(needed - left - k_len, 0)))[:, :needed]
    blocks = padded.unfold(1, span, block)  # (b, nb, d, c + w - 1), a view
    return blocks.transpose(2, 3).reshape(batch * num_blocks, span, dim)


def _sliding_window(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    score: ScoreFn,
    *,
    window: int,
    left: int,
    mask: Tensor | None,
    reweight: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Windows ``[i - left, i - left + w)`` for every query ``i``, computed block by block.

    ``reweight(positions) -> (B|1, Lq, w)`` multiplies the softmax weights (a Gaussian).
    Returns ``(context (B, Lq, Dv), weights (B, Lq, w), positions (1, Lq, w))``.
    """
    batch, q_len, _ = q.shape
    k_len = k.shape[1]
    positions = (
        torch.arange(q_len, device=q.device).unsqueeze(1)
        - left
        + torch.arange(window, device=q.device).unsqueeze(0)
    ).unsqueeze(0)  # (1, i, w)
    valid = _window_mask(mask, positions, k_len, batch)  # (b, i, w)
    if q_len == 0:
        empty = q.new_zeros(batch, 0, window)
        return v.new_zeros(batch, 0, v.shape[-1]), empty, positions
    block = min(max(window, _MIN_BLOCK), q_len)
    num_blocks = -(-q_len // block)
    span = block + window - 1
    q_blocks = F.pad(q, (0, 0, 0, num_blocks * block - q_len))
    q_blocks = q_blocks.reshape(batch * num_blocks, block, q.shape[-1])  # (b nb, c, d)
    k_blocks = _key_blocks(k, left=left, num_blocks=num_blocks, block=block, span=span)
    block_scores = score(q_blocks, k_blocks)  # (b nb, c, c + w - 1)
    scores = _skew(block_scores.contiguous(), window)  # (b nb, c, w)
    scores = scores.reshape(batch, num_blocks * block, window)[:, :q_len]  # (b, i, w)
    weights = masked_softmax(scores, valid)
    if reweight is not None:
        weights = weights * reweight(positions)
    padded = F.pad(weights, (0, 0, 0, num_blocks * block - q_len))
    dense = _unskew(padded.reshape(batch * num_blocks, block, window), span)  # (b nb, c, c+w-1)
    v_blocks = _key_blocks(v, left=left, num_blocks=num_blocks, block=block, span=span)
    context = torch.bmm(dense, v_blocks)  # (b nb, c, dv)
    context = context.reshape(batch, num_blocks * block, v.shape[-1])[:, :q_len]
    return context, weights, positions


def _gathered_window(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    score: ScoreFn,
    *,
    starts: Tensor,
    window: int,
    mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Windows ``[starts_i, starts_i + w)`` at arbitrary starts: gather the keys and values.

    Returns ``(context (B, Lq, Dv), softmax weights (B, Lq, w), positions (B, Lq, w))``.
    """
    batch, q_len, q_dim = q.shape
    k_len = k.shape[1]
    positions = starts.unsqueeze(-1) + torch.arange(window, device=q.device)  # (b, i, w)
    valid = _window_mask(mask, positions, k_len, batch)
    if k_len == 0:
        # No key: gather from one zero position instead; every slot is invalid (weight 0).
        k, v = F.pad(k, (0, 0, 0, 1)), F.pad(v, (0, 0, 0, 1))
    index = positions.clamp(0, max(k_len - 1, 0)).reshape(batch, q_len * window, 1)

    def gather(x: Tensor) -> Tensor:
        rows = x.gather(1, index.expand(-1, -1, x.shape[-1]))  # (b, i w, d)
        return rows.reshape(batch * q_len, window, x.shape[-1])  # (b i, w, d)

    scores = score(q.reshape(batch * q_len, 1, q_dim), gather(k))  # (b i, 1, w)
    scores = scores.reshape(batch, q_len, window)
    weights = masked_softmax(scores, valid)
    return weights, positions, gather(v).reshape(batch, q_len, window, v.shape[-1])


SLIDING_BACKENDS: tuple[str, ...] = ("auto", "flex", "blocked")
"""Kernels of :class:`SlidingWindowAttention`'s fused path (``need_weights=False``)."""


def _scaled_dot(q: Tensor, k: Tensor) -> Tensor:
    return torch.bmm(q * q.shape[-1] ** -0.5, k.transpose(1, 2))  # (b, i, j)


def sliding_window_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    window_size: int,
    causal: bool = False,
    score: Score | ScoreFn | None = None,
    mask: Tensor | None = None,
) -> LocalAttentionOutput:
    """Banded (sliding-window) attention in ``O(L * window_size)`` time and memory.

    Query ``i`` attends to keys ``j`` with ``|i - j| <= (w - 1) / 2``; with ``causal=True`` to the
    ``w`` keys ``i - w < j <= i``. The same keys as
    ``attend(..., mask=band_mask(Lq, Lk, window_size=w, causal=causal))``, but the ``Lq x Lk``
    score matrix is never built (see the module notes). With a window covering the whole
    sequence it equals global attention.

    .. math:: a_{ij} = \\frac{\\exp e_{ij}}{\\sum_{k \\in W(i)} \\exp e_{ik}}, \\quad
        c_i = \\sum_{j \\in W(i)} a_{ij} v_j

    Args:
        query: ``(B, Lq, Dq)``.
        key: ``(B, Lk, Dk)``.
        value: ``(B, Lk, Dv)``.
        window_size: ``w``, the number of keys a query sees (itself included); odd when not
            causal (``w = 2D + 1``).
        causal: look back only.
        score: ``(query, key) -> scores`` applied to blocks of queries and keys, so it must not
            depend on absolute positions; default: scaled dot product ``q . k / sqrt(Dq)``.
        mask: boolean, ``True`` = may attend; ``(B, Lk)`` or ``(B, Lq, Lk)``.

    Returns:
        :class:`LocalAttentionOutput`; ``weights`` ``(B, Lq, w)``, ``positions`` ``(1, Lq, w)``
        expanded to ``(B, Lq, w)``, ``centers`` the query positions ``i``.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 6, 4)
        >>> out = sliding_window_attention(x, x, x, window_size=3)
        >>> out.weights.shape, out.positions[0, 0].tolist()
        (torch.Size([2, 6, 3]), [-1, 0, 1])
        >>> out.dense_weights(6)[0, 0, 2:].abs().sum().item()
        0.0
    """
    q, k, v = check_query_key_value(
        query, key, value, module=score if isinstance(score, nn.Module) else None
    )
    window = check_size(window_size, "window_size")
    check_bool(causal, "causal", expected="a bool")
    if not causal and window % 2 == 0:
        raise ValueError(
            f"window_size must be odd (2D + 1 keys centred on the query) when causal=False, "
            f"got {window}"
        )
    if score is None:
        if q.shape[-1] != k.shape[-1]:
            raise ValueError(
                "the default scaled dot-product score needs query and key of the same size, "
                f"got {q.shape[-1]} and {k.shape[-1]}"
            )
        score = _scaled_dot
    elif not callable(score):
        raise TypeError(
            f"score must be callable (query, key) -> scores, got {type(score).__name__}"
        )
    batch, q_len, k_len = q.shape[0], q.shape[1], k.shape[1]
    if mask is not None:
        mask = check_mask(mask, batch=batch, q_len=q_len, k_len=k_len, like=("query", q))
    left = window - 1 if causal else window // 2
    context, weights, positions = _sliding_window(
        q, k, v, score, window=window, left=left, mask=mask
    )
    centers = torch.arange(q_len, device=q.device, dtype=q.dtype).expand(batch, q_len)
    return LocalAttentionOutput(context, weights, positions.expand(batch, -1, -1), centers)


def _local_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    module = LocalAttention(6, 4, mode="predictive", window_size=3)
    query, key = torch.randn(2, 4, 6), torch.randn(2, 7, 4)
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    return module, (query, key), {"mask": mask}


@register_mechanism(
    "local",
    sequences="distinctive",
    levels="single",
    positions="local",
    representations="single",
    paper=LUONG_PAPER,
    example=_local_example,
)
class LocalAttention(AttnModule):
    """Luong et al.'s local attention: local-m and local-p (2015, section 3.2).

    "Effective Approaches to Attention-based Neural Machine Translation",
    https://arxiv.org/abs/1508.04025. The target state ``h_t`` (query) attends to the source
    states ``h_s`` (keys) inside the window ``[p_t - D, p_t + D]``:

    .. math::

        p_t = t \\quad \\text{(local-m)}, \\qquad
        p_t = S \\cdot \\operatorname{sigmoid}(v_p^\\top \\tanh(W_p h_t))
        \\quad \\text{(local-p, eq. 9)}

        a_t(s) = \\operatorname{align}(h_t, \\bar h_s)
        \\exp\\Big(-\\frac{(s - p_t)^2}{2 \\sigma^2}\\Big), \\quad \\sigma = \\frac{D}{2}
        \\quad \\text{(eq. 10)}, \\qquad c_t = \\sum_s a_t(s) \\bar h_s

    with ``align`` the softmax over the window of the score (eq. 7-8: ``dot``, ``general`` or
    ``concat``). The window of local-p is the ``2D + 1`` integer positions centred on
    ``round(p_t)``; the Gaussian uses the real ``p_t``, through which ``W_p`` and ``v_p``
    receive their gradient. ``S`` is the source length: ``Lk``, or with a mask, one past the last
    key that any query of the example may attend to (the length, for a padding mask).

    This module returns the context ``c_t``; the attentional state
    ``tanh(W_c [c_t; h_t])`` of eq. 5 belongs to the decoder that uses it.

    Note:
        With the Gaussian (the default of local-p, as in the paper) the weights sum to less than
        1: the factor is applied after the softmax (eq. 10), not renormalised.

    Args:
        query_dim: ``Dq``, the size of ``h_t``.
        key_dim: ``Dk``, the size of ``h_s`` (defaults to ``query_dim``).
        mode: ``"monotonic"`` (local-m) or ``"predictive"`` (local-p).
        window_size: ``2D + 1``, odd. Default 21: ``D = 10``, the paper's setting (section 4.1).
        score: the alignment score: a :class:`~attnlab.core.scores.Score` or a name for
            :func:`~attnlab.core.scores.build_score`. Default ``"general"``
            (``h_t^T W_a h_s``), the paper's best local-p model. It is applied to windows and
            blocks of keys, so it must not depend on absolute key positions.
        gaussian: apply the Gaussian of eq. 10; default ``True`` for local-p, ``False`` for
            local-m (as in the paper).
        hidden_dim: the hidden size of ``W_p`` (local-p; defaults to ``query_dim``), also passed
            to a score built by name.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        score: the alignment score module.
        position_proj: ``W_p`` (local-p only), ``nn.Linear(Dq, hidden_dim, bias=False)``.
        position_v: ``v_p`` (local-p only), ``(hidden_dim,)``.

    Shape:
        query ``(B, Lq, Dq)``, key ``(B, Lk, Dk)``, value ``(B, Lk, Dv)`` (defaults to the key),
        mask ``(B, Lk)`` or ``(B, Lq, Lk)``.

    Returns:
        :class:`LocalAttentionOutput` with windowed ``weights (B, Lq, 2D + 1)``, their key
        ``positions`` and the ``centers`` ``p_t``.

    Example:
        >>> import torch
        >>> attn = LocalAttention(4, mode="predictive", window_size=5)
        >>> h_t, h_s = torch.randn(2, 3, 4), torch.randn(2, 9, 4)
        >>> mask = torch.tensor([[True] * 9, [True] * 6 + [False] * 3])
        >>> out = attn(h_t, h_s, mask=mask)
        >>> out.weights.shape, bool(out.centers[1].le(6).all())
        (torch.Size([2, 3, 5]), True)
        >>> out.dense_weights(9).shape
        torch.Size([2, 3, 9])
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        mode: str = "predictive",
        window_size: int = 21,
        score: Score | str = "general",
        gaussian: bool | None = None,
        hidden_dim: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.query_dim = check_size(query_dim, "query_dim")
        if mode not in LOCAL_ATTENTION_MODES:
            raise ValueError(f"mode must be one of {LOCAL_ATTENTION_MODES}, got {mode!r}")
        self.window_size = check_size(window_size, "window_size")
        if self.window_size % 2 == 0:
            raise ValueError(f"window_size must be odd (2D + 1), got {window_size}")
        if gaussian is None:
            gaussian = mode == "predictive"
        check_bool(gaussian, "gaussian", expected="a bool or None")
        if gaussian and self.window_size == 1:
            raise ValueError("window_size must be >= 3 with gaussian=True (sigma = D / 2 > 0)")
        self.mode = mode
        self.gaussian = gaussian
        self.half_width = self.window_size // 2  # D
        self.score = resolve_score(
            score,
            query_dim=self.query_dim,
            key_dim=key_dim,
            hidden_dim=hidden_dim,
            device=device,
            dtype=dtype,
        )
        self.position_proj: nn.Linear | None = None
        self.position_v: nn.Parameter | None = None
        if mode == "predictive":
            hidden = self.query_dim if hidden_dim is None else check_size(hidden_dim, "hidden_dim")
            self.position_proj = nn.Linear(
                self.query_dim, hidden, bias=False, device=device, dtype=dtype
            )
            self.position_v = nn.Parameter(torch.empty(hidden, device=device, dtype=dtype))
            bound = 1.0 / math.sqrt(hidden)
            nn.init.uniform_(self.position_v, -bound, bound)

    def _predict_centers(self, query: Tensor, source_len: Tensor) -> Tensor:
        """``p_t = S sigmoid(v_p^T tanh(W_p h_t))`` (eq. 9): ``(B, Lq)``."""
        assert self.position_proj is not None and self.position_v is not None
        hidden = torch.tanh(self.position_proj(query))  # (b, i, h)
        return source_len.unsqueeze(1) * torch.sigmoid(hidden @ self.position_v)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor | None = None,
        *,
        mask: Tensor | None = None,
    ) -> LocalAttentionOutput:
        """Attend from each ``h_t`` to the window around ``p_t``.

        Args:
            query: ``(B, Lq, Dq)``, the target states ``h_t`` (``t`` = 0-based row index).
            key: ``(B, Lk, Dk)``, the source states ``h_s``.
            value: ``(B, Lk, Dv)``; ``None`` uses ``key`` (the paper's ``c_t`` averages ``h_s``).
            mask: boolean, ``True`` = may attend; ``(B, Lk)`` or ``(B, Lq, Lk)``.
        """
        q, k, v = check_query_key_value(query, key, value, query_dim=self.query_dim, module=self)
        batch, q_len, k_len = q.shape[0], q.shape[1], k.shape[1]
        if mask is not None:
            mask = check_mask(mask, batch=batch, q_len=q_len, k_len=k_len, like=("query", q))
        D = self.half_width
        if self.mode == "monotonic":
            centers = torch.arange(q_len, device=q.device, dtype=q.dtype).expand(batch, q_len)

            def gaussian(positions: Tensor) -> Tensor:
                return self._gaussian(positions, centers[:1])

            context, weights, positions = _sliding_window(
                q,
                k,
                v,
                self.score,
                window=self.window_size,
                left=D,
                mask=mask,
                reweight=gaussian if self.gaussian else None,
            )
            return LocalAttentionOutput(context, weights, positions.expand(batch, -1, -1), centers)

        if mask is None or k_len == 0:
            source_len = torch.full((batch,), float(k_len), device=q.device, dtype=q.dtype)
        else:
            # S: one past the last key any query of the example may see (the length of a
            # padding mask), so appending padded keys leaves p_t unchanged.
            seen = mask.any(dim=1).expand(batch, k_len)  # (b, j)
            last = (torch.arange(1, k_len + 1, device=q.device) * seen).amax(dim=-1)
            source_len = last.to(q.dtype)
        centers = self._predict_centers(q, source_len)  # (b, i)
        starts = torch.floor(centers.detach() + 0.5).long() - D
        weights, positions, v_win = _gathered_window(
            q, k, v, self.score, starts=starts, window=self.window_size, mask=mask
        )
        if self.gaussian:
            weights = weights * self._gaussian(positions, centers)
        context = torch.einsum("biw,biwd->bid", weights, v_win)  # c_t = sum_s a_t(s) h_s
        return LocalAttentionOutput(context, weights, positions, centers)

    def _gaussian(self, positions: Tensor, centers: Tensor) -> Tensor:
        """``exp(-(s - p_t)^2 / (2 sigma^2))`` with ``sigma = D / 2`` (eq. 10): ``(B, Lq, w)``."""
        sigma = self.half_width / 2
        offset = positions.to(centers.dtype) - centers.unsqueeze(-1)
        return torch.exp(-(offset**2) / (2 * sigma**2))

    def extra_repr(self) -> str:
        return (
            f"mode={self.mode!r}, window_size={self.window_size}, gaussian={self.gaussian}"
        )


def _sliding_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    module = SlidingWindowAttention(4, window_size=3)
    x = torch.randn(2, 6, 4)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    return module, (x,), {"mask": mask}


@register_mechanism(
    "sliding_window",
    sequences="self",
    levels="single",
    positions="local",
    representations="single",
    paper=LUONG_PAPER,
    example=_sliding_example,
)
class SlidingWindowAttention(AttnModule):
    """Banded self-attention: each position attends to its ``window_size`` neighbours.

    The self-attention counterpart of local-m (Luong et al. 2015, section 3.2,
    https://arxiv.org/abs/1508.04025: a window ``[t - D, t + D]`` around ``p_t = t``), with the
    scaled dot-product score and learned projections of Vaswani et al. 2017
    (https://arxiv.org/abs/1706.03762, eq. 1):

    .. math:: q_i = W_q x_i, \\; k_j = W_k x_j, \\; v_j = W_v x_j, \\qquad
        c_i = \\sum_{|i - j| \\le D} \\operatorname{softmax}_j
        \\Big(\\frac{q_i^\\top k_j}{\\sqrt{d}}\\Big) v_j

    (causal: ``0 <= i - j < window_size``). Computed by :func:`sliding_window_attention` in
    ``O(L * window_size)`` time and memory.

    Args:
        dim: ``d``, the model size (input, queries, keys and values).
        window_size: keys per query, ``2D + 1`` (odd) unless ``causal``.
        causal: look back only.
        backend: the kernel of the fused path (``need_weights=False``): ``"auto"``
            (FlexAttention on CUDA when torch has it, the blocked kernel elsewhere), ``"flex"``
            (:func:`~attnlab.mechanisms.flex.flex_sliding_window_attention`: compiled once per
            shape on CUDA, FlexAttention's unfused implementation on the CPU) or
            ``"blocked"``. With weights the blocked kernel always runs.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        q_proj, k_proj, v_proj: ``W_q``, ``W_k``, ``W_v``, each ``nn.Linear(d, d)``.

    Shape:
        x ``(B, L, d)``, mask ``(B, L)`` or ``(B, L, L)``.

    Returns:
        :class:`LocalAttentionOutput` with ``context (B, L, d)`` and windowed
        ``weights (B, L, window_size)``.

    Example:
        >>> import torch
        >>> attn = SlidingWindowAttention(8, window_size=5, causal=True)
        >>> out = attn(torch.randn(2, 10, 8))
        >>> out.context.shape, bool(out.dense_weights(10).triu(1).eq(0).all())
        (torch.Size([2, 10, 8]), True)
    """

    def __init__(
        self,
        dim: int,
        *,
        window_size: int,
        causal: bool = False,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_size(dim, "dim")
        self.window_size = check_size(window_size, "window_size")
        if backend not in SLIDING_BACKENDS:
            raise ValueError(f"backend must be one of {SLIDING_BACKENDS}, got {backend!r}")
        self.backend = backend
        check_bool(causal, "causal", expected="a bool")
        if not causal and self.window_size % 2 == 0:
            raise ValueError(
                f"window_size must be odd (2D + 1) when causal=False, got {window_size}"
            )
        self.causal = causal
        self.q_proj = nn.Linear(dim, dim, device=device, dtype=dtype)
        self.k_proj = nn.Linear(dim, dim, device=device, dtype=dtype)
        self.v_proj = nn.Linear(dim, dim, device=device, dtype=dtype)

    def forward(
        self, x: Tensor, *, mask: Tensor | None = None, need_weights: bool = True
    ) -> LocalAttentionOutput:
        """Banded self-attention over ``x (B, L, d)``; ``mask`` ``(B, L)`` or ``(B, L, L)``.

        With ``need_weights=False`` the output's ``weights`` and ``positions`` are ``None`` and
        the context may come from FlexAttention (see ``backend``).
        """
        check_tensor(x, "x", ndim=3, layout="(B, L, d)", like=("", self))
        check_dim(x, -1, self.dim, "x", "dim")
        check_bool(need_weights, "need_weights")
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        use_flex = not need_weights and (
            self.backend == "flex"
            or (self.backend == "auto" and x.is_cuda and _flex.flex_attention_available())
        )
        if use_flex and not _flex.flex_attention_available():
            raise RuntimeError(
                f"backend='flex' needs FlexAttention (torch >= 2.5); this is torch "
                f"{torch.__version__}: use backend='auto' or 'blocked'"
            )
        if use_flex and x.shape[0] > 0 and x.shape[1] > 0:
            context = _flex.flex_sliding_window_attention(
                q, k, v, window_size=self.window_size, causal=self.causal, mask=mask
            )
            batch, length = x.shape[0], x.shape[1]
            centers = torch.arange(length, device=x.device, dtype=x.dtype).expand(batch, length)
            return LocalAttentionOutput(context, None, None, centers)
        out = sliding_window_attention(
            q, k, v, window_size=self.window_size, causal=self.causal, mask=mask
        )
        if need_weights:
            return out
        return LocalAttentionOutput(out.context, None, None, out.centers)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, window_size={self.window_size}, causal={self.causal}, "
            f"backend={self.backend!r}"
        )
