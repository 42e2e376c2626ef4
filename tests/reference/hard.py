"""Slow, paper-literal reference for stochastic hard attention (Xu et al. 2015, section 4.1).

"Show, Attend and Tell", https://arxiv.org/abs/1502.03044: scores ``e_{t,i} = f_att(a_i,
h_{t-1})`` with an additive ``f_att`` (``v^T tanh(W h + U a)``), ``alpha_t = softmax(e_t)`` over
the valid locations (eq. 4-5), and, for a *given* sampled location ``s_t``, the context
``hat z_t = a_{s_t}`` (eq. 9), ``log p(s_t | a) = log alpha_{t, s_t}`` and the entropy
``H = -sum_i alpha_{t,i} log alpha_{t,i}``. Sampling itself is random, so the reference takes the
indices as an input. Loops over batch, step and location; tiny float64 inputs only.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def additive_score(h: Tensor, a: Tensor, W: Tensor, U: Tensor, v: Tensor) -> float:
    """``v^T tanh(W h + U a)``; ``W`` is ``(H, Dq)``, ``U`` is ``(H, Dk)``."""
    total = 0.0
    for n in range(v.shape[0]):
        pre = sum(float(W[n, d]) * float(h[d]) for d in range(W.shape[1]))
        pre += sum(float(U[n, d]) * float(a[d]) for d in range(U.shape[1]))
        total += float(v[n]) * math.tanh(pre)
    return total


def hard_attention_reference(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    indices: Tensor,
    *,
    W: Tensor,
    U: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(probs (B, Lq, Lk), log_prob (B, Lq), entropy (B, Lq), context (B, Lq, Dv))``.

    ``mask`` is ``(B, Lq, Lk)``; a step with no valid location has zero probs, log_prob,
    entropy and context.
    """
    W, U, v = W.detach(), U.detach(), v.detach()
    batch, q_len, _ = query.shape
    k_len = key.shape[1]
    probs = torch.zeros(batch, q_len, k_len, dtype=torch.float64)
    log_prob = torch.zeros(batch, q_len, dtype=torch.float64)
    entropy = torch.zeros(batch, q_len, dtype=torch.float64)
    context = torch.zeros(batch, q_len, value.shape[2], dtype=torch.float64)
    for b in range(batch):
        for t in range(q_len):
            valid = [i for i in range(k_len) if mask is None or bool(mask[b, t, i])]
            if not valid:
                continue
            e = {i: additive_score(query[b, t], key[b, i], W, U, v) for i in valid}
            top = max(e.values())
            z = sum(math.exp(e[i] - top) for i in valid)
            alpha = {i: math.exp(e[i] - top) / z for i in valid}
            for i in valid:
                probs[b, t, i] = alpha[i]
            s = int(indices[b, t])
            assert s in alpha, "a masked location was sampled"
            log_prob[b, t] = math.log(alpha[s])
            entropy[b, t] = -sum(p * math.log(p) for p in alpha.values() if p > 0)
            context[b, t] = value[b, s]
    return probs, log_prob, entropy, context
