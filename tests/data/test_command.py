"""``attnlab data list`` / ``attnlab data fetch``: offline (a fake opener serves real files)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

import attnlab.data.resources as resources
from attnlab.cli import main
from attnlab.data.mnist import MNIST_RESOURCE


def test_list_names_the_folder_searched_and_how_to_get_each_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"data root: {tmp_path} (from the data_dir argument)" in out
    assert "mnist: 0 of 4 files present" in out
    assert "get it: attnlab data fetch mnist" in out
    assert "eng-fra.txt.gz into " + str(tmp_path / "eng-fra") in out


def test_list_json_counts_present_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mnist").mkdir()
    spec = MNIST_RESOURCE.files[0]
    (tmp_path / "mnist" / spec.name).write_bytes(b"x")  # present (verification is fetch's job)
    assert main(["data", "list", "--json", "--data-dir", str(tmp_path)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["mnist"]["files"] == 4 and rows["mnist"]["folder"] == str(tmp_path / "mnist")
    assert spec.name not in rows["mnist"]["missing"]


def test_fetch_of_a_dataset_without_a_download_says_where_to_get_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "fetch", "eng-fra", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "eng-fra cannot be downloaded automatically" in err
    assert "manythings.org" in err and str(tmp_path / "eng-fra") in err


def test_fetch_of_an_unknown_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "fetch", "minst"]) == 2
    assert "unknown resource 'minst'" in capsys.readouterr().err


def _shared_mnist() -> Path:
    root = os.environ.get("ATTNLAB_DATA")
    folder = Path(root) / "mnist" if root else None
    if folder is None or not all((folder / s.name).is_file() for s in MNIST_RESOURCE.files):
        pytest.skip("needs the MNIST files under $ATTNLAB_DATA to serve them offline")
    return folder


def test_fetch_downloads_verifies_and_installs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _shared_mnist()
    served: list[str] = []

    def opener(url: str, timeout: float) -> io.BytesIO:
        name = url.rsplit("/", 1)[-1]
        served.append(name)
        return io.BytesIO((source / name).read_bytes())

    monkeypatch.setattr(resources, "_open_url", opener)
    target = tmp_path / "root"
    assert main(["data", "fetch", "mnist", "--data-dir", str(target), "--quiet"]) == 0
    assert "mnist: 4 of 4 files verified in" in capsys.readouterr().out
    assert sorted(served) == sorted(s.name for s in MNIST_RESOURCE.files)
    for spec in MNIST_RESOURCE.files:
        assert (target / "mnist" / spec.name).read_bytes() == (source / spec.name).read_bytes()
    # a second fetch finds everything in place and downloads nothing
    served.clear()
    assert main(["data", "fetch", "mnist", "--data-dir", str(target)]) == 0
    assert served == [] and "already in" in capsys.readouterr().out


def test_fetch_refuses_a_corrupt_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(resources, "_open_url", lambda url, timeout: io.BytesIO(b"not mnist"))
    monkeypatch.setattr(resources.time, "sleep", lambda s: None)
    assert main(["data", "fetch", "mnist", "--data-dir", str(tmp_path), "--quiet"]) == 2
    assert "attnlab data fetch: error:" in capsys.readouterr().err
    assert not list((tmp_path / "mnist").glob("*.gz"))  # nothing unverified left in place
