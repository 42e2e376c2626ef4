"""Slow, paper-literal pointer network (Vinyals et al. 2015, arXiv:1506.03134, eq. 3).

One example at a time, one step at a time, with the LSTM cell written out
(``i, f, g, o = W_ih x + b_ih + W_hh h + b_hh``; ``c' = f c + i g``; ``h' = o tanh(c')``) and the
pointer distribution ``p_j = exp(u_j) / sum_k exp(u_k)`` over the allowed positions only, with
``u_j = v^T tanh(W_1 e_j + W_2 d_i)`` computed one position at a time. Reads the parameters of a
single-layer :class:`attnlab.architectures.pointer.PointerNetwork`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _cell(lstm: nn.LSTM, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    gates = lstm.weight_ih_l0 @ x + lstm.bias_ih_l0 + lstm.weight_hh_l0 @ h + lstm.bias_hh_l0
    i, f, g, o = gates.chunk(4)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


@torch.no_grad()
def pointer_reference(
    net: nn.Module, points: Tensor, targets: list[int]
) -> tuple[float, list[list[float]]]:
    """Teacher-forced log-likelihood and per-step distributions of one unpadded example.

    Args:
        net: a single-layer ``PointerNetwork``.
        points: ``(n, D)`` the example's real inputs.
        targets: pointers (``j + 1`` for input ``j`` and 0 = stop when ``net.end_token``).

    Returns:
        ``(log_likelihood, distributions)``; ``distributions[i][j]`` is ``p(C_i = j)`` over the
        ``K`` positions (0 where not allowed).
    """
    assert net.num_layers == 1
    shift = 1 if net.end_token else 0
    xs = [net.embedding(p) for p in points]
    hidden = net.hidden_dim
    h = points.new_zeros(hidden)
    c = points.new_zeros(hidden)
    encoder_states = []
    for x in xs:
        h, c = _cell(net.encoder, x, h, c)
        encoder_states.append(h)
    memory = ([net.end] if net.end_token else []) + encoder_states
    allowed = [True] * len(memory)
    W1, W2, v = net.score.key_proj, net.score.query_proj, net.score.v
    log_likelihood = 0.0
    distributions = []
    x = net.go
    for target in targets:
        h, c = _cell(net.decoder, x, h, c)
        u = [float(v @ torch.tanh(W1(e) + W2(h))) if allowed[j] else None
             for j, e in enumerate(memory)]
        top = max(value for value in u if value is not None)
        denom = sum(math.exp(value - top) for value in u if value is not None)
        p = [0.0 if value is None else math.exp(value - top) / denom for value in u]
        distributions.append(p)
        log_likelihood += math.log(p[target])
        if net.end_token and target == 0:
            break
        allowed[target] = False
        x = xs[target - shift]
    return log_likelihood, distributions
