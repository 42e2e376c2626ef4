"""report.html: self-contained, every embedded string escaped, images embedded, robust reads."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from attnlab.report import html as report_html
from attnlab.report.files import ReportError
from attnlab.report.html import load_run, render_report, write_report

XSS = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # signature is all the report checks


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def assert_inert(page: str) -> None:
    """No script, no handler, no remote resource: only data: images and http(s) links."""
    tags = parse(page)
    names = {t for t, _ in tags}
    assert not names & {"script", "iframe", "object", "embed", "link", "base", "form", "svg"}
    for tag, attrs in tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/png;base64,")
        if tag == "a":
            href = attrs.get("href") or ""
            assert href.startswith(("#", "https://", "http://")), href
        assert "javascript:" not in " ".join(str(v) for v in attrs.values()).lower()
    csp = [a for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    assert "img-src data:" in (csp[0]["content"] or "")


def write_run(folder: Path, **meta_changes: object) -> Path:
    """A run directory written by hand, full of hostile strings."""
    (folder / "plots").mkdir(parents=True)
    (folder / "plots" / "attention.png").write_bytes(PNG)
    meta: dict[str, object] = {
        "experiment": XSS,
        "claim": IMG,
        "paper": {"title": XSS, "authors": IMG, "year": 2015, "url": "javascript:alert(1)"},
        "targets": [{"metric": XSS, "paper": 1.0, "tolerance": 0.5, "direction": "lower",
                     "source": IMG, "scales": ["quick"]}],
        "datasets": [{"name": XSS, "description": IMG}],
        "scale": "quick",
        "seed": 0,
        "overrides": [f"label={XSS}"],
        "argv": ["attnlab", "run", XSS],
        "status": "failed",
        "error": f"ValueError: {XSS}",
        "environment": {"versions": {"torch": IMG}, "git": {"commit": XSS}},
        "plots": [{"file": "plots/attention.png", "caption": IMG}],
    }
    meta.update(meta_changes)
    (folder / "run.json").write_text(json.dumps(meta))
    (folder / "config.json").write_text(json.dumps({XSS: IMG, "nested": {"k": XSS}}))
    (folder / "metrics.json").write_text(json.dumps({XSS: 1.2, "other<b>": 3}))
    return folder


def test_every_embedded_string_is_escaped(tmp_path: Path) -> None:
    run = write_run(tmp_path / XSS.replace("/", "_"))
    page = render_report([load_run(run)], skipped=[(XSS, IMG)])
    assert_inert(page)
    assert "<script" not in page.lower()
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b&gt;" in page  # the metric name "other<b>"
    title = re.search(r"<title>(.*)</title>", page)
    assert title and title.group(1) == "attnlab run: &lt;script&gt;alert(1)&lt;/script&gt;"


def test_a_run_with_a_malicious_name_and_values(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from attnlab.experiments.registry import isolated_registry
    from attnlab.experiments.runner import run_experiment
    from experiment_fakes import make_fake

    out = tmp_path / XSS  # a folder "<script>alert(1)<" holding "script>"
    with isolated_registry() as registry:
        registry.register(make_fake("fake_pass", claim=f"claim {XSS}"))
        result = run_experiment("fake_pass", overrides=[f"label={IMG}"], out=out,
                                progress=False, quiet=True, argv=["attnlab", "run", XSS])
    assert result.report is not None
    page = result.report.read_text()
    assert_inert(page)
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert "claim &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "solid colour for &quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_images_are_embedded_byte_for_byte(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", status="finished", error=None)
    page = render_report([load_run(run)])
    sources = [a["src"] for t, a in parse(page) if t == "img"]
    assert len(sources) == 1 and sources[0] is not None
    assert base64.b64decode(sources[0].split(",", 1)[1]) == PNG


def test_unsafe_or_bad_images_are_not_embedded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "secret.png"
    outside.write_bytes(PNG)
    run = write_run(tmp_path / "r", plots=[
        {"file": "../../secret.png", "caption": "traversal"},
        {"file": "plots/link.png", "caption": "symlink"},
        {"file": "plots/fake.png", "caption": "not png"},
        {"file": "plots/big.png", "caption": "too big"},
        {"file": "plots/missing.png", "caption": "missing"},
        "not even a dict",
    ])
    (run / "plots" / "link.png").symlink_to(outside)
    (run / "plots" / "fake.png").write_bytes(b"<svg onload=alert(1)>")
    (run / "plots" / "big.png").write_bytes(PNG + b"\x00" * 100)
    monkeypatch.setattr(report_html, "MAX_IMAGE_BYTES", 60)
    record = load_run(run)
    problems = {p.caption: p.problem for p in record.plots if p.data is None}
    assert problems == {
        "traversal": "not a regular file in plots/",
        "symlink": "not a regular file in plots/",
        "not png": "not a PNG file",
        "too big": "too large to embed (140 bytes)",
        "missing": "not a regular file in plots/",
    }
    embedded = [p.name for p in record.plots if p.data is not None]
    assert embedded == ["attention.png"]  # found in plots/ though not listed
    page = render_report([record])
    assert_inert(page)
    assert page.count("<img") == 1


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such folder"):
        load_run(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="run.json does not exist"):
        load_run(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    with pytest.raises(ReportError, match="run.json is not valid JSON"):
        load_run(bad)
    (bad / "run.json").write_text("[1, 2]")
    with pytest.raises(ReportError, match="does not hold a JSON object"):
        load_run(bad)

    run = write_run(tmp_path / "r", targets=[{"metric": "x"}])
    (run / "metrics.json").write_text("{trunc")
    record = load_run(run)
    assert any("metrics.json is not valid JSON" in p for p in record.problems)
    assert any("malformed targets" in p for p in record.problems)
    assert "metrics.json is not valid JSON" in render_report([record])


def test_comparison_page(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", experiment="alpha", status="finished", error=None)
    b = write_run(tmp_path / "b", experiment="beta", status="finished", error=None)
    (b / "metrics.json").write_text(json.dumps({XSS: 2.0, "extra": 7}))
    out = write_report([a, b], tmp_path / "cmp" / "page.html")
    page = out.read_text()
    assert_inert(page)
    assert "<h2>Summary</h2>" in page and "Measured numbers side by side" in page
    assert '<a href="#run-0">alpha</a>' in page and '<a href="#run-1">beta</a>' in page
    assert page.count("<section") == 2
    assert re.search(r"1\.2</td>.*2</td>", page, re.S)


def test_write_report_default_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = write_run(tmp_path / "a")
    assert write_report([a]) == a / "report.html"
    monkeypatch.chdir(tmp_path)
    b = write_run(tmp_path / "b")
    assert write_report([a, b]) == Path("attnlab-report.html")
    with pytest.raises(ReportError, match="no run to report"):
        write_report([])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReportError, match="cannot write report"):
        write_report([a], tmp_path / "file" / "r.html")


def test_reproduce_folder_expands_and_tolerates_a_bad_summary(tmp_path: Path) -> None:
    from attnlab.report.html import expand_run_dirs

    root = tmp_path / "repro"
    write_run(root / "alpha", experiment="alpha")
    (root / "summary.json").write_text(json.dumps({
        "runs": [{"dir": "alpha"}, {"dir": "../../elsewhere"}, "junk"],
        "skipped": [{"name": "beta", "reason": XSS}, 3],
    }))
    runs, skipped = expand_run_dirs([root])
    assert runs == [root / "alpha"]
    assert skipped == [("beta", XSS)]
    (root / "summary.json").write_text(json.dumps({"runs": {"dir": "alpha"}, "skipped": "x"}))
    assert expand_run_dirs([root]) == ([], [])
    with pytest.raises(ReportError, match="no run to report"):
        write_report([root])
