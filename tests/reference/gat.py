"""Paper-literal graph attention (Velickovic et al. 2018, https://arxiv.org/abs/1710.10903).

Slow loops over heads, nodes and neighbours, written from equations 1-6 with the concatenated
attention vector ``a`` of eq. 1; used only to check
:class:`attnlab.mechanisms.graph.GraphAttention`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def graph_attention_reference(
    x: Tensor,
    adjacency: Tensor,
    weight: Tensor,
    a: Tensor,
    *,
    num_heads: int,
    concat: bool,
    negative_slope: float = 0.2,
) -> tuple[Tensor, Tensor]:
    """``(context (N, K F') or (N, F'), alpha (K, N, N))`` for one graph.

    Args:
        x: ``(N, F)`` node features h.
        adjacency: ``(N, N)`` bool, ``adjacency[i, j]``: j is in the neighbourhood N_i.
        weight: ``(K F', F)``, the K matrices W^k stacked.
        a: ``(K, 2 F')``, the attention vectors a^k (first half: W h_i, second: W h_j).
    """
    n = x.shape[0]
    out_dim = weight.shape[0] // num_heads
    alpha = torch.zeros(num_heads, n, n, dtype=x.dtype)
    outputs = []
    for k in range(num_heads):
        W = weight[k * out_dim : (k + 1) * out_dim]  # W^k, (F', F)
        head_out = []
        for i in range(n):
            Wh_i = W @ x[i]
            neighbours = [j for j in range(n) if adjacency[i, j]]
            e = {}
            for j in neighbours:
                z = torch.dot(a[k], torch.cat([Wh_i, W @ x[j]]))  # eq. 1: a^T [W h_i || W h_j]
                e[j] = z if z > 0 else negative_slope * z  # eq. 3: LeakyReLU
            if neighbours:
                top = max(float(v) for v in e.values())
                total = sum(torch.exp(e[j] - top) for j in neighbours)
                for j in neighbours:
                    alpha[k, i, j] = torch.exp(e[j] - top) / total  # eq. 2
            acc = torch.zeros(out_dim, dtype=x.dtype)
            for j in neighbours:
                acc = acc + alpha[k, i, j] * (W @ x[j])  # eq. 4 without sigma
            head_out.append(acc)
        outputs.append(torch.stack(head_out))
    if concat:
        context = torch.cat(outputs, dim=1)  # eq. 5
    else:
        context = sum(outputs) / num_heads  # eq. 6
    assert math.isfinite(float(context.sum()))
    return context, alpha
