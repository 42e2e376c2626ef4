"""Dataset resources: where files live, how they are verified, and how they are downloaded.

A :class:`Resource` is a named folder of :class:`FileSpec` files (name, size, sha256, mirror
URLs). Loaders ask a resource for a file with :meth:`Resource.fetch`, which returns the path of
a verified file or raises a :class:`~attnlab.data.errors.DataError` whose message says where the
file was expected and how to get it. New datasets slot in by declaring a resource and calling
:func:`register_resource`; nothing else in this module is dataset-specific.

Data root:
    Every resource lives in ``<root>/<resource.name>/`` (for example
    ``<root>/mnist/train-images-idx3-ubyte.gz``). The root is resolved in this order:

    1. the explicit ``data_dir`` argument of the loader (the ``--data-dir`` option of the CLI);
    2. the environment variable ``ATTNLAB_DATA`` (:data:`DATA_ENV_VAR`), when set and non-empty;
    3. the user cache directory: ``$XDG_CACHE_HOME/attnlab`` when ``XDG_CACHE_HOME`` is set,
       else ``~/.cache/attnlab``.

Verification:
    A file is used only after its size and sha256 match the :class:`FileSpec` (the digest of a
    file is remembered for the process, keyed by path, size and modification time, so a file is
    hashed once). A gzip file whose bytes differ but whose *decompressed* content matches
    ``content_sha256`` (a re-compressed copy) is accepted too, as is the uncompressed file
    ``name`` without ``.gz`` when only that is present.

Archives:
    :func:`extract_archive` unpacks tar (plain, gzip, bz2, xz) and zip files for loaders whose
    dataset ships as an archive; every member is checked before anything is written, so an
    archive can never write outside its target folder (:class:`UnsafeArchiveError`). It lives in
    :mod:`attnlab.data.archives` and is re-exported here, with :func:`install_from_archive`, which
    downloads an archive and installs its verified members into a resource's folder.

Downloads:
    Only when the caller passes ``download=True``. Each URL of the spec is tried in order, each
    ``retries`` times with exponential back-off; the bytes are streamed to a temporary file in the
    target folder while being hashed, checked against the size and sha256, and only then moved
    into place with an atomic :func:`os.replace`. A failed or interrupted download therefore never
    leaves a partial or unverified file under the expected name.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from attnlab.core.registry import Registry
from attnlab.data.archives import CHUNK_BYTES as _CHUNK
from attnlab.data.archives import UnsafeArchiveError, extract_archive
from attnlab.data.errors import CorruptFileError, DataError, DownloadError, MissingDataError

__all__ = [
    "DATA_ENV_VAR",
    "DOWNLOAD_HINT",
    "RESOURCES",
    "FileSpec",
    "Resource",
    "UnsafeArchiveError",
    "data_root",
    "default_cache_dir",
    "download_file",
    "extract_archive",
    "fetch_first",
    "get_resource",
    "install_from_archive",
    "register_resource",
    "resolve_data_root",
    "sha256sum",
    "verify_file",
]

logger = logging.getLogger(__name__)

DATA_ENV_VAR = "ATTNLAB_DATA"
"""Environment variable naming the data root (second in the resolution order)."""

DOWNLOAD_HINT = "download=True (the --download flag of the attnlab command line)"
"""How the error messages tell a user to request a download."""

_USER_AGENT = "attnlab-data/0.1 (+https://pypi.org/project/attnlab/)"


# ---------------------------------------------------------------------------------------------
# data root


def default_cache_dir() -> Path:
    """The user cache root: ``$XDG_CACHE_HOME/attnlab``, else ``~/.cache/attnlab``.

    Example:
        >>> default_cache_dir().name
        'attnlab'
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "attnlab"


def resolve_data_root(data_dir: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """The data root and where it came from: ``"data_dir argument"``, ``ATTNLAB_DATA`` or cache.

    See the module docstring for the resolution order.

    Example:
        >>> root, origin = resolve_data_root("/tmp/data")
        >>> str(root), origin
        ('/tmp/data', 'data_dir argument')
    """
    if data_dir is not None:
        if not isinstance(data_dir, str | os.PathLike):
            raise TypeError(f"data_dir must be a path or None, got {type(data_dir).__name__}")
        return Path(data_dir).expanduser(), "data_dir argument"
    env = os.environ.get(DATA_ENV_VAR, "")
    if env:
        return Path(env).expanduser(), f"environment variable {DATA_ENV_VAR}"
    return default_cache_dir(), "default cache directory"


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``data_dir`` if given, else ``$ATTNLAB_DATA``, else :func:`default_cache_dir`.

    Example:
        >>> str(data_root("~/my-data")).endswith("my-data")
        True
    """
    return resolve_data_root(data_dir)[0]


# ---------------------------------------------------------------------------------------------
# checksums


_DIGESTS: dict[tuple[str, int, int, bool], str] = {}


def _stat_key(path: Path, content: bool) -> tuple[str, int, int, bool]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, content)


def _hash_stream(stream: IO[bytes] | gzip.GzipFile) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256sum(path: str | os.PathLike[str], *, decompress: bool = False) -> str:
    """The hex sha256 of a file (of its gzip-decompressed content when ``decompress``).

    Raises:
        CorruptFileError: ``decompress`` and the file is not a valid gzip stream.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty"
        >>> _ = path.write_bytes(b"")
        >>> sha256sum(path)[:16]
        'e3b0c44298fc1c14'
    """
    path = Path(path)
    key = _stat_key(path, decompress)
    if key in _DIGESTS:
        return _DIGESTS[key]
    try:
        if decompress:
            with gzip.open(path, "rb") as stream:
                value = _hash_stream(stream)
        else:
            with path.open("rb") as stream:
                value = _hash_stream(stream)
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, FileNotFoundError | PermissionError):
            raise
        raise CorruptFileError(
            f"{path}: cannot decompress ({error}); the file is not a valid gzip file",
            path=path,
        ) from None
    _DIGESTS[key] = value
    return value


# ---------------------------------------------------------------------------------------------
# file specs and resources


def _check_sha256(value: str | None, name: str) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) != 64 or set(value) - set("0123456789abcdef"):
        raise ValueError(f"{name} must be 64 lowercase hex digits, got {value!r}")


@dataclass(frozen=True)
class FileSpec:
    """One file of a resource: its name, size, sha256 and the URLs it can be downloaded from.

    Args:
        name: file name inside the resource folder (may contain ``/`` for sub-folders).
        sha256: hex sha256 of the file as stored (and as downloaded).
        size: size in bytes, or ``None`` when unknown.
        urls: mirrors, tried in order by :func:`download_file`.
        content_sha256: for ``.gz`` files, the sha256 of the decompressed content; lets a
            re-compressed copy, or the uncompressed file, pass verification.

    Example:
        >>> spec = FileSpec("a.gz", sha256="0" * 64, size=3, urls=("https://example.org/a.gz",))
        >>> spec.uncompressed_name
        'a'
    """

    name: str
    sha256: str
    size: int | None = None
    urls: tuple[str, ...] = ()
    content_sha256: str | None = None

    def __post_init__(self) -> None:
        if not self.name or self.name.startswith("/") or ".." in Path(self.name).parts:
            raise ValueError(f"name must be a relative file name, got {self.name!r}")
        _check_sha256(self.sha256, "sha256")
        _check_sha256(self.content_sha256, "content_sha256")
        if self.size is not None and (not isinstance(self.size, int) or self.size < 0):
            raise ValueError(f"size must be a non-negative int or None, got {self.size!r}")
        if isinstance(self.urls, str):
            raise TypeError("urls must be a tuple of strings, not a single string")

    @property
    def uncompressed_name(self) -> str | None:
        """``name`` without ``.gz`` (``None`` for files that are not gzip-compressed)."""
        return self.name[: -len(".gz")] if self.name.endswith(".gz") else None


@dataclass(frozen=True)
class Resource:
    """A dataset's files, stored together under ``<root>/<name>/``.

    Args:
        name: folder name under the data root (``"mnist"``, ``"fashion-mnist"`` ...).
        files: the files.
        description: one line: the dataset, its authors, its licence.
        homepage: where the dataset is described.

    Example:
        >>> spec = FileSpec("train.txt", sha256="0" * 64)
        >>> toy = Resource("toy", (spec,), description="a toy")
        >>> toy.path("train.txt", data_dir="/data").as_posix()
        '/data/toy/train.txt'
    """

    name: str
    files: tuple[FileSpec, ...]
    description: str = ""
    homepage: str = ""
    _by_name: dict[str, FileSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"name must be a plain folder name, got {self.name!r}")
        by_name: dict[str, FileSpec] = {}
        for spec in self.files:
            if not isinstance(spec, FileSpec):
                raise TypeError(f"files must hold FileSpec objects, got {type(spec).__name__}")
            if spec.name in by_name:
                raise ValueError(f"resource {self.name!r} lists file {spec.name!r} twice")
            by_name[spec.name] = spec
        object.__setattr__(self, "_by_name", by_name)

    def spec(self, name: str) -> FileSpec:
        """The :class:`FileSpec` called ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(
                f"resource {self.name!r} has no file {name!r}; files: {sorted(self._by_name)}"
            ) from None

    def directory(self, data_dir: str | os.PathLike[str] | None = None) -> Path:
        """``<root>/<name>`` for the root resolved from ``data_dir`` (see :func:`data_root`)."""
        return data_root(data_dir) / self.name

    def path(self, name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
        """Where file ``name`` is expected (whether or not it exists)."""
        return self.directory(data_dir) / self.spec(name).name

    def missing_files(self, data_dir: str | os.PathLike[str] | None = None) -> list[str]:
        """Names of the files that are not present (neither compressed nor uncompressed).

        Presence only: no checksum is computed. Use it to report which experiments can run.
        """
        directory = self.directory(data_dir)
        return [spec.name for spec in self.files if _local_candidate(directory, spec) is None]

    def is_available(self, data_dir: str | os.PathLike[str] | None = None) -> bool:
        """Whether every file is present (see :meth:`missing_files`)."""
        return not self.missing_files(data_dir)

    def fetch(
        self,
        name: str,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        download: bool = False,
        progress: bool = True,
    ) -> Path:
        """The path of file ``name``, verified; downloaded first if missing and ``download``.

        Args:
            name: the file's name in this resource.
            data_dir: the data root (see :func:`data_root`).
            download: download a missing or corrupt file from the spec's URLs.
            progress: show a progress bar while downloading.

        Returns:
            The path of a file whose size and checksum have been verified (the uncompressed
            variant when only that exists).

        Raises:
            MissingDataError: the file is absent and ``download`` is false.
            CorruptFileError: the file is present but fails verification and ``download`` is
                false.
            DownloadError: downloading failed.
        """
        if not isinstance(download, bool):
            raise TypeError(f"download must be a bool, got {type(download).__name__}")
        spec = self.spec(name)
        root, origin = resolve_data_root(data_dir)
        directory = root / self.name
        local = _local_candidate(directory, spec)
        if local is not None:
            try:
                verify_file(local, spec)
                return local
            except CorruptFileError:
                if not download:
                    raise
                logger.warning("%s failed verification; downloading it again", local)
        elif not download:
            raise MissingDataError(
                self._missing_message(spec, root, origin), path=directory / spec.name
            )
        target = directory / spec.name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DownloadError(
                f"cannot create {target.parent} to download {spec.name} ({error}); choose a "
                f"writable data root with data_dir= or {DATA_ENV_VAR}",
                path=target,
            ) from None
        download_file(spec, target, progress=progress)
        return target

    def _missing_message(self, spec: FileSpec, root: Path, origin: str) -> str:
        folder = root / self.name
        title = self.description.split(";")[0] if self.description else self.name
        return (
            f"{title}: file not found: {folder / spec.name}\n"
            f"  (data root {root}, from the {origin}; files of {title} are expected in "
            f"<root>/{self.name}/)\n"
            f"  To get it, either:\n"
            f"  - pass {DOWNLOAD_HINT} to download it, sha256-verified;\n"
            f"  - copy {spec.name} into {folder}/ yourself;\n"
            f"  - or point the data root at a folder holding {self.name}/{spec.name}: "
            f"data_dir=... (--data-dir), or the environment variable {DATA_ENV_VAR}."
        )


def _local_candidate(directory: Path, spec: FileSpec) -> Path | None:
    path = directory / spec.name
    if path.is_file():
        return path
    if spec.uncompressed_name is not None and spec.content_sha256 is not None:
        raw = directory / spec.uncompressed_name
        if raw.is_file():
            return raw
    return None


def verify_file(path: str | os.PathLike[str], spec: FileSpec) -> None:
    """Check a local file against ``spec``; raise :class:`CorruptFileError` naming the problem.

    Accepts: the exact file (size and sha256); when ``spec.content_sha256`` is set, a gzip file
    whose decompressed content has that digest (a re-compressed copy), or the uncompressed file
    itself with that digest.

    Example:
        >>> import hashlib, tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "f.txt"
        >>> _ = path.write_bytes(b"abc")
        >>> verify_file(path, FileSpec("f.txt", hashlib.sha256(b"abc").hexdigest(), size=3))
        >>> verify_file(path, FileSpec("f.txt", "0" * 64, size=3))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        attnlab.data.errors.CorruptFileError: .../f.txt: sha256 mismatch: expected 00000...
    """
    path = Path(path)
    is_exact_name = path.name == Path(spec.name).name
    if is_exact_name:
        size = path.stat().st_size
        if spec.size is not None and size == spec.size and sha256sum(path) == spec.sha256:
            return
        if spec.size is None and sha256sum(path) == spec.sha256:
            return
    if spec.content_sha256 is not None:
        if _is_gzip(path):
            if sha256sum(path, decompress=True) == spec.content_sha256:
                logger.info("%s: re-compressed copy accepted (decompressed content verified)", path)
                return
        elif sha256sum(path) == spec.content_sha256:
            return
    if is_exact_name and spec.size is not None and path.stat().st_size != spec.size:
        problem = f"size mismatch: expected {spec.size} bytes, got {path.stat().st_size}"
    else:
        actual = sha256sum(path)
        expected = spec.sha256 if is_exact_name else spec.content_sha256 or spec.sha256
        problem = f"sha256 mismatch: expected {expected[:16]}..., got {actual[:16]}..."
    raise CorruptFileError(
        f"{path}: {problem}; the file is damaged or a different version. Delete it and get it "
        f"again ({DOWNLOAD_HINT}).",
        path=path,
    )


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(2) == b"\x1f\x8b"


RESOURCES: Registry[Resource] = Registry("resource")
"""Registered resources by name, in registration order (see :func:`register_resource`)."""


def register_resource(resource: Resource) -> Resource:
    """Add ``resource`` to :data:`RESOURCES`; a different resource with the same name is an
    error, the same declaration again (a module reloaded) is not.

    Returns the resource, so a module can write ``MNIST = register_resource(Resource(...))``.
    """
    if not isinstance(resource, Resource):
        raise TypeError(f"resource must be a Resource, got {type(resource).__name__}")
    if RESOURCES.get(resource.name) == resource:
        return resource
    return RESOURCES.register(resource.name, resource)


def get_resource(name: str) -> Resource:
    """The registered resource called ``name``.

    Raises:
        KeyError: no such resource (the message lists the registered ones).

    Example:
        >>> import attnlab.data.mnist
        >>> get_resource("mnist").name
        'mnist'
    """
    return RESOURCES[name]


# ---------------------------------------------------------------------------------------------
# downloading

Opener = Callable[[str, float], Any]
"""``opener(url, timeout)`` returning a binary file-like response (a context manager)."""


def _open_url(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    return urllib.request.urlopen(request, timeout=timeout)


@contextlib.contextmanager
def _temporary_file(directory: Path, name: str) -> Iterator[tuple[IO[bytes], Path]]:
    prefix = f".{Path(name).name}."
    handle, temp_name = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=directory)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream, temp
    finally:
        if temp.exists():
            temp.unlink()


def _response_length(response: Any) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def fetch_first(
    urls: Sequence[str],
    destination: str | os.PathLike[str],
    *,
    what: str,
    timeout: float = 60.0,
    opener: Opener | None = None,
) -> Path:
    """Download the first of ``urls`` that answers to ``destination``, unverified.

    For archives whose own checksum is not pinned: the caller verifies what it extracts
    (member by member, against :class:`FileSpec` checksums) before using anything.

    Raises:
        DownloadError: no URL worked; the message lists each URL's error.
    """
    destination = Path(destination)
    open_url = opener if opener is not None else _open_url
    failures: list[str] = []
    for url in urls:
        try:
            with open_url(url, timeout) as response, destination.open("wb") as sink:
                shutil.copyfileobj(response, sink, 1 << 20)
            return destination
        except OSError as error:
            failures.append(f"{url}: {error}")
    raise DownloadError(
        f"could not download {what}:\n  " + "\n  ".join(failures), path=destination.parent
    )


def install_from_archive(
    resource: Resource,
    urls: Sequence[str],
    archive_name: str,
    members: Sequence[tuple[str, FileSpec | None]],
    *,
    what: str,
    data_dir: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    opener: Opener | None = None,
    max_bytes: int | None = None,
) -> Path:
    """Download an archive (:func:`fetch_first`), extract it (:func:`extract_archive`) and
    install the named members into ``resource``'s folder, each verified first.

    ``members`` are ``(name, spec)`` pairs: ``name`` is the member's path below the resource
    folder, found anywhere in the archive; ``spec`` is the :class:`FileSpec` it must match
    (:func:`verify_file`), or ``None`` for a member without a pinned checksum. Members are moved
    into place one by one, in the given order; the archive and everything left of it are
    deleted at the end.

    Returns:
        The resource folder.

    Raises:
        DownloadError: no URL worked, or a member is missing or fails its checksum.
    """
    directory = resource.directory(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download.") as temp:
        archive = fetch_first(
            urls, Path(temp) / archive_name, what=what, timeout=timeout, opener=opener
        )
        extracted = extract_archive(archive, Path(temp) / "members", max_bytes=max_bytes)
        for name, spec in members:
            found = sorted(extracted.rglob(name))
            if not found:
                raise DownloadError(f"the archive holds no {name}", path=archive)
            if spec is not None:
                try:
                    verify_file(found[0], spec)
                except CorruptFileError as error:
                    raise DownloadError(
                        f"{name} from the archive: {error}", path=archive
                    ) from None
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(found[0], target)
    return directory


def download_file(
    spec: FileSpec,
    destination: str | os.PathLike[str],
    *,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
    progress: bool = True,
    opener: Opener | None = None,
) -> Path:
    """Download ``spec`` to ``destination``, verified, atomically; try each mirror in turn.

    Each URL is tried up to ``retries`` times (waiting ``backoff * 2**attempt`` seconds between
    attempts). The bytes go to a temporary file next to ``destination`` and are hashed on the
    way; the temporary file is renamed onto ``destination`` only when size and sha256 match, and
    removed otherwise.

    Args:
        spec: what to download and how to check it.
        destination: the final path (its folder must exist).
        retries: attempts per URL.
        timeout: socket timeout in seconds.
        backoff: base delay between attempts, seconds.
        progress: show a tqdm progress bar.
        opener: ``opener(url, timeout)`` returning a response; :func:`urllib.request.urlopen`
            with a User-Agent header by default (``file://`` URLs work too).

    Returns:
        ``destination``.

    Raises:
        DownloadError: every attempt failed; the message lists each URL's last error.

    Example:
        >>> import hashlib, tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> source = folder / "source.bin"
        >>> _ = source.write_bytes(b"payload")
        >>> spec = FileSpec("copy.bin", hashlib.sha256(b"payload").hexdigest(), size=7,
        ...                 urls=(source.as_uri(),))
        >>> download_file(spec, folder / "copy.bin", progress=False).read_bytes()
        b'payload'
    """
    if retries < 1:
        raise ValueError(f"retries must be >= 1, got {retries}")
    destination = Path(destination)
    if not spec.urls:
        raise DownloadError(
            f"{spec.name}: no download URL is known; place the file at {destination}",
            path=destination,
        )
    open_url = opener if opener is not None else _open_url
    failures: list[str] = []
    for url in spec.urls:
        for attempt in range(retries):
            try:
                _download_once(spec, url, destination, open_url, timeout, progress)
                return destination
            except (OSError, http.client.HTTPException, ValueError, EOFError) as error:
                reason = f"{url}: {error}"
                logger.warning("download attempt %d/%d failed: %s", attempt + 1, retries, reason)
                if attempt + 1 < retries and backoff > 0:
                    time.sleep(backoff * 2**attempt)
        failures.append(reason)
    raise DownloadError(
        f"could not download {spec.name} to {destination}:\n  " + "\n  ".join(failures),
        path=destination,
    )


def _download_once(
    spec: FileSpec, url: str, destination: Path, open_url: Opener, timeout: float, progress: bool
) -> None:
    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    received = 0
    with _temporary_file(destination.parent, destination.name) as (stream, temp):
        with open_url(url, timeout) as response:
            total = spec.size if spec.size is not None else _response_length(response)
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=spec.name, disable=not progress
            ) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    stream.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        stream.flush()
        os.fsync(stream.fileno())
        stream.close()
        if spec.size is not None and received != spec.size:
            raise DataError(f"size mismatch: expected {spec.size} bytes, received {received}")
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise DataError(
                f"sha256 mismatch: expected {spec.sha256[:16]}..., got {actual[:16]}..."
            )
        os.replace(temp, destination)
    logger.info("downloaded %s from %s", destination, url)
