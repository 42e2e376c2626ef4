"""Tokenised documents as tensors: a word vocabulary, padded ``(docs, sentences, words)``
indices with masks, and a dataset of ``(tokens, mask, label)`` items.

The input of hierarchical document classifiers (Yang et al. 2016, "Hierarchical Attention
Networks for Document Classification", https://aclanthology.org/N16-1174):
:func:`encode_documents` keeps the first sentences of each document and the first words of each
sentence, as :class:`~attnlab.architectures.han.HierarchicalAttentionNetwork` reads them.
:mod:`attnlab.data.reuters` tokenises its documents into this form and re-exports these names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["PAD_TOKEN", "UNK_TOKEN", "DocumentDataset", "WordVocab", "encode_documents"]

PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"


class WordVocab:
    """Word <-> index mapping: index 0 is :data:`PAD_TOKEN`, 1 is :data:`UNK_TOKEN`.

    Args:
        words: the vocabulary words (without the two special tokens), in index order.

    Example:
        >>> vocab = WordVocab.build([[["a", "b"], ["a"]]], min_freq=2)
        >>> vocab.itos, vocab.encode(["a", "zzz"])
        (['<pad>', '<unk>', 'a'], [2, 1])
    """

    pad_index = 0
    unk_index = 1

    def __init__(self, words: Iterable[str]) -> None:
        self.itos: list[str] = [PAD_TOKEN, UNK_TOKEN]
        self.stoi: dict[str, int] = {PAD_TOKEN: 0, UNK_TOKEN: 1}
        for word in words:
            if word in self.stoi:
                raise ValueError(f"words must be distinct and exclude special tokens: {word!r}")
            self.stoi[word] = len(self.itos)
            self.itos.append(word)

    @classmethod
    def build(
        cls,
        documents: Iterable[Sequence[Sequence[str]]],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> WordVocab:
        """Words of tokenised ``documents`` seen at least ``min_freq`` times, most frequent first
        (ties alphabetical), at most ``max_size`` of them (special tokens not counted)."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 0:
            raise ValueError(f"max_size must be >= 0 or None, got {max_size}")
        counts: Counter[str] = Counter(w for doc in documents for s in doc for w in s)
        for special in (PAD_TOKEN, UNK_TOKEN):
            counts.pop(special, None)
        ranked = sorted((w for w, c in counts.items() if c >= min_freq),
                        key=lambda w: (-counts[w], w))
        return cls(ranked if max_size is None else ranked[:max_size])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, words: Sequence[str]) -> list[int]:
        """Indices of ``words`` (unknown words map to :attr:`unk_index`)."""
        return [self.stoi.get(w, self.unk_index) for w in words]

    def decode(self, indices: Iterable[int]) -> list[str]:
        """Words of ``indices``."""
        return [self.itos[int(i)] for i in indices]


def encode_documents(
    documents: Sequence[Sequence[Sequence[str]]],
    vocab: WordVocab,
    *,
    max_sentences: int,
    max_words: int,
) -> tuple[Tensor, Tensor]:
    """Padded word indices and masks of tokenised documents (the first sentences / words kept).

    Args:
        documents: tokenised documents (e.g. :func:`attnlab.data.reuters.tokenize_document`).
        vocab: the vocabulary.
        max_sentences: ``S``, sentences kept per document.
        max_words: ``W``, words kept per sentence.

    Returns:
        ``tokens`` ``(N, S, W)`` int64 (``vocab.pad_index`` at padding) and ``mask``
        ``(N, S, W)`` bool (``True`` = a real word).

    Example:
        >>> vocab = WordVocab(["a", "b"])
        >>> tokens, mask = encode_documents([[["a", "b", "c"], ["b"]]], vocab,
        ...                                 max_sentences=3, max_words=2)
        >>> tokens.tolist(), mask.sum().item()
        ([[[2, 3], [3, 0], [0, 0]]], 3)
    """
    for name, value in (("max_sentences", max_sentences), ("max_words", max_words)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    tokens = torch.full((len(documents), max_sentences, max_words), vocab.pad_index,
                        dtype=torch.long)
    for n, doc in enumerate(documents):
        for s, sentence in enumerate(doc[:max_sentences]):
            ids = vocab.encode(sentence[:max_words])
            if ids:
                tokens[n, s, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    for n, doc in enumerate(documents):
        for s, sentence in enumerate(doc[:max_sentences]):
            mask[n, s, : min(len(sentence), max_words)] = True
    return tokens, mask


class DocumentDataset(Dataset[tuple[Tensor, Tensor, Tensor]]):
    """``(tokens (S, W), mask (S, W), label)`` items for :func:`attnlab.train.fit`.

    Example:
        >>> data = DocumentDataset(torch.zeros(2, 3, 4, dtype=torch.long),
        ...                        torch.ones(2, 3, 4, dtype=torch.bool), torch.tensor([1, 0]))
        >>> len(data), data[0][0].shape, int(data[1][2])
        (2, torch.Size([3, 4]), 0)
    """

    def __init__(self, tokens: Tensor, mask: Tensor, labels: Tensor) -> None:
        if tokens.dim() != 3 or tokens.dtype != torch.long:
            raise ValueError(f"tokens must be int64 (N, S, W), got {tokens.dtype} "
                             f"{tuple(tokens.shape)}")
        if mask.shape != tokens.shape or mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool {tuple(tokens.shape)}, got {mask.dtype} "
                             f"{tuple(mask.shape)}")
        if labels.shape != tokens.shape[:1]:
            raise ValueError(f"labels must be ({tokens.shape[0]},), got {tuple(labels.shape)}")
        self.tokens, self.mask, self.labels = tokens, mask, labels.long()

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        return self.tokens[index], self.mask[index], self.labels[index]
