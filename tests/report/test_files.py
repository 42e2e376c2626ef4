"""Atomic writes: a reader never sees half a file, a failed write leaves the old one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attnlab.report import files
from attnlab.report.files import (
    ReportError,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_json,
)


def test_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "run.json"
    atomic_write_json(target, {"status": "running"})

    def crash(src: str, dst: str) -> None:  # the process dies between write and rename
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_json(target, {"status": "finished"})
    monkeypatch.undo()
    assert read_json(target) == {"status": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # temporary removed


def test_interrupted_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"complete")
    real_fsync = os.fsync

    def interrupted(fd: int) -> None:
        real_fsync(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"half")
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_json_is_strict(tmp_path: Path) -> None:
    path = atomic_write_json(tmp_path / "m.json", {"nan": float("nan"), "inf": float("-inf"),
                                                   "list": (1.5, float("nan")), "ok": 1})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert read_json(path) == {"nan": None, "inf": None, "list": [1.5, None], "ok": 1}


def test_read_json_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="nope.json does not exist"):
        read_json(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"status": "runn')
    with pytest.raises(ReportError, match="bad.json is not valid JSON"):
        read_json(bad)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ReportError, match="bin.json"):
        read_json(binary)
