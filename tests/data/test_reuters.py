"""Reuters-21578 loader: crafted SGML always; the real files when ATTNLAB_DATA is set.

The real-data tests skip only when ``ATTNLAB_DATA`` is unset; when it is set, a missing or
damaged file makes them fail.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest
import torch

from attnlab.data.errors import CorruptFileError, DownloadError, MissingDataError
from attnlab.data.resources import DATA_ENV_VAR
from attnlab.data.reuters import (
    NUMBER_TOKEN,
    REUTERS_FILES,
    REUTERS_RESOURCE,
    TOP10_TOPICS,
    DocumentDataset,
    ReutersDocument,
    WordVocab,
    download_reuters,
    encode_documents,
    load_reuters,
    parse_sgml,
    read_sgml_file,
    single_label,
    split_sentences,
    tokenize_document,
    tokenize_words,
)

SGML = """<!DOCTYPE lewis SYSTEM "lewis.dtd">
<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="5544" NEWID="1">
<DATE>26-FEB-1987 15:01:01.79</DATE>
<TOPICS><D>grain</D><D>wheat</D></TOPICS>
<PLACES><D>usa</D></PLACES>
<UNKNOWN>&#5;&#5;&#5;C T</UNKNOWN>
<TEXT>&#2;
<TITLE>U.S. WHEAT &lt;EXPORTS> RISE</TITLE>
<DATELINE>    WASHINGTON, Feb 26 - </DATELINE><BODY>U.S. wheat exports rose 2.5 pct to 1,750
tonnes, Mr. Smith of &lt;Grain Co> said.
    He said prices would firm. Buyers & sellers agreed.
 Reuter
&#3;</BODY></TEXT>
</REUTERS>
<REUTERS TOPICS="NO" LEWISSPLIT="TEST" CGISPLIT="TRAINING-SET" OLDID="1" NEWID="2">
<TOPICS></TOPICS>
<TEXT TYPE="BRIEF">&#2;
<TITLE>BRIEF HEADLINE ONLY</TITLE>
&#3;</TEXT>
</REUTERS>
<REUTERS TOPICS="YES" LEWISSPLIT="TEST" CGISPLIT="TRAINING-SET" OLDID="2" NEWID="3">
<TOPICS><D>earn</D></TOPICS>
<TEXT TYPE="UNPROC">&#2;
Unprocessed text of a story. Second sentence here.
 Reuter
&#3;</TEXT>
</REUTERS>
"""


def test_parse_sgml_reads_attributes_topics_title_and_body() -> None:
    docs = parse_sgml(SGML, source="x.sgm")
    assert [d.newid for d in docs] == [1, 2, 3]
    first = docs[0]
    assert (first.lewis_split, first.has_topics, first.topics) == ("TRAIN", "YES",
                                                                   ("grain", "wheat"))
    assert first.title == "U.S. WHEAT <EXPORTS> RISE"  # entities decoded, not taken for tags
    assert first.body.startswith("U.S. wheat exports") and "<Grain Co>" in first.body
    assert "Buyers & sellers agreed." in first.body and not first.body.endswith("Reuter")
    assert "\x02" not in first.text and "\x03" not in first.text
    assert docs[1].title == "BRIEF HEADLINE ONLY" and docs[1].body == ""
    assert docs[1].topics == () and docs[1].has_topics == "NO"
    assert docs[2].body == "Unprocessed text of a story. Second sentence here."
    assert docs[2].source == "x.sgm"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("just some text", "no <REUTERS> element"),
        (SGML.replace("</REUTERS>", "", 1), "not closed"),
        (SGML[: SGML.rindex("</REUTERS>")], "truncated"),
        (SGML.replace('NEWID="1"', 'NEWID="x"'), "NEWID"),
        (SGML.replace('LEWISSPLIT="TRAIN"', 'LEWISSPLIT="MAYBE"'), "LEWISSPLIT"),
        (SGML.replace("</TOPICS>", "", 1), "TOPICS"),
        (SGML.replace("</TEXT>", "", 1), "TEXT"),
    ],
)
def test_malformed_sgml_raises_corrupt_file_error_naming_the_file(text: str,
                                                                   problem: str) -> None:
    with pytest.raises(CorruptFileError, match=problem) as info:
        parse_sgml(text, source="reut2-007.sgm")
    assert "reut2-007.sgm" in str(info.value)


def test_read_sgml_file_handles_gzip_plain_and_broken_gzip(tmp_path: Path) -> None:
    (tmp_path / "a.sgm").write_bytes(SGML.encode("latin-1"))
    (tmp_path / "b.sgm.gz").write_bytes(gzip.compress(SGML.encode("latin-1")))
    plain, packed = read_sgml_file(tmp_path / "a.sgm"), read_sgml_file(tmp_path / "b.sgm.gz")
    assert [(d.newid, d.title, d.body) for d in plain] == [
        (d.newid, d.title, d.body) for d in packed
    ]
    assert packed[0].source.endswith("b.sgm.gz")
    broken = tmp_path / "c.sgm.gz"
    broken.write_bytes(gzip.compress(SGML.encode("latin-1"))[:200])
    with pytest.raises(CorruptFileError, match="c.sgm.gz"):
        read_sgml_file(broken)
    garbage = tmp_path / "d.sgm"
    garbage.write_bytes(bytes(range(256)) * 4)  # latin-1 decodes anything: no <REUTERS>
    with pytest.raises(CorruptFileError, match="d.sgm"):
        read_sgml_file(garbage)


def test_single_label_rules() -> None:
    docs = [
        ReutersDocument(1, "TRAIN", "YES", ("grain", "wheat"), "", ""),
        ReutersDocument(2, "TRAIN", "YES", ("cocoa", "earn"), "", ""),
        ReutersDocument(3, "TRAIN", "YES", ("cocoa",), "", ""),
        ReutersDocument(4, "TRAIN", "YES", ("trade", "trade"), "", ""),
    ]
    kept, labels = single_label(docs)
    assert [d.newid for d in kept] == [2, 4]
    assert labels == [TOP10_TOPICS.index("earn"), TOP10_TOPICS.index("trade")]
    kept, labels = single_label(docs, rule="first")
    assert [d.newid for d in kept] == [1, 2, 4] and labels[0] == TOP10_TOPICS.index("grain")
    with pytest.raises(ValueError, match="rule"):
        single_label(docs, rule="last")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="topics"):
        single_label(docs, topics=("earn", "earn"))


def test_tokenisation() -> None:
    doc = parse_sgml(SGML)[0]
    sentences = split_sentences(doc.text)
    assert sentences == [
        "U.S. WHEAT <EXPORTS> RISE",
        "U.S. wheat exports rose 2.5 pct to 1,750 tonnes, Mr. Smith of <Grain Co> said.",
        "He said prices would firm.",
        "Buyers & sellers agreed.",
    ]
    assert tokenize_words(sentences[1])[:6] == ["u.s", "wheat", "exports", "rose", NUMBER_TOKEN,
                                                "pct"]
    tokens = tokenize_document(doc)
    assert len(tokens) == 4 and tokens[0] == ["u.s", "wheat", "exports", "rise"]
    assert tokenize_document("?!  ...") == []
    with pytest.raises(TypeError, match="document"):
        tokenize_document(3)  # type: ignore[arg-type]


def test_vocab_and_padded_tensors() -> None:
    docs = [[["a", "b", "a"], ["c"]], [["a"], ["b", "b"], ["d", "a", "e"]]]
    vocab = WordVocab.build(docs, min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b"] and len(vocab) == 4
    assert vocab.encode(["b", "zzz"]) == [3, 1] and vocab.decode([2, 0]) == ["a", "<pad>"]
    assert WordVocab.build(docs, max_size=1).itos == ["<pad>", "<unk>", "a"]
    tokens, mask = encode_documents(docs, vocab, max_sentences=2, max_words=2)
    assert tokens.shape == mask.shape == (2, 2, 2) and tokens.dtype == torch.long
    assert tokens.tolist() == [[[2, 3], [1, 0]], [[2, 0], [3, 3]]]
    assert mask.tolist() == [[[True, True], [True, False]], [[True, False], [True, True]]]
    assert ((tokens == vocab.pad_index) == ~mask).all()
    with pytest.raises(ValueError, match="max_words"):
        encode_documents(docs, vocab, max_sentences=2, max_words=0)
    with pytest.raises(ValueError, match="min_freq"):
        WordVocab.build(docs, min_freq=0)
    data = DocumentDataset(tokens, mask, torch.tensor([0, 1]))
    assert len(data) == 2 and data[1][0].tolist() == [[2, 0], [3, 3]]
    with pytest.raises(ValueError, match="mask"):
        DocumentDataset(tokens, mask.long(), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        DocumentDataset(tokens, mask, torch.tensor([0]))


def test_missing_and_corrupt_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="reut2-000.sgm.gz"):
        load_reuters("train", data_dir=tmp_path)
    folder = tmp_path / REUTERS_RESOURCE.name
    folder.mkdir()
    (folder / "reut2-000.sgm.gz").write_bytes(gzip.compress(SGML.encode("latin-1")))
    with pytest.raises(CorruptFileError, match="reut2-000.sgm.gz"):
        load_reuters("train", data_dir=tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_reuters("dev", data_dir=tmp_path)  # type: ignore[arg-type]


def _serve_archive(tmp_path: Path, members: dict[str, bytes]) -> str:
    archive = tmp_path / "served.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive.as_uri()


def test_download_refuses_members_that_fail_their_checksum(tmp_path: Path) -> None:
    url = _serve_archive(tmp_path, {name[:-3]: SGML.encode() for name in REUTERS_FILES})
    with pytest.raises(DownloadError, match="reut2-000.sgm"):
        download_reuters(tmp_path / "root", urls=(url,))
    assert not list((tmp_path / "root" / REUTERS_RESOURCE.name).glob("reut2-*"))
    with pytest.raises(DownloadError, match="could not download"):
        download_reuters(tmp_path / "root", urls=((tmp_path / "nowhere.tar.gz").as_uri(),))


# ---------------------------------------------------------------------------------------------
# the real files (ATTNLAB_DATA)


@pytest.fixture
def real_root() -> Path:
    """The data root from ATTNLAB_DATA; skip only when the variable is unset."""
    value = os.environ.get(DATA_ENV_VAR)
    if not value:
        pytest.skip(f"{DATA_ENV_VAR} is not set")
    return Path(value)


def test_real_modapte_counts(real_root: Path) -> None:
    missing = REUTERS_RESOURCE.missing_files()
    assert not missing, f"{DATA_ENV_VAR}={real_root} is set but Reuters lacks {missing}"
    train, test = load_reuters("train"), load_reuters("test")
    # Lewis's README, VIII.B: ModApte = 9,603 training / 3,299 test documents (TOPICS="YES")
    assert len(load_reuters("train", require_topic=False)) == 9603
    assert len(load_reuters("test", require_topic=False)) == 3299
    assert (len(train), len(test)) == (7775, 3019)  # with at least one topic
    assert len({d.newid for d in train} | {d.newid for d in test}) == 7775 + 3019
    assert (len(single_label(train, rule="first")[0]),
            len(single_label(test, rule="first")[0])) == (6490, 2545)
    kept, labels = single_label(train)
    assert len(kept) == 5870 and labels.count(TOP10_TOPICS.index("earn")) == 2847
    assert len(single_label(test)[0]) == 2332
    assert all(d.title or d.body for d in train)
    sentences = [len(tokenize_document(d)) for d in kept[:200]]
    assert min(sentences) >= 1 and max(sentences) > 5


def test_real_copies_with_a_damaged_or_missing_file_are_refused(real_root: Path,
                                                                 tmp_path: Path) -> None:
    source = REUTERS_RESOURCE.directory()
    copy = tmp_path / REUTERS_RESOURCE.name
    copy.mkdir()
    for name in REUTERS_FILES:
        shutil.copyfile(source / name, copy / name)
    damaged = copy / "reut2-013.sgm.gz"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="reut2-013.sgm.gz"):
        load_reuters("test", data_dir=tmp_path)
    damaged.unlink()
    with pytest.raises(MissingDataError, match="reut2-013.sgm.gz"):
        load_reuters("test", data_dir=tmp_path)


def test_download_installs_verified_members_of_a_real_archive(real_root: Path,
                                                              tmp_path: Path) -> None:
    source = REUTERS_RESOURCE.directory()
    members = {
        f"reuters21578/{name[:-3]}": gzip.decompress((source / name).read_bytes())
        for name in REUTERS_FILES
    }
    url = _serve_archive(tmp_path, members)
    folder = download_reuters(tmp_path / "root", urls=(url,))
    assert sorted(p.name for p in folder.glob("reut2-*")) == [n[:-3] for n in REUTERS_FILES]
    assert REUTERS_RESOURCE.missing_files(tmp_path / "root") == []
    path = REUTERS_RESOURCE.fetch("reut2-021.sgm.gz", data_dir=tmp_path / "root")
    assert path.name == "reut2-021.sgm" and len(read_sgml_file(path)) == 578
