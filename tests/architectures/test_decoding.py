"""The shared searches of attnlab.architectures.decoding on a toy decoder: batched beam search
against a list-based reference and brute force, beam 1 against greedy, output conventions."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor

from attnlab.architectures.decoding import (
    DecodeOutput,
    beam_search,
    check_search_args,
    gnmt_length_penalty,
    greedy_search,
)
from reference.beam_search import beam_search_reference, greedy_reference

F64 = torch.float64
BOS, EOS, PAD, VOCAB, STATES = 0, 1, 7, 5, 3


class ToyDecoder:
    """Next-token scores from a random table indexed by (example, sum of the history mod 3,
    previous token, position): each hypothesis's distribution depends on its whole prefix.
    Its "weights" are a function of the same state, so that they can be recomputed."""

    def __init__(self, batch: int, max_length: int, *, seed: int, sharpness: float = 1.0) -> None:
        g = torch.Generator().manual_seed(seed)
        shape = (batch, STATES, VOCAB, max_length, VOCAB)
        self.table = (torch.randn(shape, generator=g, dtype=F64) * sharpness).log_softmax(-1)
        self.example = torch.arange(batch)
        self.total = torch.zeros(batch, dtype=torch.long)
        self.steps = 0

    def step(self, tokens: Tensor, position: int) -> tuple[Tensor, Tensor]:
        self.steps += 1
        self.total = self.total + tokens
        logits = self.table[self.example, self.total % STATES, tokens, position]  # (r, v)
        weights = torch.stack([self.total.to(F64), tokens.to(F64), self.example.to(F64)], -1)
        return logits * 2.0 + 1.0, weights  # logits, not log-probabilities

    def select(self, index: Tensor) -> None:
        self.example = self.example.index_select(0, index)
        self.total = self.total.index_select(0, index)

    def log_probs(self, example: int, prefix: list[int]) -> list[float]:
        """The same distribution for one output ``prefix``, replayed."""
        history = [BOS, *prefix]
        logits = self.table[example, sum(history) % STATES, history[-1], len(prefix)] * 2.0
        return logits.log_softmax(-1).tolist()

    def weights(self, example: int, tokens: list[int]) -> list[list[float]]:
        history = [BOS, *tokens]
        return [[float(sum(history[: t + 1])), float(history[t]), float(example)]
                for t in range(len(tokens))]


def _search(decoder: ToyDecoder, batch: int, **kwargs: object) -> DecodeOutput:
    return beam_search(decoder, batch_size=batch, bos_index=BOS, eos_index=EOS, pad_index=PAD,
                       **kwargs)  # type: ignore[arg-type]


def _check_row(out: DecodeOutput, b: int, tokens: list[int], decoder: ToyDecoder) -> None:
    n = int(out.lengths[b])
    assert out.tokens[b, :n].tolist() == tokens
    assert bool(out.tokens[b, n:].eq(PAD).all())
    assert out.weights is not None
    assert out.weights[b, :n].tolist() == decoder.weights(b, tokens)
    assert bool(out.weights[b, n:].eq(0).all())


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("beam_size", [1, 2, 4])
@pytest.mark.parametrize("seed", range(4))
def test_beam_search_equals_the_list_reference(alpha: float, beam_size: int, seed: int) -> None:
    batch, max_length = 3, 6
    decoder = ToyDecoder(batch, max_length, seed=seed)
    out = _search(decoder, batch, beam_size=beam_size, max_length=max_length,
                  length_penalty=alpha)
    replay = ToyDecoder(batch, max_length, seed=seed)
    assert out.tokens.shape == (batch, int(out.lengths.max()))
    steps = 0
    for b in range(batch):
        tokens, score, reference_steps = beam_search_reference(
            lambda prefix: replay.log_probs(b, prefix), eos=EOS, beam_size=beam_size,
            max_length=max_length, alpha=alpha,
        )
        _check_row(out, b, tokens, replay)
        assert math.isclose(float(out.scores[b]), score, rel_tol=0, abs_tol=1e-12)
        steps = max(steps, reference_steps)
    assert decoder.steps <= steps  # early stopping may end sooner, never later


def test_the_searches_differ_and_stop_early() -> None:
    # the reference comparison above is not vacuous: wider beams change answers, and the
    # early stop ends searches before the last hypothesis is finished
    changed = early = 0
    for seed in range(4):
        narrow = _search(ToyDecoder(3, 6, seed=seed), 3, beam_size=1, max_length=6,
                         length_penalty=0.0)
        decoder = ToyDecoder(3, 6, seed=seed)
        wide = _search(decoder, 3, beam_size=4, max_length=6, length_penalty=0.0)
        changed += int((narrow.scores != wide.scores).sum())
        replay = ToyDecoder(3, 6, seed=seed)
        reference_steps = max(
            beam_search_reference(lambda prefix: replay.log_probs(b, prefix), eos=EOS,
                                  beam_size=4, max_length=6, alpha=0.0)[2]
            for b in range(3)
        )
        early += decoder.steps < reference_steps
    assert changed > 0 and early > 0


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_beam_as_wide_as_the_search_space_is_exact(alpha: float) -> None:
    batch, max_length = 2, 3
    out = _search(ToyDecoder(batch, max_length, seed=7, sharpness=1.0), batch,
                  beam_size=VOCAB**max_length, max_length=max_length, length_penalty=alpha)
    replay = ToyDecoder(batch, max_length, seed=7, sharpness=1.0)
    for b in range(batch):
        best, best_seq = -math.inf, None
        for n in range(1, max_length + 1):
            for seq in itertools.product(range(VOCAB), repeat=n):
                if EOS in seq[:-1] or (n < max_length and seq[-1] != EOS):
                    continue
                log_p = sum(replay.log_probs(b, list(seq[:t]))[seq[t]] for t in range(n))
                if log_p / gnmt_length_penalty(n, alpha) > best:
                    best, best_seq = log_p / gnmt_length_penalty(n, alpha), list(seq)
        assert best_seq is not None and len(best_seq) > 1  # not trivially [EOS]
        _check_row(out, b, best_seq, replay)
        assert math.isclose(float(out.scores[b]), best, rel_tol=0, abs_tol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_greedy_equals_reference_and_beam_of_one(seed: int) -> None:
    batch, max_length = 4, 6
    greedy = greedy_search(ToyDecoder(batch, max_length, seed=seed), batch_size=batch,
                           bos_index=BOS, eos_index=EOS, pad_index=PAD, max_length=max_length)
    replay = ToyDecoder(batch, max_length, seed=seed)
    for b in range(batch):
        tokens, score = greedy_reference(lambda prefix: replay.log_probs(b, prefix), eos=EOS,
                                         max_length=max_length)
        _check_row(greedy, b, tokens, replay)
        assert math.isclose(float(greedy.scores[b]), score, rel_tol=0, abs_tol=1e-12)
    beam = _search(ToyDecoder(batch, max_length, seed=seed), batch, beam_size=1,
                   max_length=max_length, length_penalty=0.0)
    for got, want in zip(beam, greedy, strict=True):
        assert got is not None and want is not None
        assert torch.equal(got, want)


def test_empty_batch() -> None:
    for out in (
        greedy_search(ToyDecoder(0, 3, seed=0), batch_size=0, bos_index=BOS, eos_index=EOS,
                      pad_index=PAD, max_length=3),
        _search(ToyDecoder(0, 3, seed=0), 0, beam_size=2, max_length=3, length_penalty=0.6),
    ):
        assert out.tokens.shape[0] == out.lengths.shape[0] == out.scores.shape[0] == 0


def test_bad_search_arguments() -> None:
    with pytest.raises(ValueError, match="max_length"):
        check_search_args(max_length=0)
    with pytest.raises(ValueError, match="beam_size"):
        check_search_args(max_length=3, beam_size=0)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="length_penalty"):
            check_search_args(max_length=3, length_penalty=bad)
    with pytest.raises(ValueError, match="length_penalty"):
        _search(ToyDecoder(1, 3, seed=0), 1, beam_size=2, max_length=3, length_penalty=-0.5)
