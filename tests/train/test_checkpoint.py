"""Atomic checkpoint writes, safe loading, up-front writability checks."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
import torch

import attnlab.train.checkpoint as checkpoint_module
from attnlab.train.checkpoint import (
    CheckpointError,
    check_writable,
    load_checkpoint,
    save_checkpoint,
)


def _state(value: float) -> dict[str, Any]:
    return {
        "epoch": int(value),
        "model": {"w": torch.full((3, 4), value)},
        "history": [{"loss": value, "acc": None}],
        "config": {"betas": (0.9, 0.999), "schedule": "step"},
    }


def test_round_trip(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "last.pt", _state(1.0))
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 1
    assert loaded["config"]["betas"] == (0.9, 0.999)
    torch.testing.assert_close(loaded["model"]["w"], torch.ones(3, 4))
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]  # no temporary file left


def test_crash_during_write_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state(1.0))
    before = path.read_bytes()
    real_save = torch.save
    partial: list[Path] = []

    def crashing_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        buffer = io.BytesIO()
        real_save(obj, buffer)
        data = buffer.getvalue()
        f.write(data[: len(data) // 2])  # half the file reaches the disk ...
        f.flush()
        partial.extend(p for p in tmp_path.iterdir() if p.name != "last.pt")
        raise OSError(28, "No space left on device")  # ... then the disk fills up

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, _state(2.0))
    monkeypatch.undo()

    assert len(partial) == 1  # the write went to a temporary file beside the checkpoint
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]  # the half-written temp file is gone


def test_truncated_file_raises_checkpoint_error(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "last.pt", _state(1.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


class Payload:
    """A custom class: a pickle holding one must be refused."""

    def __init__(self) -> None:
        self.secret = 42


class CodeOnLoad:
    """Unpickling this would create ``marker`` (stands in for arbitrary code)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.marker, "w"))


def test_refuses_custom_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.ones(1)}, "extra": Payload()}, path)
    with pytest.raises(CheckpointError, match="not plain data"):
        load_checkpoint(path)


def test_refuses_code_execution(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"epoch": 1, "x": CodeOnLoad(str(marker))}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


def test_refuses_non_dict_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([1, 2], path)
    with pytest.raises(CheckpointError, match="not a dict"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(TypeError, match="state"):
        save_checkpoint(tmp_path / "x.pt", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="folder"):
        save_checkpoint(tmp_path / "no" / "x.pt", {})


def test_check_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_writable(tmp_path / "a" / "b").is_dir()
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="run_dir .*cannot be created"):
        check_writable(blocker / "run")

    class Usage:
        free = 1024

    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage", lambda _: Usage())
    with pytest.raises(OSError, match=r"out_dir .* MiB free"):
        check_writable(tmp_path / "c", name="out_dir", min_free_bytes=2**30)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_check_writable_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OSError, match="not writable"):
            check_writable(folder)
    finally:
        folder.chmod(0o700)


def test_no_unsafe_loading_in_train_package() -> None:
    """Nothing in the training package unpickles with full pickle powers."""
    root = Path(checkpoint_module.__file__).parent
    for file in root.glob("*.py"):
        text = file.read_text()
        assert not re.search(r"weights_only\s*=\s*False", text), file
        assert not re.search(r"\bpickle\.loads?\(", text), file
        for call in re.findall(r"torch\.load\(([^)]*)\)", text):
            assert "weights_only=True" in call, (file, call)
