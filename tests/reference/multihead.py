"""Paper-literal multi-head attention: one head, one query, one key at a time.

Vaswani et al., "Attention Is All You Need" (arXiv:1706.03762), section 3.2.2 and eq. 1:

    head_h = softmax((Q W^Q_h)(K W^K_h)^T / sqrt(d_k)) V W^V_h,
    MultiHead(Q, K, V) = Concat(head_1, ..., head_H) W^O.

The softmax runs over the keys the query may see (``mask`` True, and ``j <= i + Lk - Lq`` when
causal); a query that may see no key gets zero weights and a zero head output. Slow by design: it
exists to be read next to the paper and compared with the fast implementation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def multihead_attention_loop(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    w_q: Tensor,
    w_k: Tensor,
    w_v: Tensor,
    w_o: Tensor,
    b_q: Tensor | None,
    b_k: Tensor | None,
    b_v: Tensor | None,
    b_o: Tensor | None,
    num_heads: int,
    mask: Tensor | None = None,
    attn_bias: Tensor | None = None,
    causal: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Returns ``(output (B, Lq, dim), weights (B, H, Lq, Lk), concat of heads (B, Lq, dim))``.

    ``w_*`` are ``(out_features, in_features)`` like ``nn.Linear``; ``mask`` is boolean
    ``(B, Lk)`` or ``(B, Lq, Lk)`` (True = may attend); ``attn_bias`` is ``(B, H, Lq, Lk)``.
    """
    batch, q_len, _ = query.shape
    k_len = key.shape[1]
    dim = w_q.shape[0]
    d_k = dim // num_heads

    def project(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        y = x @ w.T
        return y if b is None else y + b

    Q, K, V = project(query, w_q, b_q), project(key, w_k, b_k), project(value, w_v, b_v)
    weights = torch.zeros(batch, num_heads, q_len, k_len, dtype=query.dtype)
    concat = torch.zeros(batch, q_len, dim, dtype=query.dtype)
    for b in range(batch):
        for h in range(num_heads):
            cols = slice(h * d_k, (h + 1) * d_k)
            for i in range(q_len):
                visible = []
                for j in range(k_len):
                    if mask is not None:
                        allowed = mask[b, j] if mask.dim() == 2 else mask[b, i, j]
                        if not bool(allowed):
                            continue
                    if causal and j > i + k_len - q_len:
                        continue
                    visible.append(j)
                if not visible:
                    continue  # no key: zero weights, zero head output
                # eq. 1: e_ij = q_i . k_j / sqrt(d_k) (+ bias)
                scores = []
                for j in visible:
                    e = float(Q[b, i, cols] @ K[b, j, cols]) / math.sqrt(d_k)
                    if attn_bias is not None:
                        e += float(attn_bias[b, h, i, j])
                    scores.append(e)
                top = max(scores)
                exps = [math.exp(e - top) for e in scores]
                total = sum(exps)
                for j, e in zip(visible, exps, strict=True):
                    weights[b, h, i, j] = e / total
                    concat[b, i, cols] += weights[b, h, i, j] * V[b, j, cols]
    output = project(concat, w_o, b_o)
    return output, weights, concat
