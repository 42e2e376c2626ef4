"""Corpus BLEU on token lists (Papineni et al. 2002).

Papineni, Roukos, Ward, Zhu, "BLEU: a Method for Automatic Evaluation of Machine Translation",
ACL 2002, https://aclanthology.org/P02-1040/ (section 2: modified n-gram precision, eq. in 2.1.1;
brevity penalty and the geometric mean, section 2.2.3):

.. math::

    p_n = \\frac{\\sum_{\\text{sent}} \\sum_{g \\in \\text{n-grams(hyp)}}
              \\min\\big(c_{\\text{hyp}}(g), \\max_r c_r(g)\\big)}
             {\\sum_{\\text{sent}} \\sum_{g \\in \\text{n-grams(hyp)}} c_{\\text{hyp}}(g)},
    \\qquad
    BP = \\begin{cases} 1 & c > r \\\\ e^{1 - r / c} & c \\le r \\end{cases},
    \\qquad
    \\mathrm{BLEU} = BP \\cdot \\exp\\Big(\\sum_{n=1}^{N} w_n \\log p_n\\Big), \\; w_n = 1/N

with ``c`` the total hypothesis length and ``r`` the effective reference length: for every
sentence the reference length closest to the hypothesis length (the shorter one on ties), summed
over the corpus. Clipping counts and lengths are summed over the corpus *before* dividing
(corpus-level BLEU, not an average of sentence scores).

Smoothing (Chen and Cherry 2014, "A Systematic Comparison of Smoothing Techniques for
Sentence-Level BLEU", https://aclanthology.org/W14-3346/):

* ``"none"``: any ``p_n = 0`` makes BLEU 0 (the paper);
* ``"floor"``: a zero match count is replaced by ``floor_value`` (default 0.1; sacrebleu's
  ``smooth_method="floor"``);
* ``"add-k"``: ``(m_n + k) / (l_n + k)`` for ``n >= 2`` (sacrebleu's ``"add-k"``);
* ``"exp"``: the ``k``-th zero precision becomes ``1 / (2^k l_n)`` (method 3, sacrebleu's
  default ``"exp"``).

The score is returned on the 0-100 scale, like sacrebleu. Tokenisation is the caller's: this
module compares token lists as given (sacrebleu with ``tokenize="none"`` on space-joined tokens
gives the same number).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = ["SMOOTHING_METHODS", "BleuScore", "corpus_bleu", "ngram_counts", "sentence_bleu"]

SMOOTHING_METHODS: tuple[str, ...] = ("none", "floor", "add-k", "exp")

Tokens = Sequence[Any]


class BleuScore(NamedTuple):
    """Result of :func:`corpus_bleu`.

    Attributes:
        score: BLEU on the 0-100 scale.
        precisions: the (smoothed) modified precisions ``p_1 .. p_N`` in percent.
        brevity_penalty: ``BP``.
        hyp_length: ``c``, total hypothesis tokens.
        ref_length: ``r``, total effective reference tokens.
        matches: clipped n-gram matches per order (unsmoothed).
        totals: hypothesis n-grams per order.
    """

    score: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    hyp_length: int
    ref_length: int
    matches: tuple[int, ...]
    totals: tuple[int, ...]


def ngram_counts(tokens: Tokens, n: int) -> Counter[tuple[object, ...]]:
    """Counts of the ``n``-grams of ``tokens``.

    Example:
        >>> sorted(ngram_counts(["a", "b", "a", "b"], 2).items())
        [(('a', 'b'), 2), (('b', 'a'), 1)]
    """
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _closest_ref_length(hyp_len: int, ref_lens: Sequence[int]) -> int:
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def corpus_bleu(
    hypotheses: Sequence[Tokens],
    references: Sequence[Any],
    *,
    max_order: int = 4,
    smoothing: str = "none",
    floor_value: float = 0.1,
    add_k: float = 1.0,
    effective_order: bool = False,
) -> BleuScore:
    """Corpus-level BLEU-``max_order`` of token-list hypotheses against references.

    Args:
        hypotheses: one token list per sentence.
        references: per sentence either one token list, or a list of reference token lists
            (the same number of references for every sentence is not required).
        max_order: ``N`` (4 for BLEU-4), uniform weights ``1 / N``.
        smoothing: one of :data:`SMOOTHING_METHODS` (see the module docstring).
        floor_value: the replacement match count of ``"floor"``.
        add_k: the ``k`` of ``"add-k"``.
        effective_order: use only the orders ``n`` for which the hypotheses have n-grams
            (so a 3-token sentence gets BLEU-3; sacrebleu's ``use_effective_order``).

    Returns:
        :class:`BleuScore`; ``score`` is 0 for an empty corpus or empty hypotheses.

    Example:
        >>> hyp = ["the", "cat", "sat", "on", "the", "mat"]
        >>> round(corpus_bleu([hyp], [[hyp]]).score, 6)
        100.0
        >>> corpus_bleu([["the", "cat"]], [["the", "cat", "sat", "down"]]).score
        0.0
    """
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError("hypotheses and references must be lists of token lists, not strings")
    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses and references must have the same length, got {len(hypotheses)} "
            f"and {len(references)}"
        )
    if isinstance(max_order, bool) or not isinstance(max_order, int) or max_order < 1:
        raise ValueError(f"max_order must be an integer >= 1, got {max_order!r}")
    if smoothing not in SMOOTHING_METHODS:
        raise ValueError(f"smoothing must be one of {SMOOTHING_METHODS}, got {smoothing!r}")
    matches = [0] * max_order
    totals = [0] * max_order
    hyp_length = ref_length = 0
    for hyp, refs in zip(hypotheses, references, strict=True):
        if isinstance(hyp, str):
            raise TypeError("hypotheses must hold token lists, not strings")
        ref_list = _as_reference_list(refs)
        hyp_length += len(hyp)
        ref_length += _closest_ref_length(len(hyp), [len(r) for r in ref_list])
        for n in range(1, max_order + 1):
            hyp_counts = ngram_counts(hyp, n)
            max_ref: Counter[tuple[object, ...]] = Counter()
            for ref in ref_list:
                max_ref |= ngram_counts(ref, n)  # element-wise max over references
            matches[n - 1] += sum(min(c, max_ref[g]) for g, c in hyp_counts.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    order = max_order
    if effective_order:
        order = max(sum(1 for t in totals if t > 0), 1)
    precisions = _precisions(matches[:order], totals[:order], smoothing, floor_value, add_k)
    if hyp_length == 0:
        brevity = 0.0
    elif hyp_length > ref_length:
        brevity = 1.0
    else:
        brevity = math.exp(1.0 - ref_length / hyp_length)
    if hyp_length == 0 or min(precisions) <= 0.0:
        score = 0.0
    else:
        score = brevity * math.exp(sum(math.log(p) for p in precisions) / order)
    return BleuScore(
        100.0 * score,
        tuple(100.0 * p for p in precisions),
        brevity,
        hyp_length,
        ref_length,
        tuple(matches),
        tuple(totals),
    )


def _as_reference_list(refs: Sequence[Any]) -> list[Sequence[Any]]:
    if isinstance(refs, str):
        raise TypeError("references must hold token lists, not strings")
    if len(refs) > 0 and all(isinstance(r, Sequence) and not isinstance(r, str) for r in refs):
        ref_list = list(refs)  # several references
    else:
        ref_list = [refs]  # one reference (a token list)
    if not ref_list:
        raise ValueError("every sentence needs at least one reference")
    return ref_list


def _precisions(
    matches: Sequence[int], totals: Sequence[int], smoothing: str, floor_value: float, k: float
) -> list[float]:
    out: list[float] = []
    exp_k = 1.0
    for n, (m, t) in enumerate(zip(matches, totals, strict=True), start=1):
        if t == 0:
            out.append(0.0)
            continue
        if smoothing == "floor" and m == 0:
            out.append(floor_value / t)
        elif smoothing == "add-k" and n >= 2:
            out.append((m + k) / (t + k))
        elif smoothing == "exp" and m == 0:
            exp_k *= 2.0
            out.append(1.0 / (exp_k * t))
        else:
            out.append(m / t)
    return out


def sentence_bleu(
    hypothesis: Tokens,
    references: Sequence[Any],
    *,
    max_order: int = 4,
    smoothing: str = "exp",
) -> float:
    """BLEU of one sentence (0-100): smoothed (default ``"exp"``), effective order (as
    sacrebleu's ``sentence_bleu``), see :func:`corpus_bleu`.

    Example:
        >>> round(sentence_bleu(["a", "b", "c"], ["a", "b", "c"]), 6)
        100.0
    """
    return corpus_bleu(
        [hypothesis],
        [references],
        max_order=max_order,
        smoothing=smoothing,
        effective_order=True,
    ).score
