"""Slow, paper-literal reference for dynamic meta-embeddings (Kiela et al. 2018).

"Dynamic Meta-Embeddings for Improved Sentence Representations",
https://arxiv.org/abs/1804.07983, section 2: ``w'_{i,j} = P_j w_{i,j} + b_j``,
``alpha_{i,j} = softmax_j(a^T u_{i,j})`` with ``u = w'`` (DME) or the BiLSTM state ``h_{i,j}``
(CDME), ``w^DME_i = sum_j alpha_{i,j} w'_{i,j}``. The BiLSTM is written out gate by gate
(``i, f, g, o`` in the order of ``nn.LSTM``'s packed weights) and run over each sentence up to its
length only. Loops everywhere; tiny float64 inputs only.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _affine(W: Tensor, x: list[float], b: Tensor | None) -> list[float]:
    W = W.detach()
    b = None if b is None else b.detach()
    return [
        sum(float(W[r, c]) * x[c] for c in range(W.shape[1])) + (0.0 if b is None else float(b[r]))
        for r in range(W.shape[0])
    ]


def _lstm_direction(
    xs: list[list[float]], W_ih: Tensor, W_hh: Tensor, b_ih: Tensor, b_hh: Tensor
) -> list[list[float]]:
    """One LSTM direction over ``xs``: ``i, f, g, o`` gates, zero initial state."""
    m = W_hh.shape[1]
    h = [0.0] * m
    c = [0.0] * m
    out = []
    for x in xs:
        gx = _affine(W_ih, x, b_ih)
        gh = _affine(W_hh, h, b_hh)
        g = [gx[r] + gh[r] for r in range(4 * m)]
        i_gate = [_sigmoid(g[r]) for r in range(m)]
        f_gate = [_sigmoid(g[m + r]) for r in range(m)]
        cell = [math.tanh(g[2 * m + r]) for r in range(m)]
        o_gate = [_sigmoid(g[3 * m + r]) for r in range(m)]
        c = [f_gate[r] * c[r] + i_gate[r] * cell[r] for r in range(m)]
        h = [o_gate[r] * math.tanh(c[r]) for r in range(m)]
        out.append(h)
    return out


def bilstm(xs: list[list[float]], lstm: nn.LSTM) -> list[list[float]]:
    """Concatenated forward and backward states of a one-layer bidirectional ``nn.LSTM``."""
    fwd = _lstm_direction(
        xs, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0
    )
    bwd = _lstm_direction(
        xs[::-1],
        lstm.weight_ih_l0_reverse,
        lstm.weight_hh_l0_reverse,
        lstm.bias_ih_l0_reverse,
        lstm.bias_hh_l0_reverse,
    )[::-1]
    return [f + b for f, b in zip(fwd, bwd, strict=True)]


def dme_reference(
    embeddings: list[Tensor],
    projections: list[tuple[Tensor, Tensor]],
    a: Tensor,
    *,
    lstm: nn.LSTM | None = None,
    lengths: list[int] | None = None,
) -> tuple[Tensor, Tensor]:
    """``(context (B, L, d'), weights (B, L, n))``; tokens past ``lengths[b]`` are zero."""
    batch, length = embeddings[0].shape[:2]
    n_sets = len(embeddings)
    dim = projections[0][0].shape[0]
    context = torch.zeros(batch, length, dim, dtype=torch.float64)
    weights = torch.zeros(batch, length, n_sets, dtype=torch.float64)
    for b in range(batch):
        n_tokens = length if lengths is None else lengths[b]
        # w'_{i,j} for the valid tokens
        proj = [
            [_affine(P, [float(x) for x in embeddings[j][b, i]], bias) for j, (P, bias) in
             enumerate(projections)]
            for i in range(n_tokens)
        ]
        if lstm is not None:
            states = [bilstm([proj[i][j] for i in range(n_tokens)], lstm) for j in range(n_sets)]
            feats = [[states[j][i] for j in range(n_sets)] for i in range(n_tokens)]
        else:
            feats = proj
        for i in range(n_tokens):
            e = [
                sum(float(a[d]) * feats[i][j][d] for d in range(a.shape[0]))
                for j in range(n_sets)
            ]
            top = max(e)
            z = sum(math.exp(x - top) for x in e)
            alpha = [math.exp(x - top) / z for x in e]
            weights[b, i] = torch.tensor(alpha, dtype=torch.float64)
            for d in range(dim):
                context[b, i, d] = sum(alpha[j] * proj[i][j][d] for j in range(n_sets))
    return context, weights
