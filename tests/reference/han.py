"""Slow, paper-literal hierarchical attention (Yang et al. 2016, HAN, section 2.2, eqs. 5-10).

Padded words and sentences are *removed* before attending, then results are scattered back into
zero-padded tensors, so agreement with the module proves its masking equals truncation.
"""

from __future__ import annotations

import torch


def han(words, mask, W_w, b_w, u_w, W_s, b_s, u_s, sentence_encoder=None):
    """Returns (v, sentence_alpha (B, S), word_alpha (B, S, W), s (B, S, D)).

    ``sentence_encoder(list_of_sentence_vectors) -> list_of_annotations`` acts on the valid
    sentences of one document only (none: identity).
    """
    B, S, W, D = words.shape
    dt = words.dtype
    word_alpha = torch.zeros(B, S, W, dtype=dt)
    sent_alpha = torch.zeros(B, S, dtype=dt)
    sent_vec = torch.zeros(B, S, D, dtype=dt)
    docs = []
    for b in range(B):
        valid_sentences = []
        for i in range(S):
            ts = [t for t in range(W) if mask[b, i, t]]
            if not ts:
                continue  # a fully padded sentence is not a sentence
            # eq. 5: u_it = tanh(W_w h_it + b_w); eq. 6: softmax of u_it^T u_w over t
            logits = [torch.tanh(W_w @ words[b, i, t] + b_w) @ u_w for t in ts]
            z = torch.stack(logits).exp().sum()
            alphas = [torch.exp(x) / z for x in logits]
            # eq. 7: s_i = sum_t alpha_it h_it
            s_i = sum(a * words[b, i, t] for a, t in zip(alphas, ts, strict=True))
            for a, t in zip(alphas, ts, strict=True):
                word_alpha[b, i, t] = a
            sent_vec[b, i] = s_i
            valid_sentences.append(i)
        h = [sent_vec[b, i] for i in valid_sentences]
        if sentence_encoder is not None and h:
            h = sentence_encoder(h)
        if not h:
            docs.append(None)
            continue
        # eqs. 8-10
        logits = [torch.tanh(W_s @ h_i + b_s) @ u_s for h_i in h]
        z = torch.stack(logits).exp().sum()
        alphas = [torch.exp(x) / z for x in logits]
        for a, i in zip(alphas, valid_sentences, strict=True):
            sent_alpha[b, i] = a
        docs.append(sum(a * h_i for a, h_i in zip(alphas, h, strict=True)))
    dim = next((d.shape[0] for d in docs if d is not None), D)
    v = torch.stack([d if d is not None else torch.zeros(dim, dtype=dt) for d in docs])
    return v, sent_alpha, word_alpha, sent_vec
