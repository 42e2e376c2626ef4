"""Slow, paper-literal references for the squeeze-and-excitation family.

Explicit Python loops over batch, channel and pixel, written from the papers' equations and
independent of the vectorised modules. Meant for tiny float64 inputs only.

- SE: Hu et al., https://arxiv.org/abs/1709.01507, eq. 2-4.
- CBAM: Woo et al., https://arxiv.org/abs/1807.06521, eq. 1-3.
- ECA: Wang et al., https://arxiv.org/abs/1910.03151, section 3.2.
- scSE: Roy et al., https://arxiv.org/abs/1803.02579, section 2.
- GE-theta-minus: Hu et al., https://arxiv.org/abs/1810.12348, section 3.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _gate(v: float, gate: str) -> float:
    if gate == "sigmoid":
        return _sigmoid(v)
    if gate == "tanh":
        return math.tanh(v)
    if gate == "relu":
        return max(v, 0.0)
    raise ValueError(gate)


def _mlp(z: list[float], W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor) -> list[float]:
    """``W2 delta(W1 z + b1) + b2`` one unit at a time."""
    hidden = []
    for k in range(W1.shape[0]):
        acc = float(b1[k])
        for c in range(W1.shape[1]):
            acc += float(W1[k, c]) * z[c]
        hidden.append(max(acc, 0.0))  # delta = ReLU
    out = []
    for c in range(W2.shape[0]):
        acc = float(b2[c])
        for k in range(W2.shape[1]):
            acc += float(W2[c, k]) * hidden[k]
        out.append(acc)
    return out


def _channel_pool(x: Tensor, b: int, c: int, how: str) -> float:
    H, W = x.shape[2], x.shape[3]
    values = [float(x[b, c, i, j]) for i in range(H) for j in range(W)]
    return sum(values) / (H * W) if how == "avg" else max(values)


def se_reference(
    x: Tensor,
    W1: Tensor,
    b1: Tensor,
    W2: Tensor,
    b2: Tensor,
    *,
    squeeze: str = "avg",
    gate: str = "sigmoid",
) -> tuple[Tensor, Tensor]:
    """SE block: returns ``(x_tilde, s)``."""
    x, W1, b1, W2, b2 = (t.detach() for t in (x, W1, b1, W2, b2))
    B, C, H, W = x.shape
    out = torch.empty_like(x)
    gates = torch.empty(B, C, dtype=x.dtype)
    for b in range(B):
        # eq. 2: z_c = 1/(H W) sum_ij u_c(i, j)  (or the max, Table 11)
        z = [_channel_pool(x, b, c, squeeze) for c in range(C)]
        # eq. 3: s = sigma(W2 delta(W1 z))
        s = [_gate(v, gate) for v in _mlp(z, W1, b1, W2, b2)]
        for c in range(C):
            gates[b, c] = s[c]
            for i in range(H):
                for j in range(W):
                    out[b, c, i, j] = s[c] * float(x[b, c, i, j])  # eq. 4
    return out, gates


def _conv2d_single(
    maps: list[list[list[float]]], weight: Tensor, bias: float, i: int, j: int
) -> float:
    """One output pixel of a zero-padded, same-size convolution of ``maps`` (C_in, H, W)."""
    k = weight.shape[-1]
    r = k // 2
    H, W = len(maps[0]), len(maps[0][0])
    acc = bias
    for ci in range(len(maps)):
        for di in range(k):
            for dj in range(k):
                ii, jj = i + di - r, j + dj - r
                if 0 <= ii < H and 0 <= jj < W:
                    acc += float(weight[0, ci, di, dj]) * maps[ci][ii][jj]
    return acc


def cbam_reference(
    x: Tensor,
    W1: Tensor,
    b1: Tensor,
    W2: Tensor,
    b2: Tensor,
    conv_weight: Tensor,
    conv_bias: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """CBAM: returns ``(F'', M_c, M_s)``."""
    x, W1, b1, W2, b2, conv_weight = (t.detach() for t in (x, W1, b1, W2, b2, conv_weight))
    B, C, H, W = x.shape
    out = torch.empty_like(x)
    channel = torch.empty(B, C, dtype=x.dtype)
    spatial = torch.empty(B, 1, H, W, dtype=x.dtype)
    for b in range(B):
        # eq. 2: M_c = sigma(MLP(AvgPool(F)) + MLP(MaxPool(F))), one shared MLP
        avg = _mlp([_channel_pool(x, b, c, "avg") for c in range(C)], W1, b1, W2, b2)
        mx = _mlp([_channel_pool(x, b, c, "max") for c in range(C)], W1, b1, W2, b2)
        mc = [_sigmoid(avg[c] + mx[c]) for c in range(C)]
        # eq. 1: F' = M_c (x) F
        refined = [
            [[mc[c] * float(x[b, c, i, j]) for j in range(W)] for i in range(H)]
            for c in range(C)
        ]
        # eq. 3: channel-wise average and max maps, then the k x k convolution
        avg_map = [[sum(refined[c][i][j] for c in range(C)) / C for j in range(W)]
                   for i in range(H)]
        max_map = [[max(refined[c][i][j] for c in range(C)) for j in range(W)]
                   for i in range(H)]
        for c in range(C):
            channel[b, c] = mc[c]
        for i in range(H):
            for j in range(W):
                ms = _sigmoid(_conv2d_single([avg_map, max_map], conv_weight, conv_bias, i, j))
                spatial[b, 0, i, j] = ms
                for c in range(C):
                    out[b, c, i, j] = ms * refined[c][i][j]  # eq. 1: F'' = M_s (x) F'
    return out, channel, spatial


def eca_kernel_size_reference(channels: int, gamma: float = 2.0, b: float = 1.0) -> int:
    """``psi(C) = |log2(C)/gamma + b/gamma|_odd``: the nearest odd number, ties upward."""
    t = math.log2(channels) / gamma + b / gamma
    return min(range(1, int(t) + 4, 2), key=lambda n: (abs(n - t), -n))


def eca_reference(x: Tensor, kernel: Tensor) -> tuple[Tensor, Tensor]:
    """ECA: ``omega = sigma(C1D_k(GAP(x)))``; returns ``(x * omega, omega)``."""
    x, kernel = x.detach(), kernel.detach()
    B, C, H, W = x.shape
    k = kernel.numel()
    r = k // 2
    out = torch.empty_like(x)
    weights = torch.empty(B, C, dtype=x.dtype)
    for b in range(B):
        y = [_channel_pool(x, b, c, "avg") for c in range(C)]
        for c in range(C):
            acc = 0.0
            for t in range(k):  # channel c looks at its k neighbours c - r .. c + r
                cc = c + t - r
                if 0 <= cc < C:
                    acc += float(kernel.flatten()[t]) * y[cc]
            w = _sigmoid(acc)
            weights[b, c] = w
            for i in range(H):
                for j in range(W):
                    out[b, c, i, j] = w * float(x[b, c, i, j])
    return out, weights


def scse_reference(
    x: Tensor,
    W1: Tensor,
    b1: Tensor,
    W2: Tensor,
    b2: Tensor,
    W_sq: Tensor,
    b_sq: float,
    *,
    combine: str = "add",
) -> tuple[Tensor, Tensor, Tensor]:
    """scSE: returns ``(U_scSE, channel gates, spatial gates q)``."""
    x, W1, b1, W2, b2, W_sq = (t.detach() for t in (x, W1, b1, W2, b2, W_sq))
    B, C, H, W = x.shape
    out = torch.empty_like(x)
    channel = torch.empty(B, C, dtype=x.dtype)
    spatial = torch.empty(B, 1, H, W, dtype=x.dtype)
    for b in range(B):
        z = [_channel_pool(x, b, c, "avg") for c in range(C)]
        s = [_sigmoid(v) for v in _mlp(z, W1, b1, W2, b2)]  # cSE
        for c in range(C):
            channel[b, c] = s[c]
        for i in range(H):
            for j in range(W):
                # sSE: q_ij = sigma(sum_c W_sq[c] u_c(i, j))
                q = _sigmoid(b_sq + sum(float(W_sq.flatten()[c]) * float(x[b, c, i, j])
                                        for c in range(C)))
                spatial[b, 0, i, j] = q
                for c in range(C):
                    u = float(x[b, c, i, j])
                    cse, sse = s[c] * u, q * u
                    if combine == "add":
                        out[b, c, i, j] = cse + sse
                    elif combine == "max":
                        out[b, c, i, j] = max(cse, sse)
                    else:
                        out[b, c, i, j] = cse * sse
    return out, channel, spatial


def gather_excite_reference(x: Tensor, extent: int | None) -> tuple[Tensor, Tensor]:
    """GE-theta-minus: average over the ``(2e-1)^2`` window centred at ``e * u`` (positions
    inside the map only), nearest-neighbour resize with ``u = floor(i * H' / H)``, sigmoid."""
    x = x.detach()
    B, C, H, W = x.shape
    out = torch.empty_like(x)
    gates = torch.empty_like(x)
    for b in range(B):
        for c in range(C):
            if extent is None:
                g = _channel_pool(x, b, c, "avg")
                gathered = [[g]]
            else:
                e = extent
                Hg, Wg = -(-H // e), -(-W // e)
                gathered = []
                for u in range(Hg):
                    row = []
                    for v in range(Wg):
                        vals = [
                            float(x[b, c, i, j])
                            for i in range(e * u - (e - 1), e * u + e)
                            for j in range(e * v - (e - 1), e * v + e)
                            if 0 <= i < H and 0 <= j < W
                        ]
                        row.append(sum(vals) / len(vals))
                    gathered.append(row)
            Hg, Wg = len(gathered), len(gathered[0])
            for i in range(H):
                for j in range(W):
                    g = _sigmoid(gathered[i * Hg // H][j * Wg // W])
                    gates[b, c, i, j] = g
                    out[b, c, i, j] = g * float(x[b, c, i, j])
    return out, gates
