"""The attention model's alignments on long held-out sources, for the report's interactive view.

:func:`save_alignment_view` writes ``RUN_DIR/attention_view.json`` (read by the report, see
:mod:`attnlab.report.attention_view`): for the longest test sources, the alignment matrix of the
greedy decoding, row ``i`` the additive attention of output ``i`` over the source (one layer, one
head).
"""

from __future__ import annotations

from collections.abc import Callable

from attnlab.data.translation import EOS_ID, PairDataset
from attnlab.experiments.bahdanau2015_length.common import Decoded
from attnlab.experiments.context import RunContext
from attnlab.report.attention_view import (
    MAX_EXAMPLES,
    VIEW_FILE,
    AttentionExample,
    AttentionMap,
    write_view_data,
)

__all__ = ["alignment_examples", "save_alignment_view"]


def alignment_examples(
    decoded: Decoded,
    data: PairDataset,
    indices: list[int],
    *,
    symbol: Callable[[int], str],
) -> list[AttentionExample]:
    """One example per index of ``data``: its source, the greedy output and their alignment.

    Args:
        decoded: the greedy decoding of ``data`` with its alignments.
        data: the test pairs.
        indices: which pairs.
        symbol: the label of a token id.

    Returns:
        Examples with one map, ``alignment``: queries are the outputs (EOS included), keys the
        source tokens (EOS included), weights ``(1, 1, T_out, S)``.

    Raises:
        ValueError: ``decoded`` holds no alignments (a model without attention).
    """
    if decoded.weights is None:
        raise ValueError("decoded has no alignments: decode with the attention model")
    examples = []
    for index in indices:
        src = data.src[index, : int(data.src_lengths[index])].tolist()
        out = [*decoded.hypotheses[index], EOS_ID]
        weights = decoded.weights[index][: len(out), : len(src)]
        source, output = [symbol(i) for i in src], [symbol(i) for i in out]
        examples.append(AttentionExample(
            f"source length {len(src) - 1}: {' '.join(source[:-1])}",
            [AttentionMap("alignment", weights, queries=output[: weights.shape[0]], keys=source,
                          title="additive attention (outputs over the source)")],
        ))
    return examples


def save_alignment_view(
    ctx: RunContext,
    decoded: Decoded,
    data: PairDataset,
    *,
    test_per_length: int,
    symbol: Callable[[int], str],
) -> None:
    """Write the view of the longest test sources (one per length, from the longest down).

    Args:
        ctx: the run's context.
        decoded: the attention model's greedy decoding of ``data``.
        data: the test pairs, grouped by source length, ``test_per_length`` each, longest last.
        test_per_length: the size of each group.
        symbol: the label of a token id.
    """
    if not ctx.is_main or decoded.weights is None:
        return
    indices = [len(data) - 1 - k * test_per_length for k in range(MAX_EXAMPLES)]
    indices = [i for i in indices if i >= 0]
    write_view_data(ctx.path(VIEW_FILE), alignment_examples(decoded, data, indices,
                                                            symbol=symbol))
