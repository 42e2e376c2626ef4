"""Slow, paper-literal co-attention (Lu et al. 2016, arXiv:1606.00061, section 3.3).

Each example is handled alone, with its padded positions *removed* (not masked): the paper's
column-matrix notation Q (d x T), V (d x N) on the valid positions only. Results are scattered back
into zero-padded tensors, so agreement with the module also proves its masking equals truncation.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _softmax(x: Tensor) -> Tensor:
    if x.numel() == 0:
        return x
    e = torch.exp(x - x.max())
    return e / e.sum()


def parallel_coattention(question, image, question_mask, image_mask, W_b, W_q, W_v, w_hq, w_hv):
    """Eqs. 3-5 with explicit loops. Weight shapes: W_b (Dq, Dv), W_q (k, Dq), W_v (k, Dv),
    w_hq (k,), w_hv (k,). Returns (q_hat, a_q, v_hat, a_v, C) zero-padded."""
    B, T, Dq = question.shape
    N, Dv = image.shape[1], image.shape[2]
    dt = question.dtype
    out_q = torch.zeros(B, Dq, dtype=dt)
    out_v = torch.zeros(B, Dv, dtype=dt)
    out_aq = torch.zeros(B, T, dtype=dt)
    out_av = torch.zeros(B, N, dtype=dt)
    out_C = torch.zeros(B, T, N, dtype=dt)
    for b in range(B):
        tq = [t for t in range(T) if question_mask[b, t]]
        nv = [n for n in range(N) if image_mask[b, n]]
        Q = question[b, tq].T  # d x T'
        V = image[b, nv].T  # d x N'
        # eq. 3: C = tanh(Q^T W_b V), entry by entry
        C = torch.zeros(len(tq), len(nv), dtype=dt)
        for t in range(len(tq)):
            for n in range(len(nv)):
                C[t, n] = torch.tanh(Q[:, t] @ W_b @ V[:, n])
        # eq. 4
        H_v = torch.tanh(W_v @ V + (W_q @ Q) @ C)  # k x N'
        H_q = torch.tanh(W_q @ Q + (W_v @ V) @ C.T)  # k x T'
        a_v = _softmax(w_hv @ H_v)
        a_q = _softmax(w_hq @ H_q)
        # eq. 5
        v_hat = sum((a_v[n] * V[:, n] for n in range(len(nv))), torch.zeros(Dv, dtype=dt))
        q_hat = sum((a_q[t] * Q[:, t] for t in range(len(tq))), torch.zeros(Dq, dtype=dt))
        out_q[b], out_v[b] = q_hat, v_hat
        for i, t in enumerate(tq):
            out_aq[b, t] = a_q[i]
            for j, n in enumerate(nv):
                out_C[b, t, n] = C[i, j]
        for j, n in enumerate(nv):
            out_av[b, n] = a_v[j]
    return out_q, out_aq, out_v, out_av, out_C


def _attend(X: Tensor, g: Tensor | None, W_x: Tensor, W_g: Tensor | None, w_hx: Tensor):
    """Eq. 6: x_hat = A(X; g) on a d x L column matrix X (L may be 0)."""
    if X.shape[1] == 0:
        return torch.zeros(X.shape[0], dtype=X.dtype), X.new_zeros(0)
    pre = W_x @ X
    if g is not None:
        pre = pre + (W_g @ g)[:, None] @ torch.ones(1, X.shape[1], dtype=X.dtype)  # (W_g g) 1^T
    H = torch.tanh(pre)
    a = _softmax(w_hx @ H)
    x_hat = sum(a[i] * X[:, i] for i in range(X.shape[1]))
    return x_hat, a


def alternating_coattention(question, image, question_mask, image_mask, p):
    """Eq. 6 applied three times; ``p`` maps names to weight matrices:
    s_Wx, s_whx (step 1), v_Wx, v_Wg, v_whx (step 2), q_Wx, q_Wg, q_whx (step 3).
    Returns (s, a_s, v_hat, a_v, q_hat, a_q) zero-padded."""
    B, T, _ = question.shape
    N = image.shape[1]
    dt = question.dtype
    res = {k: [] for k in ("s", "a_s", "v", "a_v", "q", "a_q")}
    for b in range(B):
        tq = [t for t in range(T) if question_mask[b, t]]
        nv = [n for n in range(N) if image_mask[b, n]]
        Q, V = question[b, tq].T, image[b, nv].T
        s, a_s = _attend(Q, None, p["s_Wx"], None, p["s_whx"])  # g = 0
        v_hat, a_v = _attend(V, s, p["v_Wx"], p["v_Wg"], p["v_whx"])
        q_hat, a_q = _attend(Q, v_hat, p["q_Wx"], p["q_Wg"], p["q_whx"])
        full_as, full_aq, full_av = (torch.zeros(T, dtype=dt), torch.zeros(T, dtype=dt),
                                     torch.zeros(N, dtype=dt))
        full_as[tq], full_aq[tq], full_av[nv] = a_s, a_q, a_v
        for key, val in (("s", s), ("a_s", full_as), ("v", v_hat), ("a_v", full_av),
                         ("q", q_hat), ("a_q", full_aq)):
            res[key].append(val)
    return tuple(torch.stack(res[k]) for k in ("s", "a_s", "v", "a_v", "q", "a_q"))
