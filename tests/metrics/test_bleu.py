"""Corpus BLEU: hand-computed values (Papineni et al. 2002) and sacrebleu as an oracle."""

from __future__ import annotations

import math
import random

import pytest

from attnlab.metrics.bleu import corpus_bleu, ngram_counts, sentence_bleu

HYP = ["the", "cat", "sat", "on", "the", "mat"]
REF = ["the", "cat", "is", "on", "the", "mat"]


def test_papineni_modified_unigram_precision() -> None:
    """The paper's example (section 2.1): 'the' x 7 against two references -> 2/7."""
    hyp = ["the"] * 7
    refs = [
        ["the", "cat", "is", "on", "the", "mat"],
        ["there", "is", "a", "cat", "on", "the", "mat"],
    ]
    result = corpus_bleu([hyp], [refs], max_order=1)
    assert result.matches == (2,) and result.totals == (7,)
    assert math.isclose(result.precisions[0], 100 * 2 / 7)


def test_hand_computed_bleu4_with_floor_smoothing() -> None:
    # matches: 1-grams 5/6, 2-grams 3/5 (the cat, on the, the mat), 3-grams 1/4, 4-grams 0/3
    result = corpus_bleu([HYP], [REF], smoothing="floor", floor_value=0.1)
    assert result.matches == (5, 3, 1, 0) and result.totals == (6, 5, 4, 3)
    expected = 100 * (5 / 6 * 3 / 5 * 1 / 4 * 0.1 / 3) ** 0.25
    assert math.isclose(result.score, expected, rel_tol=1e-12)
    assert result.brevity_penalty == 1.0
    assert corpus_bleu([HYP], [REF]).score == 0.0  # unsmoothed: a zero precision gives 0


def test_brevity_penalty_and_effective_order() -> None:
    hyp, ref = ["the", "cat"], ["the", "cat", "sat", "on", "the", "mat"]
    result = corpus_bleu([hyp], [ref], effective_order=True)
    assert math.isclose(result.brevity_penalty, math.exp(1 - 6 / 2))
    assert math.isclose(result.score, 100 * math.exp(-2), rel_tol=1e-12)
    assert math.isclose(sentence_bleu(hyp, ref, smoothing="none"), 100 * math.exp(-2))


def test_closest_reference_length_prefers_shorter_on_ties() -> None:
    hyp = list("abcde")
    result = corpus_bleu([hyp], [[list("abcd"), list("abcdef")]])
    assert result.ref_length == 4 and result.brevity_penalty == 1.0


def test_corpus_level_sums_before_dividing() -> None:
    """Corpus BLEU is not the mean of sentence BLEUs: counts are pooled."""
    hyps = [HYP, ["a", "b", "c", "d", "e"]]
    refs = [HYP, ["a", "b", "c", "d", "x"]]
    pooled = corpus_bleu(hyps, refs)
    assert pooled.matches == (6 + 4, 5 + 3, 4 + 2, 3 + 1)
    assert pooled.totals == (11, 9, 7, 5)
    assert 0.0 < pooled.score < 100.0
    assert corpus_bleu([HYP], [[HYP]]).score == pytest.approx(100.0)


def test_ngram_counts_and_integer_tokens() -> None:
    assert ngram_counts([1, 2, 1, 2], 2)[(1, 2)] == 2
    assert corpus_bleu([[4, 5, 6, 7]], [[4, 5, 6, 7]]).score == pytest.approx(100.0)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="same length"):
        corpus_bleu([HYP], [])
    with pytest.raises(ValueError, match="max_order"):
        corpus_bleu([HYP], [REF], max_order=0)
    with pytest.raises(ValueError, match="smoothing"):
        corpus_bleu([HYP], [REF], smoothing="magic")
    with pytest.raises(TypeError, match="hypotheses"):
        corpus_bleu(["the cat"], [REF])


def _random_corpus(seed: int, n: int = 30) -> tuple[list[list[str]], list[list[str]]]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(8)]
    hyps, refs = [], []
    for _ in range(n):
        ref = [rng.choice(words) for _ in range(rng.randint(1, 12))]
        hyp = [w if rng.random() < 0.7 else rng.choice(words) for w in ref]
        hyp = hyp[: rng.randint(1, len(hyp))] if rng.random() < 0.3 else hyp
        hyps.append(hyp)
        refs.append(ref)
    return hyps, refs


@pytest.mark.parametrize("smoothing", ["none", "floor", "add-k", "exp"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_sacrebleu(smoothing: str, seed: int) -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps, refs = _random_corpus(seed)
    ours = corpus_bleu(hyps, refs, smoothing=smoothing)
    theirs = sacrebleu.corpus_bleu(
        [" ".join(h) for h in hyps],
        [[" ".join(r) for r in refs]],
        tokenize="none",
        smooth_method=smoothing,
        force=True,
    )
    assert ours.score == pytest.approx(theirs.score, abs=1e-9)
    assert ours.brevity_penalty == pytest.approx(theirs.bp, abs=1e-12)
    if smoothing == "none":  # sacrebleu's counts include the add-k smoothing
        assert list(ours.matches) == list(theirs.counts)


def test_agrees_with_sacrebleu_multi_reference() -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps, refs_a = _random_corpus(7)
    _, refs_b = _random_corpus(8)
    ours = corpus_bleu(hyps, [[a, b] for a, b in zip(refs_a, refs_b, strict=True)])
    theirs = sacrebleu.corpus_bleu(
        [" ".join(h) for h in hyps],
        [[" ".join(r) for r in refs_a], [" ".join(r) for r in refs_b]],
        tokenize="none",
        smooth_method="none",
        force=True,
    )
    assert ours.score == pytest.approx(theirs.score, abs=1e-9)
