"""Data root resolution, verification and the downloader (file:// URLs and fake openers only)."""

from __future__ import annotations

import gzip
import hashlib
import io
import urllib.error
from pathlib import Path

import pytest

from attnlab.data import resources
from attnlab.data.errors import CorruptFileError, DataError, DownloadError, MissingDataError
from attnlab.data.resources import (
    DATA_ENV_VAR,
    FileSpec,
    Resource,
    data_root,
    download_file,
    register_resource,
    resolve_data_root,
    sha256sum,
    verify_file,
)

PAYLOAD = b"attnlab test payload\n" * 50


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mirror(tmp_path: Path, name: str, data: bytes) -> str:
    folder = tmp_path / "mirror"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path.as_uri()


def _toy(
    urls: tuple[str, ...] = (), *, sha: str | None = None, size: int | None = None
) -> Resource:
    spec = FileSpec(
        "payload.bin",
        sha256=_sha(PAYLOAD) if sha is None else sha,
        size=len(PAYLOAD) if size is None else size,
        urls=urls,
    )
    return Resource("toy", (spec,), description="Toy data; nobody; no licence")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any use of the real opener in these tests is a failure (only file:// or fakes)."""

    def forbidden(url: str, timeout: float) -> None:
        if not url.startswith("file://"):
            raise AssertionError(f"network access attempted: {url}")
        return resources.urllib.request.urlopen(url, timeout=timeout)

    monkeypatch.setattr(resources, "_open_url", forbidden)


# ---------------------------------------------------------------------------------------------
# data root


def test_data_root_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    # 1. explicit argument
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root(str(tmp_path / "arg"))[1] == "data_dir argument"
    # 2. environment variable
    assert data_root() == tmp_path / "env"
    assert DATA_ENV_VAR in resolve_data_root()[1]
    # 3. user cache: XDG_CACHE_HOME, then ~/.cache
    monkeypatch.setenv(DATA_ENV_VAR, "")  # empty counts as unset
    assert data_root() == tmp_path / "xdg" / "attnlab"
    monkeypatch.delenv(DATA_ENV_VAR)
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "attnlab"
    assert resolve_data_root()[1] == "default cache directory"


def test_data_root_rejects_non_paths() -> None:
    with pytest.raises(TypeError, match="data_dir"):
        data_root(3)  # type: ignore[arg-type]


def test_resource_layout(tmp_path: Path) -> None:
    toy = _toy()
    assert toy.path("payload.bin", data_dir=tmp_path) == tmp_path / "toy" / "payload.bin"
    assert toy.missing_files(tmp_path) == ["payload.bin"]
    assert not toy.is_available(tmp_path)
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "payload.bin").write_bytes(PAYLOAD)
    assert toy.is_available(tmp_path)
    with pytest.raises(KeyError, match="no file"):
        toy.spec("other.bin")


def test_specs_validate_their_fields() -> None:
    with pytest.raises(ValueError, match="sha256"):
        FileSpec("a", sha256="xyz")
    with pytest.raises(ValueError, match="name"):
        FileSpec("../a", sha256="0" * 64)
    with pytest.raises(TypeError, match="urls"):
        FileSpec("a", sha256="0" * 64, urls="https://example.org/a")  # type: ignore[arg-type]
    spec = FileSpec("a", sha256="0" * 64)
    with pytest.raises(ValueError, match="twice"):
        Resource("r", (spec, spec))


def test_register_resource_rejects_a_different_duplicate() -> None:
    toy = _toy()
    register_resource(toy)
    register_resource(toy)  # the same declaration again is fine (module reloads)
    with pytest.raises(ValueError, match="already registered"):
        register_resource(_toy(sha="1" * 64))
    resources.RESOURCES.unregister("toy")


# ---------------------------------------------------------------------------------------------
# fetch without download


def test_missing_file_error_says_where_and_how(tmp_path: Path) -> None:
    toy = _toy(("https://example.org/payload.bin",))
    with pytest.raises(MissingDataError) as info:
        toy.fetch("payload.bin", data_dir=tmp_path)  # download defaults to False
    message = str(info.value)
    assert str(tmp_path / "toy" / "payload.bin") in message
    assert "download=True" in message
    assert DATA_ENV_VAR in message and "data_dir" in message
    assert "data_dir argument" in message
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    assert info.value.path == tmp_path / "toy" / "payload.bin"
    assert not (tmp_path / "toy").exists()  # nothing created, nothing downloaded


def test_missing_file_error_names_the_env_var_origin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    with pytest.raises(MissingDataError, match=f"environment variable {DATA_ENV_VAR}"):
        _toy().fetch("payload.bin")


def test_fetch_returns_a_verified_file(tmp_path: Path) -> None:
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "payload.bin").write_bytes(PAYLOAD)
    assert _toy().fetch("payload.bin", data_dir=tmp_path) == tmp_path / "toy" / "payload.bin"


@pytest.mark.parametrize(
    ("content", "problem"),
    [(PAYLOAD[:-1] + b"?", "sha256 mismatch"), (PAYLOAD[:-5], "size mismatch")],
)
def test_corrupt_file_error_names_the_file(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "toy" / "payload.bin"
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(CorruptFileError, match=problem) as info:
        _toy().fetch("payload.bin", data_dir=tmp_path)
    assert str(path) in str(info.value)
    assert info.value.path == path


def test_digest_cache_notices_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one")
    assert sha256sum(path) == _sha(b"one")
    path.write_bytes(b"two!")
    assert sha256sum(path) == _sha(b"two!")


def test_recompressed_and_uncompressed_copies_pass_by_content(tmp_path: Path) -> None:
    content = b"\x00\x00\x08\x01\x00\x00\x00\x03abc"
    original = gzip.compress(content, mtime=1)
    spec = FileSpec(
        "data.gz", sha256=_sha(original), size=len(original), content_sha256=_sha(content)
    )
    toy = Resource("gz-toy", (spec,))
    folder = tmp_path / "gz-toy"
    folder.mkdir()
    # a re-compressed copy: other bytes, same content
    recompressed = gzip.compress(content, compresslevel=1, mtime=12345)
    assert recompressed != original
    (folder / "data.gz").write_bytes(recompressed)
    assert toy.fetch("data.gz", data_dir=tmp_path) == folder / "data.gz"
    # only the uncompressed file
    (folder / "data.gz").unlink()
    (folder / "data").write_bytes(content)
    assert toy.fetch("data.gz", data_dir=tmp_path) == folder / "data"
    # wrong content is still rejected
    (folder / "data").write_bytes(content + b"!")
    with pytest.raises(CorruptFileError, match="sha256 mismatch"):
        toy.fetch("data.gz", data_dir=tmp_path)


def test_verify_file_reports_a_damaged_gzip(tmp_path: Path) -> None:
    content = b"x" * 100
    data = gzip.compress(content)
    spec = FileSpec("d.gz", sha256=_sha(data), size=len(data), content_sha256=_sha(content))
    path = tmp_path / "d.gz"
    path.write_bytes(data[:-12])
    with pytest.raises(CorruptFileError, match="d.gz"):
        verify_file(path, spec)


# ---------------------------------------------------------------------------------------------
# downloading


def test_download_from_a_file_url(tmp_path: Path) -> None:
    toy = _toy((_mirror(tmp_path, "payload.bin", PAYLOAD),))
    path = toy.fetch("payload.bin", data_dir=tmp_path / "root", download=True, progress=False)
    assert path == tmp_path / "root" / "toy" / "payload.bin"
    assert path.read_bytes() == PAYLOAD
    assert list(path.parent.iterdir()) == [path]  # no temporary file left


def test_failed_checksum_leaves_no_file(tmp_path: Path) -> None:
    url = _mirror(tmp_path, "payload.bin", PAYLOAD[:-1] + b"#")  # same size, other bytes
    toy = _toy((url,))
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match="sha256 mismatch") as info:
        resources.download_file(
            toy.spec("payload.bin"), _prepare(root), retries=2, backoff=0, progress=False
        )
    assert url in str(info.value)
    assert list((root / "toy").iterdir()) == []  # neither the file nor a .part file


def _prepare(root: Path) -> Path:
    folder = root / "toy"
    folder.mkdir(parents=True)
    return folder / "payload.bin"


def test_download_tries_the_next_mirror(tmp_path: Path) -> None:
    missing = (tmp_path / "nowhere" / "payload.bin").as_uri()
    good = _mirror(tmp_path, "payload.bin", PAYLOAD)
    target = _prepare(tmp_path / "root")
    download_file(_toy((missing, good)).spec("payload.bin"), target, backoff=0, progress=False)
    assert target.read_bytes() == PAYLOAD


class _FlakyOpener:
    """Fails ``failures`` times with a URLError, then serves ``data``."""

    def __init__(self, data: bytes, failures: int) -> None:
        self.data, self.failures, self.calls = data, failures, []

    def __call__(self, url: str, timeout: float) -> io.BytesIO:
        self.calls.append(url)
        if len(self.calls) <= self.failures:
            raise urllib.error.URLError("temporary failure")
        return io.BytesIO(self.data)


def test_download_retries_then_succeeds(tmp_path: Path) -> None:
    opener = _FlakyOpener(PAYLOAD, failures=2)
    target = _prepare(tmp_path)
    spec = _toy(("https://mirror.invalid/payload.bin",)).spec("payload.bin")
    download_file(spec, target, retries=3, backoff=0, progress=False, opener=opener)
    assert len(opener.calls) == 3
    assert target.read_bytes() == PAYLOAD


def test_download_gives_up_with_every_reason(tmp_path: Path) -> None:
    opener = _FlakyOpener(PAYLOAD, failures=100)
    urls = ("https://a.invalid/payload.bin", "https://b.invalid/payload.bin")
    target = _prepare(tmp_path)
    with pytest.raises(DownloadError) as info:
        download_file(
            _toy(urls).spec("payload.bin"),
            target,
            retries=2,
            backoff=0,
            progress=False,
            opener=opener,
        )
    assert opener.calls == [urls[0], urls[0], urls[1], urls[1]]
    assert all(url in str(info.value) for url in urls)
    assert isinstance(info.value, DataError) and not target.exists()


class _BrokenStream(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        if self.tell() > 100:
            raise ConnectionResetError("connection reset")
        return super().read(64)


def test_interrupted_download_leaves_no_partial_file(tmp_path: Path) -> None:
    target = _prepare(tmp_path)
    spec = _toy(("https://mirror.invalid/payload.bin",)).spec("payload.bin")
    with pytest.raises(DownloadError, match="connection reset"):
        download_file(
            spec,
            target,
            retries=1,
            progress=False,
            opener=lambda url, timeout: _BrokenStream(PAYLOAD),
        )
    assert list(target.parent.iterdir()) == []


def test_download_true_replaces_a_corrupt_file(tmp_path: Path) -> None:
    toy = _toy((_mirror(tmp_path, "payload.bin", PAYLOAD),))
    path = tmp_path / "root" / "toy" / "payload.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    with pytest.raises(CorruptFileError):
        toy.fetch("payload.bin", data_dir=tmp_path / "root")
    toy.fetch("payload.bin", data_dir=tmp_path / "root", download=True, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_download_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no download URL"):
        download_file(_toy().spec("payload.bin"), _prepare(tmp_path), progress=False)
