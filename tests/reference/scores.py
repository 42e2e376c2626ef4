"""Slow, paper-literal alignment functions and single-head attention (Python loops over b, i, j).

Each function takes the parameters explicitly, named after the paper's symbols, and evaluates the
formula one ``(b, i, j)`` triple at a time with vector operations only, so that none of the
library's broadcasting, chunking, factorisation or stabilisation tricks can leak in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

Pair = Callable[[Tensor, Tensor], Tensor]


def _loop(query: Tensor, key: Tensor, a: Pair) -> Tensor:
    """``e[b, i, j] = a(q_bi, k_bj)`` by three nested loops."""
    B, Lq, Lk = query.shape[0], query.shape[1], key.shape[1]
    e = torch.zeros(B, Lq, Lk, dtype=query.dtype)
    for b in range(B):
        for i in range(Lq):
            for j in range(Lk):
                e[b, i, j] = a(query[b, i], key[b, j])
    return e


def dot_score(query: Tensor, key: Tensor) -> Tensor:
    """Luong et al. 2015, eq. 8 "dot": ``h_t^T h_s``."""
    return _loop(query, key, lambda q, k: torch.dot(q, k))


def scaled_dot_score(query: Tensor, key: Tensor) -> Tensor:
    """Vaswani et al. 2017, eq. 1: ``q . k / sqrt(d_k)``."""
    d_k = key.shape[-1]
    return _loop(query, key, lambda q, k: torch.dot(q, k) / math.sqrt(d_k))


def general_score(query: Tensor, key: Tensor, W_a: Tensor) -> Tensor:
    """Luong et al. 2015, eq. 8 "general": ``h_t^T W_a h_s``."""
    return _loop(query, key, lambda q, k: torch.dot(q, torch.mv(W_a, k)))


def biased_general_score(query: Tensor, key: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """Biased general: ``k^T (W^T q + b)`` (``W`` is ``(Dq, Dk)``)."""
    return _loop(query, key, lambda q, k: torch.dot(k, torch.mv(W.t(), q) + b))


def activated_general_score(
    query: Tensor, key: Tensor, W_a: Tensor, b_a: Tensor, act: Callable[[Tensor], Tensor]
) -> Tensor:
    """Ma et al. 2017: ``act(q^T W_a k + b_a)``."""
    return _loop(query, key, lambda q, k: act(torch.dot(q, torch.mv(W_a, k)) + b_a))


def concat_score(
    query: Tensor, key: Tensor, W_a: Tensor, v_a: Tensor, b: Tensor | None = None
) -> Tensor:
    """Luong et al. 2015, eq. 8 "concat": ``v_a^T tanh(W_a [h_t; h_s] (+ b))``."""

    def a(q: Tensor, k: Tensor) -> Tensor:
        pre = torch.mv(W_a, torch.cat([q, k]))
        if b is not None:
            pre = pre + b
        return torch.dot(v_a, torch.tanh(pre))

    return _loop(query, key, a)


def additive_score(
    query: Tensor, key: Tensor, W_a: Tensor, U_a: Tensor, v_a: Tensor, b: Tensor | None = None
) -> Tensor:
    """Bahdanau et al. 2015, appendix A.1.2: ``v_a^T tanh(W_a s_{i-1} + U_a h_j (+ b))``."""

    def a(q: Tensor, k: Tensor) -> Tensor:
        pre = torch.mv(W_a, q) + torch.mv(U_a, k)
        if b is not None:
            pre = pre + b
        return torch.dot(v_a, torch.tanh(pre))

    return _loop(query, key, a)


def cosine_score(query: Tensor, key: Tensor, beta: float | Tensor = 1.0) -> Tensor:
    """Graves et al. 2014, eqs. 5-6: ``beta u.v / (|u| |v|)`` (0 for a zero vector)."""

    def a(u: Tensor, v: Tensor) -> Tensor:
        norm = u.norm() * v.norm()
        if norm == 0:
            return torch.zeros((), dtype=u.dtype)
        return beta * torch.dot(u, v) / norm

    return _loop(query, key, a)


def location_score(query: Tensor, k_len: int, W_a: Tensor) -> Tensor:
    """Luong et al. 2015, eq. 9: ``a_t = softmax(W_a h_t)``; the scores are ``(W_a h_t)_j``."""
    B, Lq = query.shape[0], query.shape[1]
    e = torch.zeros(B, Lq, k_len, dtype=query.dtype)
    for b in range(B):
        for i in range(Lq):
            for j in range(k_len):
                e[b, i, j] = torch.dot(W_a[j], query[b, i])
    return e


def deep_score(
    query: Tensor,
    key: Tensor,
    W: Tensor,
    U: Tensor,
    b_1: Tensor,
    layers: Sequence[tuple[Tensor, Tensor]],
    v: Tensor,
    act: Callable[[Tensor], Tensor],
) -> Tensor:
    """MLP score: ``E1 = act(W q + U k + b_1)``, ``El = act(W_l E(l-1) + b_l)``, ``v^T E_L``."""

    def a(q: Tensor, k: Tensor) -> Tensor:
        e = act(torch.mv(W, q) + torch.mv(U, k) + b_1)
        for W_l, b_l in layers:
            e = act(torch.mv(W_l, e) + b_l)
        return torch.dot(v, e)

    return _loop(query, key, a)


def positive_random_features(x: Tensor, omega: Tensor) -> Tensor:
    """Performer (Choromanski et al. 2021) Lemma 1 on ``x~ = x / d^(1/4)``, one feature at a time.

    ``phi(x)_r = exp(omega_r . x~ - |x~|^2 / 2) / sqrt(m)``.
    """
    m, d = omega.shape
    x_tilde = x / d**0.25
    phi = torch.zeros(m, dtype=x.dtype)
    for r in range(m):
        phi[r] = torch.exp(torch.dot(omega[r], x_tilde) - 0.5 * torch.dot(x_tilde, x_tilde))
    return phi / math.sqrt(m)


def kernel_score(query: Tensor, key: Tensor, omega: Tensor) -> Tensor:
    """Generalised kernel: ``phi(q)^T phi(k)`` with positive random features."""
    return _loop(
        query,
        key,
        lambda q, k: torch.dot(
            positive_random_features(q, omega), positive_random_features(k, omega)
        ),
    )


def _row_mask(mask: Tensor | None, b: int, i: int, k_len: int) -> Tensor:
    if mask is None:
        return torch.ones(k_len, dtype=torch.bool)
    if mask.dim() == 2:
        return mask[b]
    return mask[b if mask.shape[0] > 1 else 0, i]


def softmax_attention(
    scores: Tensor, value: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``alpha_ij = exp(e_ij) / sum_{valid j'} exp(e_ij')`` over valid keys, ``c_i = sum alpha v``.

    A query with no valid key gets zero weights and a zero context.
    """
    scores, value = scores.detach(), value.detach()
    B, Lq, Lk = scores.shape
    weights = torch.zeros(B, Lq, Lk, dtype=scores.dtype)
    context = torch.zeros(B, Lq, value.shape[-1], dtype=scores.dtype)
    for b in range(B):
        for i in range(Lq):
            valid = _row_mask(mask, b, i, Lk)
            if not valid.any():
                continue
            top = max(float(scores[b, i, j]) for j in range(Lk) if valid[j])
            total = sum(math.exp(float(scores[b, i, j]) - top) for j in range(Lk) if valid[j])
            for j in range(Lk):
                if valid[j]:
                    weights[b, i, j] = math.exp(float(scores[b, i, j]) - top) / total
                    context[b, i] += weights[b, i, j] * value[b, j]
    return context, weights


def sum_normalized_attention(
    scores: Tensor, value: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``alpha_ij = e_ij / sum_{valid j'} e_ij'`` for non-negative (kernel) scores."""
    scores, value = scores.detach(), value.detach()
    B, Lq, Lk = scores.shape
    weights = torch.zeros(B, Lq, Lk, dtype=scores.dtype)
    context = torch.zeros(B, Lq, value.shape[-1], dtype=scores.dtype)
    for b in range(B):
        for i in range(Lq):
            valid = _row_mask(mask, b, i, Lk)
            total = sum(float(scores[b, i, j]) for j in range(Lk) if valid[j])
            if total == 0:
                continue
            for j in range(Lk):
                if valid[j]:
                    weights[b, i, j] = float(scores[b, i, j]) / total
                    context[b, i] += weights[b, i, j] * value[b, j]
    return context, weights
