"""Slow, paper-literal references for local attention.

One query at a time, one window position at a time, from the equations of Luong, Pham, Manning,
"Effective Approaches to Attention-based Neural Machine Translation",
https://arxiv.org/abs/1508.04025, section 3.2 (eq. 7 softmax over the window, eq. 9 ``p_t``,
eq. 10 Gaussian), and the plain banded window. Independent of the vectorised module: no blocks,
no skew, no gather. Meant for tiny float64 inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

ScoreFn = Callable[[Tensor, Tensor], float]


def dot(h_t: Tensor, h_s: Tensor) -> float:
    """Luong's ``dot`` score ``h_t^T h_s`` (eq. 8)."""
    return sum(float(h_t[d]) * float(h_s[d]) for d in range(h_t.shape[0]))


def general(W: Tensor) -> ScoreFn:
    """Luong's ``general`` score ``h_t^T W_a h_s`` (eq. 8)."""
    W = W.detach()

    def score(h_t: Tensor, h_s: Tensor) -> float:
        total = 0.0
        for a in range(W.shape[0]):
            for c in range(W.shape[1]):
                total += float(h_t[a]) * float(W[a, c]) * float(h_s[c])
        return total

    return score


def scaled_dot(h_t: Tensor, h_s: Tensor) -> float:
    return dot(h_t, h_s) / math.sqrt(h_t.shape[0])


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def predicted_position(h_t: Tensor, W_p: Tensor, v_p: Tensor, S: int) -> float:
    """``p_t = S * sigmoid(v_p^T tanh(W_p h_t))`` (eq. 9); ``W_p`` is ``(hidden, Dq)``."""
    W_p, v_p = W_p.detach(), v_p.detach()
    acc = 0.0
    for h in range(W_p.shape[0]):
        pre = sum(float(W_p[h, d]) * float(h_t[d]) for d in range(W_p.shape[1]))
        acc += float(v_p[h]) * math.tanh(pre)
    return S * _sigmoid(acc)


def _attend_window(
    h_t: Tensor,
    keys: Tensor,
    values: Tensor,
    window: list[int],
    allowed: list[bool],
    score: ScoreFn,
    p_t: float,
    sigma: float | None,
) -> tuple[list[float], list[float]]:
    """Weights over all ``Lk`` keys (0 outside the window) and the context."""
    k_len = keys.shape[0]
    inside = [s for s in window if 0 <= s < k_len and allowed[s]]
    weights = [0.0] * k_len
    if inside:
        e = {s: score(h_t, keys[s]) for s in inside}
        top = max(e.values())
        z = sum(math.exp(e[s] - top) for s in inside)
        for s in inside:
            a = math.exp(e[s] - top) / z  # align(h_t, h_s), eq. 7
            if sigma is not None:
                a *= math.exp(-((s - p_t) ** 2) / (2 * sigma**2))  # eq. 10
            weights[s] = a
    context = [
        sum(weights[s] * float(values[s, d]) for s in range(k_len)) for d in range(values.shape[1])
    ]
    return weights, context


def luong_local_reference(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    D: int,
    mode: str,
    score: ScoreFn,
    gaussian: bool,
    mask: Tensor | None = None,
    W_p: Tensor | None = None,
    v_p: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Local-m / local-p; returns ``(context, dense weights (B, Lq, Lk), p_t (B, Lq))``.

    ``mask`` is ``(B, Lk)``; the source length ``S`` is one past the last valid key.
    """
    batch, q_len, _ = query.shape
    k_len = key.shape[1]
    context = torch.zeros(batch, q_len, value.shape[2], dtype=torch.float64)
    dense = torch.zeros(batch, q_len, k_len, dtype=torch.float64)
    centers = torch.zeros(batch, q_len, dtype=torch.float64)
    sigma = D / 2 if gaussian else None
    for b in range(batch):
        allowed = [True] * k_len if mask is None else [bool(m) for m in mask[b]]
        S = max([s + 1 for s in range(k_len) if allowed[s]], default=0)
        for t in range(q_len):
            if mode == "monotonic":
                p_t = float(t)
            else:
                assert W_p is not None and v_p is not None
                p_t = predicted_position(query[b, t], W_p, v_p, S)
            center = math.floor(p_t + 0.5)
            window = list(range(center - D, center + D + 1))
            weights, ctx = _attend_window(
                query[b, t], key[b], value[b], window, allowed, score, p_t, sigma
            )
            dense[b, t] = torch.tensor(weights, dtype=torch.float64)
            context[b, t] = torch.tensor(ctx, dtype=torch.float64)
            centers[b, t] = p_t
    return context, dense, centers


def band_reference(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    window_size: int,
    causal: bool,
    score: ScoreFn,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Banded attention; ``mask`` is ``(B, Lq, Lk)``. Returns ``(context, dense weights)``."""
    batch, q_len, _ = query.shape
    k_len = key.shape[1]
    context = torch.zeros(batch, q_len, value.shape[2], dtype=torch.float64)
    dense = torch.zeros(batch, q_len, k_len, dtype=torch.float64)
    for b in range(batch):
        for i in range(q_len):
            if causal:
                window = list(range(i - window_size + 1, i + 1))
            else:
                D = window_size // 2
                window = list(range(i - D, i + D + 1))
            allowed = [True] * k_len if mask is None else [bool(m) for m in mask[b, i]]
            weights, ctx = _attend_window(
                query[b, i], key[b], value[b], window, allowed, score, 0.0, None
            )
            dense[b, i] = torch.tensor(weights, dtype=torch.float64)
            context[b, i] = torch.tensor(ctx, dtype=torch.float64)
    return context, dense
