"""Slow, literal HAN and flat-attention networks (Yang et al. 2016, section 2, eqs. 1-11).

Every sentence (and every document, for the flat model) is processed on its own, with padding
*removed*; the GRU is a step-by-step loop over its weights (PyTorch's gate convention:
r = sigma(W_ir x + b_ir + W_hr h + b_hr), z = sigma(...), n = tanh(W_in x + b_in + r (W_hn h +
b_hn)), h' = (1 - z) n + z h; the paper writes the same update with z relabelled 1 - z).
The attention steps are the paper-literal ``reference.han.han``.
"""

from __future__ import annotations

import torch

from reference.han import han


def _gru_direction(xs, w_ih, w_hh, b_ih, b_hh):
    hidden = w_hh.shape[1]
    h = torch.zeros(hidden, dtype=xs[0].dtype)
    out = []
    for x in xs:
        gi = w_ih @ x + b_ih
        gh = w_hh @ h + b_hh
        r = torch.sigmoid(gi[:hidden] + gh[:hidden])
        z = torch.sigmoid(gi[hidden : 2 * hidden] + gh[hidden : 2 * hidden])
        n = torch.tanh(gi[2 * hidden :] + r * gh[2 * hidden :])
        h = (1 - z) * n + z * h
        out.append(h)
    return out


def bigru(xs, gru):
    """Annotations ``[h_fwd_t; h_bwd_t]`` of the list of vectors ``xs`` (eqs. 2-4)."""
    fwd = _gru_direction(xs, gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    bwd = _gru_direction(
        xs[::-1],
        gru.weight_ih_l0_reverse,
        gru.weight_hh_l0_reverse,
        gru.bias_ih_l0_reverse,
        gru.bias_hh_l0_reverse,
    )[::-1]
    return [torch.cat([f, b]) for f, b in zip(fwd, bwd, strict=True)]


def han_network(tokens, mask, model):
    """``(logits (B, C), sentence weights (B, S), word weights (B, S, W))`` of a HAN."""
    B, S, W = tokens.shape
    E = model.embedding.weight
    dim = 2 * model.word_encoder.hidden_dim
    words = torch.zeros(B, S, W, dim, dtype=E.dtype)
    for b in range(B):
        for i in range(S):
            ts = [t for t in range(W) if mask[b, i, t]]
            if ts:
                annotations = bigru([E[tokens[b, i, t]] for t in ts], model.word_encoder.gru)
                for t, h in zip(ts, annotations, strict=True):
                    words[b, i, t] = h
    att = model.attention
    v, sent_alpha, word_alpha, _ = han(
        words, mask,
        att.word_proj.weight, att.word_proj.bias, att.word_context,
        att.sentence_proj.weight, att.sentence_proj.bias, att.sentence_context,
        sentence_encoder=lambda s: bigru(s, att.sentence_encoder.gru),
    )
    logits = v @ model.classifier.weight.T + model.classifier.bias
    return logits, sent_alpha, word_alpha


def flat_network(tokens, mask, model):
    """``(logits (B, C), word weights (B, S, W))`` of the flat attention baseline."""
    B, S, W = tokens.shape
    E = model.embedding.weight
    weights = torch.zeros(B, S, W, dtype=E.dtype)
    docs = []
    for b in range(B):
        positions = [(i, t) for i in range(S) for t in range(W) if mask[b, i, t]]
        if not positions:
            docs.append(torch.zeros(2 * model.encoder.hidden_dim, dtype=E.dtype))
            continue
        h = bigru([E[tokens[b, i, t]] for i, t in positions], model.encoder.gru)
        # eqs. 5-7 over the whole document
        logits = [torch.tanh(model.proj.weight @ h_t + model.proj.bias) @ model.context
                  for h_t in h]
        z = torch.stack(logits).exp().sum()
        alphas = [torch.exp(x) / z for x in logits]
        for a, (i, t) in zip(alphas, positions, strict=True):
            weights[b, i, t] = a
        docs.append(sum(a * h_t for a, h_t in zip(alphas, h, strict=True)))
    v = torch.stack(docs)
    return v @ model.classifier.weight.T + model.classifier.bias, weights
