"""Run ``yang2016_han_reuters``: HAN vs a flat attention baseline on Reuters ModApte top-10.

Both models (:class:`attnlab.architectures.han.HierarchicalAttentionNetwork` and
:class:`attnlab.architectures.han.FlatAttentionNetwork`) get the same embedding, GRU and
attention sizes, the same documents in the same order, the same schedule and the same seed;
they differ only in the hierarchy (HAN adds a sentence GRU and sentence attention). Documents of
similar length are grouped into mini-batches (Yang et al. 2016, section 3.3), each trimmed to its
longest document, which the training loop then serves one batch per item. The best epoch on
the validation split is restored before testing on the ModApte test split. Word- and
sentence-level heat maps of a few test documents are saved.

With ``seeds`` > 1 (the ``paper`` scale) the pair is trained from seeds ``ctx.seed``,
``ctx.seed + 1``, ... on the same documents (the data subsets never depend on the seed); the
reported accuracies are means over seeds with their sample standard deviation, and the HAN - flat
gap is the mean of the paired per-seed gaps with the standard deviation of those gaps.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from attnlab.architectures.han import FlatAttentionNetwork, HierarchicalAttentionNetwork
from attnlab.core.init_args import AttnModule
from attnlab.data.reuters import (
    TOP10_TOPICS,
    ReutersDocument,
    WordVocab,
    encode_documents,
    load_reuters,
    single_label,
    tokenize_document,
)
from attnlab.experiments.context import RunContext
from attnlab.experiments.yang2016_han_reuters.config import (
    DataConfig,
    HANReutersConfig,
    ModelConfig,
)
from attnlab.interpret.viz import draw_document
from attnlab.train import TrainConfig, derive_seed, fit
from attnlab.train.distributed import distributed_env

__all__ = [
    "MODELS",
    "BatchedDocuments",
    "LengthBucketedBatches",
    "Split",
    "batch_cross_entropy",
    "build_model",
    "combine_seeds",
    "draw_document",
    "main",
    "prepare_data",
]

MODELS: tuple[str, str] = ("han", "flat")
"""Names of the two models in metrics and curves (``han/...``, ``flat/...``)."""

SUBSET_SEED = 0
"""Seed of the fixed permutation that picks the training / validation / test subsets (the same
documents for every run seed)."""

_INIT_KEY = 1  # derive_seed(seed, _INIT_KEY): initial weights (each model from the same seed)


@dataclass
class Split:
    """One split: the documents, their tokenisation and the padded tensors."""

    documents: list[ReutersDocument]
    tokenized: list[list[list[str]]]
    tokens: Tensor  # (n, s, w)
    mask: Tensor  # (n, s, w)
    labels: Tensor  # (n,)

    def __len__(self) -> int:
        return len(self.documents)


def _subset(n: int, size: int, generator: torch.Generator) -> list[int]:
    order = torch.randperm(n, generator=generator).tolist()
    return sorted(order[:size]) if 0 < size < n else list(range(n))


def prepare_data(config: DataConfig, ctx: RunContext) -> tuple[Split, Split, Split, WordVocab]:
    """ModApte single-label documents: (train, validation, test) splits and the vocabulary.

    The validation split is ``val_fraction`` of the (sub-sampled) training documents; the
    vocabulary comes from the remaining training documents only.
    """
    generator = torch.Generator().manual_seed(SUBSET_SEED)
    rule: Any = config.rule
    train_docs, train_labels = single_label(load_reuters("train", data_dir=ctx.data_dir),
                                            rule=rule)
    test_docs, test_labels = single_label(load_reuters("test", data_dir=ctx.data_dir), rule=rule)
    keep = _subset(len(train_docs), config.train_size, generator)
    order = [keep[i] for i in torch.randperm(len(keep), generator=generator).tolist()]
    n_val = max(1, math.ceil(config.val_fraction * len(order)))
    val_idx, train_idx = sorted(order[:n_val]), sorted(order[n_val:])
    test_idx = _subset(len(test_docs), config.test_size, generator)

    def tokenized(docs: Sequence[ReutersDocument]) -> list[list[list[str]]]:
        return [tokenize_document(d) for d in docs]

    parts = {
        "train": ([train_docs[i] for i in train_idx], [train_labels[i] for i in train_idx]),
        "val": ([train_docs[i] for i in val_idx], [train_labels[i] for i in val_idx]),
        "test": ([test_docs[i] for i in test_idx], [test_labels[i] for i in test_idx]),
    }
    texts = {name: tokenized(docs) for name, (docs, _) in parts.items()}
    vocab = WordVocab.build(texts["train"], min_freq=config.min_freq)
    splits = []
    for name, (docs, labels) in parts.items():
        tokens, mask = encode_documents(
            texts[name], vocab, max_sentences=config.max_sentences, max_words=config.max_words
        )
        splits.append(Split(docs, texts[name], tokens, mask, torch.tensor(labels)))
    return splits[0], splits[1], splits[2], vocab


class LengthBucketedBatches(Dataset[tuple[Tensor, Tensor, Tensor]]):
    """Mini-batches of documents of similar length, each trimmed to its longest document.

    Documents are sorted by (number of sentences, number of words) and cut into consecutive
    groups of ``batch_size`` (Yang et al. 2016, section 3.3: grouping by length speeds training
    up about three times). Item ``k`` is the whole batch ``(tokens (b, S_k, W_k), mask, labels
    (b,))``; serve it with a loader batch size of 1 and unwrap with :class:`BatchedDocuments`.

    Attributes:
        indices: the document indices of each batch.

    Example:
        >>> mask = torch.arange(4) < torch.tensor([1, 4, 2, 4, 1])[:, None, None]  # (5, 1, 4)
        >>> tokens = mask.long()
        >>> batches = LengthBucketedBatches(tokens, mask, torch.arange(5), batch_size=2)
        >>> batches.indices, [tuple(batches[k][0].shape) for k in range(len(batches))]
        ([[0, 4], [2, 1], [3]], [(2, 1, 1), (2, 1, 4), (1, 1, 4)])
    """

    def __init__(self, tokens: Tensor, mask: Tensor, labels: Tensor, *, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if tokens.shape != mask.shape or labels.shape != tokens.shape[:1]:
            raise ValueError(
                f"tokens {tuple(tokens.shape)}, mask {tuple(mask.shape)} and labels "
                f"{tuple(labels.shape)} do not match"
            )
        sentences = mask.any(-1).sum(-1).tolist()
        words = mask.sum((1, 2)).tolist()
        order = sorted(range(len(labels)), key=lambda i: (sentences[i], words[i], i))
        self.indices = [order[k : k + batch_size] for k in range(0, len(order), batch_size)]
        self.batches: list[tuple[Tensor, Tensor, Tensor]] = []
        for rows in self.indices:
            index = torch.tensor(rows)
            m = mask[index]
            n_sent = max(int(m.any(-1).sum(-1).max()), 1)
            n_words = max(int(m.sum(-1).max()), 1)
            self.batches.append(
                (tokens[index, :n_sent, :n_words], m[:, :n_sent, :n_words], labels[index])
            )

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        return self.batches[index]


class BatchedDocuments(AttnModule):
    """Adapter for :class:`LengthBucketedBatches`: drops the loader's batch axis of size 1.

    ``forward(tokens (1, b, S, W), mask)`` returns the wrapped model's logits as ``(1, b, C)``
    (the training loop then scores ``(1, b)`` targets element-wise).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, mask: Tensor) -> Tensor:
        if tokens.dim() != 4 or tokens.shape[0] != 1:
            raise ValueError(f"tokens must be (1, b, S, W), got {tuple(tokens.shape)}")
        return self.model(tokens[0], mask[0])[0].unsqueeze(0)  # (1, b, c)


def batch_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy of ``(1, b, C)`` logits against ``(1, b)`` labels."""
    return F.cross_entropy(logits.flatten(0, -2), target.flatten())


def build_model(kind: str, vocab_size: int, config: ModelConfig,
                num_classes: int = len(TOP10_TOPICS)) -> nn.Module:
    """HAN (``"han"``) or the flat attention baseline (``"flat"``) of ``config``'s sizes.

    Example:
        >>> m = build_model("flat", 20, ModelConfig(embed_dim=4, hidden_dim=3, attention_dim=5))
        >>> type(m).__name__, m.classifier.out_features
        ('FlatAttentionNetwork', 10)
    """
    cls = {"han": HierarchicalAttentionNetwork, "flat": FlatAttentionNetwork}.get(kind)
    if cls is None:
        raise ValueError(f"kind must be one of {MODELS}, got {kind!r}")
    return cls(
        vocab_size,
        num_classes,
        embed_dim=config.embed_dim,
        hidden_dim=config.hidden_dim,
        attention_dim=config.attention_dim,
        dropout=config.dropout,
    )


@torch.no_grad()
def _predict(model: nn.Module, batches: LengthBucketedBatches, n: int,
             device: torch.device) -> Tensor:
    model.eval()
    predictions = torch.empty(n, dtype=torch.long)
    for rows, (tokens, mask, _) in zip(batches.indices, batches.batches, strict=True):
        logits = model(tokens.to(device), mask.to(device))[0]
        predictions[torch.tensor(rows)] = logits.argmax(-1).cpu()
    return predictions


def _train_config(config: HANReutersConfig, ctx: RunContext,
                  seed: int | None = None) -> TrainConfig:
    """The training-loop settings of ``config``, seeded with ``seed`` (default: the run's)."""
    optim = config.optim
    return TrainConfig(
        epochs=optim.epochs,
        # one item = one length-grouped mini-batch (optim.batch_size documents in all per step):
        # one item per process
        batch_size=distributed_env()[2],
        optimizer=optim.optimizer,
        lr=optim.lr,
        momentum=optim.momentum if optim.optimizer == "sgd" else 0.0,
        grad_clip=optim.grad_clip,
        monitor="val_accuracy",
        restore_best=True,
        seed=ctx.seed if seed is None else seed,
        device=str(ctx.device),
    )


def _train_pair(
    config: HANReutersConfig,
    ctx: RunContext,
    sets: dict[str, LengthBucketedBatches],
    test: Split,
    vocab_size: int,
    *,
    seed: int,
    folder: str,
) -> tuple[dict[str, float], dict[str, nn.Module]]:
    """Train HAN and the flat model from ``seed``; their per-model metrics and the models.

    ``folder`` prefixes the checkpoint folders and curve names (``""`` for a single seed).
    """
    metrics: dict[str, float] = {}
    models: dict[str, nn.Module] = {}
    for kind in MODELS:
        torch.manual_seed(derive_seed(seed, _INIT_KEY))
        model = build_model(kind, vocab_size, config.model)
        tic = time.perf_counter()
        result = fit(
            BatchedDocuments(model),
            sets["train"],
            sets["val"],
            config=_train_config(config, ctx, seed),
            loss_fn=batch_cross_entropy,
            run_dir=ctx.checkpoint_dir / folder / kind,
            resume=ctx.resume,
            progress=ctx.progress,
        )
        train_s = time.perf_counter() - tic
        ctx.log_records(result.history, prefix=f"{folder}{kind}/")
        model.to(ctx.device)
        predictions = _predict(model, sets["test"], len(test), ctx.device)
        accuracy = 100.0 * float((predictions == test.labels).float().mean())
        metrics[f"{kind}/test_accuracy_pct"] = accuracy
        metrics[f"{kind}/val_accuracy_pct"] = 100.0 * float(result.best_metric or 0.0)
        metrics[f"{kind}/best_epoch"] = float(result.best_epoch or 0)
        metrics[f"{kind}/params"] = float(sum(p.numel() for p in model.parameters()))
        metrics[f"{kind}/train_s"] = train_s
        ctx.logger.info("%sseed %d, %s: test accuracy %.2f%% (best epoch %s, %.0f s)", folder,
                        seed, kind, accuracy, result.best_epoch, train_s)
        models[kind] = model
    metrics["han_minus_flat/accuracy_pct"] = (
        metrics["han/test_accuracy_pct"] - metrics["flat/test_accuracy_pct"]
    )
    return metrics, models


def combine_seeds(per_seed: Sequence[dict[str, float]]) -> dict[str, float]:
    """The metrics of several seeds as one set: means, sample standard deviations, per seed.

    Every per-model metric and the gap ``han_minus_flat/accuracy_pct`` become their mean over
    seeds (``train_s`` the total), with ``<name>_std`` for the test accuracies and the gap (the
    standard deviation of the paired per-seed gaps), and ``seed<k>/<name>`` keeps each seed's
    accuracies and gap. ``han_minus_flat/accuracy_pct_mean`` repeats the mean gap for the
    paper-scale target (for a single seed: its gap, the metrics otherwise unchanged).

    Example:
        >>> runs = [{"han/test_accuracy_pct": 90.0, "flat/test_accuracy_pct": 89.0,
        ...          "han_minus_flat/accuracy_pct": 1.0},
        ...         {"han/test_accuracy_pct": 92.0, "flat/test_accuracy_pct": 90.0,
        ...          "han_minus_flat/accuracy_pct": 2.0}]
        >>> m = combine_seeds(runs)
        >>> m["han_minus_flat/accuracy_pct_mean"], round(m["han_minus_flat/accuracy_pct_std"], 4)
        (1.5, 0.7071)
    """
    if not per_seed:
        raise ValueError("per_seed must hold the metrics of at least one seed")
    if len(per_seed) == 1:
        single = dict(per_seed[0])
        single["han_minus_flat/accuracy_pct_mean"] = single["han_minus_flat/accuracy_pct"]
        return single
    combined: dict[str, float] = {}
    spread = ("han/test_accuracy_pct", "flat/test_accuracy_pct", "han_minus_flat/accuracy_pct")
    for name in per_seed[0]:
        values = [m[name] for m in per_seed]
        combined[name] = sum(values) if name.endswith("/train_s") else statistics.fmean(values)
        if name in spread:
            combined[f"{name}_std"] = statistics.stdev(values)
            for k, value in enumerate(values):
                combined[f"seed{k}/{name}"] = value
    combined["han_minus_flat/accuracy_pct_mean"] = combined["han_minus_flat/accuracy_pct"]
    return combined


def main(config: HANReutersConfig, ctx: RunContext) -> dict[str, float]:
    """Train HAN and the flat baseline; return test accuracies and their difference.

    Returns:
        ``han/test_accuracy_pct``, ``flat/test_accuracy_pct``, ``han_minus_flat/accuracy_pct``
        (positive when HAN is better); per model ``val_accuracy_pct`` (best epoch),
        ``best_epoch``, ``params`` and ``train_s``; ``majority_accuracy_pct`` (always
        predicting the most frequent training class), ``train_docs``, ``val_docs``,
        ``test_docs``, ``vocab_size``, ``classes_present``, ``epochs`` and ``seeds``. With
        ``seeds`` > 1 the model metrics are means over seeds, with the additions of
        :func:`combine_seeds` (``..._std``, ``han_minus_flat/accuracy_pct_mean``,
        ``seed<k>/...``).
    """
    start = time.perf_counter()
    train, val, test, vocab = prepare_data(config.data, ctx)
    ctx.logger.info(
        "Reuters ModApte top-10 (%s single-label): %d train / %d val / %d test documents, "
        "vocabulary %d, data prepared in %.1f s",
        config.data.rule, len(train), len(val), len(test), len(vocab),
        time.perf_counter() - start,
    )
    batch = config.optim.batch_size
    # Under torchrun each process takes its own length-grouped mini-batches: groups of
    # batch_size / world_size documents, one per process and step, so that a step still sees
    # optim.batch_size documents in all.
    world = distributed_env()[2]
    if batch % world:
        raise ValueError(
            f"optim.batch_size {batch} must be divisible by the number of processes {world}"
        )
    sets = {
        name: LengthBucketedBatches(
            s.tokens, s.mask, s.labels, batch_size=batch // world if name == "train" else batch
        )
        for name, s in (("train", train), ("val", val), ("test", test))
    }
    majority = int(torch.bincount(train.labels, minlength=len(TOP10_TOPICS)).argmax())
    metrics: dict[str, float] = {
        "majority_accuracy_pct": 100.0 * float((test.labels == majority).float().mean()),
        "train_docs": float(len(train)),
        "val_docs": float(len(val)),
        "test_docs": float(len(test)),
        "vocab_size": float(len(vocab)),
        "classes_present": float(len(set(train.labels.tolist()))),
        "epochs": float(config.optim.epochs),
        "seeds": float(config.seeds),
    }
    per_seed: list[dict[str, float]] = []
    shown: dict[str, nn.Module] = {}
    for k in range(config.seeds):
        # one seed keeps the folder layout (and curve names) of a plain run
        folder = f"seed{k}/" if config.seeds > 1 else ""
        seed_metrics, models = _train_pair(config, ctx, sets, test, len(vocab),
                                           seed=ctx.seed + k, folder=folder)
        per_seed.append(seed_metrics)
        if k == 0:
            shown = models  # the heat maps show the models of the run's own seed
    metrics.update(combine_seeds(per_seed))
    if config.seeds > 1:
        ctx.logger.info(
            "HAN - flat over %d seeds: %.2f ± %.2f points", config.seeds,
            metrics["han_minus_flat/accuracy_pct"], metrics["han_minus_flat/accuracy_pct_std"],
        )
    _plot_heatmaps(ctx, shown, test, config)
    return metrics


# ---------------------------------------------------------------------------------------------
# heat maps


def _heatmap_documents(test: Split, count: int, max_sentences: int) -> list[int]:
    """Short test documents of distinct classes (most frequent first), then any short ones."""
    sentences = test.mask.any(-1).sum(-1)
    short = [i for i in range(len(test)) if 3 <= int(sentences[i]) <= min(max_sentences, 8)]
    if not short:
        short = list(range(len(test)))
    chosen: list[int] = []
    for label in range(len(TOP10_TOPICS)):
        match = next((i for i in short if int(test.labels[i]) == label), None)
        if match is not None and len(chosen) < count:
            chosen.append(match)
    chosen += [i for i in short if i not in chosen][: count - len(chosen)]
    return chosen


@torch.no_grad()
def _plot_heatmaps(ctx: RunContext, models: dict[str, nn.Module], test: Split,
                   config: HANReutersConfig) -> None:
    from attnlab.interpret.viz import HighlightedText, highlight_html, plot_highlighted_documents
    from attnlab.report.files import atomic_write_text

    chosen = _heatmap_documents(test, config.heatmap_docs, config.data.max_sentences)
    rows: list[tuple[Any, ...]] = []
    for i in chosen:
        n_sent = max(int(test.mask[i].any(-1).sum()), 1)
        n_words = max(int(test.mask[i].sum(-1).max()), 1)
        tokens = test.tokens[i : i + 1, :n_sent, :n_words].to(ctx.device)
        mask = test.mask[i : i + 1, :n_sent, :n_words].to(ctx.device)
        words = [s[:n_words] for s in test.tokenized[i][:n_sent]]
        han, flat = (models[k].eval()(tokens, mask) for k in MODELS)
        rows.append((i, words, han, flat))
    panels: list[list[HighlightedText]] = []
    pages: list[str] = []
    for i, words, han, flat in rows:
        alpha_s = han.weights[0].cpu()
        # the paper's Figure 5 shades each word by sqrt(sentence weight) x word weight
        word_han = han.word_weights[0].cpu() * alpha_s.sqrt().unsqueeze(-1)
        word_han = word_han / word_han.max().clamp_min(1e-12)
        word_flat = flat.weights[0].cpu() / flat.weights[0].max().clamp_min(1e-12)
        label = TOP10_TOPICS[int(test.labels[i])]
        preds = [TOP10_TOPICS[int(m.logits.argmax())] for m in (han, flat)]
        doc = test.documents[i]
        han_words = [word_han[s, : len(w)].tolist() for s, w in enumerate(words)]
        han_title = f"HAN | NEWID {doc.newid} | true: {label} | predicted: {preds[0]}"
        panels.append([
            HighlightedText(
                words, han_words,
                sentence_values=(alpha_s / alpha_s.max().clamp_min(1e-12)).tolist(),
                sentence_labels=[f"{a:.2f}" for a in alpha_s.tolist()],
                title=han_title,
            ),
            HighlightedText(
                words, [word_flat[s, : len(w)].tolist() for s, w in enumerate(words)],
                title=f"flat attention | NEWID {doc.newid} | true: {label} | "
                      f"predicted: {preds[1]}",
            ),
        ])
        pages.append(highlight_html(words, han_words, sentence_weights=alpha_s.tolist(),
                                    title=han_title))
    if ctx.is_main and pages:
        atomic_write_text(ctx.path("attention_heatmaps.html"), "\n".join(pages) + "\n")
    with ctx.plotting("attention_heatmaps"):
        fig = plot_highlighted_documents(panels, panel_inches=7.4)
        ctx.save_plot(
            fig,
            "attention_heatmaps",
            caption=(
                "Test documents (rows). Left, HAN: the red box before each sentence gives its "
                "sentence weight (darker = closer to the document's largest); words are shaded "
                "blue by sqrt(sentence weight) x word weight (the paper's Figure 5 convention), "
                "relative to the document's largest. Right, flat attention: words shaded by their "
                "weight over the whole document, relative to the largest. Text as tokenised "
                "(numbers -> <num>), truncated to the model's input."
            ),
        )
