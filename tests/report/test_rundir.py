"""Run folders: early failure when unusable, default names, plot names."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnlab.report.files import ReportError
from attnlab.report.rundir import (
    RunDirectory,
    check_writable,
    default_run_dir,
    safe_plot_name,
)


def test_create_and_reopen(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path / "a" / "b")
    assert run.plots_dir.is_dir()
    run.update_meta(status="running", experiment="x")
    run.update_meta(status="finished")
    run.release()
    with pytest.raises(ReportError, match="already holds a run"):
        RunDirectory.create(tmp_path / "a" / "b")
    again = RunDirectory.create(tmp_path / "a" / "b", resume=True)
    assert again.meta == {"status": "finished", "experiment": "x"}
    again.release()
    with pytest.raises(ReportError, match="cannot resume: .*fresh' does not exist"):
        RunDirectory.create(tmp_path / "fresh", resume=True)
    assert not (tmp_path / "fresh").exists()
    # a run killed before it wrote run.json: --resume starts it afresh in its folder
    (tmp_path / "killed").mkdir()
    reopened = RunDirectory.create(tmp_path / "killed", resume=True)
    assert reopened.meta == {} and reopened.plots_dir.is_dir()
    reopened.release()


def test_unusable_folders_fail_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ReportError, match="exists and is not a directory"):
        RunDirectory.create(blocker)
    with pytest.raises(ReportError, match="cannot create"):
        RunDirectory.create(blocker / "run")

    from attnlab.report import files

    def full(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.tempfile, "mkstemp", full)
    with pytest.raises(ReportError, match="is not writable: No space left on device"):
        check_writable(tmp_path / "disk-full")


def test_stale_temporaries_are_removed(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path / "r")
    (run.path / ".metrics.json.abc.tmp").write_text("half")
    (run.plots_dir / ".x.png.def.tmp").write_text("half")
    (run.path / "metrics.json").write_text("{}")
    run.remove_stale_temporaries()
    assert sorted(p.name for p in run.path.rglob("*")) == [".attnlab.lock", "metrics.json", "plots"]


def test_default_run_dir_is_unique(tmp_path: Path) -> None:
    first = default_run_dir("demo", root=tmp_path)
    assert first.parent == tmp_path and first.name.startswith("demo-")
    first.mkdir()
    second = default_run_dir("demo", root=tmp_path)
    assert second != first and not second.exists()


def test_plot_bytes_must_be_png(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path / "r")
    with pytest.raises(ValueError, match="not PNG data"):
        run.save_plot_bytes("x", b"GIF89a")
    assert run.save_plot_bytes("x", b"\x89PNG\r\n\x1a\n").name == "x.png"


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".x", "a..b", "x\n", "<script>", 3])
def test_plot_names_are_plain(bad: object) -> None:
    with pytest.raises(ValueError, match="plot name"):
        safe_plot_name(bad)  # type: ignore[arg-type]
