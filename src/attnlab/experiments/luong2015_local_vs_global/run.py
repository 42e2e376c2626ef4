"""Run ``luong2015_local_vs_global``: one Luong-style LSTM encoder-decoder per attention variant
on a generated task (reverse by default, or human dates -> ISO dates); perplexity, exact-match
accuracy, token accuracy and BLEU-4 (on the output tokens) per variant.

Every variant has the same encoder, decoder and schedule; only the attention of
:class:`~attnlab.architectures.seq2seq.Seq2Seq` changes (``"dot"``, ``"general"``, ``"concat"``,
``"local-m"`` / ``"local-p"`` with a dot or general score).
"""

from __future__ import annotations

import torch

from attnlab.architectures.seq2seq import Seq2Seq
from attnlab.data.sequences import date_vocab, encode_dates, make_dates, make_sequence_task
from attnlab.data.translation import PairDataset, Vocab
from attnlab.experiments.bahdanau2015_length.common import (
    accuracy_by_length,
    decode_dataset,
    plot_alignment,
    references_of,
    teacher_forced_perplexity,
    train_seq2seq,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.luong2015_local_vs_global.config import LocalGlobalConfig
from attnlab.metrics.bleu import corpus_bleu

__all__ = ["attention_of", "build_model", "main"]

Pairs = list[tuple[list[int], list[int]]]


def _data(config: LocalGlobalConfig, seed: int) -> tuple[Pairs, Pairs, Pairs, Vocab]:
    """Train / validation / test pairs of ids and the vocabulary used to print them."""
    n_val = max(64, config.train_size // 20)
    if config.task == "dates":
        vocab = date_vocab()
        splits = [
            encode_dates(make_dates(n, seed=seed + k), vocab)
            for k, n in enumerate((config.train_size, n_val, config.test_size))
        ]
        return splits[0], splits[1], splits[2], vocab
    vocab = Vocab([str(i) for i in range(config.vocab_size)])
    splits = [
        make_sequence_task(
            config.task,
            n,
            min_length=config.min_length,
            max_length=config.max_length,
            vocab_size=config.vocab_size,
            seed=seed + k,
        )
        for k, n in enumerate((config.train_size, n_val, config.test_size))
    ]
    return splits[0], splits[1], splits[2], vocab


def attention_of(variant: str) -> tuple[str, str]:
    """``variant -> (attention name, local score)``, e.g. ``"local_p_dot" -> ("local-p", "dot")``.

    Example:
        >>> attention_of("global_concat"), attention_of("local_m_general")
        (('concat', 'general'), ('local-m', 'general'))
    """
    if variant.startswith("global_"):
        return variant.removeprefix("global_"), "general"
    mode, score = variant.removeprefix("local_").split("_")
    return f"local-{mode}", score


def build_model(config: LocalGlobalConfig, vocab_size: int, variant: str) -> Seq2Seq:
    """The Luong-style model of ``variant`` (LSTM, attention after the step, input feeding)."""
    m = config.model
    attention, local_score = attention_of(variant)
    model = Seq2Seq(
        vocab_size,
        vocab_size,
        embed_dim=m.embed_dim,
        hidden_dim=m.hidden_dim,
        num_layers=m.num_layers,
        rnn="lstm",
        attention=attention,
        attention_style="luong",
        input_feeding=m.input_feeding,
        local_score=local_score,
        window_size=m.window_size,
    )
    if m.uniform_init is not None:  # Luong section 4.1: U[-0.1, 0.1]
        with torch.no_grad():
            for p in model.parameters():
                p.uniform_(-m.uniform_init, m.uniform_init)
    return model


def main(config: LocalGlobalConfig, ctx: RunContext) -> dict[str, float]:
    """Train every variant; return ``<variant>/ppl``, ``/seq_acc``, ``/token_acc``, ``/bleu``
    and the comparisons used by the targets."""
    train, val, test, vocab = _data(config, ctx.seed)
    width = max(len(s) for s, _ in train + val + test) + 1
    out_width = max(len(t) for _, t in train + val + test) + 1
    sets = [PairDataset(p, src_length=width, tgt_length=out_width) for p in (train, val, test)]
    train_set, val_set, test_set = sets
    refs = references_of(test_set)
    metrics: dict[str, float] = {}
    o = config.optim
    for variant in config.variants:
        torch.manual_seed(ctx.seed)
        model = build_model(config, len(vocab), variant).to(ctx.device)
        train_seq2seq(
            model, train_set, val_set, ctx=ctx, name=variant,
            epochs=o.epochs, batch_size=o.batch_size, lr=o.lr, grad_clip=o.grad_clip,
        )  # fmt: skip
        ppl = teacher_forced_perplexity(model, test_set)
        decoded = decode_dataset(model, test_set, max_length=out_width + 1)
        scores = accuracy_by_length(decoded, refs)
        n = len(refs)
        counts = {length: 0 for length in scores}
        for length in decoded.src_lengths:
            counts[length] += 1
        seq_acc = sum(scores[length][0] * c for length, c in counts.items()) / n
        char_acc = sum(scores[length][1] * c for length, c in counts.items()) / n
        bleu = corpus_bleu(decoded.hypotheses, refs).score
        metrics[f"{variant}/ppl"] = ppl
        metrics[f"{variant}/seq_acc"] = seq_acc
        metrics[f"{variant}/token_acc"] = char_acc
        metrics[f"{variant}/bleu"] = bleu
        ctx.logger.info(
            "%s: ppl %.3f, exact match %.1f%%, BLEU %.1f", variant, ppl, 100 * seq_acc, bleu
        )
        if decoded.weights is not None:
            index = max(range(len(test)), key=lambda i: len(test[i][0]))
            out = [*vocab.decode(decoded.hypotheses[index]), "<eos>"]
            source = [*vocab.decode(test[index][0]), "<eos>"]
            # a hypothesis cut at the length limit has no <eos> step: one label per row
            weights = decoded.weights[index][: len(out)]
            plot_alignment(
                ctx,
                weights,
                source=source,
                output=out[: weights.shape[0]],
                name=f"alignment_{variant}",
                title=f"{variant} ({config.task})",
                caption=f"Alignment matrix of {variant} on a held-out date (rows: outputs).",
            )
    globals_ = [v for v in config.variants if v.startswith("global_")]
    best_global = min(globals_, key=lambda v: metrics[f"{v}/ppl"])
    metrics["best_global_is_dot"] = float(best_global == "global_dot")
    if "global_concat" in config.variants:
        metrics["concat_minus_best_global/ppl"] = (
            metrics["global_concat/ppl"] - metrics[f"{best_global}/ppl"]
        )
    if "local_p_general" in config.variants and "local_m_general" in config.variants:
        metrics["local_p_minus_local_m/seq_acc"] = (
            metrics["local_p_general/seq_acc"] - metrics["local_m_general/seq_acc"]
        )
    metrics["best_seq_acc"] = max(metrics[f"{v}/seq_acc"] for v in config.variants)
    return metrics
