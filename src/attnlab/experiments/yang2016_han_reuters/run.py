"""Run ``yang2016_han_reuters``: HAN vs a flat attention baseline on Reuters ModApte top-10.

Both models (:class:`attnlab.architectures.han.HierarchicalAttentionNetwork` and
:class:`attnlab.architectures.han.FlatAttentionNetwork`) get the same embedding, GRU and
attention sizes, the same documents in the same order, the same schedule and the same seed;
they differ only in the hierarchy (HAN adds a sentence GRU and sentence attention). Documents of
similar length are grouped into mini-batches (Yang et al. 2016, section 3.3), each trimmed to its
longest document, which the training loop then serves one batch per item. The best epoch on
the validation split is restored before testing on the ModApte test split. Word- and
sentence-level heat maps of a few test documents are saved.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from attnlab.architectures.han import FlatAttentionNetwork, HierarchicalAttentionNetwork
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
from attnlab.train import TrainConfig, derive_seed, fit
from attnlab.train.distributed import distributed_env

__all__ = [
    "MODELS",
    "BatchedDocuments",
    "LengthBucketedBatches",
    "Split",
    "batch_cross_entropy",
    "build_model",
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


class BatchedDocuments(nn.Module):
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


def _train_config(config: HANReutersConfig, ctx: RunContext) -> TrainConfig:
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
        seed=ctx.seed,
        device=str(ctx.device),
    )


def main(config: HANReutersConfig, ctx: RunContext) -> dict[str, float]:
    """Train HAN and the flat baseline; return test accuracies and their difference.

    Returns:
        ``han/test_accuracy_pct``, ``flat/test_accuracy_pct``, ``han_minus_flat/accuracy_pct``
        (positive when HAN is better); per model ``val_accuracy_pct`` (best epoch),
        ``best_epoch``, ``params`` and ``train_s``; ``majority_accuracy_pct`` (always
        predicting the most frequent training class), ``train_docs``, ``val_docs``,
        ``test_docs``, ``vocab_size``, ``classes_present`` and ``epochs``.
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
    }
    models: dict[str, nn.Module] = {}
    for kind in MODELS:
        torch.manual_seed(derive_seed(ctx.seed, _INIT_KEY))
        model = build_model(kind, len(vocab), config.model)
        tic = time.perf_counter()
        result = fit(
            BatchedDocuments(model),
            sets["train"],
            sets["val"],
            config=_train_config(config, ctx),
            loss_fn=batch_cross_entropy,
            run_dir=ctx.checkpoint_dir / kind,
            resume=ctx.resume,
            progress=ctx.progress,
        )
        train_s = time.perf_counter() - tic
        ctx.log_records(result.history, prefix=f"{kind}/")
        model.to(ctx.device)
        predictions = _predict(model, sets["test"], len(test), ctx.device)
        accuracy = 100.0 * float((predictions == test.labels).float().mean())
        metrics[f"{kind}/test_accuracy_pct"] = accuracy
        metrics[f"{kind}/val_accuracy_pct"] = 100.0 * float(result.best_metric or 0.0)
        metrics[f"{kind}/best_epoch"] = float(result.best_epoch or 0)
        metrics[f"{kind}/params"] = float(sum(p.numel() for p in model.parameters()))
        metrics[f"{kind}/train_s"] = train_s
        ctx.logger.info("%s: test accuracy %.2f%% (best epoch %s, %.0f s)", kind, accuracy,
                        result.best_epoch, train_s)
        models[kind] = model
    metrics["han_minus_flat/accuracy_pct"] = (
        metrics["han/test_accuracy_pct"] - metrics["flat/test_accuracy_pct"]
    )
    _plot_heatmaps(ctx, models, test, config)
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


_FONT_SIZE = 8.0
_CHAR_INCHES = 0.602 * _FONT_SIZE / 72.0  # advance width of a DejaVu Sans Mono character


def _wrap(sentences: Sequence[Sequence[str]], line_chars: int, indent: int
          ) -> list[list[tuple[int, int, str]]]:
    """Per sentence, ``(line offset, column, word)`` of each word wrapped at ``line_chars``."""
    wrapped = []
    for words in sentences:
        line, column, placed = 0, indent, []
        for word in words:
            if column + len(word) > line_chars and column > indent:
                line, column = line + 1, indent
            placed.append((line, column, word))
            column += len(word) + 1
        wrapped.append(placed)
    return wrapped


def _line_count(sentences: Sequence[Sequence[str]], line_chars: int, indent: int) -> int:
    return sum(1 + (p[-1][0] if p else 0) for p in _wrap(sentences, line_chars, indent))


def draw_document(
    ax: Any,
    sentences: Sequence[Sequence[str]],
    word_values: Sequence[Sequence[float]],
    *,
    sentence_values: Sequence[float] | None = None,
    sentence_labels: Sequence[str] | None = None,
    title: str = "",
    line_chars: int = 100,
) -> int:
    """Draw a document's words on ``ax``, each on a background whose darkness is its value.

    Words are set in a monospace font on a character grid of ``line_chars`` columns (size the
    axes to ``line_chars`` characters of 8-point type); each sentence starts a new line. With
    ``sentence_values``, a red box in front of each sentence shows ``sentence_labels[i]`` on a
    background of darkness ``sentence_values[i]``. Values lie in ``[0, 1]``.

    Returns:
        The number of text lines drawn.
    """
    from attnlab.interpret.plots import _pyplot

    plt = _pyplot()
    blues, reds = plt.get_cmap("Blues"), plt.get_cmap("Reds")
    indent = 6 if sentence_values is not None else 0
    row = 0
    for i, placed in enumerate(_wrap(sentences, line_chars, indent)):
        boxes = [(column, row + line, word, word_values[i][k], blues)
                 for k, (line, column, word) in enumerate(placed)]
        if sentence_values is not None:
            text = sentence_labels[i] if sentence_labels is not None else ""
            boxes.insert(0, (0, row, text, sentence_values[i], reds))
        for column, y, text, value, cmap in boxes:
            shade = 0.9 * float(min(max(value, 0.0), 1.0))
            ax.text(
                column, y, text, family="monospace", fontsize=_FONT_SIZE, va="center",
                ha="left", color="white" if shade > 0.55 else "black",
                bbox={"facecolor": cmap(shade), "edgecolor": "none", "pad": 0.8},
            )
        row += 1 + (placed[-1][0] if placed else 0)
    if title:
        ax.text(0, -1.5, title, fontsize=9, va="center", ha="left", fontweight="bold")
    ax.set_xlim(0, line_chars)
    ax.set_ylim(row - 0.4, -2.4)
    ax.axis("off")
    return row


@torch.no_grad()
def _plot_heatmaps(ctx: RunContext, models: dict[str, nn.Module], test: Split,
                   config: HANReutersConfig) -> None:
    from attnlab.interpret.plots import _pyplot

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
    panel_inches = 7.4
    line_chars = int(panel_inches / _CHAR_INCHES) - 4
    heights: list[int] = []
    fig_rows = []
    for i, words, han, flat in rows:
        alpha_s = han.weights[0].cpu()
        # the paper's Figure 5 shades each word by sqrt(sentence weight) x word weight
        word_han = han.word_weights[0].cpu() * alpha_s.sqrt().unsqueeze(-1)
        word_han = word_han / word_han.max().clamp_min(1e-12)
        word_flat = flat.weights[0].cpu() / flat.weights[0].max().clamp_min(1e-12)
        label = TOP10_TOPICS[int(test.labels[i])]
        preds = [TOP10_TOPICS[int(m.logits.argmax())] for m in (han, flat)]
        heights.append(_line_count(words, line_chars, 6))
        fig_rows.append((i, words, word_han, alpha_s, word_flat, label, preds))
    with ctx.plotting("attention_heatmaps"):
        plt = _pyplot()
        line_inches, title_inches = 0.2, 0.44  # a title takes two lines, plus a gap
        total = sum(h * line_inches + title_inches for h in heights)
        fig, axes = plt.subplots(
            len(fig_rows), 2, figsize=(2 * panel_inches + 0.6, total + 0.2),
            gridspec_kw={"height_ratios": [h * line_inches + title_inches for h in heights],
                         "wspace": 0.08, "hspace": 0.0},
            squeeze=False,
        )
        fig.subplots_adjust(left=0.2 / (2 * panel_inches + 0.6), right=0.995, top=0.995, bottom=0.0)
        for (i, words, word_han, alpha_s, word_flat, label, preds), ax_row in zip(
            fig_rows, axes, strict=True
        ):
            doc = test.documents[i]
            han_rows = draw_document(
                ax_row[0], words,
                [word_han[s, : len(w)].tolist() for s, w in enumerate(words)],
                sentence_values=(alpha_s / alpha_s.max().clamp_min(1e-12)).tolist(),
                sentence_labels=[f"{a:.2f}" for a in alpha_s.tolist()],
                title=f"HAN | NEWID {doc.newid} | true: {label} | predicted: {preds[0]}",
                line_chars=line_chars,
            )
            flat_rows = draw_document(
                ax_row[1], words,
                [word_flat[s, : len(w)].tolist() for s, w in enumerate(words)],
                title=f"flat attention | NEWID {doc.newid} | true: {label} | predicted: {preds[1]}",
                line_chars=line_chars,
            )
            for ax in ax_row:  # one line height for both panels of a document
                ax.set_ylim(max(han_rows, flat_rows) - 0.4, -2.4)
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
