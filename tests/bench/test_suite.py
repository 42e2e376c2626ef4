"""The suite registry, the runner's rows/ratios/targets, and the table and JSON of a fake suite.

No timing is asserted: a benchmark is not a timed unit test. The fake suite's variants sleep for
different fixed times only so that their ratio has a known sign.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from attnlab.bench.measure import allocation_workload, peak_memory_supported
from attnlab.bench.report import bench_document, format_suite
from attnlab.bench.suite import (
    Case,
    Peer,
    Suite,
    SuiteRun,
    TargetCheck,
    Variant,
    get_suite,
    list_suites,
    register_suite,
    resolve_suites,
    run_suite,
    unregister_suite,
)
from attnlab.report.checks import Target


def sleeper(seconds: float) -> Callable[[], None]:
    def run() -> None:
        time.sleep(seconds)

    return run


def broken(**_: object) -> Callable[[], None]:
    raise RuntimeError("cannot build")


PEERS = (
    Peer("slow", "a slower baseline"),
    Peer("absent", "a library that is not installed", requires="attnlab_no_such_module_xyz"),
)


def _fake(ctx: SuiteRun) -> None:
    result = ctx.run_case(
        Case(
            "sleep",
            (
                Variant("ours", sleeper, {"seconds": 0.001}, flops=1e6),
                Variant("slow", sleeper, {"seconds": 0.004}, "slow"),
                Variant("absent", sleeper, {"seconds": 0.001}, "absent"),
                Variant("skipped", sleeper, {"seconds": 0.0}, skip="too large"),
                Variant("broken", broken, {}),
            ),
            repeats=3,
            params={"n": 1},
        )
    )
    ctx.target("ours >= 1.0x slow", result.speedup("ours", "slow"), 1.0)
    ctx.target("ours >= 100x slow", result.speedup("ours", "slow"), 100.0)
    ctx.target("growth exponent <= 1.2", 0.9, 1.2, "lower", unit="", any_size=True)
    ctx.target("nothing to measure", None, 1.0)
    ctx.metric("exponent", 0.9)
    ctx.note("a fake suite")


FAKE = Suite(
    "fake_for_tests",
    "sleeps of known length",
    run=_fake,
    peers=PEERS,
    sizes={"quick": {"n": 1}, "full": {"n": 2}},
)


@pytest.fixture
def fake() -> Iterator[Suite]:
    register_suite(FAKE)
    try:
        yield FAKE
    finally:
        unregister_suite(FAKE.name)


def test_builtin_suites_are_registered() -> None:
    names = [s.name for s in list_suites()]
    for expected in (
        "multihead", "additive", "local", "kernel", "se_resnet", "st_cnn", "sampler", "scaling",
        "gat",
    ):
        assert expected in names
    for suite in list_suites():
        assert suite.description and set(suite.sizes) <= {"quick", "full"}
    assert get_suite("gat").availability() is None  # the GAT exists: a real suite, no stub
    assert [p.name for p in get_suite("gat").peers] == ["GATConv"]


def test_unknown_suite_suggests_close_names() -> None:
    with pytest.raises(KeyError, match="did you mean 'multihead'") as info:
        get_suite("multihed")
    assert "known:" in str(info.value) and "sampler" in str(info.value)
    with pytest.raises(KeyError, match="unknown suite 'zzz'"):
        resolve_suites(["local", "zzz"])


def test_resolve_keeps_order_and_drops_repeats() -> None:
    assert [s.name for s in resolve_suites(["local", "additive", "local"])] == [
        "local", "additive",
    ]
    assert len(resolve_suites(None)) == len(list_suites())


def test_register_rejects_duplicates_and_unknown_scales(fake: Suite) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_suite(fake)
    with pytest.raises(ValueError, match="scales"):
        register_suite(Suite("bad_scale_suite", "x", run=_fake, sizes={"huge": {}}))
    with pytest.raises(KeyError, match="unknown suite"):
        unregister_suite("never_registered_suite")


def test_case_rejects_repeated_variant_names() -> None:
    with pytest.raises(ValueError, match="unique"):
        Case("c", (Variant("a", sleeper), Variant("a", sleeper)))


def test_rows_ratios_and_statuses(fake: Suite) -> None:
    result = run_suite(fake, scale="full", memory=False)
    assert result.status == "ok" and result.peers == {"slow": True, "absent": False}
    rows = {row.variant: row for row in result.rows}
    assert [r.variant for r in result.rows] == ["ours", "slow", "absent", "skipped", "broken"]
    assert rows["ours"].ok and rows["slow"].ok and len(rows["ours"].timing.seconds) == 3
    assert rows["absent"].status == "not installed" and rows["absent"].timing is None
    assert rows["skipped"].status == "skipped: too large"
    assert rows["broken"].status.startswith("failed: RuntimeError: cannot build")
    ours = rows["ours"]
    assert set(ours.ratios) == {"slow", "absent"}
    assert ours.ratios["absent"] == "not installed"
    assert ours.ratios["slow"] == pytest.approx(rows["slow"].median / ours.median)
    assert ours.ratios["slow"] > 1  # 4 ms against 1 ms of sleep
    assert rows["slow"].ratios == {}  # peers carry no ratios
    assert ours.gflops == pytest.approx(1e6 / ours.median / 1e9)
    statuses = [t.status for t in result.targets]
    assert statuses == ["met", "missed", "met", "not measured"]
    assert result.metrics == {"exponent": 0.9} and result.notes == ["a fake suite"]


def test_quick_scale_shows_size_bound_targets_without_judging(fake: Suite) -> None:
    result = run_suite(fake, scale="quick", memory=False)
    assert [t.status for t in result.targets] == [
        "not checked", "not checked", "met", "not checked",
    ]
    assert result.sizes == {"n": 1}
    assert result.targets[0].measured is not None and result.targets[0].met is None


def test_table_has_a_column_per_peer_and_says_not_installed(fake: Suite) -> None:
    result = run_suite(fake, scale="full", memory=False)
    text = format_suite(result, roofline_gflops=1.0)
    lines = text.splitlines()
    assert lines[0] == "== fake_for_tests: sleeps of known length [full sizes]"
    header = lines[1]
    for column in ("case", "variant", "median ms", "IQR ms", "peak MiB", "GFLOP/s", "roof",
                   "vs slow", "vs absent"):
        assert column in header
    ours = next(line for line in lines if line.startswith("sleep") and " ours " in line)
    assert "not installed" in ours and ours.rstrip().endswith("not installed")
    assert "%" in ours  # the roofline fraction of a row with known FLOPs
    assert any("absent (peer)" in line and "not installed" in line for line in lines)
    assert any("skipped: too large" in line for line in lines)
    assert "peers not installed: absent" in text
    assert "[met] ours >= 1.0x slow" in text and "[missed] ours >= 100x slow" in text
    assert "[not measured] nothing to measure: -" in text
    assert "metrics: exponent = 0.900" in text and "note: a fake suite" in text


def test_json_document_round_trips(fake: Suite) -> None:
    result = run_suite(fake, scale="full", memory=False)
    doc = bench_document(
        [result],
        scale="full",
        machine={"cpu": "X", "load_average_start": [1.0, 1.0, 1.0]},
        roofline={"gflops": 10.0},
    )
    data = json.loads(json.dumps(doc, allow_nan=False))
    assert data["summary"] == {"met": 2, "missed": 1, "not measured": 1, "not checked": 0}
    suite = data["suites"][0]
    assert suite["name"] == "fake_for_tests" and suite["peers"] == {"slow": True, "absent": False}
    row = suite["rows"][0]
    for key in ("case", "variant", "peer", "status", "params", "median_s", "q1_s", "q3_s",
                "best_s", "runs", "seconds", "peak_mib", "flops", "gflops", "ratios"):
        assert key in row
    assert row["q1_s"] <= row["median_s"] <= row["q3_s"] and row["runs"] == 3
    assert row["ratios"]["absent"] == "not installed"
    assert suite["rows"][2]["median_s"] is None
    assert suite["targets"][1] == {
        "description": "ours >= 100x slow", "measured": row["ratios"]["slow"],
        "threshold": 100.0, "direction": "higher", "unit": "x", "status": "missed", "met": False,
    }


def test_unavailable_and_failing_suites_do_not_raise() -> None:
    gone = Suite("gone", "needs data", run=_fake, unavailable=lambda: "needs the data set")
    result = run_suite(gone, scale="quick")
    assert result.status == "unavailable: needs the data set" and result.rows == []
    assert "unavailable: needs the data set" in format_suite(result)

    def explode(ctx: SuiteRun) -> None:
        raise ValueError("boom")

    result = run_suite(Suite("explodes", "x", run=explode), scale="quick")
    assert result.status == "failed: ValueError: boom"


@pytest.mark.skipif(not peak_memory_supported(), reason="needs Linux /proc/self/clear_refs")
def test_memory_rows_come_from_a_fresh_process() -> None:
    def run(ctx: SuiteRun) -> None:
        ctx.run_case(
            Case(
                "allocate",
                (
                    Variant("ours", allocation_workload, {"mib": 8}, memory=True),
                    Variant("unmeasured", allocation_workload, {"mib": 8}),
                ),
                repeats=1,
                warmup=0,
            )
        )

    suite = Suite("memory_fake", "x", run=run)
    rows = {r.variant: r for r in run_suite(suite, scale="quick", threads=1).rows}
    assert rows["ours"].peak_mib is not None and rows["ours"].peak_mib >= 8
    assert rows["unmeasured"].peak_mib is None
    rows = {r.variant: r for r in run_suite(suite, scale="quick", memory=False).rows}
    assert rows["ours"].peak_mib is None


def test_target_check_directions() -> None:
    assert TargetCheck("t", 0.1, 0.125, "lower", unit="").met is True
    assert TargetCheck("t", 0.2, 0.125, "lower", unit="").met is False
    assert TargetCheck("t", float("nan"), 1.0, "higher").status == "not measured"


def test_a_target_check_is_judged_by_the_experiments_target_type() -> None:
    check = TargetCheck("speed-up >= 1.5x", 1.4, 1.5, "higher")
    assert isinstance(check.target, Target)
    assert (check.target.metric, check.target.paper, check.target.tolerance) == (
        "speed-up >= 1.5x", 1.5, 0.0,
    )
    for measured in (1.4, 1.5, 1.6, None, float("inf")):
        judged = TargetCheck("t", measured, 1.5, "higher")
        if judged.status != "not measured":
            assert judged.met is judged.target.passes(measured)
    assert set(check.to_dict()) == {
        "description", "measured", "threshold", "direction", "unit", "status", "met",
    }
    with pytest.raises(ValueError, match="direction"):
        TargetCheck("t", 1.0, 1.0, "match")  # type: ignore[arg-type]
