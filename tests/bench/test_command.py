"""``attnlab bench`` through ``attnlab.cli.main``: listing, suite validation, table and JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from attnlab.bench.suite import (
    Case,
    Peer,
    Suite,
    SuiteRun,
    Variant,
    register_suite,
    unregister_suite,
)
from attnlab.cli import main


def sleeper(seconds: float) -> Callable[[], None]:
    def run() -> None:
        time.sleep(seconds)

    return run


def _tiny(ctx: SuiteRun) -> None:
    result = ctx.run_case(
        Case(
            f"sleep n={ctx.sizes['n']}",
            (
                Variant("ours", sleeper, {"seconds": 0.0005}),
                Variant("peer", sleeper, {"seconds": 0.03}, "peer"),
                Variant("optional", sleeper, {"seconds": 0.0}, "optional"),
            ),
            repeats=2,
        )
    )
    ctx.target("ours >= 1.0x peer", result.speedup("ours", "peer"), 1.0)


TINY = Suite(
    "tiny_cli_suite",
    "a tiny fake suite",
    run=_tiny,
    peers=(Peer("peer", "a peer"), Peer("optional", "absent", requires="attnlab_no_such_xyz")),
    sizes={"quick": {"n": 1}, "full": {"n": 2}},
)


GONE = Suite(
    "gone_cli_suite",
    "a suite whose dependency is missing",
    run=_tiny,
    sizes={"quick": {"n": 1}, "full": {"n": 2}},
    unavailable=lambda: "needs the attnlab_no_such_xyz package",
)


@pytest.fixture
def tiny() -> Iterator[Suite]:
    register_suite(TINY)
    register_suite(GONE)
    try:
        yield TINY
    finally:
        unregister_suite(TINY.name)
        unregister_suite(GONE.name)


def test_list_names_every_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("multihead", "additive", "local", "kernel", "se_resnet", "st_cnn", "sampler",
                 "scaling", "gat"):
        assert any(line.startswith(name + " ") for line in out.splitlines())
    assert "peers: GATConv" in out
    assert "quick:" in out and "full:" in out and "peers:" in out


def test_unknown_suite_exits_2_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--suite", "locall", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "unknown suite 'locall'" in err and "did you mean 'local'" in err


def test_bad_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--suite", "gat", "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err
    assert main(["bench", "--suite", "gat", "--roofline-size", "-1"]) == 2
    assert "--roofline-size" in capsys.readouterr().err
    missing = tmp_path / "no" / "such" / "folder" / "out.json"
    assert main(["bench", "--suite", "gat", "--json", str(missing)]) == 2
    assert "--json" in capsys.readouterr().err


def test_run_prints_table_and_writes_json(
    tiny: Suite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "bench.json"
    code = main([
        "bench", "--suite", "tiny_cli_suite", "gone_cli_suite", "--quick", "--json", str(out_file),
        "--threads", "1", "--quiet",
    ])
    assert code == 0
    out = capsys.readouterr().out
    assert "roofline: float32 matmul 1024x1024" in out
    assert "== tiny_cli_suite: a tiny fake suite [quick sizes]" in out
    assert "vs peer" in out and "vs optional" in out and "not installed" in out
    assert "[not checked] ours >= 1.0x peer" in out  # quick sizes: shown, not judged
    assert "unavailable: needs the attnlab_no_such_xyz package" in out
    doc = json.loads(out_file.read_text())
    assert doc["tool"] == "attnlab bench" and doc["scale"] == "quick"
    machine = doc["machine"]
    for key in ("cpu", "logical_cpus", "torch_version", "torch_threads", "load_average_start",
                "load_average_end", "python", "platform"):
        assert key in machine
    assert machine["torch_threads"] == 1
    assert doc["roofline"]["gflops"] > 0 and doc["roofline"]["start"]["size"] == 1024
    assert [s["name"] for s in doc["suites"]] == ["tiny_cli_suite", "gone_cli_suite"]
    assert doc["suites"][0]["sizes"] == {"n": 1}
    assert doc["suites"][1]["status"].startswith("unavailable")
    assert doc["argv"][:2] == ["attnlab", "bench"]


def test_check_fails_on_a_missed_target(tiny: Suite, capsys: pytest.CaptureFixture[str]) -> None:
    def slower(ctx: SuiteRun) -> None:
        result = ctx.run_case(
            Case("c", (Variant("ours", sleeper, {"seconds": 0.05}),
                       Variant("peer", sleeper, {"seconds": 0.0}, "peer")), repeats=1)
        )
        ctx.target("ours >= 1.0x peer", result.speedup("ours", "peer"), 1.0)

    suite = Suite("tiny_slow_suite", "x", run=slower, peers=(Peer("peer", "p"),))
    register_suite(suite)
    try:
        args = ["bench", "--suite", "tiny_slow_suite", "--quiet", "--threads", "1",
                "--roofline-size", "64"]
        assert main(args) == 0  # full scale: judged, missed, but no --check
        assert "[missed]" in capsys.readouterr().out
        assert main([*args, "--check"]) == 1
    finally:
        unregister_suite("tiny_slow_suite")


def test_contention_warning_when_other_processes_hold_the_cpus() -> None:
    from attnlab.bench.command import contention_warning

    assert contention_warning(None, 2, 2) is None
    assert contention_warning([0.3, 0.3, 0.3], 2, 2) is None  # a quiet machine
    busy = contention_warning([1.2, 1.0, 1.0], 2, 2)  # another process holds one of two CPUs
    assert busy is not None and "--threads 1" in busy
    assert contention_warning([1.2, 1.0, 1.0], 2, 1) is None  # one thread fits beside it
    one = contention_warning([2.5, 2.0, 2.0], 2, 1)
    assert one is not None and "--threads" not in one


def test_markdown_page_has_machine_targets_and_tables(
    tiny: Suite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "BENCHMARKS.md"
    code = main([
        "bench", "--suite", "tiny_cli_suite", "--markdown", str(page), "--threads", "1",
        "--quiet", "--roofline-size", "0",
    ])
    assert code == 0
    text = page.read_text()
    assert text.startswith("# Benchmarks\n")
    assert "Generated by `attnlab bench --suite tiny_cli_suite" in text
    assert "Machine: " in text and "logical CPU" in text
    # the full-size target is judged and its row carries the measured ratio and the verdict
    row = next(line for line in text.splitlines() if line.startswith("| tiny_cli_suite |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "ours >= 1.0x peer" and float(cells[2]) > 1.0 and cells[3] == "met"
    assert "== tiny_cli_suite: a tiny fake suite" in text and "```text" in text
    missing = tmp_path / "no" / "folder" / "BENCHMARKS.md"
    assert main(["bench", "--suite", "tiny_cli_suite", "--markdown", str(missing)]) == 2
    assert "--markdown" in capsys.readouterr().err
