"""bAbI question answering tasks 1-20 (v1.2, English): checksummed files, parser, vectoriser.

Dataset: J. Weston, A. Bordes, S. Chopra, A. M. Rush, B. van Merrienboer, A. Joulin, T. Mikolov,
"Towards AI-Complete Question Answering: A Set of Prerequisite Toy Tasks",
https://arxiv.org/abs/1502.05698 (Facebook AI Research; CC BY 3.0).

Files:
    ``<root>/babi/en/qaN_<name>_{train,test}.txt.gz`` (1,000 training questions per task) and
    ``<root>/babi/en-10k/...`` (10,000), each the original text file gzip-compressed; the
    uncompressed ``.txt`` is accepted too (verified by the sha256 of its content). The root is
    resolved as for every resource (``data_dir`` argument, then ``ATTNLAB_DATA``, then the user
    cache). :func:`download_babi` fetches the original archive ``tasks_1-20_v1-2.tar.gz``
    (:data:`BABI_ARCHIVE_URLS`) and installs its files, each checked against its content sha256.

Format:
    One line per sentence, ``ID text``; a question line is ``ID question<TAB>answer<TAB>ids``
    where ``ids`` are the IDs of the supporting sentences. IDs restart at 1 for each new story.
    Questions are not memories: a question's story is every statement of its story before it.

Vectorisation (Sukhbaatar et al., "End-To-End Memory Networks", arXiv:1503.08895, section 4.1):
    the memory keeps the last ``memory_size`` (50) sentences before the question; a sentence is a
    row of word indices padded with 0 (the nil word). Memory slots are chronological
    (oldest first) and ``time`` holds the temporal index of each slot, counted backwards from
    the question (0 = the most recent sentence), as the temporal encoding ``T_A(i)`` of the
    paper's section 4.1 indexes memories by their distance to the question.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import zlib
from collections.abc import Iterable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from attnlab.data.errors import CorruptFileError, MissingDataError
from attnlab.data.resources import (
    FileSpec,
    Resource,
    install_from_archive,
    register_resource,
    resolve_data_root,
)
from attnlab.data.resources import _open_url as _resource_open_url

__all__ = [
    "BABI_ARCHIVE_URLS",
    "BABI_RESOURCE",
    "BABI_TASKS",
    "BABI_VARIANTS",
    "BabiData",
    "BabiExample",
    "BabiTensors",
    "BabiVocab",
    "babi_file_name",
    "build_vocab",
    "download_babi",
    "load_babi",
    "load_babi_task",
    "parse_babi",
    "split_validation",
    "vectorize_babi",
]

logger = logging.getLogger(__name__)

BABI_TASKS: dict[int, str] = {
    1: "single-supporting-fact",
    2: "two-supporting-facts",
    3: "three-supporting-facts",
    4: "two-arg-relations",
    5: "three-arg-relations",
    6: "yes-no-questions",
    7: "counting",
    8: "lists-sets",
    9: "simple-negation",
    10: "indefinite-knowledge",
    11: "basic-coreference",
    12: "conjunction",
    13: "compound-coreference",
    14: "time-reasoning",
    15: "basic-deduction",
    16: "basic-induction",
    17: "positional-reasoning",
    18: "size-reasoning",
    19: "path-finding",
    20: "agents-motivations",
}
"""Task number -> the name used in the file names (``qa1_single-supporting-fact_train.txt``)."""

BABI_VARIANTS: tuple[str, ...] = ("en", "en-10k")
"""The English variants: ``en`` (1k training questions per task) and ``en-10k``."""

Variant = Literal["en", "en-10k"]
Split = Literal["train", "test"]

BABI_ARCHIVE_URLS: tuple[str, ...] = (
    "http://www.thespermwhale.com/jaseweston/babi/tasks_1-20_v1-2.tar.gz",
    "https://dl.fbaipublicfiles.com/babi/tasks_1-20_v1-2.tar.gz",
)
"""The original v1.2 archive (``tasks_1-20_v1-2/{en,en-10k,...}/qaN_*.txt``)."""


def _pinned_files() -> tuple[FileSpec, ...]:
    """The pinned task files of ``babi_checksums.json`` (shipped with the package): name, size,
    sha256 of the gzip file and sha256 of the original text file."""
    text = files("attnlab.data").joinpath("babi_checksums.json").read_text("utf-8")
    return tuple(
        FileSpec(name, sha256=entry["sha256"], size=entry["size"],
                 content_sha256=entry["content_sha256"])
        for name, entry in json.loads(text)["files"].items()
    )


def babi_file_name(task: int, split: str, variant: str = "en") -> str:
    """The resource-relative name of a task file.

    Example:
        >>> babi_file_name(1, "train")
        'en/qa1_single-supporting-fact_train.txt.gz'
    """
    if isinstance(task, bool) or not isinstance(task, int) or task not in BABI_TASKS:
        raise ValueError(f"task must be an integer in 1..20, got {task!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if variant not in BABI_VARIANTS:
        raise ValueError(f"variant must be one of {BABI_VARIANTS}, got {variant!r}")
    return f"{variant}/qa{task}_{BABI_TASKS[task]}_{split}.txt.gz"


BABI_RESOURCE: Resource = register_resource(
    Resource(
        "babi",
        _pinned_files(),
        description="bAbI QA tasks v1.2 (Weston et al. 2015); Facebook; CC BY 3.0",
        homepage="https://research.facebook.com/downloads/babi/",
    )
)
"""The 79 gzip files of ``en`` and ``en-10k`` (``en-10k`` qa3 training file: no pinned copy)."""


# ---------------------------------------------------------------------------------------------
# parsing


class BabiExample(NamedTuple):
    """One question with its story.

    Attributes:
        story: the statements of the story before the question, oldest first, as word lists.
        query: the question's words.
        answer: the answer (one token; lists such as ``"n,w"`` of task 19 stay one token).
        supporting: indices into ``story`` of the supporting statements.
        task: the task number (0 when unknown).
    """

    story: list[list[str]]
    query: list[str]
    answer: str
    supporting: list[int]
    task: int


_WORD = re.compile(r"[a-z0-9]+")


def _tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def parse_babi(text: str, *, task: int = 0, source: str = "<text>") -> list[BabiExample]:
    r"""Parse the text of a bAbI file into questions with their stories.

    A sentence whose ID is 1 starts a new story. Words are lower-cased; punctuation is dropped.

    Raises:
        CorruptFileError: a malformed line (named by ``source`` and line number).

    Example:
        >>> text = "1 Mary went home.\n2 Where is Mary?\thome\t1\n1 Bob ran.\n"
        >>> ex = parse_babi(text)
        >>> ex[0].story, ex[0].query, ex[0].answer, ex[0].supporting
        ([['mary', 'went', 'home']], ['where', 'is', 'mary'], 'home', [0])
    """
    examples: list[BabiExample] = []
    story: list[list[str]] = []
    line_to_index: dict[int, int] = {}
    previous = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        head, _, rest = line.partition(" ")
        try:
            ident = int(head)
        except ValueError:
            raise CorruptFileError(
                f"{source}: line {number}: expected 'ID text', got {line[:60]!r}"
            ) from None
        if ident == 1:
            story, line_to_index = [], {}
        elif ident != previous + 1:
            raise CorruptFileError(
                f"{source}: line {number}: sentence ID {ident} does not follow {previous}"
            )
        previous = ident
        if "\t" in rest:
            parts = rest.split("\t")
            if len(parts) < 2 or not parts[1].strip():
                raise CorruptFileError(f"{source}: line {number}: a question without an answer")
            try:
                ids = [int(s) for s in parts[2].split()] if len(parts) > 2 else []
                supporting = [line_to_index[i] for i in ids]
            except (ValueError, KeyError):
                raise CorruptFileError(
                    f"{source}: line {number}: bad supporting-fact IDs {parts[2]!r}"
                ) from None
            examples.append(
                BabiExample(
                    story[:],  # a shallow copy: the sentence lists are never mutated
                    _tokenize(parts[0]),
                    parts[1].strip().lower(),
                    supporting,
                    task,
                )
            )
        else:
            line_to_index[ident] = len(story)
            story.append(_tokenize(rest))
    if not examples:
        what = "is empty" if not text.strip() else "holds no question with an answer"
        raise CorruptFileError(
            f"{source}: the bAbI file {what} (expected lines 'ID question?<TAB>answer<TAB>ids')"
        )
    return examples


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8")
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as error:
        raise CorruptFileError(f"{path}: cannot read the bAbI file ({error})", path=path) from None


def _fetch(name: str, data_dir: str | os.PathLike[str] | None, download: bool) -> Path:
    try:
        BABI_RESOURCE.spec(name)
    except KeyError:
        # en-10k/qa3 train: no checksummed copy is pinned; accept a local file with a warning
        root, origin = resolve_data_root(data_dir)
        folder = root / BABI_RESOURCE.name
        for candidate in (folder / name, folder / name[: -len(".gz")]):
            if candidate.is_file():
                logger.warning("%s: no sha256 is pinned for this file; used unverified", candidate)
                return candidate
        raise MissingDataError(
            f"bAbI: file not found: {folder / name} (data root {root}, from the {origin}). "
            "No checksummed copy of this file is distributed with the other bAbI files; "
            "install the original archive with download_babi(), or use variant='en' for this "
            "task.",
            path=folder / name,
        ) from None
    if download and not BABI_RESOURCE.path(name, data_dir).exists() and (
        name in BABI_RESOURCE.missing_files(data_dir)
    ):
        download_babi(data_dir)
    return BABI_RESOURCE.fetch(name, data_dir=data_dir)


def load_babi_task(
    task: int,
    split: Split = "train",
    *,
    variant: Variant = "en",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> list[BabiExample]:
    """The questions of one task file, verified and parsed.

    Args:
        task: 1..20.
        split: ``"train"`` or ``"test"``.
        variant: ``"en"`` (1k) or ``"en-10k"``.
        data_dir: the data root (see :func:`attnlab.data.resources.data_root`).
        download: fetch the original archive when the file is missing.

    Raises:
        MissingDataError: the file is absent (names it and how to get it).
        CorruptFileError: the file fails its checksum or cannot be parsed.
    """
    name = babi_file_name(task, split, variant)
    path = _fetch(name, data_dir, download)
    return parse_babi(_read_text(path), task=task, source=str(path))


_open_url = _resource_open_url  # the downloader's opener (a module attribute tests can replace)


def download_babi(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    urls: Sequence[str] = BABI_ARCHIVE_URLS,
    timeout: float = 60.0,
) -> Path:
    """Download the original v1.2 archive and install its ``en`` and ``en-10k`` task files.

    The archive's own checksum is not pinned; every member listed in :data:`BABI_RESOURCE` is
    checked against the sha256 of its content before it is moved (uncompressed) into
    ``<root>/babi/<variant>/``. The one file without a pinned checksum (``en-10k`` qa3 training)
    is installed as it is. Extraction uses :func:`~attnlab.data.resources.extract_archive`.

    Returns:
        The resource folder.

    Raises:
        DownloadError: no URL worked, or a member is missing or fails its checksum.
    """
    pinned = [(spec.name[: -len(".gz")], spec) for spec in BABI_RESOURCE.files]
    unpinned = babi_file_name(3, "train", "en-10k")[: -len(".gz")]
    return install_from_archive(
        BABI_RESOURCE, urls, "tasks_1-20_v1-2.tar.gz", [*pinned, (unpinned, None)],
        what="bAbI", data_dir=data_dir, timeout=timeout, opener=_open_url, max_bytes=500 << 20,
    )


# ---------------------------------------------------------------------------------------------
# vocabulary and tensors


class BabiVocab:
    """Word <-> index map; index 0 is the nil (padding) word ``"<nil>"``.

    Example:
        >>> vocab = BabiVocab(["mary", "home"])
        >>> vocab.encode(["home", "mary"]), len(vocab)
        ([1, 2], 3)
    """

    NIL = "<nil>"

    def __init__(self, words: Iterable[str]) -> None:
        self.words: list[str] = [self.NIL, *sorted(set(words) - {self.NIL})]
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: Sequence[str]) -> list[int]:
        """Indices of ``words``; an unknown word raises ``KeyError`` naming it."""
        try:
            return [self.index[w] for w in words]
        except KeyError as error:
            raise KeyError(f"word {error.args[0]!r} is not in the vocabulary") from None

    def decode(self, indices: Iterable[int]) -> list[str]:
        """Words of ``indices`` (the nil word included)."""
        return [self.words[int(i)] for i in indices]


def build_vocab(*example_sets: Iterable[BabiExample]) -> BabiVocab:
    r"""The vocabulary of every story, query and answer word in ``example_sets``.

    Example:
        >>> ex = parse_babi("1 Mary went home.\n2 Where is Mary?\thome\t1\n")
        >>> build_vocab(ex).words
        ['<nil>', 'home', 'is', 'mary', 'went', 'where']
    """
    words: set[str] = set()
    for examples in example_sets:
        for ex in examples:
            for sentence in ex.story:
                words.update(sentence)
            words.update(ex.query)
            words.add(ex.answer)
    return BabiVocab(words)


class BabiTensors(NamedTuple):
    """Vectorised questions (``N`` questions, ``M`` memory slots, ``J`` words per sentence).

    Attributes:
        story: ``(N, M, J)`` word indices, slots oldest first, padded with 0.
        query: ``(N, Jq)`` word indices.
        answer: ``(N,)`` answer word index.
        time: ``(N, M)`` temporal index of each slot, 0 = most recent (0 on padding).
        mask: ``(N, M)`` bool, ``True`` at real sentences.
        supporting: ``(N, M)`` bool, ``True`` at the supporting sentences kept in memory.
        task: ``(N,)`` task number.
    """

    story: Tensor
    query: Tensor
    answer: Tensor
    time: Tensor
    mask: Tensor
    supporting: Tensor
    task: Tensor

    def subset(self, index: Tensor) -> BabiTensors:
        """The questions at ``index`` (a 1-D index tensor)."""
        return BabiTensors(*(t[index] for t in self))



def vectorize_babi(
    examples: Sequence[BabiExample],
    vocab: BabiVocab,
    *,
    memory_size: int = 50,
    sentence_len: int | None = None,
    query_len: int | None = None,
    num_slots: int | None = None,
) -> BabiTensors:
    r"""Turn questions into padded tensors, keeping the last ``memory_size`` sentences.

    Args:
        examples: parsed questions.
        vocab: the word map (unknown words raise ``KeyError``).
        memory_size: most recent sentences kept per question (paper: 50, section 4.2).
        sentence_len: ``J``; default the longest kept sentence.
        query_len: ``Jq``; default the longest query.
        num_slots: ``M``; default the longest kept story (at most ``memory_size``).

    Example:
        >>> ex = parse_babi("1 Mary went home.\n2 Bob ran.\n3 Where is Mary?\thome\t1\n")
        >>> t = vectorize_babi(ex, build_vocab(ex), memory_size=50)
        >>> t.story.shape, t.time.tolist(), t.supporting.tolist()
        (torch.Size([1, 2, 3]), [[1, 0]], [[True, False]])
    """
    if isinstance(memory_size, bool) or not isinstance(memory_size, int) or memory_size < 1:
        raise ValueError(f"memory_size must be an integer >= 1, got {memory_size!r}")
    if not examples:
        raise ValueError("examples must not be empty")
    stories = [ex.story[-memory_size:] for ex in examples]
    longest_story = max(1, max(len(s) for s in stories))
    longest_sentence = max(1, max((len(w) for s in stories for w in s), default=1))
    longest_query = max(1, max(len(ex.query) for ex in examples))
    m = longest_story if num_slots is None else num_slots
    j = longest_sentence if sentence_len is None else sentence_len
    jq = longest_query if query_len is None else query_len
    for value, need, name in ((m, longest_story, "num_slots"), (j, longest_sentence,
                              "sentence_len"), (jq, longest_query, "query_len")):
        if value < need:
            raise ValueError(f"{name}={value} is shorter than the data's {need}")
    n = len(examples)
    story = np.zeros((n, m, j), dtype=np.int64)
    query = np.zeros((n, jq), dtype=np.int64)
    answer = np.zeros(n, dtype=np.int64)
    time = np.zeros((n, m), dtype=np.int64)
    mask = np.zeros((n, m), dtype=bool)
    supporting = np.zeros((n, m), dtype=bool)
    task = np.zeros(n, dtype=np.int64)
    index = vocab.index
    rows: dict[int, np.ndarray] = {}  # questions of one story share their sentence objects
    for i, (ex, kept) in enumerate(zip(examples, stories, strict=True)):
        offset = len(ex.story) - len(kept)  # sentences dropped by the memory limit
        count = len(kept)
        if count:
            encoded = []
            for sentence in kept:
                row = rows.get(id(sentence))
                if row is None:
                    row = np.zeros(j, dtype=np.int64)
                    row[: len(sentence)] = vocab.encode(sentence)
                    rows[id(sentence)] = row
                encoded.append(row)
            story[i, :count] = np.stack(encoded)
        mask[i, :count] = True
        time[i, :count] = np.arange(count - 1, -1, -1)
        for fact in ex.supporting:
            if fact >= offset:
                supporting[i, fact - offset] = True
        if ex.query:
            query[i, : len(ex.query)] = vocab.encode(ex.query)
        if ex.answer not in index:
            raise KeyError(f"answer {ex.answer!r} is not in the vocabulary")
        answer[i] = index[ex.answer]
        task[i] = ex.task
    return BabiTensors(*(torch.from_numpy(a) for a in (story, query, answer, time, mask,
                                                        supporting, task)))


def split_validation(
    examples: Sequence[BabiExample], *, fraction: float = 0.1, seed: int = 0
) -> tuple[list[BabiExample], list[BabiExample]]:
    r"""Hold out ``fraction`` of each task's questions (deterministic in ``seed``).

    Sukhbaatar et al. (arXiv:1503.08895, section 4.2): 10% of the training set is held out for
    validation. The split is drawn per task, so every task keeps ``round(fraction * n)``.

    Example:
        >>> ex = parse_babi("".join(f"1 a b.\n2 c?\tb\t1\n" for _ in range(10)), task=1)
        >>> train, val = split_validation(ex, fraction=0.2)
        >>> len(train), len(val)
        (8, 2)
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
        0 <= fraction < 1
    ):
        raise ValueError(f"fraction must be in [0, 1), got {fraction!r}")
    by_task: dict[int, list[int]] = {}
    for i, ex in enumerate(examples):
        by_task.setdefault(ex.task, []).append(i)
    held: set[int] = set()
    for task, indices in sorted(by_task.items()):
        generator = torch.Generator().manual_seed(seed * 1000 + task)
        order = torch.randperm(len(indices), generator=generator).tolist()
        count = round(fraction * len(indices))
        held.update(indices[k] for k in order[:count])
    train = [ex for i, ex in enumerate(examples) if i not in held]
    val = [ex for i, ex in enumerate(examples) if i in held]
    return train, val


class BabiData(NamedTuple):
    """Training, validation and test tensors sharing one vocabulary and one padding."""

    train: BabiTensors
    val: BabiTensors
    test: BabiTensors
    vocab: BabiVocab


def load_babi(
    tasks: int | Sequence[int] = tuple(range(1, 21)),
    *,
    variant: Variant = "en",
    data_dir: str | os.PathLike[str] | None = None,
    memory_size: int = 50,
    val_fraction: float = 0.1,
    seed: int = 0,
    download: bool = False,
    max_train_per_task: int | None = None,
) -> BabiData:
    """Load, split and vectorise one task or several (joint training: one shared vocabulary).

    Args:
        tasks: a task number or a sequence of them (default all 20: joint training).
        variant: ``"en"`` (1k) or ``"en-10k"``.
        data_dir: the data root.
        memory_size: sentences kept per question (50 in the paper).
        val_fraction: held-out share of each task's training questions (10% in the paper).
        seed: seed of the validation split.
        download: fetch the original archive when files are missing.
        max_train_per_task: keep only the first this many training questions of each task
            (before the split; quick runs); ``None`` = all.

    Returns:
        :class:`BabiData`; every split has the same ``M``, ``J`` and ``Jq``.
    """
    task_list = [tasks] if isinstance(tasks, int) else list(tasks)
    if not task_list:
        raise ValueError("tasks must name at least one task")
    for task in task_list:
        babi_file_name(task, "train", variant)  # validates task and variant
    train_all: list[BabiExample] = []
    test_all: list[BabiExample] = []
    for task in task_list:
        train = load_babi_task(task, "train", variant=variant, data_dir=data_dir,
                               download=download)
        if max_train_per_task is not None:
            train = train[:max_train_per_task]
        train_all.extend(train)
        test_all.extend(load_babi_task(task, "test", variant=variant, data_dir=data_dir,
                                       download=download))
    train_part, val_part = split_validation(train_all, fraction=val_fraction, seed=seed)
    vocab = build_vocab(train_all, test_all)
    every = [*train_all, *test_all]
    shape = {
        "num_slots": max(1, max(min(len(ex.story), memory_size) for ex in every)),
        "sentence_len": max(1, max((len(w) for ex in every for w in ex.story), default=1)),
        "query_len": max(1, max(len(ex.query) for ex in every)),
    }
    def vec(part: list[BabiExample]) -> BabiTensors:
        return vectorize_babi(part, vocab, memory_size=memory_size, **shape)

    if not val_part:
        val_part = train_part[:1]
    return BabiData(vec(train_part), vec(val_part), vec(test_all), vocab)
