"""eng-fra loader, normalisation, Vocab, splits and padded batching.

The real-data tests skip only when ``ATTNLAB_DATA`` is unset; when it is set, a missing or
corrupt ``eng-fra`` file makes them fail.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from attnlab.data.errors import CorruptFileError, MissingDataError
from attnlab.data.translation import (
    BOS_ID,
    ENG_FRA_RESOURCE,
    ENGLISH_PREFIXES,
    EOS_ID,
    IGNORE_INDEX,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    PairDataset,
    Vocab,
    _parse,
    collate_pairs,
    load_eng_fra,
    normalize_text,
    split_pairs,
    tokenize,
)

# -- normalisation and tokens -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Go.", "go ."),
        ("I'm OK!", "i m ok !"),
        ("Ça m'a été très utile, merci?", "ca m a ete tres utile merci ?"),
        ("  Œuvre   «noël» ", "oeuvre noel"),
        ("It costs $19.", "it costs 19 ."),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected
    assert tokenize(text) == expected.split()


def test_normalize_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="text"):
        normalize_text(["go"])  # type: ignore[arg-type]


# -- vocabulary ---------------------------------------------------------------------------------


def test_vocab_specials_frequency_order_and_round_trip() -> None:
    vocab = Vocab.build([["b", "a", "b"], ["c", "b", "a", "<pad>"]], min_freq=1)
    assert vocab.itos[:4] == list(SPECIAL_TOKENS)
    assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert vocab.itos[4:] == ["b", "a", "c"]  # by count, ties alphabetical; specials not re-added
    ids = vocab.encode(["a", "zzz", "c"], add_bos=True, add_eos=True)
    assert ids == [BOS_ID, 5, UNK_ID, 6, EOS_ID]
    assert vocab.decode(ids) == ["a", "<unk>", "c"]
    assert vocab.decode(ids, strip_special=False) == ["<bos>", "a", "<unk>", "c", "<eos>"]
    assert vocab.decode([4, EOS_ID, 5]) == ["b"]  # stops at EOS
    assert vocab.decode([4, IGNORE_INDEX, PAD_ID, 5]) == ["b", "a"]


def test_vocab_min_freq_and_max_size() -> None:
    lists = [["a"] * 3 + ["b"] * 2 + ["c"]]
    assert Vocab.build(lists, min_freq=2).itos[4:] == ["a", "b"]
    assert Vocab.build(lists, max_size=1).itos[4:] == ["a"]


def test_vocab_bad_inputs() -> None:
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build([["a"]], min_freq=0)
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build([["a"]], max_size=-1)
    with pytest.raises(TypeError, match="token_lists"):
        Vocab.build(["abc"])
    with pytest.raises(ValueError, match="tokens"):
        Vocab(["a", "a"])
    with pytest.raises(TypeError, match="tokens"):
        Vocab.build([["a"]]).encode("a b")
    with pytest.raises(IndexError, match="index"):
        Vocab.build([["a"]]).id_to_token(99)


# -- split ----------------------------------------------------------------------------------------


def test_split_is_deterministic_and_a_partition() -> None:
    items = list(range(100))
    a = split_pairs(items, valid_fraction=0.1, test_fraction=0.2, seed=3)
    b = split_pairs(items, valid_fraction=0.1, test_fraction=0.2, seed=3)
    c = split_pairs(items, valid_fraction=0.1, test_fraction=0.2, seed=4)
    assert a == b and a != c
    assert [len(p) for p in a] == [70, 10, 20]
    assert sorted(a[0] + a[1] + a[2]) == items
    with pytest.raises(ValueError, match="valid_fraction"):
        split_pairs(items, valid_fraction=1.0)
    with pytest.raises(ValueError, match="test_fraction"):
        split_pairs(items, valid_fraction=0.5, test_fraction=0.5)


# -- batching -------------------------------------------------------------------------------------


def test_pair_dataset_padding_and_collate() -> None:
    src = [("i", "am", "cold", "."), ("go", "!")]
    tgt = [("j", "ai", "froid", "."), ("va", "!")]
    en, fr = Vocab.build(src), Vocab.build(tgt)
    data = PairDataset(list(zip(src, tgt, strict=True)), en, fr, src_length=8, tgt_length=7)
    s, length, t_in, t_out = data[1]
    assert s.shape == (8,) and t_in.shape == (7,) and t_out.shape == (7,)
    assert int(length) == 3 and s[2] == EOS_ID and bool((s[3:] == PAD_ID).all())
    assert t_in[:3].tolist() == [BOS_ID, fr.token_to_id("va"), fr.token_to_id("!")]
    assert t_out[:3].tolist() == [fr.token_to_id("va"), fr.token_to_id("!"), EOS_ID]
    assert bool((t_in[3:] == PAD_ID).all()) and bool((t_out[3:] == IGNORE_INDEX).all())
    # the default collation works (fixed sizes); collate_pairs trims to the batch
    default = next(iter(DataLoader(data, batch_size=2)))
    assert default[0].shape == (2, 8)
    batch = collate_pairs([data[0], data[1]])
    assert batch.src.shape == (2, 5) and batch.tgt_in.shape == (2, 5)
    assert batch.src_lengths.tolist() == [5, 3]
    assert torch.equal(data.batch([1]).src, batch.src[1:, :3])
    assert fr.decode(batch.tgt_out[0].tolist()) == list(tgt[0])


def test_pair_dataset_of_ids_and_bad_inputs() -> None:
    data = PairDataset([([4, 5], [6]), ([7], [8, 9])], add_src_eos=False)
    assert data.src.tolist() == [[4, 5], [7, 0]] and data.src_lengths.tolist() == [2, 1]
    with pytest.raises(ValueError, match="pairs"):
        PairDataset([])
    with pytest.raises(ValueError, match="src_length"):
        PairDataset([([4, 5], [6])], src_length=1)
    with pytest.raises(ValueError, match="tgt_length"):
        PairDataset([([4, 5], [6])], tgt_length=1)
    with pytest.raises(ValueError, match="items"):
        collate_pairs([])


# -- parser and resource errors (crafted files) ---------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as stream:
        stream.write(text)
    return path


def test_parser_filters_length_and_prefixes(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "x.txt.gz",
        "Go.\tVa !\tCC-BY\nI'm cold.\tJ'ai froid.\nThis is a much longer sentence.\tC'est long.\n",
    )
    assert _parse(path, max_length=None, wanted=None)[0] == (("go", "."), ("va", "!"))
    assert len(_parse(path, max_length=4, wanted=None)) == 2
    assert _parse(path, max_length=None, wanted=ENGLISH_PREFIXES) == [
        (("i", "m", "cold", "."), ("j", "ai", "froid", "."))
    ]
    bad = _write(tmp_path / "bad.txt.gz", "Go.\tVa !\nno tab here\n")
    with pytest.raises(CorruptFileError, match="line 2"):
        _parse(bad, max_length=None, wanted=None)
    not_gzip = tmp_path / "broken.txt.gz"
    not_gzip.write_bytes(b"not gzip at all")
    with pytest.raises(CorruptFileError, match="broken"):
        _parse(not_gzip, max_length=None, wanted=None)


def test_missing_and_corrupt_files_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="eng-fra.txt.gz"):
        load_eng_fra(tmp_path)
    _write(tmp_path / "eng-fra" / "eng-fra.txt.gz", "Go.\tVa !\n")
    with pytest.raises(CorruptFileError, match="eng-fra"):
        load_eng_fra(tmp_path)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_length"):
        load_eng_fra("/nonexistent", max_length=0)
    with pytest.raises(ValueError, match="max_pairs"):
        load_eng_fra("/nonexistent", max_pairs=0)
    with pytest.raises(TypeError, match="prefixes"):
        load_eng_fra("/nonexistent", prefixes="i am")


# -- the real file ---------------------------------------------------------------------------------


@pytest.fixture
def real_root() -> Path:
    """The data root from ATTNLAB_DATA; skip only when the variable is unset."""
    root = os.environ.get("ATTNLAB_DATA", "")
    if not root:
        pytest.skip("ATTNLAB_DATA is not set")
    return Path(root)


def test_real_file_loads(real_root: Path) -> None:
    assert ENG_FRA_RESOURCE.is_available(real_root), "eng-fra.txt.gz missing under ATTNLAB_DATA"
    pairs = load_eng_fra(real_root, max_length=3)
    assert pairs[0] == (("go", "."), ("va", "!"))
    assert len(pairs) == 544  # the 2017-09-29 release
    assert all(len(en) <= 3 and len(fr) <= 3 for en, fr in pairs)
    sample = load_eng_fra(real_root, max_length=3, max_pairs=50, seed=1)
    assert len(sample) == 50 and sample == load_eng_fra(
        real_root, max_length=3, max_pairs=50, seed=1
    )


def test_real_copy_with_damaged_file_is_refused(real_root: Path, tmp_path: Path) -> None:
    source = ENG_FRA_RESOURCE.fetch("eng-fra.txt.gz", data_dir=real_root)
    target = tmp_path / "eng-fra" / "eng-fra.txt.gz"
    target.parent.mkdir()
    shutil.copyfile(source, target)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="eng-fra"):
        load_eng_fra(tmp_path)
