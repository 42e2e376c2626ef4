"""Headless Chromium for the report tests: find it (install it when root with apt-get), run it.

Chromium is Debian's ``chromium`` package. CI installs it (``.ci/run``); when it is missing here
:func:`require_chromium` installs it if it can (root and apt-get), and otherwise skips the calling
test, saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["FLAGS", "find_chromium", "install_chromium", "require_chromium", "run_chromium"]

_BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: Flags of every run: headless, no GPU, no network of its own, no first-run dialogs.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
)


def find_chromium() -> str | None:
    """The path of an installed Chromium (or Chrome), ``None`` when there is none."""
    for name in _BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def install_chromium() -> str:
    """Install Debian's chromium; returns why not when it cannot (``""`` when it did)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not root"
    if not shutil.which("apt-get"):
        return "no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, timeout=120,
                       capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, check=True,
                       timeout=300, capture_output=True)
    except (OSError, subprocess.SubprocessError) as error:
        return f"apt-get failed ({error})"
    return ""


def require_chromium() -> str:
    """The browser's path; installs it when possible, else skips the test with the reason."""
    browser = find_chromium()
    if browser is None:
        why = install_chromium()
        browser = find_chromium()  # another worker may have installed it meanwhile
        if browser is None:
            pytest.skip(f"chromium is not installed and cannot be installed here: {why}")
    return browser


def run_chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``browser`` headless with :data:`FLAGS` and ``args``, a profile under ``tmp_path``."""
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
