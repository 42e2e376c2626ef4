"""Reuters-21578 (Distribution 1.0): SGML loader, ModApte split, top-10 topics, HAN tensors.

The collection: 21,578 Reuters newswire articles from 1987 in 22 SGML files ``reut2-000.sgm``
... ``reut2-021.sgm`` (latin-1), by Reuters Ltd. and Carnegie Group, Inc., distributed by David
D. Lewis, https://kdd.ics.uci.edu/databases/reuters21578/reuters21578.html (research use only).
The files are expected as ``reut2-0NN.sgm.gz`` (or uncompressed ``reut2-0NN.sgm``) under
``<root>/docs-reuters21578/``; see :mod:`attnlab.data.resources` for the root (``data_dir``
argument, then ``ATTNLAB_DATA``, then the user cache).

What this module provides, in pipeline order:

* :func:`parse_sgml` / :func:`read_sgml_file`: the ``<REUTERS>`` elements of one file as
  :class:`ReutersDocument` (attributes ``NEWID``, ``LEWISSPLIT``, ``TOPICS``; the ``<D>`` items
  of ``<TOPICS>``; ``<TITLE>`` and ``<BODY>`` text, entities decoded). Parsing is regular
  expressions over the decoded text (the SGML is not well-formed XML); a malformed file raises
  :class:`~attnlab.data.errors.CorruptFileError` naming the file, never a parser traceback.
* :func:`load_reuters`: the verified files of the resource, parsed, filtered to the **ModApte**
  split (Lewis's README, section VIII.B): ``LEWISSPLIT="TRAIN"`` (or ``"TEST"``) and
  ``TOPICS="YES"`` gives 9,603 training and 3,299 test documents; keeping those with at least
  one topic (the default, as usual for classification) gives 7,775 and 3,019.
* :func:`single_label`: the single-label view over :data:`TOP10_TOPICS` used by a softmax
  classifier (rule ``"exclusive"``: documents with exactly one top-10 topic; ``"first"``: the
  first top-10 topic in the document's ``<TOPICS>`` order).
* :func:`split_sentences`, :func:`tokenize_words`, :func:`tokenize_document`: the simple,
  rule-based tokenisation described below; :class:`WordVocab`; :func:`encode_documents` gives
  padded ``(docs, sentences, words)`` index tensors with boolean masks;
  :class:`DocumentDataset` serves ``(tokens, mask, label)`` items to the training loop (these
  three and the special tokens live in :mod:`attnlab.data.documents`, re-exported here).

Tokenisation (deliberately simple and deterministic):
    * Sentences: the text is first cut at paragraph breaks (a newline followed by indentation,
      as in the SGML bodies) and at blank lines; each paragraph is cut after ``.``, ``!`` or
      ``?`` followed by white space and an upper-case letter, digit or quote, unless the word
      ending in the period is a known abbreviation (``Mr.``, ``Inc.``, ``Corp.``, ...) or a
      dotted initialism (``U.S.``, ``U.K.``). The title is the first sentence.
    * Words: lower-cased runs of letters and digits, keeping inner ``'``, ``.``, ``,``, ``-``
      and ``&`` between two such characters (``u.s.``, ``1,750``, ``mid-year``, ``at&t``); any
      token containing a digit becomes :data:`NUMBER_TOKEN`. Other punctuation is dropped.
      The trailing ``Reuter`` sign-off of the bodies is removed before tokenising.
"""

from __future__ import annotations

import gzip
import html
import logging
import os
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from attnlab.data.documents import (
    PAD_TOKEN,
    UNK_TOKEN,
    DocumentDataset,
    WordVocab,
    encode_documents,
)
from attnlab.data.errors import CorruptFileError
from attnlab.data.resources import (
    FileSpec,
    Resource,
    install_from_archive,
    register_resource,
)
from attnlab.data.resources import _open_url as _resource_open_url

__all__ = [
    "ARCHIVE_URLS",
    "NUMBER_TOKEN",
    "PAD_TOKEN",
    "REUTERS_FILES",
    "REUTERS_RESOURCE",
    "SINGLE_LABEL_RULES",
    "SPLITS",
    "TOP10_TOPICS",
    "UNK_TOKEN",
    "DocumentDataset",
    "ReutersDocument",
    "WordVocab",
    "download_reuters",
    "encode_documents",
    "load_reuters",
    "parse_sgml",
    "read_sgml_file",
    "single_label",
    "split_sentences",
    "tokenize_document",
    "tokenize_words",
]

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "test")
"""The ModApte splits: ``LEWISSPLIT="TRAIN"`` and ``LEWISSPLIT="TEST"``."""

TOP10_TOPICS: tuple[str, ...] = (
    "earn",
    "acq",
    "money-fx",
    "grain",
    "crude",
    "trade",
    "interest",
    "ship",
    "wheat",
    "corn",
)
"""The ten most frequent ModApte topics, the usual "top-10" label set, most frequent first."""

SINGLE_LABEL_RULES: tuple[str, ...] = ("exclusive", "first")
"""Rules of :func:`single_label`."""

NUMBER_TOKEN = "<num>"

ARCHIVE_URLS: tuple[str, ...] = (
    "https://kdd.ics.uci.edu/databases/reuters21578/reuters21578.tar.gz",
    "https://archive.ics.uci.edu/ml/machine-learning-databases/reuters21578-mld/"
    "reuters21578.tar.gz",
)
"""Public copies of the original archive (all 22 SGML files plus documentation)."""

# (name, size of the stored .gz, sha256 of the .gz, sha256 of the uncompressed .sgm)
_FILES: tuple[tuple[str, int, str, str], ...] = (
    ("reut2-000.sgm.gz", 385759,
     "0f77a45ac8e1f7e32a5f1d24bfdaf29efccb39c4cae575d95f8810512a14ba14",
     "9ff9bb40624ef992a03f62aace12e697dca1087abfd9b4d06aa787a6ad3e0687"),
    ("reut2-001.sgm.gz", 363433,
     "8d13f8d173d40301cb80c8068607a55bb2f2b93a558ac8116a3b001e1061028f",
     "1528e7e82d110d88d0234eb9619eadb7f9fd805711971df05975b92277dfdf4d"),
    ("reut2-002.sgm.gz", 351659,
     "d8d5b1b87cbfcc595dbbe56f3cd26712fc9eb1f7abbb3fb1ac383d562241c0b1",
     "99f18068d0518952987dedd78c622e5c2a584e357d264d3754696c815f3e6628"),
    ("reut2-003.sgm.gz", 380251,
     "4e4f1b4ec01b74a282d95d24b29df096f0f8ca06ca7e3e5af2d20a68c9116c15",
     "78a3a8d7e04bc9d42c4614d5d5c60a4293dbe3f708df6fb5a71d9ef31f4b3fa3"),
    ("reut2-004.sgm.gz", 389198,
     "0a6e120206a1104f10d6bad2ae5a9353f6890ede183f839ea87b0929ff2739d7",
     "726342c19a65873330b412378cd6a3f0d512035f5223146ddd60930c62eb6ff0"),
    ("reut2-005.sgm.gz", 414350,
     "01fe4b95a67360ea8547c8447a798c880dcf33f2c9a27b459c015b5c34cc63ce",
     "d09de619b6dd2d047d5124681f6df90550abaf592020d1c1ce338ae9b91522e7"),
    ("reut2-006.sgm.gz", 363825,
     "f0ef0ec8fc20648a1c6292bebc59b3a46751ccd79ffaa0b818753de017bc3f8b",
     "b5535c0d66b01f4976f84621a4a795afbc00d2c4bd0a1b7ae426df6630fb361d"),
    ("reut2-007.sgm.gz", 363324,
     "a2f579938e8a15394c2a4329028f08942aae586e89d23f3ae85eae1808d7810b",
     "aa706007ec84a03537a3921ca976d60e11b3f99e4b9e9b2d5c81dd384d2c2062"),
    ("reut2-008.sgm.gz", 425090,
     "4771ae6a9245adf372a8d7ed218eee1182c43ecb72923271b30dab8794ba2b42",
     "a3994583694a00b7c744097c1d7eabfcf90f2e6650cc21663e46828035a336cb"),
    ("reut2-009.sgm.gz", 394358,
     "fd32400d3ed0820a05317b288ca67664ad7d23fc4b23e419b03bb6322de694ab",
     "29995f606dd1a9bdf907eacc9d879846c716860d9d9141676979474aaea39c7d"),
    ("reut2-010.sgm.gz", 406564,
     "35f618957db0bce7f85a21a1d2979b09f57f3d8e5cd3dad67f037a20e1a94ae8",
     "996df6008089bd09fa5b28a4d2eb0ee5f7b9d4601cde566fed3926ac82960fa3"),
    ("reut2-011.sgm.gz", 381155,
     "2d9d48e367ca4b005cd5609cf76e4efe913d67225b7e535908c9d30e82531caf",
     "d3a2782015247d9c2bffb8926267827fdd449c70d619435ef01a25a1c56a53ca"),
    ("reut2-012.sgm.gz", 383835,
     "d5a7374109b8b6cf7867789fec81ae15e4326fb4b2bf5e5ee2e1506076b7b4ac",
     "da31035d483851f2aebce5b66d779e5e2c0ac9dcfe098596c6d544e81c5604ab"),
    ("reut2-013.sgm.gz", 318176,
     "847e370b5d0e715492f81a73eb6f2e1c681cedcd642f7e9c5129efc2012e083b",
     "8f7700bc0455fac3fcc12377ced4807b7df8aba1f21ecad059b9cc2b1cf0b8be"),
    ("reut2-014.sgm.gz", 320635,
     "15a7b7d4c45996a87dd81ce6fb21beccd1f692b1814f617c0a5bc4036b8b4630",
     "ef936bd3e0f36cf722afa9a6957563549775af32e9e28b4f539c8737ceda83ab"),
    ("reut2-015.sgm.gz", 357776,
     "9e8e36db762714d82a4e52e7a1b33878898543fa90dfc152bf30147067f5fa9b",
     "6d3bcec73eff871b8a5403588af814c4e50a0de6bc25707480522ab836f74026"),
    ("reut2-016.sgm.gz", 383818,
     "5b0a342c29169f5accfa7e619caaf5b947964618b0cdfdcbd30871449d3116f6",
     "be2f03a185fff70131f3b4fdbd6229b7ee2be077eba9691eaa597c8cfbda8812"),
    ("reut2-017.sgm.gz", 467483,
     "1ee9d08c30e92b08f253ba82ce8dcdcd6e68fc9271f0a39dc091233a8f5fa140",
     "f370e610b4b1342e41a98e0c426a08541044bd1d7e539674f32372a6060b73b5"),
    ("reut2-018.sgm.gz", 365334,
     "f4dc2dd103889eca875cecdc87e58785f46e577741b38e5fe4d74cd6734f1c8d",
     "a5f971bf25448e915781962309e669359a35fbcaf3017a806eca0590897f209a"),
    ("reut2-019.sgm.gz", 370383,
     "a6ecbaefc2f796e8e532ee41076e566aefbdc7e3417f627e5d04652847df227b",
     "d3b07097fba2633d130b4914aceba671645985248943ce9e39c289315339dffb"),
    ("reut2-020.sgm.gz", 279770,
     "92b986cdce039f09c9df6e9c4bf3dec323668ee461cd08a6c46ed0dfbccfa4cd",
     "f6ad1b724125c202566c63b35ea0b5ee23881f8b7ed47a32829d5af05d8e860d"),
    ("reut2-021.sgm.gz", 168458,
     "2d0006344683b79a30aa02e6e9602846498117bfd5740a0db8ae91e30fe422b2",
     "3f5196d32869723c9042aa5756805b4e90360f1f45ea17f4594fa0e2b3630b18"),
)

REUTERS_FILES: tuple[str, ...] = tuple(name for name, *_ in _FILES)
"""The 22 SGML files, in collection order."""

REUTERS_RESOURCE: Resource = register_resource(
    Resource(
        "docs-reuters21578",
        tuple(
            # no per-file URL exists: download_reuters fetches the archive and checks each
            # member against content_sha256 (the uncompressed file is accepted as it is)
            FileSpec(name, sha256=sha, size=size, content_sha256=content)
            for name, size, sha, content in _FILES
        ),
        description=(
            "Reuters-21578 Distribution 1.0; Reuters Ltd., Carnegie Group, D. D. Lewis; "
            "research use only"
        ),
        homepage="https://kdd.ics.uci.edu/databases/reuters21578/reuters21578.html",
    )
)
"""The 22 SGML files of Reuters-21578 (gzip-compressed; sha256 of the .gz and of the content)."""


# ---------------------------------------------------------------------------------------------
# parsing


@dataclass(frozen=True)
class ReutersDocument:
    """One ``<REUTERS>`` element.

    Attributes:
        newid: the ``NEWID`` attribute (1 ... 21578, unique in the collection).
        lewis_split: ``LEWISSPLIT``: ``"TRAIN"``, ``"TEST"`` or ``"NOT-USED"``.
        has_topics: ``TOPICS``: ``"YES"``, ``"NO"`` or ``"BYPASS"`` (whether the document was
            considered for topic indexing).
        topics: the ``<D>`` items of ``<TOPICS>``, in file order (may be empty).
        title: ``<TITLE>`` text (``""`` when absent).
        body: ``<BODY>`` text, or the whole ``<TEXT>`` of ``TYPE="UNPROC"`` documents (``""``
            for ``TYPE="BRIEF"`` documents, which have a title only).
        source: the file the document was read from.
    """

    newid: int
    lewis_split: str
    has_topics: str
    topics: tuple[str, ...]
    title: str
    body: str
    source: str = ""

    @property
    def text(self) -> str:
        """Title and body, separated by a blank line (a sentence break)."""
        return f"{self.title}\n\n{self.body}" if self.title else self.body


_DOC = re.compile(r"<REUTERS\b([^>]*)>(.*?)</REUTERS>", re.DOTALL)
_OPEN = re.compile(r"<REUTERS\b")
_ATTR = re.compile(r'([A-Z]+)="([^"]*)"')
_TOPICS = re.compile(r"<TOPICS>(.*?)</TOPICS>", re.DOTALL)
_D = re.compile(r"<D>(.*?)</D>", re.DOTALL)
_TEXT = re.compile(r"<TEXT\b[^>]*>(.*?)</TEXT>", re.DOTALL)
_TITLE = re.compile(r"<TITLE>(.*?)</TITLE>", re.DOTALL)
_BODY = re.compile(r"<BODY>(.*?)</BODY>", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SIGN_OFF = re.compile(r"\s*\bReuter\s*$", re.IGNORECASE)
_LEWIS_SPLITS = ("TRAIN", "TEST", "NOT-USED")
_TOPICS_VALUES = ("YES", "NO", "BYPASS")


def _clean(fragment: str) -> str:
    """Tags removed, then entities decoded and control characters (``&#2;``, ``&#3;``) dropped.

    Tags go first: ``&lt;Sedio N.V.>`` (a company name) must survive as text.
    """
    text = html.unescape(_TAG.sub(" ", fragment))
    return _CONTROL.sub("", text).strip()


def parse_sgml(text: str, *, source: str = "<string>") -> list[ReutersDocument]:
    """Parse the ``<REUTERS>`` elements of one Reuters-21578 SGML file.

    Args:
        text: the file's content, decoded (latin-1).
        source: the file's name, used in error messages and :attr:`ReutersDocument.source`.

    Returns:
        The documents, in file order.

    Raises:
        CorruptFileError: naming ``source``: no ``<REUTERS>`` element, an element that is not
            closed, a missing or malformed ``NEWID``/``LEWISSPLIT``/``TOPICS`` attribute, or an
            unclosed ``<TOPICS>``/``<TEXT>`` element.

    Example:
        >>> sgml = ('<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" NEWID="7">'
        ...         '<TOPICS><D>earn</D></TOPICS><TEXT><TITLE>A &amp; B</TITLE>'
        ...         '<BODY>Profit rose.\\n Reuter\\n&#3;</BODY></TEXT></REUTERS>')
        >>> doc = parse_sgml(sgml)[0]
        >>> doc.newid, doc.topics, doc.title, doc.body
        (7, ('earn',), 'A & B', 'Profit rose.')
    """
    documents: list[ReutersDocument] = []
    opened = len(_OPEN.findall(text))
    for number, match in enumerate(_DOC.finditer(text), start=1):
        where = f"{source}: <REUTERS> element {number}"
        documents.append(_parse_element(match.group(1), match.group(2), where, source))
    if not documents:
        raise CorruptFileError(
            f"{source}: no <REUTERS> element found; not a Reuters-21578 SGML file", path=source
        )
    if opened != len(documents):
        raise CorruptFileError(
            f"{source}: {opened} <REUTERS> elements opened but {len(documents)} closed; the file "
            "is truncated or malformed",
            path=source,
        )
    return documents


_CACHE: dict[tuple[str, int, int], list[ReutersDocument]] = {}


def _parse_element(
    attributes_text: str, inner: str, where: str, source: str
) -> ReutersDocument:
    """One ``<REUTERS>`` element: its attributes and its content (see :func:`parse_sgml`)."""
    if _OPEN.search(inner):
        raise CorruptFileError(
            f"{where} is not closed before the next <REUTERS>; the file is malformed",
            path=source,
        )
    attributes = dict(_ATTR.findall(attributes_text))
    newid_text = attributes.get("NEWID", "")
    if not newid_text.isdigit():
        raise CorruptFileError(
            f"{where}: missing or non-numeric NEWID attribute ({newid_text!r})", path=source
        )
    lewis = attributes.get("LEWISSPLIT", "")
    has_topics = attributes.get("TOPICS", "")
    if lewis not in _LEWIS_SPLITS or has_topics not in _TOPICS_VALUES:
        raise CorruptFileError(
            f"{where} (NEWID {newid_text}): LEWISSPLIT={lewis!r} / TOPICS={has_topics!r}; "
            f"expected one of {_LEWIS_SPLITS} / {_TOPICS_VALUES}",
            path=source,
        )
    topics: tuple[str, ...] = ()
    if "<TOPICS>" in inner:
        block = _TOPICS.search(inner)
        if block is None:
            raise CorruptFileError(
                f"{where} (NEWID {newid_text}): <TOPICS> is not closed", path=source
            )
        topics = tuple(_clean(t) for t in _D.findall(block.group(1)))
    title = body = ""
    if "<TEXT" in inner:
        text_match = _TEXT.search(inner)
        if text_match is None:
            raise CorruptFileError(
                f"{where} (NEWID {newid_text}): <TEXT> is not closed", path=source
            )
        title, body = _title_and_body(text_match.group(1))
    return ReutersDocument(int(newid_text), lewis, has_topics, topics, title, body, source)


def _title_and_body(content: str) -> tuple[str, str]:
    """The cleaned ``<TITLE>`` and ``<BODY>`` of a ``<TEXT>`` element (without the sign-off)."""
    title_match = _TITLE.search(content)
    body_match = _BODY.search(content)
    title = _clean(title_match.group(1)) if title_match else ""
    body = ""
    if body_match is not None:
        body = _clean(body_match.group(1))
    elif title_match is None:  # TYPE="UNPROC": raw text without inner tags
        body = _clean(content)
    return title, _SIGN_OFF.sub("", body)


def read_sgml_file(path: str | os.PathLike[str]) -> list[ReutersDocument]:
    """Read and parse one SGML file (gzip-compressed or not; latin-1).

    Parsed files are remembered for the process (keyed by path, size and modification time).

    Raises:
        CorruptFileError: the file is not valid gzip, or its content is malformed (see
            :func:`parse_sgml`); the message names the file.
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    try:
        with path.open("rb") as stream:
            compressed = stream.read(2) == b"\x1f\x8b"
        raw = gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, FileNotFoundError | PermissionError):
            raise
        raise CorruptFileError(
            f"{path}: cannot decompress ({error}); the file is not a valid gzip file", path=path
        ) from None
    documents = parse_sgml(raw.decode("latin-1"), source=str(path))
    _CACHE[key] = documents
    return documents


_uci_open = _resource_open_url  # the downloader's opener (a module attribute tests can replace)


def download_reuters(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    urls: Sequence[str] = ARCHIVE_URLS,
    timeout: float = 60.0,
) -> Path:
    """Download the original archive and install its 22 SGML files, each sha256-verified.

    The archive's own checksum is not pinned (the mirrors serve the same members, not always
    the same bytes); instead every ``reut2-0NN.sgm`` member is checked against the sha256 of its
    content (:attr:`FileSpec.content_sha256`) before it is moved into
    ``<root>/docs-reuters21578/`` (uncompressed, which the resource accepts). Extraction goes
    through :func:`~attnlab.data.resources.extract_archive` (no member can escape).

    Returns:
        The resource folder.

    Raises:
        DownloadError: no URL worked, or a member is missing or fails its checksum.
    """
    members = [(spec.uncompressed_name or spec.name, spec) for spec in REUTERS_RESOURCE.files]
    return install_from_archive(
        REUTERS_RESOURCE, urls, "reuters21578.tar.gz", members, what="Reuters-21578",
        data_dir=data_dir, timeout=timeout, opener=_uci_open, max_bytes=200 << 20,
    )


def load_reuters(
    split: Literal["train", "test"],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    require_topic: bool = True,
    download: bool = False,
) -> list[ReutersDocument]:
    """The ModApte documents of ``split``, read from the verified SGML files.

    ModApte (Lewis's README, section VIII.B): ``LEWISSPLIT="TRAIN"`` (``"TEST"``) and
    ``TOPICS="YES"``: 9,603 training and 3,299 test documents. With ``require_topic`` (the
    default) only documents with at least one topic are kept: 7,775 and 3,019.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: the data root (see :func:`attnlab.data.resources.data_root`).
        require_topic: drop documents whose ``<TOPICS>`` is empty.
        download: download the collection first when files are missing
            (:func:`download_reuters`).

    Returns:
        The documents, in collection order.

    Raises:
        ValueError: unknown ``split``.
        MissingDataError / CorruptFileError: a file is absent, fails its checksum or is
            malformed (the message names it).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not isinstance(require_topic, bool):
        raise TypeError(f"require_topic must be a bool, got {type(require_topic).__name__}")
    if download and REUTERS_RESOURCE.missing_files(data_dir):
        download_reuters(data_dir)
    wanted = split.upper()
    documents: list[ReutersDocument] = []
    for name in REUTERS_FILES:
        path = REUTERS_RESOURCE.fetch(name, data_dir=data_dir)
        for doc in read_sgml_file(path):
            in_split = doc.lewis_split == wanted and doc.has_topics == "YES"
            if in_split and (doc.topics or not require_topic):
                documents.append(doc)
    return documents


def single_label(
    documents: Iterable[ReutersDocument],
    *,
    topics: Sequence[str] = TOP10_TOPICS,
    rule: Literal["exclusive", "first"] = "exclusive",
) -> tuple[list[ReutersDocument], list[int]]:
    """The single-label view: documents with one class from ``topics``, and that class's index.

    Rules:
        * ``"exclusive"`` (default): keep documents with exactly one topic from ``topics``
          (other topics are allowed); the label is that topic. On ModApte top-10 this keeps
          5,870 training and 2,332 test documents; ``wheat`` and ``corn`` (almost) never occur
          without ``grain``, so they are (nearly) empty classes under this rule.
        * ``"first"``: keep documents with at least one topic from ``topics``; the label is the
          first of them in the document's ``<TOPICS>`` order (6,490 / 2,545 documents).

    Example:
        >>> docs = [ReutersDocument(1, "TRAIN", "YES", ("grain", "wheat"), "t", "b"),
        ...         ReutersDocument(2, "TRAIN", "YES", ("earn",), "t", "b"),
        ...         ReutersDocument(3, "TRAIN", "YES", ("cocoa",), "t", "b")]
        >>> [d.newid for d in single_label(docs)[0]], single_label(docs)[1]
        ([2], [0])
        >>> single_label(docs, rule="first")[1]
        [3, 0]
    """
    if rule not in SINGLE_LABEL_RULES:
        raise ValueError(f"rule must be one of {SINGLE_LABEL_RULES}, got {rule!r}")
    index = {topic: i for i, topic in enumerate(topics)}
    if len(index) != len(topics) or not topics:
        raise ValueError(f"topics must be distinct and non-empty, got {tuple(topics)}")
    kept: list[ReutersDocument] = []
    labels: list[int] = []
    for doc in documents:
        found = [t for t in doc.topics if t in index]
        if rule == "exclusive" and len(set(found)) != 1:
            continue
        if not found:
            continue
        kept.append(doc)
        labels.append(index[found[0]])
    return kept, labels


# ---------------------------------------------------------------------------------------------
# tokenisation


_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "inc", "corp", "co", "ltd", "plc", "bhd", "cie",
    "no", "nos", "vs", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "gen", "gov", "sen", "rep", "dept", "est", "approx", "fig",
})
_PARAGRAPH = re.compile(r"\n[ \t]+|\n\s*\n")
_SENTENCE_END = re.compile(r"([.!?])[\"')]*\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[a-z0-9]+(?:['.,&-][a-z0-9]+)*")
_LAST_WORD = re.compile(r"(\S+)$")
_INITIALISM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]?$")


def _is_abbreviation(before: str) -> bool:
    match = _LAST_WORD.search(before)
    if match is None:
        return False
    word = match.group(1).rstrip(".")
    if _INITIALISM.fullmatch(word + ".") or len(word) == 1:
        return True  # U.S., U.K., J. (initials)
    return word.lower().lstrip("(\"'") in _ABBREVIATIONS


def split_sentences(text: str) -> list[str]:
    """Split text into sentences (see the module docstring for the rule).

    Example:
        >>> split_sentences("U.S. output rose 2.5 pct. Mr. Smith said so!\\n    New paragraph")
        ['U.S. output rose 2.5 pct.', 'Mr. Smith said so!', 'New paragraph']
    """
    sentences: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        paragraph = " ".join(paragraph.split())
        start = 0
        for match in _SENTENCE_END.finditer(paragraph):
            end = match.end(1)
            if match.group(1) == "." and _is_abbreviation(paragraph[start:end]):
                continue
            piece = paragraph[start : match.end()].strip()
            if piece:
                sentences.append(piece)
            start = match.end()
        tail = paragraph[start:].strip()
        if tail:
            sentences.append(tail)
    return sentences


def tokenize_words(sentence: str) -> list[str]:
    """Lower-cased word tokens; tokens with a digit become :data:`NUMBER_TOKEN`.

    Example:
        >>> tokenize_words("Shipments of 1,750 dlrs to the U.S. (mid-year)!")
        ['shipments', 'of', '<num>', 'dlrs', 'to', 'the', 'u.s', 'mid-year']
    """
    tokens = _WORD.findall(sentence.lower())
    return [NUMBER_TOKEN if any(c.isdigit() for c in t) else t for t in tokens]


def tokenize_document(document: ReutersDocument | str) -> list[list[str]]:
    """Sentences of word tokens; sentences without a word are dropped.

    Example:
        >>> tokenize_document("BANK RATE CUT\\n\\nThe bank cut its rate. It said so.")
        [['bank', 'rate', 'cut'], ['the', 'bank', 'cut', 'its', 'rate'], ['it', 'said', 'so']]
    """
    text = document.text if isinstance(document, ReutersDocument) else document
    if not isinstance(text, str):
        raise TypeError(f"document must be a ReutersDocument or str, got {type(text).__name__}")
    return [words for words in map(tokenize_words, split_sentences(text)) if words]
