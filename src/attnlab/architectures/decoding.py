"""Greedy and beam-search decoding, shared by the sequence models (:class:`~attnlab.architectures.
transformer.Transformer`, :class:`~attnlab.architectures.seq2seq.Seq2Seq`).

A model exposes its decoder as an :class:`IncrementalDecoder` (one step from the previous tokens
of a batch of hypotheses, and a way to reorder those hypotheses); :func:`greedy_search` and
:func:`beam_search` run the search and return a :class:`DecodeOutput`. Both decode up to
``max_length`` output tokens (EOS included) and write ``pad_index`` after each EOS.

Beam search keeps, at every step, the ``beam_size`` best one-token expansions (by cumulative
log-probability) of the live hypotheses. An expansion that ends in EOS, or reaches
``max_length``, is finished: it leaves the beam and is scored by

.. math::

    s(Y) = \\frac{\\log P(Y \\mid X)}{lp(Y)}, \\qquad
    lp(Y) = \\Big(\\frac{5 + |Y|}{6}\\Big)^{\\alpha}

(Wu et al., "Google's Neural Machine Translation System", https://arxiv.org/abs/1609.08144,
section 7, eq. 14; ``alpha = length_penalty``, ``|Y|`` counts the EOS). The answer is the finished
hypothesis with the best ``s(Y)``, the earliest one on a tie. ``beam_size=1`` is greedy decoding
exactly.

Note:
    The search stops as soon as no live hypothesis can beat the best finished one: a live
    hypothesis with log-probability ``L <= 0`` finishes with a score of at most
    ``L / lp(max_length)``. That bound is exact, so stopping early never changes the answer.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import torch
from torch import Tensor

from attnlab.core.checks import check_size

__all__ = [
    "DecodeOutput",
    "IncrementalDecoder",
    "beam_search",
    "check_search_args",
    "gnmt_length_penalty",
    "greedy_search",
]


class DecodeOutput(NamedTuple):
    """Result of greedy decoding and of beam search.

    Attributes:
        tokens: ``(B, T)`` int64 output ids without the BOS, EOS included, ``pad_index`` after
            it; ``T`` is the longest output.
        lengths: ``(B,)`` number of output ids (EOS included).
        weights: ``(B, T, ...)`` the attention weights of each output step (``(B, T, S)``
            alignments for :class:`~attnlab.architectures.seq2seq.Seq2Seq`), 0 after the end;
            ``None`` for a decoder that returns none.
        scores: ``(B,)`` log-probability of the output (greedy) or ``log P / lp`` (beam).
    """

    tokens: Tensor
    lengths: Tensor
    weights: Tensor | None
    scores: Tensor


class IncrementalDecoder(Protocol):
    """A model's decoder over a batch of ``R`` hypotheses (rows), as the searches drive it."""

    def step(self, tokens: Tensor, position: int) -> tuple[Tensor, Tensor | None]:
        """Feed the previous token of every row, ``(R,)`` long, at 0-based output ``position``;
        return the next-token logits ``(R, V)`` and this step's attention weights ``(R, ...)``
        (or ``None``)."""
        ...

    def select(self, index: Tensor) -> None:
        """Keep (and repeat) the rows ``index`` (``(R',)`` long) of every decoder state."""
        ...


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """``lp(Y) = ((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016, section 7).

    Example:
        >>> gnmt_length_penalty(1, 0.6), round(gnmt_length_penalty(7, 1.0), 4)
        (1.0, 2.0)
    """
    return ((5.0 + length) / 6.0) ** alpha


def check_search_args(
    *, max_length: int, beam_size: int = 1, length_penalty: float = 0.0
) -> None:
    """Validate the search arguments: sizes ``>= 1`` and a finite ``length_penalty >= 0``."""
    check_size(max_length, "max_length")
    check_size(beam_size, "beam_size")
    if (
        isinstance(length_penalty, bool)
        or not isinstance(length_penalty, int | float)
        or not (math.isfinite(length_penalty) and length_penalty >= 0)
    ):
        raise ValueError(f"length_penalty must be a finite number >= 0, got {length_penalty!r}")


def _fill_done(x: Tensor, done: Tensor, value: float) -> Tensor:
    return x.masked_fill(done.view(-1, *[1] * (x.dim() - 1)), value)


@torch.no_grad()
def greedy_search(
    decoder: IncrementalDecoder,
    *,
    batch_size: int,
    bos_index: int,
    eos_index: int,
    pad_index: int,
    max_length: int,
    device: torch.device | str | None = None,
) -> DecodeOutput:
    """Argmax decoding of ``batch_size`` rows until every row emitted EOS or ``max_length``.

    Returns:
        :class:`DecodeOutput`; ``T`` is the number of steps taken, ``scores`` the summed
        log-probabilities.
    """
    check_search_args(max_length=max_length)
    prev = torch.full((batch_size,), bos_index, dtype=torch.long, device=device)
    done = torch.zeros(batch_size, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    scores: Tensor | None = None
    tokens: list[Tensor] = []
    weights: list[Tensor] = []
    for position in range(max_length):
        logits, step_weights = decoder.step(prev, position)
        log_probs = logits.log_softmax(-1)  # (b, v)
        best = log_probs.argmax(-1)
        if scores is None:
            scores = log_probs.new_zeros(batch_size)
        scores = scores + log_probs.gather(1, best[:, None])[:, 0].masked_fill(done, 0.0)
        tokens.append(best.masked_fill(done, pad_index))
        if step_weights is not None:
            weights.append(_fill_done(step_weights, done, 0.0))
        lengths = lengths + (~done).long()
        done = done | (best == eos_index)
        prev = best
        if bool(done.all()):
            break
    assert scores is not None
    stacked = torch.stack(weights, dim=1) if weights else None  # (b, t, ...)
    return DecodeOutput(torch.stack(tokens, dim=1), lengths, stacked, scores)


class _Finished:
    """The best finished hypothesis of every example, kept as the beam search runs."""

    def __init__(self, batch_size: int, max_length: int, pad_index: int, like: Tensor) -> None:
        self.scores = like.new_full((batch_size,), -math.inf)
        self.lengths = torch.zeros(batch_size, dtype=torch.long, device=like.device)
        self.tokens = torch.full(
            (batch_size, max_length), pad_index, dtype=torch.long, device=like.device
        )
        self.weights: Tensor | None = None
        self.pad_index = pad_index

    def offer(self, scores: Tensor, rows: Tensor, tokens: Tensor, weights: Tensor | None) -> None:
        """Keep ``scores (B,)`` where they beat the best so far, with the hypothesis of ``rows``
        in ``tokens (R, t)`` and ``weights (R, t, ...)``."""
        better = scores > self.scores  # strict: the earlier hypothesis wins a tie
        if not bool(better.any()):
            return
        length = tokens.shape[1]
        self.scores = torch.where(better, scores, self.scores)
        self.lengths = self.lengths.masked_fill(better, length)
        new = self.tokens.clone()
        new[:, :length] = tokens.index_select(0, rows)
        new[:, length:] = self.pad_index
        self.tokens = torch.where(better[:, None], new, self.tokens)
        if weights is not None:
            chosen = weights.index_select(0, rows)  # (b, t, ...)
            if self.weights is None:
                self.weights = chosen.new_zeros(
                    (chosen.shape[0], self.tokens.shape[1], *chosen.shape[2:])
                )
            new_weights = torch.zeros_like(self.weights)
            new_weights[:, :length] = chosen
            keep = better.view(-1, *[1] * (new_weights.dim() - 1))
            self.weights = torch.where(keep, new_weights, self.weights)

    def output(self, steps: int) -> DecodeOutput:
        width = int(self.lengths.max()) if self.lengths.numel() else steps
        weights = None if self.weights is None else self.weights[:, :width]
        return DecodeOutput(self.tokens[:, :width], self.lengths, weights, self.scores)


@torch.no_grad()
def beam_search(
    decoder: IncrementalDecoder,
    *,
    batch_size: int,
    bos_index: int,
    eos_index: int,
    pad_index: int,
    beam_size: int,
    max_length: int,
    length_penalty: float,
    device: torch.device | str | None = None,
) -> DecodeOutput:
    """Batched beam search (see the module docstring) over ``batch_size`` examples.

    ``decoder`` holds one row per example; it is expanded to ``beam_size`` rows per example
    (``select``) and reordered after every step.

    Returns:
        :class:`DecodeOutput` with ``scores = log P / lp`` of the chosen hypotheses.
    """
    check_search_args(max_length=max_length, beam_size=beam_size, length_penalty=length_penalty)
    k = beam_size
    examples = torch.arange(batch_size, device=device)
    decoder.select(examples.repeat_interleave(k))
    first_row = (examples * k).unsqueeze(1)  # (b, 1)
    prev = torch.full((batch_size * k,), bos_index, dtype=torch.long, device=device)
    tokens = torch.empty(batch_size * k, 0, dtype=torch.long, device=device)
    weights: Tensor | None = None
    live: Tensor | None = None  # (b, k) log P of the live hypotheses, -inf in empty slots
    finished: _Finished | None = None
    bound = gnmt_length_penalty(max_length, length_penalty)
    for position in range(max_length):
        logits, step_weights = decoder.step(prev, position)
        log_probs = logits.log_softmax(-1)  # (b*k, v)
        if live is None or finished is None:
            live = log_probs.new_full((batch_size, k), -math.inf)
            live[:, 0] = 0.0  # the k rows of an example start identical: expand one
            finished = _Finished(batch_size, max_length, pad_index, log_probs)
        vocab = log_probs.shape[-1]
        total = live.unsqueeze(-1) + log_probs.view(batch_size, k, vocab)  # (b, k, v)
        top, flat = total.view(batch_size, k * vocab).topk(k, dim=1)  # (b, k)
        parents = (first_row + flat.div(vocab, rounding_mode="floor")).view(-1)  # (b*k,)
        next_tokens = flat % vocab
        tokens = torch.cat([tokens.index_select(0, parents), next_tokens.view(-1, 1)], dim=1)
        if step_weights is not None:
            chosen = step_weights.index_select(0, parents).unsqueeze(1)  # (b*k, 1, ...)
            weights = chosen if weights is None else torch.cat(
                [weights.index_select(0, parents), chosen], dim=1
            )
        valid = top > -math.inf
        ends = valid & ((next_tokens == eos_index) | (position == max_length - 1))
        penalty = gnmt_length_penalty(position + 1, length_penalty)
        best, slot = torch.where(ends, top / penalty, -math.inf).max(dim=1)  # (b,)
        finished.offer(best, first_row[:, 0] + slot, tokens, weights)
        live = top.masked_fill(ends | ~valid, -math.inf)
        if bool((live.max(dim=1).values / bound <= finished.scores).all()):
            break
        decoder.select(parents)
        prev = next_tokens.view(-1)
    assert finished is not None
    return finished.output(position + 1)
