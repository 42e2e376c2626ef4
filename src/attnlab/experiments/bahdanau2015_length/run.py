"""Run ``bahdanau2015_length``: RNNsearch (additive attention) vs RNNencdec (no attention), scored
by source length on a generated task and, when the data is there, on English -> French.

Both models share every size (bidirectional GRU encoder, GRU decoder, tanh deep output); the
only difference is the context: the attention's ``c_i`` (Bahdanau eqs. 5-6) or the encoder's
final states for every step (``attention=None`` of :class:`~attnlab.architectures.seq2seq.
Seq2Seq`). Outputs are decoded greedily.
"""

from __future__ import annotations

import torch

from attnlab.architectures.seq2seq import Seq2Seq
from attnlab.data.sequences import make_sequence_task
from attnlab.data.translation import (
    ENG_FRA_RESOURCE,
    NUM_SPECIAL_TOKENS,
    PairDataset,
    Vocab,
    load_eng_fra,
    split_pairs,
)
from attnlab.experiments.bahdanau2015_length.attention_view import save_alignment_view
from attnlab.experiments.bahdanau2015_length.common import (
    Decoded,
    accuracy_by_length,
    bleu_by_length,
    decode_dataset,
    plot_alignment,
    plot_curves,
    references_of,
    train_seq2seq,
)
from attnlab.experiments.bahdanau2015_length.config import LengthConfig
from attnlab.experiments.context import RunContext

__all__ = ["VARIANTS", "build_model", "main"]

VARIANTS: dict[str, str | None] = {"attention": "additive", "no_attention": None}
"""RNNsearch and RNNencdec."""


def build_model(
    config: LengthConfig, src_vocab: int, tgt_vocab: int, attention: str | None
) -> Seq2Seq:
    """The encoder-decoder of this experiment (same sizes with and without attention)."""
    m = config.model
    return Seq2Seq(
        src_vocab,
        tgt_vocab,
        embed_dim=m.embed_dim,
        hidden_dim=m.hidden_dim,
        rnn=m.rnn,
        bidirectional=m.bidirectional,
        attention=attention,
        attention_hidden_dim=m.attention_hidden_dim,
    )


def main(config: LengthConfig, ctx: RunContext) -> dict[str, float]:
    """Train both models on each task; return accuracy (and BLEU) by source length.

    Returns:
        ``<task>/<variant>/seq_acc_shortest`` / ``seq_acc_longest`` / ``seq_acc`` /
        ``token_acc_longest``, ``<task>/attention_minus_no_attention/seq_acc_longest``, and with
        the eng-fra data ``eng_fra/<variant>/bleu`` (+ ``bleu_longest``), ``eng_fra/used``.
    """
    metrics = _sequence_part(config, ctx)
    use_translation = config.translation.enabled and ENG_FRA_RESOURCE.is_available(ctx.data_dir)
    metrics["eng_fra/used"] = float(use_translation)
    if use_translation:
        metrics.update(_translation_part(config, ctx))
    elif config.translation.enabled:
        ctx.logger.warning("eng-fra data not found: the translation part is skipped")
    return metrics


def _train_and_decode(
    config: LengthConfig,
    ctx: RunContext,
    name: str,
    sets: tuple[PairDataset, PairDataset, PairDataset],
    vocab_sizes: tuple[int, int],
    attention: str | None,
    *,
    epochs: int,
    max_length: int,
) -> Decoded:
    """Train one model (seeded alike for every variant) and greedy-decode the test set."""
    train_set, val_set, test_set = sets
    torch.manual_seed(ctx.seed)
    model = build_model(config, *vocab_sizes, attention).to(ctx.device)
    o = config.optim
    train_seq2seq(
        model, train_set, val_set, ctx=ctx, name=name,
        epochs=epochs, batch_size=o.batch_size, lr=o.lr, grad_clip=o.grad_clip,
    )  # fmt: skip
    return decode_dataset(model, test_set, max_length=max_length)


def _sequence_sets(
    config: LengthConfig, seed: int
) -> tuple[PairDataset, PairDataset, PairDataset]:
    """Training, validation and test pairs of the synthetic task; the test set holds
    ``test_per_length`` pairs of every source length, shortest first."""
    s = config.sequence
    width = s.max_length + 1  # + EOS
    lengths = {"min_length": s.min_length, "max_length": s.max_length}
    train = make_sequence_task(
        s.task, s.train_size, seed=seed, vocab_size=s.vocab_size, **lengths
    )
    val = make_sequence_task(
        s.task, max(64, s.train_size // 20), seed=seed + 1, vocab_size=s.vocab_size, **lengths
    )
    test = []
    for length in range(s.min_length, s.max_length + 1):
        test += make_sequence_task(
            s.task, s.test_per_length, min_length=length, max_length=length,
            seed=seed + 1000 + length, vocab_size=s.vocab_size,
        )  # fmt: skip
    train_set, val_set, test_set = (
        PairDataset(p, src_length=width, tgt_length=width) for p in (train, val, test)
    )
    return train_set, val_set, test_set


def _sequence_part(config: LengthConfig, ctx: RunContext) -> dict[str, float]:
    task = config.sequence.task
    vocab = NUM_SPECIAL_TOKENS + config.sequence.vocab_size
    width = config.sequence.max_length + 1  # + EOS
    sets = _sequence_sets(config, ctx.seed)
    refs = references_of(sets[2])
    metrics: dict[str, float] = {}
    curves: dict[str, dict[int, float]] = {}
    shown = None
    for variant, attention in VARIANTS.items():
        decoded = _train_and_decode(
            config, ctx, f"{task}/{variant}", sets, (vocab, vocab), attention,
            epochs=config.optim.epochs, max_length=width + 1,
        )  # fmt: skip
        scores = accuracy_by_length(decoded, refs)
        for length, (exact, tokens) in scores.items():
            ctx.log(f"{task}/{variant}/seq_acc_by_length", exact, step=length)
            ctx.log(f"{task}/{variant}/token_acc_by_length", tokens, step=length)
        lengths = sorted(scores)
        longest = lengths[-config.longest_bucket :]
        prefix = f"{task}/{variant}"
        metrics[f"{prefix}/seq_acc_shortest"] = scores[lengths[0]][0]
        metrics[f"{prefix}/seq_acc_longest"] = sum(scores[n][0] for n in longest) / len(longest)
        metrics[f"{prefix}/token_acc_longest"] = sum(scores[n][1] for n in longest) / len(longest)
        metrics[f"{prefix}/seq_acc"] = sum(v[0] for v in scores.values()) / len(scores)
        curves[variant.replace("_", " ")] = {n: v[0] for n, v in scores.items()}
        ctx.logger.info(
            "%s %s: exact match %.1f%% (shortest %.1f%%, longest %.1f%%)",
            task, variant, 100 * metrics[f"{prefix}/seq_acc"],
            100 * metrics[f"{prefix}/seq_acc_shortest"], 100 * metrics[f"{prefix}/seq_acc_longest"],
        )  # fmt: skip
        if decoded.weights is not None:
            shown = decoded
    metrics[f"{task}/attention_minus_no_attention/seq_acc_longest"] = (
        metrics[f"{task}/attention/seq_acc_longest"]
        - metrics[f"{task}/no_attention/seq_acc_longest"]
    )
    plot_curves(
        ctx,
        curves,
        name=f"{task}_accuracy_by_length",
        ylabel="exact-match accuracy",
        title=f"{task} task: accuracy by source length",
        caption=(
            f"Exact-match accuracy (greedy decoding) of the {task} task by source length, with "
            "additive attention (RNNsearch) and without (RNNencdec). Bahdanau et al.'s Fig. 2 "
            "shows the same shape for BLEU on WMT'14."
        ),
    )
    if shown is not None:
        _plot_sequence_alignments(ctx, config, shown, sets[2])
        save_alignment_view(ctx, shown, sets[2], symbol=_symbol,
                            test_per_length=config.sequence.test_per_length)
    return metrics


def _plot_sequence_alignments(
    ctx: RunContext, config: LengthConfig, decoded: Decoded, data: PairDataset
) -> None:
    """``shown_examples`` alignment matrices of the attention model, on long sources."""
    task = config.sequence.task
    assert decoded.weights is not None
    for k in range(min(config.shown_examples, len(data))):
        index = len(data) - 1 - k * config.sequence.test_per_length  # long sources
        src = data.src[index, : int(data.src_lengths[index])].tolist()
        out = decoded.hypotheses[index] + [2]
        plot_alignment(
            ctx,
            decoded.weights[index][: len(out)],
            source=[_symbol(i) for i in src],
            output=[_symbol(i) for i in out],
            name=f"{task}_alignment_{k}",
            title=f"{task}: additive attention (source length {len(src) - 1})",
            caption=(
                f"Alignment matrix of the attention model on a held-out {task} example: "
                "row i is the attention of output i over the source."
            ),
        )


def _symbol(index: int) -> str:
    return {0: "<pad>", 1: "<bos>", 2: "<eos>", 3: "<unk>"}.get(
        index, str(index - NUM_SPECIAL_TOKENS)
    )


def _translation_part(config: LengthConfig, ctx: RunContext) -> dict[str, float]:
    t = config.translation
    pairs = load_eng_fra(
        ctx.data_dir, max_length=t.max_length, max_pairs=t.max_pairs, seed=ctx.seed
    )
    train, val, test = split_pairs(
        pairs, valid_fraction=t.test_fraction / 2, test_fraction=t.test_fraction, seed=ctx.seed
    )
    en = Vocab.build([p[0] for p in train], min_freq=t.min_freq)
    fr = Vocab.build([p[1] for p in train], min_freq=t.min_freq)
    width = t.max_length + 1
    sets = [PairDataset(p, en, fr, src_length=width, tgt_length=width) for p in (train, val, test)]
    train_set, val_set, test_set = sets
    refs = references_of(test_set)
    metrics: dict[str, float] = {"eng_fra/train_pairs": float(len(train))}
    curves: dict[str, dict[int, float]] = {}
    for variant, attention in VARIANTS.items():
        decoded = _train_and_decode(
            config, ctx, f"eng_fra/{variant}", (train_set, val_set, test_set),
            (len(en), len(fr)), attention, epochs=t.epochs, max_length=width + 2,
        )  # fmt: skip
        overall, per_length = bleu_by_length(decoded, refs, fr, min_count=10)
        for length, value in per_length.items():
            ctx.log(f"eng_fra/{variant}/bleu_by_length", value, step=length)
        metrics[f"eng_fra/{variant}/bleu"] = overall
        if per_length:
            longest = sorted(per_length)[-config.longest_bucket :]
            metrics[f"eng_fra/{variant}/bleu_longest"] = sum(per_length[n] for n in longest) / len(
                longest
            )
        curves[variant.replace("_", " ")] = per_length
        ctx.logger.info("eng-fra %s: BLEU %.2f", variant, overall)
        if decoded.weights is not None:
            index = max(range(len(test)), key=lambda i: len(test[i][0]))
            src = [*en.decode(test_set.src[index].tolist()), "<eos>"]
            out = [*fr.decode(decoded.hypotheses[index]), "<eos>"]
            plot_alignment(
                ctx,
                decoded.weights[index][: len(out), : len(src)],
                source=src,
                output=out,
                name="eng_fra_alignment",
                title="English -> French: additive attention",
                caption="Alignment matrix of the attention model on the longest held-out sentence.",
            )
    metrics["eng_fra/attention_minus_no_attention/bleu"] = (
        metrics["eng_fra/attention/bleu"] - metrics["eng_fra/no_attention/bleu"]
    )
    plot_curves(
        ctx,
        curves,
        name="eng_fra_bleu_by_length",
        ylabel="BLEU-4",
        title="English -> French: BLEU by source length",
        caption=(
            "Corpus BLEU-4 (exp smoothing) of held-out Tatoeba pairs by English length, with and "
            "without attention (cf. Bahdanau et al. Fig. 2, WMT'14, much longer sentences)."
        ),
    )
    return metrics
