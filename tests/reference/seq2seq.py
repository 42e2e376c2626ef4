"""Paper-literal Bahdanau decoder step (one example, Python loops) for the Seq2Seq tests.

Bahdanau, Cho, Bengio, https://arxiv.org/abs/1409.0473, appendix A.1.2 / A.2.2, with the GRU of
``torch.nn.GRU`` written out gate by gate:

    e_j = v_a^T tanh(W_a s_{i-1} + U_a h_j)          (alignment model)
    a_j = exp(e_j) / sum_k exp(e_k)                  (over valid positions j < length)
    c   = sum_j a_j h_j
    x   = [E y_{i-1}; c]
    r   = sigmoid(W_ir x + b_ir + W_hr s + b_hr);  z = sigmoid(W_iz x + b_iz + W_hz s + b_hz)
    n   = tanh(W_in x + b_in + r * (W_hn s + b_hn));  s_i = (1 - z) * n + z * s
    t   = tanh(W_r [s_i; c; E y_{i-1}] + b_r);  logits = W_o t + b_o
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def bahdanau_step_reference(
    model: torch.nn.Module, prev_token: int, s_prev: Tensor, memory: Tensor, length: int
) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits (V,), weights (S,), s_i (H,))`` for one example, single-layer GRU decoder."""
    score = model.attention.score
    W_a, U_a, v_a = score.query_proj.weight, score.key_proj.weight, score.v
    energies = []
    for j in range(length):
        energies.append(float(v_a @ torch.tanh(W_a @ s_prev + U_a @ memory[j])))
    top = max(energies)
    exps = [math.exp(e - top) for e in energies]
    total = sum(exps)
    weights = torch.zeros(memory.shape[0], dtype=memory.dtype)
    context = torch.zeros(memory.shape[1], dtype=memory.dtype)
    for j in range(length):
        weights[j] = exps[j] / total
        context = context + weights[j] * memory[j]
    emb = model.tgt_embed.weight[prev_token]
    x = torch.cat([emb, context])
    gru = model.decoder
    W_i, W_h, b_i, b_h = gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
    H = s_prev.shape[0]
    gi = [W_i[k * H : (k + 1) * H] @ x + b_i[k * H : (k + 1) * H] for k in range(3)]
    gh = [W_h[k * H : (k + 1) * H] @ s_prev + b_h[k * H : (k + 1) * H] for k in range(3)]
    r = torch.sigmoid(gi[0] + gh[0])
    z = torch.sigmoid(gi[1] + gh[1])
    n = torch.tanh(gi[2] + r * gh[2])
    s_new = (1 - z) * n + z * s_prev
    t = torch.tanh(model.readout.weight @ torch.cat([s_new, context, emb]) + model.readout.bias)
    logits = model.output.weight @ t + model.output.bias
    return logits, weights, s_new
