"""Helpers shared by the RNN encoder-decoder experiments (``bahdanau2015_length`` and
``luong2015_local_vs_global``): training through :func:`attnlab.train.fit`, greedy decoding of a
:class:`~attnlab.data.translation.PairDataset`, scores by source length, and plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from attnlab.architectures.seq2seq import Seq2Seq, sequence_cross_entropy
from attnlab.data.translation import EOS_ID, IGNORE_INDEX, PairDataset, Vocab
from attnlab.experiments.context import RunContext
from attnlab.metrics.bleu import corpus_bleu
from attnlab.train import TrainConfig, TrainResult, fit

__all__ = [
    "Decoded",
    "accuracy_by_length",
    "bleu_by_length",
    "decode_dataset",
    "plot_alignment",
    "plot_curves",
    "references_of",
    "teacher_forced_perplexity",
    "train_seq2seq",
]


def train_seq2seq(
    model: Seq2Seq,
    train_set: PairDataset,
    val_set: PairDataset | None,
    *,
    ctx: RunContext,
    name: str,
    epochs: int,
    batch_size: int,
    lr: float,
    grad_clip: float,
) -> TrainResult:
    """Adam + teacher forcing with the library's training loop; curves logged as ``name/...``."""
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        optimizer="adam",
        lr=lr,
        grad_clip=grad_clip,
        seed=ctx.seed,
        device=str(ctx.device),
    )
    result = fit(
        model,
        train_set,
        val_set,
        config=config,
        loss_fn=sequence_cross_entropy,
        run_dir=ctx.checkpoint_dir / name.replace("/", "_"),
        resume=ctx.resume,
        progress=ctx.progress,
    )
    ctx.log_records(result.history, prefix=f"{name}/")
    return result


@dataclass
class Decoded:
    """Greedy outputs of a dataset: ids without EOS, source lengths (EOS excluded), alignments."""

    hypotheses: list[list[int]]
    src_lengths: list[int]
    weights: list[Tensor] | None  # per example (T_out, S) on the CPU


@torch.no_grad()
def decode_dataset(
    model: Seq2Seq, data: PairDataset, *, max_length: int, batch_size: int = 256
) -> Decoded:
    """Greedy-decode every source of ``data`` (the model is put in eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    hyps: list[list[int]] = []
    weights: list[Tensor] = []
    for start in range(0, len(data), batch_size):
        batch = data.batch(range(start, min(start + batch_size, len(data))))
        out = model.greedy_decode(
            batch.src.to(device), batch.src_lengths.to(device), max_length=max_length
        )
        for b in range(out.tokens.shape[0]):
            n = int(out.lengths[b])
            ids = out.tokens[b, :n].tolist()
            if ids and ids[-1] == EOS_ID:
                ids = ids[:-1]
            hyps.append(ids)
            if out.weights is not None:
                s = int(batch.src_lengths[b])
                weights.append(out.weights[b, :n, :s].cpu())
    lengths = (data.src_lengths - 1).tolist()  # the sources end with EOS
    return Decoded(hyps, lengths, weights if weights else None)


def references_of(data: PairDataset) -> list[list[int]]:
    """The target ids of every item (without EOS)."""
    refs = []
    for row in data.tgt_out:
        ids = row[row != IGNORE_INDEX].tolist()
        refs.append(ids[:-1])
    return refs


def accuracy_by_length(
    decoded: Decoded, references: Sequence[Sequence[int]]
) -> dict[int, tuple[float, float]]:
    """``length -> (exact-match accuracy, token accuracy)``; a token is right when the output
    has the reference token at the same position."""
    by_len: dict[int, list[tuple[float, float]]] = {}
    for hyp, ref, length in zip(decoded.hypotheses, references, decoded.src_lengths, strict=True):
        exact = float(list(hyp) == list(ref))
        tokens = sum(1 for i, r in enumerate(ref) if i < len(hyp) and hyp[i] == r) / max(
            len(ref), 1
        )
        by_len.setdefault(length, []).append((exact, tokens))
    return {
        length: (sum(e for e, _ in v) / len(v), sum(t for _, t in v) / len(v))
        for length, v in sorted(by_len.items())
    }


def bleu_by_length(
    decoded: Decoded,
    references: Sequence[Sequence[int]],
    vocab: Vocab,
    *,
    min_count: int = 20,
) -> tuple[float, dict[int, float]]:
    """Corpus BLEU-4 (``"exp"`` smoothing, sacrebleu's default) overall and per source length
    with at least ``min_count`` sentences."""
    hyps = [vocab.decode(h) for h in decoded.hypotheses]
    refs = [vocab.decode(r) for r in references]
    overall = corpus_bleu(hyps, refs, smoothing="exp").score
    groups: dict[int, list[int]] = {}
    for i, length in enumerate(decoded.src_lengths):
        groups.setdefault(length, []).append(i)
    per_length = {
        length: corpus_bleu([hyps[i] for i in idx], [refs[i] for i in idx], smoothing="exp").score
        for length, idx in sorted(groups.items())
        if len(idx) >= min_count
    }
    return overall, per_length


@torch.no_grad()
def teacher_forced_perplexity(model: Seq2Seq, data: PairDataset, *, batch_size: int = 256) -> float:
    """``exp`` of the mean token cross-entropy under teacher forcing (EOS included)."""
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(data), batch_size):
        batch = data.batch(range(start, min(start + batch_size, len(data))))
        out = model(batch.src.to(device), batch.src_lengths.to(device), batch.tgt_in.to(device))
        n = int((batch.tgt_out != IGNORE_INDEX).sum())
        total += float(sequence_cross_entropy(out.logits, batch.tgt_out.to(device))) * n
        count += n
    return float(torch.tensor(total / max(count, 1)).exp())


def plot_curves(
    ctx: RunContext,
    curves: Mapping[str, Mapping[int, float]],
    *,
    name: str,
    ylabel: str,
    title: str,
    caption: str,
) -> None:
    """One line per model: score against source length.

    Without matplotlib the figure is skipped and recorded (``ctx.plotting``).
    """
    from attnlab.interpret.viz import plot_curves as draw_curves

    with ctx.plotting(name):
        fig = draw_curves(curves, xlabel="source length (tokens)", ylabel=ylabel, title=title)
        ctx.save_plot(fig, name, caption=caption)


def plot_alignment(
    ctx: RunContext,
    weights: Tensor,
    *,
    source: Sequence[str],
    output: Sequence[str],
    name: str,
    title: str,
    caption: str,
) -> None:
    """Heat map of one alignment matrix ``(T_out, S)`` (rows: outputs, columns: source).

    Without matplotlib the figure is skipped and recorded (``ctx.plotting``).
    """
    from attnlab.interpret.viz import plot_alignment as draw_alignment

    with ctx.plotting(name):
        fig = draw_alignment(weights, source=list(source), target=list(output), title=title)
        ctx.save_plot(fig, name, caption=caption)
