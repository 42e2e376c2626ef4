"""Reader and writer of the IDX format of MNIST-like datasets (raw or gzip-compressed).

Format (as described on the MNIST page, http://yann.lecun.com/exdb/mnist/): a 4-byte magic
number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian unsigned 32-bit sizes, then the
values in C order, big-endian. Type codes: ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16,
``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64.

Every problem (not an IDX file, unknown type, truncated data, trailing bytes, damaged gzip
stream, unexpected shape or type) raises :class:`~attnlab.data.errors.CorruptFileError` with a
message that names the file; no ``struct``/``gzip``/``zlib`` exception escapes.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attnlab.data.errors import CorruptFileError

__all__ = ["IDX_TYPES", "read_idx", "write_idx"]

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX type code -> big-endian numpy dtype."""

_MAX_BYTES = 1 << 34  # 16 GiB: a header claiming more is taken as damaged, not allocated


def _parse_file(path: Path) -> np.ndarray:
    with path.open("rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if compressed:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _parse(stream, path)
        return _parse(raw, path)


def _read_exact(stream: io.BufferedIOBase, count: int) -> bytes:
    data = stream.read(count)
    return data if data is not None else b""


def _format_shape(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"


def read_idx(
    path: str | os.PathLike[str],
    *,
    shape: Sequence[int | None] | None = None,
    dtype: np.dtype | type | str | None = None,
) -> np.ndarray:
    """Read an IDX file (raw, or gzip-compressed: detected from the content, not the name).

    Args:
        path: the file.
        shape: expected shape; ``None`` entries match any size (e.g. ``(None, 28, 28)``).
        dtype: expected element type (e.g. ``np.uint8``).

    Returns:
        A writable, native-byte-order array of the stored shape.

    Raises:
        CorruptFileError: bad magic, unknown type code, truncated or damaged file, trailing
            bytes, or a shape/type other than the expected one.
        FileNotFoundError: the file does not exist.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "x-idx2-ubyte.gz"
        >>> write_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
        >>> read_idx(path, shape=(None, 3))
        array([[0, 1, 2],
               [3, 4, 5]], dtype=uint8)
    """
    path = Path(path)
    try:
        array = _parse_file(path)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise CorruptFileError(
            f"{path}: damaged or truncated gzip stream ({error})", path=path
        ) from None
    except OSError as error:
        if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise CorruptFileError(f"{path}: cannot read IDX file ({error})", path=path) from None
    if dtype is not None and array.dtype != np.dtype(dtype):
        raise CorruptFileError(
            f"{path}: expected {np.dtype(dtype).name} values, the file holds {array.dtype.name}",
            path=path,
        )
    if shape is not None:
        expected = tuple(shape)
        if len(expected) != array.ndim or any(
            e is not None and e != s for e, s in zip(expected, array.shape, strict=False)
        ):
            raise CorruptFileError(
                f"{path}: wrong dimensions: expected shape {_format_shape(expected)}, "
                f"the file holds {tuple(array.shape)}",
                path=path,
            )
    return array


def _parse(stream: io.BufferedIOBase, path: Path) -> np.ndarray:
    magic = _read_exact(stream, 4)
    if len(magic) < 4:
        raise CorruptFileError(
            f"{path}: truncated IDX file: {len(magic)} bytes, shorter than the 4-byte magic number",
            path=path,
        )
    if magic[0] != 0 or magic[1] != 0:
        raise CorruptFileError(
            f"{path}: not an IDX file: bad magic number 0x{magic.hex()} (an IDX file starts "
            f"with two zero bytes, a type code and the number of dimensions)",
            path=path,
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise CorruptFileError(
            f"{path}: not an IDX file: unknown type code 0x{code:02X} in the magic number "
            f"0x{magic.hex()} (known: {known})",
            path=path,
        )
    if ndim == 0:
        raise CorruptFileError(f"{path}: IDX header declares 0 dimensions", path=path)
    header = _read_exact(stream, 4 * ndim)
    if len(header) < 4 * ndim:
        raise CorruptFileError(
            f"{path}: truncated IDX header: {ndim} dimensions declared but only "
            f"{len(header) // 4} sizes present",
            path=path,
        )
    dims = tuple(int(d) for d in np.frombuffer(header, dtype=">u4"))
    big_endian = IDX_TYPES[code]
    count = math.prod(dims)
    nbytes = count * big_endian.itemsize
    described = f"{' x '.join(map(str, dims))} {big_endian.name}"
    if nbytes > _MAX_BYTES:
        raise CorruptFileError(
            f"{path}: implausible IDX header: {described} = {nbytes} bytes", path=path
        )
    array = np.empty(count, dtype=big_endian)
    view = array.view(np.uint8).data
    filled = 0
    while filled < nbytes:
        got = stream.readinto(view[filled:])
        if not got:
            break
        filled += got
    if filled < nbytes:
        raise CorruptFileError(
            f"{path}: truncated IDX file: the header declares {described} = {nbytes} data "
            f"bytes but only {filled} are present",
            path=path,
        )
    if _read_exact(stream, 1):
        raise CorruptFileError(
            f"{path}: wrong dimensions: data continues past the {described} "
            f"({nbytes} bytes) that the header declares",
            path=path,
        )
    native = big_endian.newbyteorder("=")
    if native != big_endian:
        array = array.astype(native)
    return array.reshape(dims)


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as an IDX file; gzip-compressed when the name ends in ``.gz``.

    The gzip header carries no time stamp, so equal arrays give equal files.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
        >>> write_idx(path, np.array([7, 2, 1], dtype=np.uint8))
        >>> path.read_bytes()
        b'\\x00\\x00\\x08\\x01\\x00\\x00\\x00\\x03\\x07\\x02\\x01'
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}
    key = array.dtype.newbyteorder("=")
    if key not in codes:
        names = ", ".join(dt.name for dt in codes)
        raise ValueError(f"array must have one of the IDX dtypes ({names}), got {array.dtype}")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got {array.ndim}")
    code = codes[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    if path.name.endswith(".gz"):
        with (
            path.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as stream,
        ):
            stream.write(payload)
    else:
        path.write_bytes(payload)
