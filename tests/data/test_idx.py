"""IDX reader/writer: round trips, and a clear error naming the file for every kind of damage."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from attnlab.data.errors import CorruptFileError
from attnlab.data.idx import IDX_TYPES, read_idx, write_idx


def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    """An IDX file written independently of write_idx (struct, big-endian)."""
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(IDX_TYPES[code]).tobytes()


@pytest.mark.parametrize("code", sorted(IDX_TYPES))
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path: Path, code: int, suffix: str) -> None:
    rng = np.random.default_rng(code)
    dtype = IDX_TYPES[code].newbyteorder("=")
    if dtype.kind == "f":
        array = rng.standard_normal((3, 4, 5)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
    path = tmp_path / f"x-idx3{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    assert raw == _idx_bytes(array, code)  # the writer agrees with the format description


def test_reads_an_independently_written_file(tmp_path: Path) -> None:
    labels = np.array([5, 0, 4, 1, 9], dtype=np.uint8)
    path = tmp_path / "labels"
    path.write_bytes(gzip.compress(_idx_bytes(labels, 0x08)))  # gzip detected by content
    np.testing.assert_array_equal(read_idx(path, shape=(None,), dtype=np.uint8), labels)
    assert read_idx(path).flags.writeable


def test_gzip_output_is_reproducible(tmp_path: Path) -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def _good(n: int = 4) -> bytes:
    return _idx_bytes(np.arange(n * 6, dtype=np.uint8).reshape(n, 2, 3), 0x08)


DAMAGE = {
    "bad magic": (b"\x1f\x00\x08\x03" + _good()[4:], "bad magic"),
    "unknown type": (b"\x00\x00\x07\x03" + _good()[4:], "unknown type code 0x07"),
    "zero dims": (b"\x00\x00\x08\x00", "0 dimensions"),
    "short magic": (b"\x00\x00", "truncated"),
    "truncated header": (_good()[:9], "truncated IDX header"),
    "truncated data": (_good()[:-1], "truncated IDX file"),
    "trailing data": (_good() + b"\x00", "data continues past"),
    "huge header": (b"\x00\x00\x0e\x03" + struct.pack(">3I", 2**31, 2**31, 8), "implausible"),
    "empty": (b"", "truncated"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
@pytest.mark.parametrize("compressed", [False, True])
def test_damaged_files_raise_a_clear_error(tmp_path: Path, case: str, compressed: bool) -> None:
    content, problem = DAMAGE[case]
    path = tmp_path / f"broken-{case.replace(' ', '-')}.idx"
    path.write_bytes(gzip.compress(content) if compressed else content)
    with pytest.raises(CorruptFileError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert info.value.path == path
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("cut", [10, 30, -5])
def test_truncated_gzip_stream(tmp_path: Path, cut: int) -> None:
    data = gzip.compress(_good(50))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[:cut])
    with pytest.raises(CorruptFileError, match=r"cut\.gz") as info:
        read_idx(path)
    assert "truncated" in str(info.value) or "damaged" in str(info.value)


def test_garbled_gzip_stream(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(np.random.default_rng(0).bytes(4000)))
    data[20:40] = b"\xff" * 20
    path = tmp_path / "garbled.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"garbled\.gz"):
        read_idx(path)


def test_unexpected_shape_and_dtype(tmp_path: Path) -> None:
    path = tmp_path / "images-idx3"
    path.write_bytes(_good())
    assert read_idx(path, shape=(None, 2, 3)).shape == (4, 2, 3)
    with pytest.raises(CorruptFileError, match=r"wrong dimensions: expected shape \(N, 28, 28\)"):
        read_idx(path, shape=(None, 28, 28))
    with pytest.raises(CorruptFileError, match="wrong dimensions"):
        read_idx(path, shape=(None,))
    with pytest.raises(CorruptFileError, match="expected int32"):
        read_idx(path, dtype=np.int32)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent.gz")


def test_write_rejects_unsupported_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "x", np.array(3, dtype=np.uint8))
