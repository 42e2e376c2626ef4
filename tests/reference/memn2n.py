"""Slow, paper-literal end-to-end memory network (Sukhbaatar et al. 2015, arXiv:1503.08895).

Loops over questions, memories and words, with the paper's symbols: A^k, C^k, B, W, T_A, T_C, H.
Used only to check :class:`attnlab.architectures.memn2n.MemN2N`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def pe_weight(j: int, k: int, big_j: int, d: int) -> float:
    """Section 4.1: l_kj = (1 - j/J) - (k/d)(1 - 2j/J), with j = 1..J and k = 1..d."""
    return (1 - j / big_j) - (k / d) * (1 - 2 * j / big_j)


def encode(words: list[int], embedding: Tensor, position: bool) -> Tensor:
    """sum_j l_j * E x_j over the non-nil words of one sentence (nil word = 0)."""
    real = [w for w in words if w != 0]
    d = embedding.shape[1]
    out = torch.zeros(d, dtype=embedding.dtype)
    for j, word in enumerate(real, start=1):
        if position:
            l_j = torch.tensor([pe_weight(j, k, len(real), d) for k in range(1, d + 1)],
                               dtype=embedding.dtype)
        else:
            l_j = torch.ones(d, dtype=embedding.dtype)
        out = out + l_j * embedding[word]
    return out


def memn2n_reference(
    story: Tensor,
    query: Tensor,
    time: Tensor,
    mask: Tensor,
    *,
    a: list[Tensor],
    c: list[Tensor],
    b: Tensor,
    w: Tensor,
    t_a: list[Tensor] | None,
    t_c: list[Tensor] | None,
    h: Tensor | None = None,
    position: bool = True,
    linear: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Returns (logits (B, V), weights (B, K, M), u^{K+1} (B, d)).

    a[k], c[k]: A^{k+1}, C^{k+1} (V, d); b: B; w: W as (V, d) (logits = W u);
    t_a[k], t_c[k]: temporal tables; h: H of layer-wise tying; linear: linear start (no softmax).
    """
    hops = len(a)
    logits, weights, states = [], [], []
    for n in range(story.shape[0]):
        u = encode(query[n].tolist(), b, position)  # u^1 = B q (eq. in section 2.1)
        per_hop = []
        for k in range(hops):
            slots = story.shape[1]
            m, cc = [], []
            for i in range(slots):
                m_i = encode(story[n, i].tolist(), a[k], position)
                c_i = encode(story[n, i].tolist(), c[k], position)
                if t_a is not None and t_c is not None:
                    m_i = m_i + t_a[k][int(time[n, i])]  # section 4.1, temporal encoding
                    c_i = c_i + t_c[k][int(time[n, i])]
                m.append(m_i)
                cc.append(c_i)
            valid = [i for i in range(slots) if bool(mask[n, i])]
            scores = {i: float((u @ m[i]).detach()) for i in valid}
            p = [0.0] * slots
            if linear:
                for i in valid:
                    p[i] = scores[i]
            elif valid:
                top = max(scores.values())
                total = sum(math.exp(s - top) for s in scores.values())
                for i in valid:
                    p[i] = math.exp(scores[i] - top) / total  # eq. 1
            o = torch.zeros_like(u)
            for i in valid:
                o = o + p[i] * cc[i]  # eq. 2
            u = (h @ u if h is not None else u) + o  # u^{k+1} = (H) u^k + o^k
            per_hop.append(p)
        logits.append(w @ u)  # eq. 3 before the softmax
        weights.append(per_hop)
        states.append(u)
    return (torch.stack(logits), torch.tensor(weights, dtype=torch.float64),
            torch.stack(states))
