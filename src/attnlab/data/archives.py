"""Safe extraction of dataset archives (tar, plain or compressed, and zip).

:func:`extract_archive` unpacks the archives that datasets ship as. Every member is checked
before anything is written: absolute names, ``..`` components, links whose target is absolute or
climbs out with ``..``, device files and FIFOs are refused (:class:`UnsafeArchiveError`), so an
archive can never write outside its target folder. Extraction goes to a temporary folder that is
renamed onto the target at the end: a failure never leaves a half-extracted target.
:mod:`attnlab.data.resources` re-exports both names.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from attnlab.data.errors import CorruptFileError, MissingDataError

__all__ = ["UnsafeArchiveError", "extract_archive"]

CHUNK_BYTES = 1 << 20
"""Bytes copied at a time when extracting (and when hashing or downloading, in resources)."""


class UnsafeArchiveError(CorruptFileError):
    """An archive member would land outside the target folder, or is not a file, folder or link.

    Example:
        >>> from attnlab.data.errors import DataError
        >>> issubclass(UnsafeArchiveError, DataError)
        True
    """


_DRIVE = re.compile(r"^[A-Za-z]:")


def _safe_relative(name: str, what: str, archive: Path) -> PurePosixPath:
    """``name`` as a relative path without ``..``; absolute or climbing names are refused."""
    if "\x00" in name:
        raise UnsafeArchiveError(f"{archive}: {what} {name!r} contains a NUL byte; refused",
                                 path=archive)
    raw = name.replace("\\", "/")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise UnsafeArchiveError(
            f"{archive}: {what} {name!r} is an absolute path; refused (it would be written "
            "outside the target folder)",
            path=archive,
        )
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"{archive}: {what} {name!r} has a '..' component; refused (it could climb out of "
            "the target folder)",
            path=archive,
        )
    return PurePosixPath(*parts)


@dataclass
class _Entry:
    """One checked member: ``kind`` is ``"dir"``, ``"file"``, ``"symlink"`` or ``"hardlink"``."""

    path: PurePosixPath
    kind: str
    member: Any
    target: PurePosixPath | None = None
    mode: int = 0o644


def _tar_entries(archive: Path, tar: tarfile.TarFile) -> tuple[list[_Entry], int]:
    entries: list[_Entry] = []
    files: set[PurePosixPath] = set()
    total = 0
    for member in tar.getmembers():
        rel = _safe_relative(member.name, "member", archive)
        if member.isdir():
            entries.append(_Entry(rel, "dir", member))
        elif member.isreg():
            total += member.size
            files.add(rel)
            entries.append(_Entry(rel, "file", member, mode=member.mode))
        elif member.issym():
            target = _safe_relative(
                member.linkname, f"link target of member {member.name!r}:", archive
            )
            entries.append(_Entry(rel, "symlink", member, target))
        elif member.islnk():
            # a hard link names another member, relative to the archive root
            target = _safe_relative(
                member.linkname, f"link target of member {member.name!r}:", archive
            )
            if target not in files:
                raise UnsafeArchiveError(
                    f"{archive}: hard link {member.name!r} points to {member.linkname!r}, which "
                    "is not a file extracted before it; refused",
                    path=archive,
                )
            entries.append(_Entry(rel, "hardlink", member, target))
        else:
            raise UnsafeArchiveError(
                f"{archive}: member {member.name!r} is a device file, FIFO or other special "
                "file; refused",
                path=archive,
            )
    return entries, total


def _zip_entries(archive: Path, zf: zipfile.ZipFile) -> tuple[list[_Entry], int]:
    entries: list[_Entry] = []
    total = 0
    for info in zf.infolist():
        rel = _safe_relative(info.filename, "member", archive)
        mode = info.external_attr >> 16
        file_type = stat.S_IFMT(mode)
        if info.is_dir():
            entries.append(_Entry(rel, "dir", info))
        elif stat.S_ISLNK(mode):
            link = zf.read(info).decode("utf-8", errors="surrogateescape")
            target = _safe_relative(link, f"link target of member {info.filename!r}:", archive)
            entries.append(_Entry(rel, "symlink", info, target))
        elif file_type in (0, stat.S_IFREG):
            total += info.file_size
            entries.append(_Entry(rel, "file", info, mode=stat.S_IMODE(mode) or 0o644))
        else:
            raise UnsafeArchiveError(
                f"{archive}: member {info.filename!r} is a device file, FIFO or other special "
                "file; refused",
                path=archive,
            )
    return entries, total


def _inside(root: Path, path: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root


def _write_entries(
    root: Path, entries: list[_Entry], open_member: Callable[[Any], IO[bytes]], archive: Path
) -> None:
    for entry in entries:
        target = root.joinpath(*entry.path.parts) if entry.path.parts else root
        # Defence in depth: the names were checked, and no link can point upwards, so every
        # path resolves inside root; verify it anyway before touching the file system.
        if not _inside(root, target.parent):
            raise UnsafeArchiveError(
                f"{archive}: member {str(entry.path)!r} would be written outside the target "
                "folder; refused",
                path=archive,
            )
        if entry.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_file():
            target.unlink()
        if entry.kind == "symlink":
            assert entry.target is not None
            os.symlink(str(entry.target), target)
        elif entry.kind == "hardlink":
            assert entry.target is not None
            shutil.copyfile(root.joinpath(*entry.target.parts), target, follow_symlinks=False)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
            with open_member(entry.member) as source, os.fdopen(
                os.open(target, flags, 0o600), "wb"
            ) as sink:
                shutil.copyfileobj(source, sink, CHUNK_BYTES)
            os.chmod(target, 0o755 if entry.mode & 0o111 else 0o644)


def extract_archive(
    path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
) -> Path:
    """Extract a tar (plain, ``.gz``, ``.bz2``, ``.xz``) or zip archive into ``dest``, safely.

    Every member is checked before anything is written, and the archive is refused as a whole
    (:class:`UnsafeArchiveError`, nothing extracted) when a member

    * has an absolute name (``/etc/passwd``, ``C:/x``, ``\\x``) or a ``..`` component;
    * is a symbolic link whose target is absolute or contains ``..`` (a link may only point
      down into the archive's own tree), or a hard link to anything but a file extracted
      before it (extracted as a copy);
    * is a device file, a FIFO or another special file.

    Only regular files, folders and such contained links are created; permissions are reduced
    to ``0o644`` (``0o755`` for executables). The members go to a temporary folder beside
    ``dest``, which is renamed onto ``dest`` when everything is written: an interrupted or
    failed extraction never leaves a partial ``dest``.

    Args:
        path: the archive; its format is read from its content, not its name.
        dest: the folder to create (it must not exist, or be empty).
        max_bytes: refuse archives whose members declare more bytes than this in total (a
            guard against decompression bombs); ``None`` for no limit.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        MissingDataError: ``path`` does not exist.
        UnsafeArchiveError: a member would escape ``dest`` or is a special file.
        CorruptFileError: ``path`` is not a readable tar or zip archive, or exceeds ``max_bytes``.
        FileExistsError: ``dest`` exists and is not an empty folder.

    Example:
        >>> import io, tarfile, tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> with tarfile.open(folder / "a.tar.gz", "w:gz") as tar:
        ...     info = tarfile.TarInfo("data/hello.txt"); info.size = 2
        ...     tar.addfile(info, io.BytesIO(b"hi"))
        >>> out = extract_archive(folder / "a.tar.gz", folder / "out")
        >>> (out / "data" / "hello.txt").read_text()
        'hi'
        >>> with tarfile.open(folder / "evil.tar", "w") as tar:
        ...     info = tarfile.TarInfo("../escaped.txt"); info.size = 2
        ...     tar.addfile(info, io.BytesIO(b"hi"))
        >>> try:
        ...     extract_archive(folder / "evil.tar", folder / "evil")
        ... except UnsafeArchiveError as err:
        ...     print("refused:", "'..' component" in str(err), (folder / "escaped.txt").exists())
        refused: True False
    """
    archive = Path(path)
    target = Path(dest)
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int)
                                  or max_bytes < 0):
        raise ValueError(f"max_bytes must be an integer >= 0 or None, got {max_bytes!r}")
    if not archive.is_file():
        raise MissingDataError(f"archive {archive} does not exist", path=archive)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"dest {str(target)!r} exists and is not an empty folder")
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _extract_checked(archive, target, *_zip_entries(archive, zf), zf.open, max_bytes)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tar:

                def open_tar(member: Any) -> IO[bytes]:
                    stream = tar.extractfile(member)
                    if stream is None:  # pragma: no cover - only regular files are opened
                        raise CorruptFileError(f"{archive}: cannot read {member.name!r}")
                    return stream

                _extract_checked(archive, target, *_tar_entries(archive, tar), open_tar,
                                 max_bytes)
        else:
            raise CorruptFileError(f"{archive}: not a tar or zip archive", path=archive)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise CorruptFileError(
            f"{archive}: the archive is truncated or corrupt ({error}); delete it and get it "
            "again",
            path=archive,
        ) from None
    return target


def _extract_checked(
    archive: Path,
    target: Path,
    entries: list[_Entry],
    total: int,
    open_member: Callable[[Any], IO[bytes]],
    max_bytes: int | None,
) -> None:
    if max_bytes is not None and total > max_bytes:
        raise CorruptFileError(
            f"{archive}: the members hold {total} bytes, more than max_bytes={max_bytes}",
            path=archive,
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial",
                                    dir=target.parent))
    try:
        _write_entries(staging, entries, open_member, archive)
        if target.is_dir():
            target.rmdir()  # empty (checked above): replaced by the finished folder
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
