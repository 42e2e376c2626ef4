"""Slow, literal forward pass of a one-hop CoAttentionVQA answer layer (tests only).

Lu et al. 2016, https://arxiv.org/abs/1606.00061, eqs. 3-5 (parallel co-attention) written with
per-example Python loops and column-vector notation, reading the weights of a trained module.
"""

from __future__ import annotations

import torch
from torch import Tensor


def parallel_coattention_answer(model: torch.nn.Module, regions: Tensor, bits: Tensor) -> Tensor:
    """Logits ``(B, A)`` of ``model`` (``rnn="none"``, one parallel hop) for bit questions."""
    co = model.coattention[0]
    enc = model.question_encoder
    w_b, w_q, w_v = co.w_b.weight, co.w_q.weight, co.w_v.weight  # (dq, dv), (k, dq), (k, dv)
    w_hq, w_hv = co.w_hq.weight[0], co.w_hv.weight[0]  # (k,)
    logits = []
    for b in range(bits.shape[0]):
        words = [i for i in range(bits.shape[1]) if bits[b, i] == 1]  # set bits, in order
        # question features: q_t = W e_t + c, one column per word
        Q = torch.stack([enc.rnn(enc.embedding.weight[i]) for i in words], dim=1)  # (dq, T)
        V = regions[b].T  # (dv, N)
        C = torch.tanh(Q.T @ w_b @ V)  # eq. 3, (T, N)
        H_v = torch.tanh(w_v @ V + (w_q @ Q) @ C)  # eq. 4, (k, N)
        H_q = torch.tanh(w_q @ Q + (w_v @ V) @ C.T)  # (k, T)
        a_v = torch.softmax(w_hv @ H_v, dim=0)  # (N,)
        a_q = torch.softmax(w_hq @ H_q, dim=0)  # (T,)
        v_hat = sum(a_v[n] * V[:, n] for n in range(V.shape[1]))  # eq. 5
        q_hat = sum(a_q[t] * Q[:, t] for t in range(Q.shape[1]))
        logits.append(model.classifier(torch.cat([q_hat, v_hat])))
    return torch.stack(logits)
