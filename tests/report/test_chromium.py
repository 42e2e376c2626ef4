"""A generated report.html rendered by headless Chromium: its images load and show.

Chromium is Debian's ``chromium`` package. CI installs it (``.ci/run``); when it is missing here
the test set-up installs it if it can (root and apt-get), and otherwise the tests skip, saying why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from attnlab.report.html import write_report

pytest.importorskip("matplotlib")

_BROWSERS = ("chromium", "chromium-browser", "google-chrome")
_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
)


def _find() -> str | None:
    for name in _BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _install() -> str:
    """Install Debian's chromium; returns why not when it cannot."""
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


@pytest.fixture(scope="module")
def chromium() -> str:
    browser = _find()
    if browser is None:
        why = _install()
        browser = _find()  # another worker may have installed it meanwhile
        if browser is None:
            pytest.skip(f"chromium is not installed and cannot be installed here: {why}")
    return browser


def _run(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [browser, *_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """The report of a real run whose plots include one flat magenta image."""
    from attnlab.experiments.registry import isolated_registry
    from attnlab.experiments.runner import run_experiment
    from experiment_fakes import make_fake

    with isolated_registry() as registry:
        registry.register(make_fake("fake_pass", claim="<script>document.body.setAttribute("
                                    "'data-pwned','1')</script>"))
        result = run_experiment("fake_pass", out=tmp_path / "run", progress=False, quiet=True)
    assert result.report is not None
    return result.report


def test_screenshot_shows_the_plots(chromium: str, report: Path, tmp_path: Path) -> None:
    import matplotlib.image
    import numpy as np

    shot = tmp_path / "shot.png"
    done = _run(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,3000",
                report.resolve().as_uri())
    assert shot.exists(), done.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)[..., :3]  # (h, w, rgb) in [0, 1]
    assert pixels.std() > 0.05, "the page rendered as a flat image"
    magenta = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.1) & (pixels[..., 2] > 0.9)
    assert magenta.sum() > 20_000, f"the magenta plot is not visible ({magenta.sum()} px)"
    curve_blue = (np.abs(pixels[..., 0] - 0.12) < 0.08) & (np.abs(pixels[..., 2] - 0.71) < 0.08)
    assert curve_blue.sum() > 50, "the learning curves are not visible"


def test_dom_reports_every_image_decoded(chromium: str, report: Path, tmp_path: Path) -> None:
    page = report.read_text()
    expected = page.count("<img ")
    assert expected == 2  # the magenta plot and the learning curves
    # The report forbids scripts; this copy allows an inline probe (nothing else) that writes
    # each image's decoded size into the DOM. Images stay limited to data: URIs.
    probe = (
        "<script>window.addEventListener('load',function(){"
        "var s=Array.prototype.map.call(document.images,function(i){"
        "return i.complete+':'+i.naturalWidth+'x'+i.naturalHeight}).join(' ');"
        "document.body.setAttribute('data-images',s);});</script>"
    )
    probed = page.replace("style-src 'unsafe-inline';",
                          "style-src 'unsafe-inline'; script-src 'unsafe-inline';", 1)
    assert probed != page
    # negative control: a corrupt image must be reported as not decoded
    broken = '<img src="data:image/png;base64,iVBORw0KGgoAAAAbroken" alt="broken">'
    probed = probed.replace("</body>", broken + probe + "</body>")
    copy = tmp_path / "probe.html"
    copy.write_text(probed)
    done = _run(chromium, tmp_path, "--dump-dom", "--virtual-time-budget=10000",
                copy.resolve().as_uri())
    match = re.search(r'data-images="([^"]*)"', done.stdout)
    assert match, f"probe did not run: {done.stdout[:500]} {done.stderr[-1500:]}"
    sizes = match.group(1).split()
    assert len(sizes) == expected + 1
    assert sizes.pop().endswith(":0x0"), "the probe cannot tell a broken image"
    for entry in sizes:
        complete, size = entry.split(":")
        width, height = map(int, size.split("x"))
        assert complete == "true" and width > 50 and height > 50, entry
    # the claim held a script; escaped, it is text and never ran (even with scripts allowed)
    assert 'data-pwned="1"' not in done.stdout
    assert "&lt;script&gt;document.body.setAttribute" in done.stdout


def test_combined_report_renders(chromium: str, report: Path, tmp_path: Path) -> None:
    import matplotlib.image

    page = write_report([report.parent, report.parent], tmp_path / "both.html")
    shot = tmp_path / "both.png"
    _run(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,4000", page.as_uri())
    pixels = matplotlib.image.imread(shot)[..., :3]
    magenta = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.1) & (pixels[..., 2] > 0.9)
    assert magenta.sum() > 20_000
