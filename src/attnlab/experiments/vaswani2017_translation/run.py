"""Run the ``vaswani2017_translation`` experiment: Transformer vs seq2seq-attention BLEU on eng-fra.

Both models are trained with :func:`attnlab.train.fit` on the same pairs, for the same number of
epochs with the same batch size, then decode the same held-out English sentences (never seen in
training, not even with another French translation); corpus BLEU is computed with
:func:`attnlab.metrics.bleu.corpus_bleu` against every French translation of each test sentence
in the corpus (multi-reference BLEU).

The Transformer follows the paper's recipe (section 5.3-5.4): Adam with ``beta = (0.9, 0.98)``,
``eps = 1e-9`` and the rate ``lrate = d_model^-0.5 min(step^-0.5, step warmup^-1.5)`` set before
every step by :class:`WarmupInverseSqrt`; label smoothing; residual, embedding and attention
dropout; one vocabulary for source and target with tied embeddings (section 3.4).
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.architectures.seq2seq import Seq2Seq
from attnlab.architectures.transformer import Transformer
from attnlab.core.init_args import AttnModule
from attnlab.core.masks import lengths_to_mask
from attnlab.data.translation import (
    BOS_ID,
    ENGLISH_PREFIXES,
    EOS_ID,
    IGNORE_INDEX,
    PAD_ID,
    PairDataset,
    Vocab,
    load_eng_fra,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.vaswani2017_translation.attention_view import save_attention_view
from attnlab.experiments.vaswani2017_translation.config import TranslationConfig
from attnlab.interpret.viz import plot_heads_with_tokens
from attnlab.metrics.bleu import corpus_bleu
from attnlab.train import Callback, FitState, TrainConfig, fit

__all__ = [
    "PAPER_BLEU_EN_FR",
    "Splits",
    "TransformerTranslator",
    "WarmupInverseSqrt",
    "build_models",
    "main",
    "noam_rate",
    "plot_heads_with_tokens",
    "prepare_data",
    "smoothed_cross_entropy",
]

#: Table 2, Transformer (base) EN-FR newstest2014 BLEU: context only (WMT'14 news, 36M pairs,
#: BPE, beam 4), not comparable with short Tatoeba sentences.
PAPER_BLEU_EN_FR = 38.1

Pair = tuple[tuple[str, ...], tuple[str, ...]]


def noam_rate(step: int, *, dim: int, warmup_steps: int, scale: float = 1.0) -> float:
    """Section 5.3, eq. 3: ``scale * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)``.

    Example:
        >>> round(noam_rate(4000, dim=512, warmup_steps=4000), 6)
        0.000699
    """
    step = max(int(step), 1)
    return scale * dim**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


class WarmupInverseSqrt(Callback):
    """Sets the learning rate of every parameter group before each step to :func:`noam_rate`.

    The training loop's own schedule is per epoch; this callback overrides the rate at the start
    of every epoch and after every step (so a resumed run continues the same curve).
    """

    def __init__(
        self, *, dim: int, warmup_steps: int, scale: float = 1.0, ctx: RunContext | None = None,
        name: str = "transformer/lr",
    ) -> None:
        self.dim, self.warmup_steps, self.scale = dim, warmup_steps, scale
        self.ctx, self.name = ctx, name

    def _set(self, state: FitState) -> None:
        rate = noam_rate(
            state.step + 1, dim=self.dim, warmup_steps=self.warmup_steps, scale=self.scale
        )
        for group in state.optimizer.param_groups:
            group["lr"] = rate
        if self.ctx is not None and state.step % 50 == 0:
            self.ctx.log(self.name, rate, step=state.step + 1)

    def on_epoch_begin(self, state: FitState) -> None:
        self._set(state)

    def on_step_end(self, state: FitState) -> None:
        self._set(state)


def smoothed_cross_entropy(logits: Tensor, target: Tensor, *, smoothing: float) -> Tensor:
    """Mean token cross-entropy with label smoothing (section 5.4), padding ignored."""
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        target.reshape(-1),
        ignore_index=IGNORE_INDEX,
        label_smoothing=smoothing,
    )


class TransformerTranslator(AttnModule):
    """A :class:`Transformer` called like :class:`Seq2Seq`: ``(src, src_lengths, tgt_in) ->
    logits (B, T, V)`` (the training loop's convention)."""

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        mask = lengths_to_mask(src_lengths, src.shape[1])
        return self.model(src, tgt_in, src_mask=mask, need_weights=False).logits


@dataclass
class Splits:
    """Encoded training/validation sets and the test sentences with all their references."""

    vocab: Vocab
    train: PairDataset
    valid: PairDataset
    test_sources: list[tuple[str, ...]]
    test_references: list[list[tuple[str, ...]]]
    num_pairs: int


def prepare_data(config: TranslationConfig, ctx: RunContext) -> Splits:
    """Load the filtered pairs and split them by *distinct English sentence*.

    Tatoeba lists several French translations of many English sentences; splitting by sentence
    keeps every test sentence out of training and gives each one all its translations as BLEU
    references. The vocabulary (shared by both languages, section 3.4) comes from the training
    pairs only.
    """
    data = config.data
    pairs = load_eng_fra(
        ctx.data_dir,
        max_length=data.max_length,
        max_pairs=data.max_pairs or None,
        prefixes=ENGLISH_PREFIXES if data.tutorial_prefixes else None,
        seed=ctx.seed,
    )
    groups: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for english, french in pairs:
        groups[english].append(french)
    sentences = list(groups)
    random.Random(ctx.seed).shuffle(sentences)
    n_valid = max(1, round(len(sentences) * data.valid_fraction))
    n_test = max(1, round(len(sentences) * data.test_fraction))
    valid_keys = sentences[:n_valid]
    test_keys = sentences[n_valid : n_valid + n_test]
    train_keys = sentences[n_valid + n_test :]
    if not train_keys:
        raise ValueError("too few pairs to split; raise data.max_pairs")
    if data.max_test_sentences:
        test_keys = test_keys[: data.max_test_sentences]

    def expand(keys: Sequence[tuple[str, ...]]) -> list[Pair]:
        return [(k, fr) for k in keys for fr in groups[k]]

    train_pairs, valid_pairs = expand(train_keys), expand(valid_keys)
    vocab = Vocab.build(
        [side for pair in train_pairs for side in pair], min_freq=data.min_freq
    )
    src_length = data.max_length + 1  # + EOS
    tgt_length = data.max_length + 1
    return Splits(
        vocab=vocab,
        train=PairDataset(train_pairs, vocab, vocab, src_length=src_length,
                          tgt_length=tgt_length),
        valid=PairDataset(valid_pairs, vocab, vocab, src_length=src_length,
                          tgt_length=tgt_length),
        test_sources=list(test_keys),
        test_references=[groups[k] for k in test_keys],
        num_pairs=len(pairs),
    )


def build_models(
    config: TranslationConfig, vocab_size: int, device: torch.device
) -> tuple[Transformer, Seq2Seq]:
    """The Transformer (shared vocabulary, tied embeddings) and the seq2seq baseline."""
    t, b = config.transformer, config.baseline
    transformer = Transformer(
        vocab_size, vocab_size, dim=t.dim, num_heads=t.num_heads, num_encoder_layers=t.num_layers,
        num_decoder_layers=t.num_layers, hidden_dim=t.hidden_dim, dropout=t.dropout,
        norm_first=t.norm_first, max_length=max(64, config.max_decode_length + 2),
        share_embeddings=True, tie_output=True, pad_index=PAD_ID, device=device,
    )
    baseline = Seq2Seq(
        vocab_size, vocab_size, embed_dim=b.embed_dim, hidden_dim=b.hidden_dim,
        bidirectional=b.bidirectional, attention=b.attention, dropout=b.dropout,
        bos_index=BOS_ID, eos_index=EOS_ID, pad_index=PAD_ID, device=device,
    )
    return transformer, baseline


def _encode_sources(
    sources: Sequence[tuple[str, ...]], vocab: Vocab, device: torch.device
) -> tuple[Tensor, Tensor]:
    ids = [[*vocab.encode(s), EOS_ID] for s in sources]
    longest = max(len(i) for i in ids)
    src = torch.full((len(ids), longest), PAD_ID, dtype=torch.long)
    for row, seq in enumerate(ids):
        src[row, : len(seq)] = torch.tensor(seq)
    lengths = torch.tensor([len(i) for i in ids])
    return src.to(device), lengths.to(device)


@torch.no_grad()
def _translate(
    model: nn.Module, config: TranslationConfig, src: Tensor, lengths: Tensor, vocab: Vocab
) -> list[list[str]]:
    model.eval()
    outputs: list[list[str]] = []
    for start in range(0, src.shape[0], 256):
        s, n = src[start : start + 256], lengths[start : start + 256]
        s = s[:, : int(n.max())]
        if isinstance(model, Transformer):
            mask = lengths_to_mask(n, s.shape[1])
            if config.beam_size == 1:
                ids = model.greedy_decode(s, bos_index=BOS_ID, eos_index=EOS_ID,
                                          max_length=config.max_decode_length,
                                          src_mask=mask).tokens
            else:
                ids = model.beam_search(s, bos_index=BOS_ID, eos_index=EOS_ID,
                                        beam_size=config.beam_size,
                                        max_length=config.max_decode_length,
                                        length_penalty=config.length_penalty,
                                        src_mask=mask).tokens
        else:
            assert isinstance(model, Seq2Seq)
            if config.beam_size == 1:
                ids = model.greedy_decode(s, n, max_length=config.max_decode_length).tokens
            else:
                ids = model.beam_search(s, n, max_length=config.max_decode_length,
                                        beam_size=config.beam_size,
                                        length_penalty=config.length_penalty).tokens
        outputs.extend(vocab.decode(row.tolist()) for row in ids.cpu())
    return outputs


def _train(
    name: str,
    model: nn.Module,
    splits: Splits,
    config: TranslationConfig,
    ctx: RunContext,
    *,
    train_config: TrainConfig,
    smoothing: float,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    result = fit(
        model,
        splits.train,
        splits.valid,
        config=train_config,
        loss_fn=functools.partial(smoothed_cross_entropy, smoothing=smoothing),
        run_dir=ctx.checkpoint_dir / name,
        resume=ctx.resume,
        progress=ctx.progress,
        callbacks=callbacks,
    )
    ctx.log_records(result.history, prefix=f"{name}/", skip=("epoch", "step", "time", "lr"))
    last = result.history[-1]
    return {"steps": result.steps, "val_loss": last.get("val_loss"),
            "seconds": sum(r.get("time", 0.0) for r in result.history)}


def main(config: TranslationConfig, ctx: RunContext) -> dict[str, float]:
    """Train both models, decode the test sentences, return BLEU and the gap.

    Returns:
        ``bleu/transformer``, ``bleu/seq2seq``, ``bleu_gap`` (Transformer minus baseline),
        parameter counts, validation losses, steps, train seconds and data sizes.
    """
    device = ctx.device
    splits = prepare_data(config, ctx)
    ctx.logger.info(
        "eng-fra: %d pairs, %d training pairs, %d validation pairs, %d test sentences, "
        "shared vocabulary %d", splits.num_pairs, len(splits.train), len(splits.valid),
        len(splits.test_sources), len(splits.vocab),
    )
    torch.manual_seed(ctx.seed)
    transformer, baseline = build_models(config, len(splits.vocab), device)
    t, b = config.transformer, config.baseline
    common: dict[str, Any] = {
        "epochs": config.epochs, "batch_size": config.batch_size, "optimizer": "adam",
        "seed": ctx.seed, "device": str(device),
        "max_steps_per_epoch": config.max_steps_per_epoch or None,
    }
    t_info = _train(
        "transformer", TransformerTranslator(transformer), splits, config, ctx,
        # lr is replaced before every step by the warm-up schedule
        train_config=TrainConfig(lr=1.0, betas=(t.beta1, t.beta2), eps=t.eps, **common),
        smoothing=t.label_smoothing,
        callbacks=(WarmupInverseSqrt(dim=t.dim, warmup_steps=t.warmup_steps, scale=t.lr_scale,
                                     ctx=ctx),),
    )
    b_info = _train(
        "seq2seq", baseline, splits, config, ctx,
        train_config=TrainConfig(lr=b.lr, grad_clip=b.grad_clip, **common),
        smoothing=b.label_smoothing,
    )
    src, lengths = _encode_sources(splits.test_sources, splits.vocab, device)
    refs = [[list(r) for r in group] for group in splits.test_references]
    metrics: dict[str, float] = {}
    hyps: dict[str, list[list[str]]] = {}
    for name, model in (("transformer", transformer), ("seq2seq", baseline)):
        hyps[name] = _translate(model, config, src, lengths, splits.vocab)
        metrics[f"bleu/{name}"] = corpus_bleu(hyps[name], refs).score
        metrics[f"params/{name}"] = float(sum(p.numel() for p in model.parameters()))
    metrics["bleu_gap"] = metrics["bleu/transformer"] - metrics["bleu/seq2seq"]
    for name, info in (("transformer", t_info), ("seq2seq", b_info)):
        metrics[f"steps/{name}"] = float(info["steps"])
        metrics[f"train_seconds/{name}"] = float(info["seconds"])
        if info["val_loss"] is not None:
            metrics[f"val_loss/{name}"] = float(info["val_loss"])
    metrics["data/pairs"] = float(splits.num_pairs)
    metrics["data/train_pairs"] = float(len(splits.train))
    metrics["data/test_sentences"] = float(len(splits.test_sources))
    metrics["data/vocab_size"] = float(len(splits.vocab))
    ctx.logger.info("BLEU: Transformer %.2f, seq2seq-attention %.2f (paper EN-FR, WMT: %.1f)",
                    metrics["bleu/transformer"], metrics["bleu/seq2seq"], PAPER_BLEU_EN_FR)
    _write_samples(ctx, splits, hyps)
    _plot_example(ctx, config, transformer, baseline, splits, src, lengths, hyps)
    save_attention_view(ctx, config, transformer, splits)
    return metrics


def _write_samples(ctx: RunContext, splits: Splits, hyps: dict[str, list[list[str]]]) -> None:
    from attnlab.report.files import atomic_write_text

    lines = []
    for i, source in enumerate(splits.test_sources[:30]):
        lines.append(f"en:          {' '.join(source)}")
        lines.append(f"reference:   {' '.join(splits.test_references[i][0])}")
        lines.append(f"transformer: {' '.join(hyps['transformer'][i])}")
        lines.append(f"seq2seq:     {' '.join(hyps['seq2seq'][i])}\n")
    if ctx.is_main:
        atomic_write_text(ctx.path("translations.txt"), "\n".join(lines) + "\n")


@torch.no_grad()
def _plot_example(
    ctx: RunContext,
    config: TranslationConfig,
    transformer: Transformer,
    baseline: Seq2Seq,
    splits: Splits,
    src: Tensor,
    lengths: Tensor,
    hyps: dict[str, list[list[str]]],
) -> None:
    from attnlab.interpret.viz import plot_alignment, plot_head_layer_grid

    index = min(config.example_index, src.shape[0] - 1)
    n = int(lengths[index])
    s = src[index : index + 1, :n]
    src_tokens = [*splits.test_sources[index], "<eos>"]
    output = hyps["transformer"][index]
    tgt_in = torch.tensor([[BOS_ID, *splits.vocab.encode(output)]], device=s.device)
    transformer.eval()
    out = transformer(s, tgt_in)
    if out.cross_weights is None or out.encoder_weights is None:  # pragma: no cover
        return
    rows = ["<bos>", *output]
    for name, weights, row_labels, title, caption in (
        (
            "transformer_cross_attention_heads", out.cross_weights, rows,
            "Transformer encoder-decoder attention, last decoder layer (one head each)",
            "Encoder-decoder attention of every head of the last decoder layer for one held-out "
            "sentence: rows are the decoder inputs (BOS then the greedy output), columns the "
            "English tokens.",
        ),
        (
            "transformer_encoder_self_attention_heads", out.encoder_weights, src_tokens,
            "Transformer encoder self-attention, last encoder layer (one head each)",
            "Self-attention of every head of the last encoder layer for the same sentence.",
        ),
    ):
        with ctx.plotting(name):
            fig = plot_heads_with_tokens(weights[0, -1], row_labels, src_tokens, title=title)
            ctx.save_plot(fig, name, caption=caption)
    with ctx.plotting("transformer_encoder_self_attention_layers"):
        fig = plot_head_layer_grid(
            out.encoder_weights[0].cpu(), row_labels=src_tokens, col_labels=src_tokens,
            title="Transformer encoder self-attention, every layer (rows) and head (columns)",
        )
        ctx.save_plot(fig, "transformer_encoder_self_attention_layers", caption=(
            "Self-attention of every head of every encoder layer for the same sentence, on one "
            "colour scale: how the heads' patterns change with depth."
        ))
    baseline.eval()
    b_out = baseline(s, lengths[index : index + 1], tgt_in)
    if b_out.weights is not None:
        with ctx.plotting("seq2seq_attention"):
            fig = plot_alignment(
                b_out.weights[0].cpu(), source=src_tokens, target=rows,
                title="seq2seq additive attention (same sentence, Transformer's output as input)",
            )
            ctx.save_plot(fig, "seq2seq_attention", caption=(
                "The baseline's alignment for the same sentence, teacher-forced with the "
                "Transformer's translation so the rows match the head plots."
            ))
