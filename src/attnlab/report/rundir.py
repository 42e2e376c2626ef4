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
      .attnlab.lock   held (``flock``) by the process running in the folder; holds its PID

Every file is written atomically (:mod:`attnlab.report.files`), so a crash leaves the previous
version of a file, never a truncated one, and ``run.json`` says how far the run got.

One run at a time: :class:`RunLock` takes an exclusive lock on the folder before anything in
it is read or written and holds it for the run's life, so a second run (or a ``--resume`` of a
run that is still alive) into the same folder fails at once with :class:`RunFolderBusyError`.
The operating system releases the lock when its process ends, however it ends, so a crashed run
never leaves a stale lock behind.
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
    "LOCK_FILE",
    "LOG_FILE",
    "METRICS_FILE",
    "MIN_FREE_BYTES",
    "PLOTS_DIR",
    "REPORT_FILE",
    "RUN_FILE",
    "RunDirectory",
    "RunFolderBusyError",
    "RunLock",
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
LOCK_FILE = ".attnlab.lock"

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


class RunFolderBusyError(ReportError):
    """Another live process holds the run folder's lock."""


class RunLock:
    """An exclusive lock on a folder, held until :meth:`release` or the end of the process.

    POSIX: ``fcntl.flock`` on ``FOLDER/.attnlab.lock`` (released by the kernel when the process
    ends, so never stale). Elsewhere: the file is created with ``O_EXCL`` and holds the owner's
    PID; a file whose process is gone is a stale lock and is taken over.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> lock = RunLock.acquire(folder)
        >>> try:
        ...     RunLock.acquire(folder)
        ... except RunFolderBusyError as error:
        ...     print("busy")
        busy
        >>> lock.release()
        >>> RunLock.acquire(folder).release()
    """

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self._fd = fd
        self._held = True

    @classmethod
    def acquire(cls, folder: str | Path) -> RunLock:
        """Lock ``folder`` (which must exist) or raise :class:`RunFolderBusyError`."""
        path = Path(folder) / LOCK_FILE
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return cls._acquire_exclusive_file(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ReportError(f"cannot lock {str(path.parent)!r}: {error.strerror or error}") \
                from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(path)
            os.close(fd)
            raise RunFolderBusyError(_busy_message(path.parent, holder)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    @classmethod
    def _acquire_exclusive_file(cls, path: Path) -> RunLock:  # pragma: no cover - not POSIX
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = _read_pid(path)
                if holder is not None and _alive(holder):
                    raise RunFolderBusyError(_busy_message(path.parent, holder)) from None
                with contextlib.suppress(OSError):
                    path.unlink()  # the owner is gone: a stale lock
                continue
            os.write(fd, f"{os.getpid()}\n".encode())
            os.close(fd)
            return cls(path, None)
        raise RunFolderBusyError(_busy_message(path.parent, _read_pid(path)))

    @property
    def held(self) -> bool:
        """Whether this lock is still held."""
        return self._held

    def __del__(self) -> None:
        self.release()

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if not self._held:
            return
        self._held = False
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
        else:  # pragma: no cover - not POSIX
            with contextlib.suppress(OSError):
                self.path.unlink()


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or "x")
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:  # pragma: no cover - used where flock is missing
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _busy_message(folder: Path, pid: int | None) -> str:
    who = f"process {pid}" if pid is not None else "another process"
    return (
        f"{str(folder)!r} is in use by a run that is still going ({who}); wait for it to end, "
        "or choose another --out"
    )


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

    def __init__(self, path: str | Path, *, lock: RunLock | None = None) -> None:
        self.path = Path(path)
        self.meta: dict[str, Any] = {}
        self.lock = lock

    @classmethod
    def create(cls, path: str | Path, *, resume: bool = False) -> RunDirectory:
        """Create (or, with ``resume``, reopen) a run folder and lock it; fail early if unusable.

        The folder's lock (:class:`RunLock`) is taken before anything in it is read or
        written and is held until :meth:`release` (or the end of the process). ``resume`` of a
        folder without ``run.json`` (a run killed before it wrote anything) starts the run
        afresh there.

        Raises:
            RunFolderBusyError: another live process runs in the folder.
            ReportError: the path is a file, cannot be created, is not writable, already holds
                a run (unless ``resume``), or ``resume`` names a folder that does not exist.
        """
        path = Path(path)
        if resume and not path.exists():  # checked first: nothing is created
            raise ReportError(f"cannot resume: {str(path)!r} does not exist")
        if path.exists() and not path.is_dir():
            raise ReportError(f"unusable run directory: {str(path)!r} exists and is not a "
                              "directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ReportError(
                f"unusable run directory: cannot create {str(path)!r}: {error.strerror or error}"
            ) from error
        lock = RunLock.acquire(path)
        try:
            return cls._open_locked(path, resume, lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _open_locked(cls, path: Path, resume: bool, lock: RunLock) -> RunDirectory:
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
        run = cls(path, lock=lock)
        if holds_run:
            meta = read_json(path / RUN_FILE)
            if not isinstance(meta, dict):
                raise ReportError(f"{path / RUN_FILE} does not hold a JSON object")
            run.meta = meta
        return run

    def release(self) -> None:
        """Give up the folder's lock (idempotent); call it when the run has ended."""
        if self.lock is not None:
            self.lock.release()

    @property
    def plots_dir(self) -> Path:
        """The folder of the run's figures."""
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
