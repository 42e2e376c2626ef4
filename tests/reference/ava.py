"""Slow, literal attention-via-attention as formulated in
``attnlab.mechanisms.attention_via_attention`` (word-level additive attention, then
character-level additive attention whose query is [q_i ; c^w_i]).

One query at a time, masked positions *removed* before attending.
"""

from __future__ import annotations

import torch


def _attend(query, keys, values, W, U, v):
    """Bahdanau: e_j = v^T tanh(W q + U k_j); returns (context, weights) on the kept keys."""
    if not keys:
        return None, []
    e = [v @ torch.tanh(W @ query + U @ k) for k in keys]
    z = torch.stack(e).exp().sum()
    a = [torch.exp(x) / z for x in e]
    return sum(w * val for w, val in zip(a, values, strict=True)), a


def ava(query, words, chars, word_mask, char_mask, p):
    """``word_mask``/``char_mask``: (B, Lq, L) booleans. ``p``: W_w, U_w, v_w, W_c, U_c, v_c.

    Returns (context, char_weights, word_weights, word_context, char_context)."""
    B, Lq, _ = query.shape
    Lw, Dw = words.shape[1], words.shape[2]
    Lc, Dc = chars.shape[1], chars.shape[2]
    dt = query.dtype
    cw_out = torch.zeros(B, Lq, Dw, dtype=dt)
    cc_out = torch.zeros(B, Lq, Dc, dtype=dt)
    aw_out = torch.zeros(B, Lq, Lw, dtype=dt)
    ac_out = torch.zeros(B, Lq, Lc, dtype=dt)
    for b in range(B):
        for i in range(Lq):
            J = [j for j in range(Lw) if word_mask[b, i, j]]
            K = [k for k in range(Lc) if char_mask[b, i, k]]
            q = query[b, i]
            c_w, a_w = _attend(q, [words[b, j] for j in J], [words[b, j] for j in J],
                               p["W_w"], p["U_w"], p["v_w"])
            if c_w is None:
                c_w = torch.zeros(Dw, dtype=dt)
            for j, a in zip(J, a_w, strict=True):
                aw_out[b, i, j] = a
            q_c = torch.cat([q, c_w])  # the word-level context guides the character level
            c_c, a_c = _attend(q_c, [chars[b, k] for k in K], [chars[b, k] for k in K],
                               p["W_c"], p["U_c"], p["v_c"])
            if c_c is None:
                c_c = torch.zeros(Dc, dtype=dt)
            for k, a in zip(K, a_c, strict=True):
                ac_out[b, i, k] = a
            cw_out[b, i], cc_out[b, i] = c_w, c_c
    return torch.cat([cw_out, cc_out], -1), ac_out, aw_out, cw_out, cc_out
