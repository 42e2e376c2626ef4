"""Beam search written out with Python lists, one example at a time: the reference for
:func:`attnlab.architectures.decoding.beam_search` (batched, with early stopping).

At each step every live hypothesis is extended by every token; the ``beam_size`` best extensions
(by summed log-probability) are kept; those ending in EOS, or reaching ``max_length``, are
finished and scored ``log P / ((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016, eq. 14); the others
stay live. The search ends when nothing is live, and the best finished hypothesis wins (the
first one found on a tie).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def beam_search_reference(
    next_log_probs: Callable[[list[int]], Sequence[float]],
    *,
    eos: int,
    beam_size: int,
    max_length: int,
    alpha: float,
) -> tuple[list[int], float, int]:
    """``(tokens, score, steps)``: the best hypothesis, its score and the number of steps
    run; ``next_log_probs(prefix)`` gives the log-probabilities of the token after the output
    ``prefix`` (BOS not included)."""
    live: list[tuple[float, list[int]]] = [(0.0, [])]
    finished: list[tuple[float, list[int]]] = []
    for step in range(max_length):
        extensions = [
            (score + log_prob, [*tokens, token])
            for score, tokens in live
            for token, log_prob in enumerate(next_log_probs(tokens))
        ]
        extensions.sort(key=lambda item: -item[0])  # stable: ties keep their order
        live = []
        for score, tokens in extensions[:beam_size]:
            if tokens[-1] == eos or step == max_length - 1:
                finished.append((score / ((5 + len(tokens)) / 6) ** alpha, tokens))
            else:
                live.append((score, tokens))
        if not live:
            break
    best_score, best_tokens = max(finished, key=lambda item: item[0])
    return best_tokens, best_score, step + 1


def greedy_reference(
    next_log_probs: Callable[[list[int]], Sequence[float]], *, eos: int, max_length: int
) -> tuple[list[int], float]:
    """``(tokens, summed log-probability)`` of argmax decoding."""
    tokens: list[int] = []
    score = 0.0
    for _ in range(max_length):
        log_probs = list(next_log_probs(tokens))
        token = max(range(len(log_probs)), key=lambda v: log_probs[v])
        tokens.append(token)
        score += log_probs[token]
        if token == eos:
            break
    return tokens, score
