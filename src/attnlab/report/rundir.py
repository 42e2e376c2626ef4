"""The run directory: one folder per run holding everything needed to read and judge it.

Layout::

    RUN_DIR/
      run.json        experiment, claim, paper, targets, scale, argv, seed, overrides, status
                      (running / finished / failed, with the error), start/end time, environment
                      (versions, device, git commit), plots with captions, figures not
                      drawn with the reason (missing_plots), target checks
      config.json     the resolved configuration (defaults + scale + --set overrides)
      metrics.json    the numbers the run measured
      history.json    learning curves: series name -> [[step, value], ...] (when recorded)
      plots/*.png     attention maps, learning curves, ...
      log.txt         the run's log
      report.html     the self-contained report (``attnlab report RUN_DIR`` rebuilds it)

Every file is written atomically (:mod:`attnlab.report.files`), so a crash leaves the previous
version of a file, never a truncated one, and ``run.json`` says how far the run got.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from attnlab.report.files import ReportError, atomic_write_bytes, atomic_write_json, read_json

__all__ = [
    "CONFIG_FILE",
    "HISTORY_FILE",
    "LOG_FILE",
    "METRICS_FILE",
    "MIN_FREE_BYTES",
    "PLOTS_DIR",
    "REPORT_FILE",
    "RUN_FILE",
    "RunDirectory",
    "check_writable",
    "default_run_dir",
    "safe_plot_name",
]

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.json"
REPORT_FILE = "report.html"
LOG_FILE = "log.txt"
PLOTS_DIR = "plots"

_PLOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def safe_plot_name(name: str) -> str:
    """Validate a plot file name (letters, digits, ``_.-``; no path parts); add ``.png``.

    Example:
        >>> safe_plot_name("attention_grid")
        'attention_grid.png'
    """
    if not isinstance(name, str) or not _PLOT_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"plot name must be letters, digits, '_', '.' or '-' (no folders), got {name!r}"
        )
    return name if name.endswith(".png") else f"{name}.png"


def default_run_dir(name: str, *, root: str | Path = "runs") -> Path:
    """``root/<name>-<YYYYmmdd-HHMMSS>``, with ``-2``, ``-3`` ... appended if it exists."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


MIN_FREE_BYTES = 16 * 2**20
"""Free space a run folder needs before a run starts (logs, plots, report, small checkpoints);
experiments that write large checkpoints check for more through the training loop."""


def check_writable(path: str | Path, *, min_free_bytes: int = MIN_FREE_BYTES) -> Path:
    """Make sure ``path`` is a folder this process can write (creating it); fail early.

    Raises:
        ReportError: it is a file, cannot be created, a test file cannot be written in it, or
            its disk has less than ``min_free_bytes`` free.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ReportError(f"{str(path)!r} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"cannot create {str(path)!r}: {error.strerror or error}") from error
    probe = path / ".attnlab-write-test"
    try:
        atomic_write_bytes(probe, b"ok")
        probe.unlink()
    except OSError as error:
        raise ReportError(f"{str(path)!r} is not writable: {error.strerror or error}") from error
    free = shutil.disk_usage(path).free
    if free < min_free_bytes:
        raise ReportError(
            f"{str(path)!r} has {free / 2**20:.1f} MiB free, less than the "
            f"{min_free_bytes / 2**20:.0f} MiB a run needs (is the disk full?)"
        )
    return path


class RunDirectory:
    """A run folder: creation with a writability check, then atomic writes of its files.

    Args:
        path: the folder.

    Example:
        >>> import tempfile
        >>> run = RunDirectory.create(Path(tempfile.mkdtemp()) / "r")
        >>> run.update_meta(status="running")["status"]
        'running'
        >>> (run.path / "run.json").exists()
        True
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.meta: dict[str, Any] = {}

    @classmethod
    def create(cls, path: str | Path, *, resume: bool = False) -> RunDirectory:
        """Create (or, with ``resume``, reopen) a run folder, failing early when unusable.

        Raises:
            ReportError: the path is a file, cannot be created, is not writable, or already holds
                a run (unless ``resume``), or ``resume`` is asked and it holds no run.
        """
        path = Path(path)
        if resume and not (path / RUN_FILE).exists():  # checked first: nothing is created
            raise ReportError(f"cannot resume: {str(path)!r} holds no {RUN_FILE}")
        try:
            check_writable(path)
        except ReportError as error:
            raise ReportError(f"unusable run directory: {error}") from error
        holds_run = (path / RUN_FILE).exists()
        if holds_run and not resume:
            raise ReportError(
                f"{str(path)!r} already holds a run; choose another --out (or --resume it)"
            )
        try:
            (path / PLOTS_DIR).mkdir(exist_ok=True)
        except OSError as error:
            raise ReportError(f"cannot create {str(path / PLOTS_DIR)!r}: {error}") from error
        run = cls(path)
        if holds_run:
            meta = read_json(path / RUN_FILE)
            if not isinstance(meta, dict):
                raise ReportError(f"{path / RUN_FILE} does not hold a JSON object")
            run.meta = meta
        return run

    @property
    def plots_dir(self) -> Path:
        return self.path / PLOTS_DIR

    def update_meta(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into ``run.json`` and rewrite it atomically; returns the new meta."""
        self.meta.update(fields)
        atomic_write_json(self.path / RUN_FILE, self.meta)
        return self.meta

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` to ``RUN_DIR/name`` atomically."""
        return atomic_write_json(self.path / name, obj)

    def save_plot_bytes(self, name: str, data: bytes) -> Path:
        """Write PNG bytes to ``plots/<name>.png`` atomically; returns the path."""
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ValueError(f"plot {name!r} is not PNG data")
        return atomic_write_bytes(self.plots_dir / safe_plot_name(name), data)

    def read_optional_json(self, name: str) -> Any:
        """``RUN_DIR/name`` parsed, or ``None`` when the file does not exist."""
        file = self.path / name
        if not file.exists():
            return None
        return read_json(file)

    def remove_stale_temporaries(self) -> None:
        """Delete ``.*.tmp`` files a killed writer may have left (never a finished file)."""
        for folder in (self.path, self.plots_dir):
            for tmp in folder.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
