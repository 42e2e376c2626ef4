"""The documentation site (mkdocs.yml) builds with ``--strict``, holds the pages it promises with
their generated parts, fetches nothing from the network, and renders in headless Chromium as a
styled page rather than an empty or unstyled one.

The build runs once per module (about 15 s of CPU; ``mkdocs`` and its plugins come with the
``dev`` extra). Chromium is found and, when missing, installed by the helpers of the report's
rendering tests (tests/report/chromium.py); without it the rendering tests skip, saying why.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocstrings_handlers.python")

from report.chromium import require_chromium, run_chromium

# about 15 s of CPU for the build, once per module (per xdist worker that runs these tests)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# The material palette "indigo" of mkdocs.yml: the header's background, about rgb(63, 81, 181).
INDIGO = (63, 81, 181)


def _near_indigo(css_colour: str | None) -> bool:
    """Whether a computed ``rgb(...)`` colour is the header's indigo (within rounding)."""
    values = [int(v) for v in re.findall(r"\d+", css_colour or "")[:3]]
    if len(values) != 3:
        return False
    return max(abs(a - b) for a, b in zip(values, INDIGO, strict=True)) <= 2


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "NO_MKDOCS_2_WARNING": "1"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
         "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-6000:]}"
    print(f"mkdocs build --strict: {seconds:.1f} s")
    return out


def _text(path: Path) -> str:
    assert path.is_file(), f"{path.name} was not built"
    return path.read_text(encoding="utf-8")


def _visible(page: str) -> str:
    """The page's text without tags, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_the_pages_exist(site: Path) -> None:
    for page in ("index", "getting-started", "concepts", "conventions", "mechanisms",
                 "architectures", "interpret", "ecosystem", "performance/index",
                 "gallery/index", "api/index"):
        assert "md-content" in _text(site / f"{page}.html"), page


def test_getting_started_shows_the_readmes_two_commands(site: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)[0].strip().splitlines()
    text = _visible(_text(site / "getting-started.html"))
    for command in commands:
        assert command in text


def test_the_taxonomy_table_lists_every_registered_mechanism(site: Path) -> None:
    import attnlab

    page = _text(site / "concepts.html")
    tables = re.findall(r"<table>(.*?)</table>", page, flags=re.S)
    main = next(t for t in tables if "representations" in t and "sequences" in t)
    rows = re.findall(r"<tr>(.*?)</tr>", main, flags=re.S)[1:]
    entries = attnlab.list_mechanisms()
    assert len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        cells = [_visible(c).strip() for c in re.findall(r"<td>(.*?)</td>", row, flags=re.S)]
        assert cells[0] == entry.name
        assert cells[1] == entry.cls.__name__
        for cell, axis in zip(cells[2:6], ("sequences", "levels", "positions",
                                           "representations"), strict=True):
            assert cell == ", ".join(entry.tags[axis]), (entry.name, axis)


def test_the_api_reference_documents_every_top_level_name(site: Path) -> None:
    import attnlab

    anchors: dict[str, str] = {}
    for page in (site / "api").glob("*.html"):
        for anchor in re.findall(r'id="(attnlab\.[\w.]+)"', _text(page)):
            anchors[anchor] = page.name
    assert "attnlab.core.masked_softmax" in anchors
    assert "attnlab.mechanisms.MultiHeadAttention.forward" in anchors
    index = _text(site / "api" / "index.html")
    targets = re.findall(r'href="[\w.]*#(attnlab\.[\w.]+)"', index)
    for name in attnlab.__all__:
        if name.startswith("__"):
            continue
        found = [t for t in targets if t.rsplit(".", 1)[-1] == name]
        assert found, f"attnlab.{name} is not in the API index"
        assert found[0] in anchors, f"attnlab.{name} links to a missing anchor {found[0]}"


def test_one_gallery_page_per_experiment(site: Path) -> None:
    from attnlab.experiments import list_experiments

    experiments = list_experiments()
    assert experiments
    index = _text(site / "gallery" / "index.html")
    for experiment in experiments:
        page = _visible(_text(site / "gallery" / f"{experiment.name}.html"))
        assert f'href="{experiment.name}.html"' in index
        assert " ".join(experiment.claim.split()) in " ".join(page.split())
        for target in experiment.targets:
            assert target.metric in page, (experiment.name, target.metric)
        for image in re.findall(r'<img[^>]+src="([^"]+)"', _text(
                site / "gallery" / f"{experiment.name}.html")):
            assert (site / "gallery" / image).is_file(), image


def test_the_performance_page_holds_the_benchmark_results(site: Path) -> None:
    page = _visible(_text(site / "performance" / "index.html"))
    results = ROOT / "benchmarks" / "results.json"
    if results.is_file():
        suites = json.loads(results.read_text(encoding="utf-8"))["suites"]
        expected = [t["description"] for s in suites for t in s.get("targets", [])]
    else:
        lines = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8").splitlines()
        expected = [line.split(" | ")[1] for line in lines
                    if line.startswith("| ") and not line.startswith(("| suite", "|---"))]
    assert expected
    for description in expected:
        assert description.replace("\\|", "|") in page


def test_the_site_fetches_nothing_from_the_network(site: Path) -> None:
    fetched = re.compile(
        r"<(?:script|link|img|iframe|source|video|audio|embed)\b[^>]*?"
        r"\b(?:src|href|srcset)=[\"']?(?:https?:)?//", re.I)
    for page in site.rglob("*.html"):
        found = fetched.search(page.read_text(encoding="utf-8"))
        assert found is None, f"{page.relative_to(site)} fetches {found.group(0)}"
    for sheet in site.rglob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        assert not re.search(r"url\(\s*[\"']?(?:https?:)?//|@import\s+[\"']?(?:url\()?https?:",
                             text), sheet.name
    # negative control: the pattern sees what a CDN font would add
    assert fetched.search('<link rel="stylesheet" href="https://fonts.googleapis.com/css">')


# ---------------------------------------------------------------------------------------------
# rendered in headless Chromium

_PROBE = """<script>window.addEventListener('load',function(){
var s=function(sel,prop){var e=document.querySelector(sel);
return e?getComputedStyle(e).getPropertyValue(prop):null;};
var links=Array.prototype.map.call(document.querySelectorAll('.md-nav--primary .md-nav__link'),
function(a){return a.textContent.trim();}).filter(function(t){return t;});
document.body.setAttribute('data-probe',JSON.stringify({header:s('.md-header','background-color'),
sidebar:s('.md-sidebar','position'),code:s('.md-typeset code','font-family'),
nav:links,sheets:document.styleSheets.length}));});</script>"""


def _probe(chromium: str, page: Path, tmp_path: Path, *, strip_css: bool = False) -> dict:
    """Computed styles and navigation of ``page``, read in Chromium by an inline script."""
    text = page.read_text(encoding="utf-8")
    if strip_css:
        text = re.sub(r'<link rel="stylesheet"[^>]*>', "", text)
    copy = page.with_name(f"probe-{page.name}")  # beside the page: relative links still work
    copy.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    done = run_chromium(chromium, tmp_path, "--dump-dom", "--virtual-time-budget=10000",
                "--window-size=1400,1000", "--allow-file-access-from-files", copy.as_uri())
    match = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert match, f"probe did not run: {done.stdout[:500]} {done.stderr[-1500:]}"
    result: dict = json.loads(html.unescape(match.group(1)))
    return result


@pytest.mark.parametrize("page", ["index.html", "api/core.html"])
def test_chromium_renders_a_styled_page(chromium: str, site: Path, tmp_path: Path,
                                        page: str) -> None:
    matplotlib_image = pytest.importorskip("matplotlib.image")

    shot = tmp_path / "shot.png"
    done = run_chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1400,1000",
                (site / page).as_uri())
    assert shot.exists(), done.stderr[-2000:]
    pixels = matplotlib_image.imread(shot)[..., :3]  # (h, w, rgb) in [0, 1]
    assert pixels.std() > 0.05, "the page rendered as a flat image"
    header = (abs(pixels * 255 - INDIGO).max(axis=-1) < 8).sum()
    assert header > 1400 * 30, f"the material header is not drawn ({header} indigo px)"

    probe = _probe(chromium, site / page, tmp_path)
    assert _near_indigo(probe["header"]), probe
    assert probe["sidebar"] == "sticky", probe
    assert "mono" in probe["code"].lower(), probe
    for entry in ("Getting started", "Concepts", "Conventions & pitfalls", "Gallery",
                  "Performance", "attnlab.core"):
        assert entry in probe["nav"], (entry, probe["nav"])
    # negative control: without its stylesheets the same page has none of these styles
    bare = _probe(chromium, site / page, tmp_path, strip_css=True)
    assert not _near_indigo(bare["header"]) and bare["sidebar"] != "sticky", bare
