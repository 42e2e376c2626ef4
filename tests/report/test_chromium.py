"""A generated report.html rendered by headless Chromium: its images load and show, and the
combined page of a reproduce folder fits a 1400-px window with badges that match the metrics.

Chromium is Debian's ``chromium`` package (see ``chromium.py`` beside this file: when it is
missing the set-up installs it if it can, and otherwise the tests skip, saying why).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from attnlab.report.html import write_report
from attnlab.report.images import THUMBNAIL_WIDTH
from report.chromium import require_chromium, run_chromium

pytest.importorskip("matplotlib")

@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


def _run(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_chromium(browser, tmp_path, *args)


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


# ---------------------------------------------------------------------------------------------
# the combined page of a reproduce folder at 1400 px: no horizontal overflow, honest badges

LONG_METRIC = "probe/" + "very_long_metric_name_without_any_space_" * 4 + "accuracy"


def _wide_png(width: int, height: int) -> bytes:
    """A wide line drawing, the shape of a many-panel figure."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (width, height), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 60):
        draw.line((x, 0, width - x, height), fill=(31, 119, 180, 255), width=4)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _target(metric: str, paper: float, origin: str = "printed") -> dict[str, object]:
    return {"metric": metric, "paper": paper, "tolerance": 0.1, "direction": "higher",
            "source": "Table 1 " + "with a long explanation " * 8, "scales": ["quick"],
            "paper_origin": origin}


def _fake_run(root: Path, name: str, metrics: dict[str, float], targets: list[dict[str, object]],
              **meta: object) -> None:
    folder = root / name
    (folder / "plots").mkdir(parents=True)
    (folder / "plots" / "wide.png").write_bytes(_wide_png(2400, 500))
    record: dict[str, object] = {
        "experiment": name, "claim": "A claim " + "that goes on and on " * 12, "scale": "quick",
        "status": "finished", "targets": targets, "data_sources": {"mnist": "real"},
        "plots": [{"file": "plots/wide.png", "caption": "a figure 2400 px wide"}],
        "argv": ["attnlab", "reproduce", "--out", "/" + "deep/" * 40],
        **meta,
    }
    (folder / "run.json").write_text(json.dumps(record))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "config.json").write_text(json.dumps({"path": "x" * 300, "n": 1}))


@pytest.fixture
def reproduce_folder(tmp_path: Path) -> Path:
    """Four runs: every target met; one target met and one missed; a stand-in dataset; a crash."""
    root = tmp_path / "reproduce"
    _fake_run(root, "alpha_met", {"accuracy": 0.95, LONG_METRIC: 1.0},
              [_target("accuracy", 0.9)])
    _fake_run(root, "beta_missed", {"accuracy": 0.95, "error_gap": 0.2},
              [_target("accuracy", 0.9), _target("error_gap", 1.8, "derived")])
    _fake_run(root, "gamma_stand_in", {"accuracy": 0.95}, [_target("accuracy", 0.9, "project")],
              data_sources={"mnist": "fallback: synthetic digits"})
    _fake_run(root, "delta_failed", {}, [_target("accuracy", 0.9)], status="failed",
              error="RuntimeError: " + "boom " * 80)
    names = ["alpha_met", "beta_missed", "gamma_stand_in", "delta_failed"]
    (root / "summary.json").write_text(json.dumps({
        "runs": [{"name": n, "dir": n} for n in names],
        "skipped": [{"name": "epsilon_no_data", "reason": "data missing: x.gz not found"}],
    }))
    return root


_LAYOUT_PROBE = """<script>window.addEventListener('load',function(){
var all=document.querySelectorAll('details');
for(var i=0;i<all.length;i++){all[i].open=true;}
var body=document.body,box=body.getBoundingClientRect();
var right=box.right-parseFloat(getComputedStyle(body).paddingRight);
var over=[],els=body.querySelectorAll('*');
for(var j=0;j<els.length;j++){var r=els[j].getBoundingClientRect();
if(r.width>0&&r.right>right+1){over.push(els[j].tagName+'.'+els[j].className);}}
function badges(sel){return Array.prototype.map.call(document.querySelectorAll(sel),
function(b){return [b.className,b.textContent];});}
var width=document.scrollingElement.scrollWidth;
var wide=document.createElement('p');wide.style.width='2000px';wide.textContent='wide';
body.appendChild(wide);
var control=document.scrollingElement.scrollWidth;body.removeChild(wide);
body.setAttribute('data-probe',JSON.stringify({width:width,control:control,over:over,
sections:badges('section h2 .badge'),claims:badges('table.claims .badge'),
images:Array.prototype.map.call(document.images,function(i){return i.naturalWidth;})}));
});</script>"""


def _probe_layout(chromium: str, page: Path, tmp_path: Path, width: int) -> dict[str, Any]:
    """Open ``page`` at ``width`` px with every <details> open; what the probe measured."""
    text = page.read_text()
    probed = text.replace("style-src 'unsafe-inline';",
                          "style-src 'unsafe-inline'; script-src 'unsafe-inline';", 1)
    assert probed != text
    copy = page.with_name("probe.html")  # next to the page: its relative links still resolve
    copy.write_text(probed.replace("</body>", _LAYOUT_PROBE + "</body>"))
    done = _run(chromium, tmp_path, "--dump-dom", "--virtual-time-budget=10000",
                f"--window-size={width},1000", copy.resolve().as_uri())
    match = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert match, f"probe did not run: {done.stdout[:500]} {done.stderr[-1500:]}"
    result: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return result


def test_combined_page_fits_1400_px_and_badges_match_the_metrics(
    chromium: str, reproduce_folder: Path, tmp_path: Path
) -> None:
    page = write_report([reproduce_folder])
    probe = _probe_layout(chromium, page, tmp_path, 1400)
    assert probe["control"] > 1400, "the probe cannot see a horizontal overflow"
    assert probe["width"] <= 1400, f"the page scrolls sideways: {probe['width']} px"
    assert probe["over"] == [], f"elements stick out of the page column: {probe['over'][:5]}"

    assert probe["sections"] == [
        ["badge good", "finished, 1 of 1 met"],
        ["badge bad", "finished, 1 of 2 met, 1 missed"],
        ["badge warn", "finished, 0 of 1 met, 1 not comparable"],
        ["badge failed", "failed"],
    ]
    assert probe["claims"] == [
        ["badge good", "finished, 1 of 1 met"], ["badge met", "met"],
        ["badge bad", "finished, 1 of 2 met, 1 missed"], ["badge met", "met"],
        ["badge missed", "missed"],
        ["badge warn", "finished, 0 of 1 met, 1 not comparable"],
        ["badge not-comparable", "not comparable"],
        ["badge failed", "failed"], ["badge not-shown", "not shown"],
        ["badge skipped", "skipped"],
    ]
    # every run's figure is the same image: embedded once, scaled to the page width
    assert probe["images"] == [THUMBNAIL_WIDTH]
    source = page.read_text()
    assert source.count("<img ") == 1
    for href in re.findall(r'href="([^"#:]+\.png)"', source):
        assert (page.parent / href).is_file(), href
