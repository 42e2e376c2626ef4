"""report.html: self-contained, every embedded string escaped, images embedded, robust reads."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from attnlab.report import html as report_html
from attnlab.report.checks import CheckResult, Target, check_targets, target_from_dict
from attnlab.report.claims import MAX_CLAIM_ROWS, ClaimsEntry, claims_table
from attnlab.report.files import ReportError
from attnlab.report.html import load_run, render_report, write_report
from attnlab.report.images import THUMBNAIL_WIDTH, thumbnail_png
from attnlab.report.verdicts import (
    RunVerdict,
    find_spread,
    judge_run,
    judge_target,
)

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
            relative_plot = ":" not in href and href.endswith(".png")  # a full-size figure
            assert href.startswith(("#", "https://", "http://")) or relative_plot, href
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
    assert "<h2>Claims: paper and measured numbers side by side</h2>" in page
    assert '<a href="#run-0"><b>alpha</b></a>' in page
    assert '<a href="#run-1"><b>beta</b></a>' in page
    assert page.count("<section") == 2
    # no metric matrix: each run's numbers sit in its own collapsed table
    assert page.count("<details><summary>All 2 measured numbers") == 2
    assert re.search(r"<code>extra</code></td><td class=\"num\">7</td>", page)
    # the figure links to its full-size file, relative to the page
    assert 'href="../a/plots/attention.png"' in page


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


# ---------------------------------------------------------------------------------------------
# verdicts: met, missed, not comparable, not shown


HIGHER = Target("acc", paper=0.9, tolerance=0.1, direction="higher")  # pass at >= 0.8


def judged(measured: float | None, metrics: dict[str, float | None] | None = None,
           **meta: object) -> str:
    """The verdict on HIGHER for one measurement, in a run described by ``meta``."""
    values = {"acc": measured, **(metrics or {})}
    (check,) = check_targets([HIGHER], values, scale=str(meta.pop("scale", "quick")))
    run = judge_run({"status": "finished", **meta}, [check], values)
    return run.targets[0].verdict


@pytest.mark.parametrize(
    ("measured", "metrics", "meta", "verdict"),
    [
        (0.85, {}, {}, "met"),
        (0.8, {}, {}, "met"),  # exactly at the threshold
        (0.79, {}, {}, "missed"),
        (None, {}, {}, "not shown"),  # not measured
        (float("nan"), {}, {}, "not shown"),
        (0.85, {}, {"scale": "smoke"}, "not shown"),  # not checked at this scale
        (0.85, {}, {"status": "failed"}, "not shown"),
        (0.85, {}, {"status": "interrupted"}, "not shown"),
        (0.85, {}, {"data_sources": {"mnist": "fallback: synthetic digits"}}, "not comparable"),
        (0.5, {}, {"data_sources": {"mnist": "fallback: synthetic digits"}}, "not comparable"),
        (0.85, {}, {"data_sources": {"mnist": "real"}}, "met"),
        # a spread: within one std of the threshold is noise, either side
        (0.85, {"acc_std": 0.1, "seeds": 3.0}, {}, "not shown"),
        (0.75, {"acc_std": 0.1, "seeds": 3.0}, {}, "not shown"),
        (0.95, {"acc_std": 0.1, "seeds": 3.0}, {}, "met"),
        (0.65, {"acc_std": 0.1, "seeds": 3.0}, {}, "missed"),
        (0.85, {"acc_std": 0.0, "seeds": 1.0}, {}, "met"),  # the std of one seed is no floor
        (0.85, {"acc_ci95": 0.1}, {}, "not shown"),
        # a paired test: a pass that is not significant is not shown; a miss stays a miss
        (0.85, {"pvalue/acc": 0.3}, {}, "not shown"),
        (0.85, {"pvalue/acc": 0.01}, {}, "met"),
        (0.7, {"pvalue/acc": 0.3}, {}, "missed"),
    ],
)
def test_verdicts(measured: float | None, metrics: dict[str, float | None],
                  meta: dict[str, object], verdict: str) -> None:
    assert judged(measured, metrics, **meta) == verdict


def test_match_targets_ignore_the_noise_floor() -> None:
    target = Target("params_M", paper=25.6, tolerance=0.0, direction="match")
    check = CheckResult(target, 25.6, "pass")
    result = judge_target(check, {"params_M": 25.6, "params_M_std": 5.0})
    assert result.verdict == "met"


@pytest.mark.parametrize(
    ("target", "metrics", "text", "flagged"),
    [
        (HIGHER, {}, "1 seed", True),
        (Target("n", paper=1.0, tolerance=0.0, direction="match"), {}, "exact figure", False),
        (Target("acc_mean", paper=83.0, tolerance=1.5, direction="higher"),
         {"acc_std": 0.7, "seeds": 3.0}, "± 0.7 (3 seeds)", False),
        (Target("acc_mean", paper=83.0, tolerance=1.5, direction="higher"),
         {"acc_std": 0.0, "seeds": 1.0}, "1 seed", True),
        (Target("gap/rts/cnn_minus_st_cnn", paper=0.3, tolerance=0.3, direction="higher"),
         {"pvalue/rts/cnn_vs_st_cnn": 0.38}, "p = 0.38 (n.s.)", True),
        (Target("gap/cnn_minus_st", paper=1.8, tolerance=1.7, direction="higher"),
         {"pvalue/cnn_vs_st": 0.001}, "p = 0.001", False),
        (HIGHER, {"acc/std": 0.02}, "± 0.02 (std)", False),
    ],
)
def test_spread_is_found_by_name(target: Target, metrics: dict[str, float | None], text: str,
                                 flagged: bool) -> None:
    spread = find_spread(target, metrics)
    assert (spread.text, spread.flagged) == (text, flagged)


def _run(status: str, *verdicts: tuple[float | None, str]) -> RunVerdict:
    checks = [CheckResult(HIGHER, measured, s) for measured, s in verdicts]  # type: ignore[arg-type]
    return judge_run({"status": status}, checks, {})


def test_run_badges_follow_the_verdicts() -> None:
    all_met = _run("finished", (0.9, "pass"), (0.95, "pass"))
    assert (all_met.label, all_met.tone) == ("finished, 2 of 2 met", "good")
    one_missed = _run("finished", (0.9, "pass"), (0.95, "pass"), (0.1, "fail"))
    assert (one_missed.label, one_missed.tone) == ("finished, 2 of 3 met, 1 missed", "bad")
    partly = _run("finished", (0.9, "pass"), (0.9, "not checked"))
    assert (partly.label, partly.tone) == ("finished, 1 of 2 met", "neutral")
    none = _run("finished")
    assert (none.label, none.tone) == ("finished, no numeric target", "neutral")
    failed = _run("failed", (0.9, "pass"))
    assert (failed.label, failed.tone) == ("failed", "failed")
    interrupted = _run("interrupted", (0.9, "pass"))
    assert (interrupted.label, interrupted.tone) == ("interrupted", "interrupted")
    assert failed.count("not shown") == interrupted.count("not shown") == 1
    stand_in = judge_run({"status": "finished", "data_sources": {"d": "fallback: made up"}},
                         [CheckResult(HIGHER, 0.9, "pass")], {"acc": 0.9})
    assert (stand_in.label, stand_in.tone) == ("finished, 0 of 1 met, 1 not comparable", "warn")


def test_no_green_badge_on_a_run_with_a_missed_target(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", status="finished", error=None, targets=[
        {"metric": "good", "paper": 1.0, "tolerance": 0.5, "direction": "lower"},
        {"metric": "bad", "paper": 1.0, "tolerance": 0.5, "direction": "lower"},
    ])
    (run / "metrics.json").write_text(json.dumps({"good": 1.2, "bad": 9.0}))
    page = render_report([load_run(run)])
    heading = re.search(r"<h2>.*?</h2>", page)
    assert heading is not None
    assert '<span class="badge bad">finished, 1 of 2 met, 1 missed</span>' in heading.group(0)
    assert "badge good" not in page
    assert page.count('<span class="badge met">met</span>') == 1
    assert page.count('<span class="badge missed">missed</span>') == 1


# ---------------------------------------------------------------------------------------------
# what the paper printed vs the project's threshold


def test_paper_origin_round_trips_and_old_runs_still_load() -> None:
    for origin in ("printed", "derived", "project"):
        target = Target("gap", paper=1.8, tolerance=1.7, direction="higher", source="s",
                        scales=("quick",), paper_origin=origin)
        data = json.loads(json.dumps(target.to_dict()))
        assert data["paper_origin"] == origin
        assert target_from_dict(data) == target
    old = {"metric": "gap", "paper": 1.8, "tolerance": 1.7, "direction": "higher"}
    assert target_from_dict(old).paper_origin == "printed"
    with pytest.raises(ValueError, match="paper_origin"):
        Target("m", paper=1.0, tolerance=0.0, direction="higher",
               paper_origin="guessed")  # type: ignore[arg-type]


def test_the_paper_column_holds_only_printed_numbers(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", status="finished", error=None, targets=[
        {"metric": "printed", "paper": 12.4, "tolerance": 6.0, "direction": "lower"},
        {"metric": "derived", "paper": 1.8, "tolerance": 1.7, "direction": "higher",
         "paper_origin": "derived"},
        {"metric": "ours", "paper": 0.95, "tolerance": 0.0, "direction": "higher",
         "paper_origin": "project"},
    ])
    (run / "metrics.json").write_text(json.dumps({"printed": 10.0, "derived": 1.0,
                                                  "ours": 0.99}))
    page = render_report([load_run(run)])
    targets = page[page.index("<h3>Measured vs paper</h3>"):page.index("<details>")]
    rows = re.findall(r"<tr><td><code>(\w+)</code></td>(.*?)</tr>", targets)
    cells = {name: re.findall(r"<td[^>]*>(.*?)</td>", rest) for name, rest in rows}
    # measured, paper, target
    assert cells["printed"][:3] == ["10", "12.4", "&lt;= 18.4"]
    assert cells["derived"][1].startswith("1.8 <span") and "derived" in cells["derived"][1]
    assert cells["derived"][2] == "&gt;= 0.1"
    assert "0.95" not in cells["ours"][1] and "—" in cells["ours"][1]
    assert cells["ours"][2] == "&gt;= 0.95"


_NOT_PRINTED = re.compile(
    r"no paper|not a paper number|claim of this|qualitative claim|sanity|reimplementer"
    r"|context, not the goal|number in the paper\)",
    re.I,
)


def test_experiment_targets_say_when_the_paper_printed_no_number() -> None:
    """A target whose source says no paper prints its number must not claim a printed one."""
    import importlib

    from attnlab.experiments.registry import EXPERIMENT_PACKAGES

    # read from the packages themselves: another test's isolated registry may be the current one
    experiments = [importlib.import_module(f"attnlab.experiments.{name}").EXPERIMENT
                   for name in EXPERIMENT_PACKAGES]
    checked = 0
    for experiment in experiments:
        for target in experiment.targets:
            if _NOT_PRINTED.search(target.source):
                checked += 1
                assert target.paper_origin == "project", (experiment.name, target.metric)
            if "claim:" in target.source or " minus " in target.source:
                assert target.paper_origin != "printed", (experiment.name, target.metric)
    assert checked >= 10


# ---------------------------------------------------------------------------------------------
# the claims table and the size of the page


def test_claims_table_lists_the_headline_and_the_misses_then_counts_the_rest() -> None:
    targets = [Target(f"m{i}", paper=1.0, tolerance=0.0, direction="higher")
               for i in range(MAX_CLAIM_ROWS + 3)]
    measured = {t.metric: 2.0 for t in targets} | {"m5": 0.0}  # one miss, late in the list
    checks = check_targets(targets, measured, scale="quick")
    entry = ClaimsEntry("exp", "run-0", {"claim": XSS, "scale": "quick", "status": "finished"},
                        judge_run({"status": "finished"}, checks, measured))
    page = claims_table([entry], skipped=[("skipped_exp", IMG)])
    listed = re.findall(r"<code>(m\d)</code>", page)
    assert listed[0] == "m0" and "m5" in listed and len(listed) == MAX_CLAIM_ROWS
    assert "+ 3 more targets (3 met)" in page
    assert f'rowspan="{MAX_CLAIM_ROWS + 1}"' in page
    assert "&lt;script&gt;" in page and "<script" not in page
    assert 'badge skipped">skipped</span>' in page and "&quot;&gt;&lt;img" in page


def _png(width: int, height: int) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (width, height), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 40):
        draw.line((x, 0, width - x, height), fill=(31, 119, 180, 255), width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_images_are_scaled_down_and_embedded_once(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    from PIL import Image

    wide = _png(2400, 600)
    small = thumbnail_png(wide)
    assert Image.open(io.BytesIO(small)).size == (THUMBNAIL_WIDTH, 290)
    assert len(small) < len(wide)
    run = write_run(tmp_path / "r", status="finished", error=None, plots=[
        {"file": "plots/wide.png", "caption": "wide"},
        {"file": "plots/copy.png", "caption": "copy"},
    ])
    (run / "plots" / "attention.png").unlink()
    (run / "plots" / "wide.png").write_bytes(wide)
    (run / "plots" / "copy.png").write_bytes(wide)
    page = write_report([run, run], tmp_path / "page.html").read_text()
    sources = [a["src"] for t, a in parse(page) if t == "img"]
    assert len(sources) == 1  # two files with the same image, in two sections: embedded once
    assert base64.b64decode((sources[0] or "").split(",", 1)[1]) == small
    assert page.count('href="#fig-0">the figure above</a>') == 3
    assert 'href="r/plots/wide.png">full size</a>' in page
