"""What a run directory records about the machine and the code: versions, device, git commit."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

__all__ = ["collect_environment", "git_commit", "now_iso"]


def now_iso() -> str:
    """The current time as a timezone-aware ISO 8601 string (UTC, seconds).

    Example:
        >>> now_iso().endswith("+00:00")
        True
    """
    return datetime.now(UTC).isoformat(timespec="seconds")


def _version(module_name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module_name)
    except Exception:
        return None


def _git(args: list[str], cwd: Path) -> str | None:
    # GIT_OPTIONAL_LOCKS=0: a read-only query must never take the index lock or rewrite it.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip()


def git_commit(path: str | Path | None = None) -> dict[str, Any] | None:
    """The git commit of the checkout holding ``path`` (default: the attnlab sources), or ``None``.

    Returns ``{"commit": sha, "dirty": bool | None}``; ``None`` when git is missing or the code
    is not in a git checkout (an installed wheel). Never raises.
    """
    folder = Path(path) if path is not None else Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], folder)
    if not commit:
        return None
    status = _git(["status", "--porcelain", "--untracked-files=no"], folder)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def describe_device(device: torch.device) -> str:
    """A readable device name (the GPU model for CUDA devices)."""
    if device.type == "cuda" and torch.cuda.is_available():
        with contextlib.suppress(Exception):
            return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def collect_environment(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Versions, platform, threads and device of this process, as a JSON-ready dict.

    Example:
        >>> env = collect_environment("cpu")
        >>> sorted(env["versions"])
        ['attnlab', 'matplotlib', 'numpy', 'python', 'torch']
    """
    import numpy

    import attnlab

    device = torch.device(device)
    return {
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "attnlab": getattr(attnlab, "__version__", None) or _version("attnlab"),
            "numpy": numpy.__version__,
            "matplotlib": _version("matplotlib"),
        },
        "platform": platform.platform(),
        "python_executable": sys.executable,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": describe_device(device),
        "cuda_available": torch.cuda.is_available(),
        "git": git_commit(),
    }
