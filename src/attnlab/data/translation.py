"""English-French sentence pairs (Tatoeba via ManyThings.org), tokenizer, vocabulary, batching.

The dataset: tab-separated ``English<TAB>French`` pairs, one per line, built by ManyThings.org
("Tab-delimited Bilingual Sentence Pairs", www.manythings.org/anki) from the Tatoeba Project
(tatoeba.org), licence CC-BY 2.0. The release used here is ``fra-eng`` of 2017-09-29 (142,787
pairs), the file ``fra.txt`` of the archive :data:`ARCHIVE_URL`, stored gzip-compressed as
``<root>/eng-fra/eng-fra.txt.gz`` (or uncompressed as ``eng-fra.txt``); see
:mod:`attnlab.data.resources` for the root (``data_dir`` argument, then ``ATTNLAB_DATA``, then the
user cache). Download the archive, extract ``fra.txt`` and save it as ``eng-fra.txt`` (or gzip it
to ``eng-fra.txt.gz``): the file is verified by its sha256 either way.

API, in pipeline order (every function is deterministic):

* :func:`normalize_text`: lower case, accents stripped (Unicode NFD, combining marks dropped:
  ``"Ça été"`` -> ``"ca ete"``), ``.!?`` split off as tokens, every other character that is not
  a letter, a digit, an apostrophe or one of ``.!?`` replaced by a space; :func:`tokenize`
  splits the normalised text on white space.
* :func:`load_eng_fra` -> ``list[(english_tokens, french_tokens)]`` (token tuples): the
  normalised, tokenised pairs of the file, filtered to at most ``max_length`` tokens on both
  sides (optionally to the English prefixes :data:`ENGLISH_PREFIXES` of the classic PyTorch
  tutorial filter), optionally subsampled to ``max_pairs`` pairs (a seeded sample, kept in
  file order).
* :func:`split_pairs`: a seeded train/valid/test split.
* :class:`Vocab`: token <-> id, with the special tokens at fixed ids :data:`PAD_ID` (0),
  :data:`BOS_ID` (1), :data:`EOS_ID` (2), :data:`UNK_ID` (3); :meth:`Vocab.build` from token
  lists with ``min_freq``/``max_size``; :meth:`Vocab.encode` / :meth:`Vocab.decode`.
* :class:`PairDataset`: encoded ``(source_ids, target_ids)`` pairs served as fixed-size padded
  tensors ``(src, src_lengths, tgt_in, tgt_out)``: ``src`` is the source ids plus ``EOS``
  (optional), padded with ``PAD_ID``; ``tgt_in = [BOS] + target``, padded with ``PAD_ID``
  (the decoder input under teacher forcing); ``tgt_out = target + [EOS]``, padded with
  :data:`IGNORE_INDEX` (-100), so that ``F.cross_entropy`` and the training loop's accuracy
  skip the padding. Items work with the default ``DataLoader`` collation and with
  :func:`attnlab.train.fit` (the model is called as ``model(src, src_lengths, tgt_in)`` and
  the target is ``tgt_out``). :func:`collate_pairs` additionally trims a batch to its longest
  sequences (:class:`PairBatch`).

Example:
    >>> src = [["i", "am", "cold", "."], ["go", "!"]]
    >>> tgt = [["j", "ai", "froid", "."], ["va", "!"]]
    >>> en, fr = Vocab.build(src), Vocab.build(tgt)
    >>> data = PairDataset(list(zip(src, tgt)), en, fr)
    >>> batch = collate_pairs([data[0], data[1]])
    >>> batch.src.shape, batch.src_lengths.tolist(), batch.tgt_in.shape
    (torch.Size([2, 5]), [5, 3], torch.Size([2, 5]))
    >>> fr.decode(batch.tgt_out[1].tolist())
    ['va', '!']
"""

from __future__ import annotations

import gzip
import os
import random
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.utils.data import Dataset

from attnlab.data.errors import CorruptFileError
from attnlab.data.resources import FileSpec, Resource, register_resource

__all__ = [
    "ARCHIVE_URL",
    "BOS_ID",
    "BOS_TOKEN",
    "ENGLISH_PREFIXES",
    "ENG_FRA_RESOURCE",
    "EOS_ID",
    "EOS_TOKEN",
    "IGNORE_INDEX",
    "NUM_SPECIAL_TOKENS",
    "PAD_ID",
    "PAD_TOKEN",
    "SPECIAL_TOKENS",
    "UNK_ID",
    "UNK_TOKEN",
    "PairBatch",
    "PairDataset",
    "Vocab",
    "collate_pairs",
    "load_eng_fra",
    "normalize_text",
    "split_pairs",
    "tokenize",
]

ARCHIVE_URL = "https://www.manythings.org/anki/fra-eng.zip"
"""Public archive of the pairs (its ``fra.txt`` is the file; the archive is updated over time,
so a newer download may differ from the checksummed 2017 release and fail verification)."""

ENG_FRA_RESOURCE: Resource = register_resource(
    Resource(
        "eng-fra",
        (
            FileSpec(
                "eng-fra.txt.gz",
                sha256="ec59d6aaba2103a1320330f39bec51dbebbb20cb6bbe9976bd16b0622c965a50",
                size=2941514,
                content_sha256="2546838ae46e0eac4c02ab7032ea0a02a006074a5340077a36a9444f41e02888",
            ),
        ),
        description=(
            "English-French sentence pairs (Tatoeba via ManyThings.org, fra-eng 2017-09-29); "
            "CC-BY 2.0, attribution www.manythings.org/anki and tatoeba.org"
        ),
        homepage="https://www.manythings.org/anki/",
    )
)
"""The ``eng-fra`` resource: one file, ``eng-fra.txt.gz`` (142,787 pairs)."""

PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)
"""Special tokens, in id order: every :class:`Vocab` starts with them."""
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
NUM_SPECIAL_TOKENS = len(SPECIAL_TOKENS)
IGNORE_INDEX = -100
"""Padding value of ``tgt_out`` (``F.cross_entropy``'s default ``ignore_index``)."""

ENGLISH_PREFIXES: tuple[str, ...] = (
    "i am ",
    "i m ",
    "he is",
    "he s ",
    "she is",
    "she s ",
    "you are",
    "you re ",
    "we are",
    "we re ",
    "they are",
    "they re ",
)
"""English starts kept by the filter of the PyTorch seq2seq tutorial (after normalisation,
where ``I'm`` is ``i m``)."""

_OTHER = re.compile(r"[^a-z0-9.!?]+")
# Raw words that certainly give at least one token: a cheap lower bound on the token count.
_SURE_WORD = re.compile(r"\S*[A-Za-z0-9.!?]\S*")
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})
_COMBINING = re.compile("[\u0300-\u036f]+")  # combining diacritical marks (after NFD)
_SPLIT_PUNCT = str.maketrans({".": " . ", "!": " ! ", "?": " ? "})
_CACHE: dict[tuple[object, ...], list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}


def normalize_text(text: str) -> str:
    """Lower-case, strip accents, split off ``.!?``, replace other symbols by spaces.

    Apostrophes become spaces too (``"I'm"`` -> ``"i m"``), as in the PyTorch tutorial's
    normalisation, so English and French contractions split into tokens.

    Example:
        >>> normalize_text("Ça m'a été très utile, merci!")
        'ca m a ete tres utile merci !'
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = text.lower()
    if not text.isascii():
        text = unicodedata.normalize("NFD", text.translate(_LIGATURES))
        text = _COMBINING.sub("", text)
    return " ".join(_OTHER.sub(" ", text.translate(_SPLIT_PUNCT)).split())


def tokenize(text: str) -> list[str]:
    """``normalize_text(text).split()``.

    Example:
        >>> tokenize("Go away!")
        ['go', 'away', '!']
    """
    return normalize_text(text).split()


def _read_lines(path: Path) -> list[str]:
    try:
        if str(path).endswith(".gz"):
            with gzip.open(path, "rb") as stream:
                raw = stream.read()
        else:
            with open(path, "rb") as stream:
                raw = stream.read()
        return raw.decode("utf-8").splitlines()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as error:
        if isinstance(error, FileNotFoundError | PermissionError):
            raise
        raise CorruptFileError(
            f"{path}: cannot read the sentence pairs ({error})", path=path
        ) from None


def load_eng_fra(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    max_length: int | None = 10,
    max_pairs: int | None = None,
    prefixes: Sequence[str] | None = None,
    seed: int = 0,
    download: bool = False,
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The (English tokens, French tokens) pairs of the verified ``eng-fra`` file.

    The file is parsed once per process and filter (the result is cached); the pairs are
    tuples, so the cached copy cannot be changed by a caller.

    Args:
        data_dir: the data root (``None``: ``ATTNLAB_DATA``, then the user cache).
        max_length: keep pairs with at most this many tokens on *both* sides (punctuation
            counts); ``None`` keeps every pair.
        max_pairs: keep a seeded random sample of this many pairs (in file order, which is
            roughly sorted by length, so the sample spans every length); ``None`` keeps all.
        prefixes: keep only pairs whose normalised English text starts with one of these
            (e.g. :data:`ENGLISH_PREFIXES`); ``None`` keeps all.
        seed: seed of the ``max_pairs`` sample.
        download: download the file if it is missing (only possible with a URL in the spec;
            the public archive :data:`ARCHIVE_URL` must be converted by hand, see the module
            docstring).

    Returns:
        ``[(english_tokens, french_tokens), ...]`` (tuples of str); duplicated lines are kept.

    Raises:
        MissingDataError: the file is not under ``<root>/eng-fra/``.
        CorruptFileError: the file fails its checksum or a line has no tab.
    """
    if max_length is not None and (isinstance(max_length, bool) or max_length < 1):
        raise ValueError(f"max_length must be >= 1 or None, got {max_length!r}")
    if max_pairs is not None and (isinstance(max_pairs, bool) or max_pairs < 1):
        raise ValueError(f"max_pairs must be >= 1 or None, got {max_pairs!r}")
    if isinstance(prefixes, str):
        raise TypeError("prefixes must be a sequence of strings, not a single string")
    path = ENG_FRA_RESOURCE.fetch("eng-fra.txt.gz", data_dir=data_dir, download=download)
    wanted = tuple(prefixes) if prefixes is not None else None
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, max_length, wanted)
    if key not in _CACHE:
        _CACHE[key] = _parse(path, max_length=max_length, wanted=wanted)
    pairs = _CACHE[key]
    if max_pairs is not None and max_pairs < len(pairs):
        keep = sorted(random.Random(seed).sample(range(len(pairs)), max_pairs))
        pairs = [pairs[i] for i in keep]
    return list(pairs)


def _parse(
    path: Path, *, max_length: int | None, wanted: tuple[str, ...] | None
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    pairs: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise CorruptFileError(
                f"{path}: line {number} has no tab (expected 'English<TAB>French')", path=path
            )
        if max_length is not None and (
            len(_SURE_WORD.findall(fields[0])) > max_length
            or len(_SURE_WORD.findall(fields[1])) > max_length
        ):
            continue
        english, french = normalize_text(fields[0]), normalize_text(fields[1])
        if wanted is not None and not english.startswith(wanted):
            continue
        en, fr = tuple(english.split()), tuple(french.split())
        if not en or not fr:
            continue
        if max_length is not None and (len(en) > max_length or len(fr) > max_length):
            continue
        pairs.append((en, fr))
    return pairs


def split_pairs(
    pairs: Sequence[tuple[Sequence[str], Sequence[str]]] | Sequence[tuple[str, str]],
    *,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[list[Any], list[Any], list[Any]]:
    """A seeded random ``(train, valid, test)`` split of any list of items.

    The sizes are ``round(n * valid_fraction)`` and ``round(n * test_fraction)``; the same
    ``(pairs, seed)`` always gives the same split.

    Example:
        >>> train, valid, test = split_pairs(list(range(10)), seed=1)
        >>> len(train), len(valid), len(test), sorted(train + valid + test) == list(range(10))
        (8, 1, 1, True)
    """
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"valid_fraction + test_fraction must be < 1, got {valid_fraction + test_fraction}"
        )
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_valid = round(len(order) * valid_fraction)
    n_test = round(len(order) * test_fraction)
    valid = [pairs[i] for i in order[:n_valid]]
    test = [pairs[i] for i in order[n_valid : n_valid + n_test]]
    train = [pairs[i] for i in order[n_valid + n_test :]]
    return train, valid, test


class Vocab:
    """Token <-> id mapping with :data:`SPECIAL_TOKENS` at ids 0-3 (pad, bos, eos, unk).

    Args:
        tokens: the ordinary tokens, in id order (ids start at :data:`NUM_SPECIAL_TOKENS`);
            duplicates and special tokens are errors.

    Example:
        >>> vocab = Vocab.build([["a", "b", "a"], ["c"]], min_freq=2)
        >>> len(vocab), vocab.encode(["a", "c"], add_eos=True)
        (5, [4, 3, 2])
        >>> vocab.decode([1, 4, 2, 4])
        ['a']
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self.itos: list[str] = list(SPECIAL_TOKENS)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
        for token in tokens:
            if not isinstance(token, str):
                raise TypeError(f"tokens must be strings, got {type(token).__name__}")
            if token in self.stoi:
                raise ValueError(f"tokens lists {token!r} twice (or it is a special token)")
            self.stoi[token] = len(self.itos)
            self.itos.append(token)

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> Vocab:
        """Tokens seen at least ``min_freq`` times, most frequent first (ties: alphabetical).

        Args:
            token_lists: tokenised sentences.
            min_freq: smallest count kept (>= 1).
            max_size: most ordinary tokens kept (the specials are extra); ``None``: no limit.
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or max_size < 0):
            raise ValueError(f"max_size must be >= 0 or None, got {max_size!r}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise TypeError("token_lists must hold token sequences, not strings")
            counts.update(tokens)
        for special in SPECIAL_TOKENS:
            counts.pop(special, None)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t)
        )
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def token_to_id(self, token: str) -> int:
        """The id of ``token`` (:data:`UNK_ID` when unknown)."""
        return self.stoi.get(token, UNK_ID)

    def id_to_token(self, index: int) -> str:
        """The token of id ``index``."""
        if not 0 <= index < len(self.itos):
            raise IndexError(f"index must be in [0, {len(self.itos)}), got {index}")
        return self.itos[index]

    def encode(
        self, tokens: Sequence[str], *, add_bos: bool = False, add_eos: bool = False
    ) -> list[int]:
        """Ids of ``tokens`` (unknown -> :data:`UNK_ID`), optionally framed by BOS / EOS."""
        if isinstance(tokens, str):
            raise TypeError("tokens must be a sequence of tokens, not a string (tokenize first)")
        ids = [self.stoi.get(t, UNK_ID) for t in tokens]
        return ([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else [])

    def decode(self, ids: Iterable[int], *, strip_special: bool = True) -> list[str]:
        """Tokens of ``ids``; with ``strip_special`` stop at the first EOS and drop pad/bos and
        negative (ignored) ids."""
        out: list[str] = []
        for raw in ids:
            index = int(raw)
            if strip_special:
                if index == EOS_ID:
                    break
                if index < 0 or index in (PAD_ID, BOS_ID):
                    continue
            out.append(self.id_to_token(index))
        return out

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"


class PairBatch(NamedTuple):
    """A padded batch of sequence pairs (see the module docstring).

    Attributes:
        src: ``(B, S)`` int64 source ids, :data:`PAD_ID` after ``src_lengths``.
        src_lengths: ``(B,)`` int64, the number of valid source ids (EOS included).
        tgt_in: ``(B, T)`` int64 decoder inputs ``[BOS] + target``, padded with ``PAD_ID``.
        tgt_out: ``(B, T)`` int64 targets ``target + [EOS]``, padded with :data:`IGNORE_INDEX`.
    """

    src: Tensor
    src_lengths: Tensor
    tgt_in: Tensor
    tgt_out: Tensor


class PairDataset(Dataset[tuple[Tensor, Tensor, Tensor, Tensor]]):
    """Encoded sequence pairs as fixed-size padded tensors ``(src, src_lengths, tgt_in, tgt_out)``.

    Args:
        pairs: ``(source, target)`` pairs of tokens (with vocabularies) or of ids (without).
        src_vocab: encodes the source tokens; ``None`` when the pairs hold ids already.
        tgt_vocab: encodes the target tokens; ``None`` when the pairs hold ids already.
        add_src_eos: append :data:`EOS_ID` to the source (default, so the encoder sees the end).
        src_length: padded source length (default: the longest source); longer sources are
            an error.
        tgt_length: padded target length (default: the longest target + 1).

    Shape:
        items: ``src (S,)``, ``src_lengths ()``, ``tgt_in (T,)``, ``tgt_out (T,)``.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Sequence[Any], Sequence[Any]]],
        src_vocab: Vocab | None = None,
        tgt_vocab: Vocab | None = None,
        *,
        add_src_eos: bool = True,
        src_length: int | None = None,
        tgt_length: int | None = None,
    ) -> None:
        if len(pairs) == 0:
            raise ValueError("pairs must not be empty")
        sources: list[list[int]] = []
        targets: list[list[int]] = []
        for source, target in pairs:
            src_ids = src_vocab.encode(source) if src_vocab else [int(i) for i in source]
            tgt_ids = tgt_vocab.encode(target) if tgt_vocab else [int(i) for i in target]
            if add_src_eos:
                src_ids = [*src_ids, EOS_ID]
            if not src_ids:
                raise ValueError("pairs holds an empty source sequence")
            sources.append(src_ids)
            targets.append(tgt_ids)
        longest_src = max(len(s) for s in sources)
        longest_tgt = max(len(t) for t in targets) + 1
        self.src_length = longest_src if src_length is None else src_length
        self.tgt_length = longest_tgt if tgt_length is None else tgt_length
        if self.src_length < longest_src:
            raise ValueError(f"src_length={src_length} is shorter than a source ({longest_src})")
        if self.tgt_length < longest_tgt:
            raise ValueError(
                f"tgt_length={tgt_length} is shorter than a target + EOS ({longest_tgt})"
            )
        n = len(sources)
        self.src = torch.full((n, self.src_length), PAD_ID, dtype=torch.long)
        self.src_lengths = torch.tensor([len(s) for s in sources], dtype=torch.long)
        self.tgt_in = torch.full((n, self.tgt_length), PAD_ID, dtype=torch.long)
        self.tgt_out = torch.full((n, self.tgt_length), IGNORE_INDEX, dtype=torch.long)
        for i, (s, t) in enumerate(zip(sources, targets, strict=True)):
            self.src[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            self.tgt_in[i, : len(t) + 1] = torch.tensor([BOS_ID, *t], dtype=torch.long)
            self.tgt_out[i, : len(t) + 1] = torch.tensor([*t, EOS_ID], dtype=torch.long)

    def __len__(self) -> int:
        return self.src.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.src[index], self.src_lengths[index], self.tgt_in[index], self.tgt_out[index]

    def batch(self, indices: Sequence[int] | Tensor | None = None) -> PairBatch:
        """The items at ``indices`` (all by default) as one trimmed :class:`PairBatch`."""
        index = torch.arange(len(self)) if indices is None else torch.as_tensor(indices)
        return _trim(
            self.src[index], self.src_lengths[index], self.tgt_in[index], self.tgt_out[index]
        )


def _trim(src: Tensor, src_lengths: Tensor, tgt_in: Tensor, tgt_out: Tensor) -> PairBatch:
    s = int(src_lengths.max()) if src_lengths.numel() else 0
    t = int((tgt_out != IGNORE_INDEX).sum(-1).max()) if tgt_out.numel() else 0
    return PairBatch(src[:, :s], src_lengths, tgt_in[:, :t], tgt_out[:, :t])


def collate_pairs(items: Sequence[tuple[Tensor, Tensor, Tensor, Tensor]]) -> PairBatch:
    """Stack :class:`PairDataset` items and trim the padding to the batch's longest sequences.

    Use as ``DataLoader(dataset, batch_size=..., collate_fn=collate_pairs)``.
    """
    if len(items) == 0:
        raise ValueError("items must not be empty")
    src, lengths, tgt_in, tgt_out = (torch.stack(parts) for parts in zip(*items, strict=True))
    return _trim(src, lengths, tgt_in, tgt_out)
