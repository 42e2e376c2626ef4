"""Slow, paper-literal references for multi-dimensional attention.

- DiSAN multi-dimensional attention, Shen et al., https://arxiv.org/abs/1709.04696, section 3.1:
  ``f(x_i, q) = W^T sigma(W1 x_i + W2 q + b1)``, a softmax over the tokens ``i`` for each
  feature ``k``, ``s_k = sum_i P_{ki} x_{ik}``.
- Structured self-attention, Lin et al., https://arxiv.org/abs/1703.03130, section 2:
  ``A = softmax(W_s2 tanh(W_s1 H^T))`` along the tokens, ``M = A H``,
  ``P = ||A A^T - I||_F^2``.

Loops over batch, token, feature and hop; tiny float64 inputs only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


def _elu(x: float) -> float:
    return x if x > 0 else math.exp(x) - 1.0


def _softmax(values: list[float]) -> list[float]:
    top = max(values)
    z = sum(math.exp(v - top) for v in values)
    return [math.exp(v - top) / z for v in values]


def feature_wise_reference(
    x: Tensor,
    W1: Tensor,
    b1: Tensor,
    W: Tensor,
    *,
    query: Tensor | None = None,
    W2: Tensor | None = None,
    mask: Tensor | None = None,
    activation: Callable[[float], float] = _elu,
) -> tuple[Tensor, Tensor]:
    """Source2token (``query=None``; ``mask (B, L)``) or with a query (``mask (B, Lq, L)``).

    ``W1`` is ``(H, D)``, ``W2`` ``(H, Dq)``, ``W`` ``(D, H)`` (the rows of ``W^T``). Returns
    ``(context, weights)`` shaped like the module's outputs.
    """
    batch, length, dim = x.shape
    queries = [None] if query is None else list(range(query.shape[1]))
    n_q = len(queries)
    weights = torch.zeros(batch, n_q, length, dim, dtype=torch.float64)
    context = torch.zeros(batch, n_q, dim, dtype=torch.float64)
    for b in range(batch):
        for qi, t in enumerate(queries):
            if mask is None:
                valid = list(range(length))
            elif query is None:
                valid = [i for i in range(length) if bool(mask[b, i])]
            else:
                valid = [i for i in range(length) if bool(mask[b, qi, i])]
            if not valid:
                continue
            f = {}
            for i in valid:
                hidden = []
                for h in range(W1.shape[0]):
                    pre = float(b1[h])
                    pre += sum(float(W1[h, d]) * float(x[b, i, d]) for d in range(dim))
                    if t is not None:
                        assert W2 is not None and query is not None
                        pre += sum(
                            float(W2[h, d]) * float(query[b, t, d]) for d in range(W2.shape[1])
                        )
                    hidden.append(activation(pre))
                f[i] = [
                    sum(float(W[k, h]) * hidden[h] for h in range(len(hidden)))
                    for k in range(dim)
                ]
            for k in range(dim):
                p = _softmax([f[i][k] for i in valid])  # over tokens, for feature k
                for n, i in enumerate(valid):
                    weights[b, qi, i, k] = p[n]
                    context[b, qi, k] += p[n] * float(x[b, i, k])
    if query is None:
        return context[:, 0], weights[:, 0]
    return context, weights


def structured_reference(
    H: Tensor, Ws1: Tensor, Ws2: Tensor, *, lengths: list[int] | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(M (B, r, D), A (B, r, L), P (B,))`` with the tokens past ``lengths[b]`` padded.

    The penalty uses the identity on the hops of sentences with at least one token and is 0 for
    an empty sentence.
    """
    batch, length, dim = H.shape
    hops = Ws2.shape[0]
    A = torch.zeros(batch, hops, length, dtype=torch.float64)
    M = torch.zeros(batch, hops, dim, dtype=torch.float64)
    P = torch.zeros(batch, dtype=torch.float64)
    for b in range(batch):
        n = length if lengths is None else lengths[b]
        if n == 0:
            continue
        for r in range(hops):
            e = []
            for t in range(n):
                total = 0.0
                for a in range(Ws1.shape[0]):
                    pre = sum(float(Ws1[a, d]) * float(H[b, t, d]) for d in range(dim))
                    total += float(Ws2[r, a]) * math.tanh(pre)
                e.append(total)
            p = _softmax(e)
            for t in range(n):
                A[b, r, t] = p[t]
                for d in range(dim):
                    M[b, r, d] += p[t] * float(H[b, t, d])
        for r1 in range(hops):
            for r2 in range(hops):
                g = sum(float(A[b, r1, t]) * float(A[b, r2, t]) for t in range(length))
                P[b] += (g - (1.0 if r1 == r2 else 0.0)) ** 2
    return M, A, P
