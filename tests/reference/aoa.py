"""Slow, paper-literal attention-over-attention (Cui et al. 2017, arXiv:1607.04423, section 3).

Padded document and query words are *removed* before attending; results are scattered back into
zero-padded tensors.
"""

from __future__ import annotations

import torch


def _softmax(values):
    z = torch.stack(list(values)).exp().sum()
    return [torch.exp(x) / z for x in values]


def aoa(document, query, document_mask, query_mask):
    """Returns (s (B, n), alpha (B, n, m), beta (B, n, m), beta_avg (B, m))."""
    B, n, _ = document.shape
    m = query.shape[1]
    dt = document.dtype
    s_out = torch.zeros(B, n, dtype=dt)
    alpha_out = torch.zeros(B, n, m, dtype=dt)
    beta_out = torch.zeros(B, n, m, dtype=dt)
    avg_out = torch.zeros(B, m, dtype=dt)
    for b in range(B):
        I = [i for i in range(n) if document_mask[b, i]]
        J = [j for j in range(m) if query_mask[b, j]]
        if not I or not J:
            continue
        # M(i, j) = h_doc(i)^T h_query(j)
        M = {(i, j): document[b, i] @ query[b, j] for i in I for j in J}
        # alpha(t) = softmax(M(1, t), ..., M(|D|, t)): column-wise
        for j in J:
            for i, a in zip(I, _softmax([M[i, j] for i in I]), strict=True):
                alpha_out[b, i, j] = a
        # beta(t) = softmax(M(t, 1), ..., M(t, |Q|)): row-wise
        for i in I:
            for j, a in zip(J, _softmax([M[i, j] for j in J]), strict=True):
                beta_out[b, i, j] = a
        # beta = 1/n sum_t beta(t), n = number of (valid) document words
        for j in J:
            avg_out[b, j] = sum(beta_out[b, i, j] for i in I) / len(I)
        # s = alpha^T beta: s_i = sum_j alpha(i, j) beta_avg(j)
        for i in I:
            s_out[b, i] = sum(alpha_out[b, i, j] * avg_out[b, j] for j in J)
    return s_out, alpha_out, beta_out, avg_out
