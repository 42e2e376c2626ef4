"""bAbI loader: parsing, vectorisation, validation split, checksums, missing files, real data."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest
import torch

import attnlab.data.babi as babi
from attnlab.data.babi import (
    BABI_RESOURCE,
    build_vocab,
    download_babi,
    load_babi,
    load_babi_task,
    parse_babi,
    split_validation,
    vectorize_babi,
)
from attnlab.data.errors import CorruptFileError, DownloadError, MissingDataError
from attnlab.data.resources import DATA_ENV_VAR

TEXT = (
    "1 Mary moved to the bathroom.\n"
    "2 John went to the hallway.\n"
    "3 Where is Mary? \tbathroom\t1\n"
    "4 Daniel went back to the hallway.\n"
    "5 Where is Daniel? \thallway\t4\n"
    "1 Sandra travelled to the office.\n"
    "2 Where is Sandra? \toffice\t1\n"
)


def test_parse_stories_questions_and_supporting_facts() -> None:
    ex = parse_babi(TEXT, task=1)
    assert len(ex) == 3
    assert ex[0].story == [["mary", "moved", "to", "the", "bathroom"],
                           ["john", "went", "to", "the", "hallway"]]
    assert ex[0].query == ["where", "is", "mary"] and ex[0].answer == "bathroom"
    assert ex[0].supporting == [0]
    # questions are not memories: sentence 4 is the story's third statement
    assert len(ex[1].story) == 3 and ex[1].supporting == [2]
    # ID 1 starts a new story
    assert ex[2].story == [["sandra", "travelled", "to", "the", "office"]]
    assert all(e.task == 1 for e in ex)


@pytest.mark.parametrize("bad", ["x Mary went.\n", "1 a.\n3 b.\n", "1 a.\n2 Where?\t\t1\n",
                                 "1 a.\n2 Where?\tb\t7\n"])
def test_malformed_lines_raise_corrupt_file_error(bad: str) -> None:
    with pytest.raises(CorruptFileError, match="line"):
        parse_babi(bad, source="qa1.txt")


def test_vectorize_keeps_last_sentences_with_time_and_masks() -> None:
    lines = [f"{i} w{i} is here." for i in range(1, 61)]
    lines.append("61 Where is w5?\tw5\t5 60")
    ex = parse_babi("\n".join(lines) + "\n" + TEXT, task=2)
    vocab = build_vocab(ex)
    t = vectorize_babi(ex, vocab, memory_size=50)
    assert t.story.shape == (4, 50, 6) and t.query.shape == (4, 3)
    assert t.mask[0].all() and t.mask[1].sum() == 2
    # the last 50 of 60 sentences: w11 .. w60, oldest first
    assert vocab.decode(t.story[0, 0].tolist()) == ["w11", "is", "here"] + ["<nil>"] * 3
    assert vocab.decode(t.story[0, -1].tolist())[:3] == ["w60", "is", "here"]
    assert t.time[0].tolist() == list(range(49, -1, -1))
    assert t.time[1].tolist()[:2] == [1, 0]
    # supporting fact 5 fell out of memory, 60 is the last slot
    assert t.supporting[0].nonzero().flatten().tolist() == [49]
    assert t.answer[0] == vocab.index["w5"] and t.task.tolist() == [2, 2, 2, 2]
    assert (t.story[~t.mask] == 0).all()


def test_split_validation_is_deterministic_and_per_task() -> None:
    ex = parse_babi(TEXT * 10, task=1) + parse_babi(TEXT * 10, task=2)
    train, val = split_validation(ex, fraction=0.1, seed=3)
    assert len(val) == 6 and len(train) == 54
    assert sorted(e.task for e in val) == [1, 1, 1, 2, 2, 2]
    again = split_validation(ex, fraction=0.1, seed=3)[1]
    assert [id(e) for e in again] == [id(e) for e in val]
    with pytest.raises(ValueError, match="fraction"):
        split_validation(ex, fraction=1.0)


def _data_root() -> Path | None:
    root = os.environ.get(DATA_ENV_VAR, "")
    return Path(root) if root else None


def _copy_task_files(tmp_path: Path, task: int = 1) -> Path:
    root = _data_root()
    if root is None:
        pytest.skip(f"{DATA_ENV_VAR} not set")
    for split in ("train", "test"):
        name = babi.babi_file_name(task, split, "en")
        target = tmp_path / "babi" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "babi" / name, target)
    return tmp_path


def test_checksum_failure_names_the_file(tmp_path: Path) -> None:
    root = _copy_task_files(tmp_path)
    path = root / "babi" / babi.babi_file_name(1, "train")
    path.write_bytes(gzip.compress(b"1 Mary went home.\n2 Where is Mary?\thome\t1\n"))
    with pytest.raises(CorruptFileError, match="qa1_single-supporting-fact_train"):
        load_babi_task(1, "train", data_dir=root)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="qa2_two-supporting-facts_test"):
        load_babi_task(2, "test", data_dir=tmp_path)
    # en-10k's qa3 training file has no pinned copy: a clear error, not a KeyError
    with pytest.raises(MissingDataError, match="qa3_three-supporting-facts_train"):
        load_babi_task(3, "train", variant="en-10k", data_dir=tmp_path)


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="task"):
        load_babi_task(21, "train", data_dir=tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_babi_task(1, "valid", data_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="variant"):
        load_babi_task(1, "train", variant="fr", data_dir=tmp_path)  # type: ignore[arg-type]


def _tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def test_download_refuses_wrong_or_missing_members(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _tarball({"tasks_1-20_v1-2/en/qa1_single-supporting-fact_train.txt": b"1 a.\n"})
    monkeypatch.setattr(babi, "_open_url", lambda url, timeout: io.BytesIO(archive))
    with pytest.raises(DownloadError, match="qa1_single-supporting-fact_test"):
        download_babi(tmp_path, urls=("https://example.invalid/babi.tar.gz",))
    assert not BABI_RESOURCE.path(babi.babi_file_name(1, "train"), tmp_path).exists()

    def refuse(url: str, timeout: float) -> io.BytesIO:
        raise OSError("no network")

    monkeypatch.setattr(babi, "_open_url", refuse)
    with pytest.raises(DownloadError, match="no network"):
        download_babi(tmp_path, urls=("https://example.invalid/babi.tar.gz",))


def test_reads_the_real_files_when_data_root_is_set() -> None:
    root = _data_root()
    if root is None:
        pytest.skip(f"{DATA_ENV_VAR} not set")
    # set: the files must be there (a missing file fails the test)
    train = load_babi_task(1, "train", data_dir=root)
    test = load_babi_task(1, "test", data_dir=root)
    assert len(train) == 1000 and len(test) == 1000
    assert train[0].query == ["where", "is", "mary"] and train[0].answer == "bathroom"
    big = load_babi_task(1, "train", variant="en-10k", data_dir=root)
    assert len(big) == 10000
    data = load_babi((1, 19), data_dir=root, seed=0)
    assert len(data.train.answer) == 1800 and len(data.val.answer) == 200
    assert len(data.test.answer) == 2000
    assert set(data.test.task.tolist()) == {1, 19}
    assert data.train.story.shape[1:] == data.test.story.shape[1:]
    assert "n,w" in data.vocab.index or "s,e" in data.vocab.index  # path answers stay one token
    assert torch.equal(load_babi((1, 19), data_dir=root, seed=0).val.answer, data.val.answer)
