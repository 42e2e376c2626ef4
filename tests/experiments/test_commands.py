"""The experiment commands end to end through ``attnlab.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnlab.cli import main
from attnlab.experiments.registry import ExperimentRegistry
from experiment_fakes import make_fake, missing_data

pytest.importorskip("matplotlib")


def test_experiments_lists_claim_data_and_time(
    fake_registry: ExperimentRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_registry.register(make_fake("fake_nodata", datasets=(missing_data("x.gz not found"),)))
    assert main(["experiments"]) == 0
    out = capsys.readouterr().out
    assert "fake_pass" in out and "The fake model reaches 95% accuracy." in out
    assert "data MISSING: fakedata: x.gz not found" in out
    assert "smoke ~1 s (estimate), quick ~2 s (estimate), full ~3 s (estimate)" in out
    assert "Doe, Roe (2020), A Fake Paper" in out
    assert main(["experiments", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert by_name["fake_nodata"]["data"] == "missing"
    assert by_name["fake_pass"]["cpu_time_s"] == {"smoke": 1, "quick": 2, "full": 3}


def test_builtin_experiments_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiments"]) == 0
    assert "demo_retrieval" in capsys.readouterr().out


def test_run_check_passes(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "fake_pass", "--scale", "quick", "--check", "--quiet",
                 "--out", str(tmp_path / "r"), "--seed", "5"])
    assert code == 0
    out = capsys.readouterr().out
    assert "fake_pass: finished" in out
    assert "accuracy" in out and "0.97" in out and "pass" in out
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["argv"][:3] == ["attnlab", "run", "fake_pass"] and meta["seed"] == 5


def test_run_check_fails_when_a_metric_misses(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "fake_miss", "--scale", "quick", "--quiet"]
    assert main([*args, "--check", "--out", str(tmp_path / "a")]) == 1
    captured = capsys.readouterr()
    assert "check failed: accuracy outside tolerance" in captured.err
    assert "fail" in captured.out
    assert main([*args, "--out", str(tmp_path / "b")]) == 0  # no --check: reported only
    # the same miss is not checked at smoke scale
    assert main(["run", "fake_miss", "--scale", "smoke", "--quiet", "--check",
                 "--out", str(tmp_path / "c")]) == 0
    # an override can make the passing experiment miss, too
    assert main(["run", "fake_pass", "--set", "error_pct=5", "--check", "--quiet",
                 "--out", str(tmp_path / "d")]) == 1


def test_run_failure_exits_3(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "fake_pass", "--set", "fail=true", "--quiet",
                 "--out", str(tmp_path / "r")]) == 3
    assert "error: RuntimeError: boom" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "fake_pas"], "unknown experiment 'fake_pas'; did you mean 'fake_pass'"),
        (["run", "fake_pass", "--set", "acuracy=1"], "did you mean 'accuracy'"),
        (["run", "fake_pass", "--set", "steps=many"], "setting 'steps' expects int"),
        (["run", "fake_pass", "--set", "steps"], "--set expects key=value"),
        (["run", "fake_pass", "--set", "inner=3"], "'inner' is a group"),
        (["run", "fake_pass", "--device", "cuda:99"], "--device"),
    ],
)
def test_run_usage_errors_exit_2(
    fake_registry: ExperimentRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    assert main([*argv, "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_run_unwritable_out_exits_2(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["run", "fake_pass", "--out", str(tmp_path / "file" / "r")]) == 2
    assert "cannot create" in capsys.readouterr().err


def test_run_rejects_a_bad_scale(fake_registry: ExperimentRegistry) -> None:
    with pytest.raises(SystemExit):
        main(["run", "fake_pass", "--scale", "huge"])


def test_reproduce_runs_available_and_skips_the_rest(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_registry.register(make_fake("fake_nodata", datasets=(missing_data("x.gz not found"),)))
    out = tmp_path / "all"
    assert main(["reproduce", "--scale", "quick", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fake_nodata: skipped (data missing: fakedata: x.gz not found)" in printed
    assert "fake_pass: finished" in printed and "fake_miss: finished" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in summary["runs"]] == ["fake_miss", "fake_pass"]
    assert summary["skipped"] == [{"name": "fake_nodata",
                                   "reason": "data missing: fakedata: x.gz not found"}]
    assert (out / "fake_pass" / "report.html").exists()
    page = (out / "report.html").read_text()
    assert "fake_nodata" in page and "x.gz not found" in page
    assert page.count("<section") == 2 and "side by side" in page

    assert main(["reproduce", "--quiet", "--check", "--out", str(tmp_path / "again")]) == 1
    assert main(["reproduce", "--quiet", "--check", "--only", "fake_pass",
                 "--out", str(tmp_path / "only")]) == 0
    assert main(["reproduce", "--quiet", "--only", "fake_nope",
                 "--out", str(tmp_path / "bad")]) == 2


def test_reproduce_records_a_failed_run_and_goes_on(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_registry.unregister("fake_miss")

    def boom(config: object, ctx: object) -> dict[str, float]:
        raise ValueError("exploded")

    fake_registry.register(make_fake("fake_boom", run=boom))  # type: ignore[arg-type]
    assert main(["reproduce", "--quiet", "--out", str(tmp_path / "r")]) == 3
    printed = capsys.readouterr().out
    assert "fake_boom: failed" in printed and "fake_pass: finished" in printed


def test_report_regenerates_and_compares(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", "fake_pass", "--quiet", "--out", str(a)]) == 0
    assert main(["run", "fake_miss", "--quiet", "--out", str(b)]) == 0
    (a / "report.html").unlink()
    assert main(["report", str(a)]) == 0
    assert (a / "report.html").exists()
    combined = tmp_path / "both.html"
    assert main(["report", str(a), str(b), "--out", str(combined), "--title", "two runs"]) == 0
    page = combined.read_text()
    assert "<title>two runs</title>" in page
    assert ('<a href="#run-0"><b>fake_pass</b></a> <span class="badge good">finished, 2 of 2 '
            'met</span>') in page
    assert ('<a href="#run-1"><b>fake_miss</b></a> <span class="badge bad">finished, 1 of 2 '
            'met, 1 missed</span>') in page
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "holds neither run.json" in capsys.readouterr().err


def test_list_and_demo_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    assert "mechanism(s)" in capsys.readouterr().out


def test_reproduce_uses_fallbacks_and_selects_with_only(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stand_in = missing_data("x.gz not found", fallback="generated stand-in")
    fake_registry.register(make_fake("fake_standin", datasets=(stand_in,)))
    out = tmp_path / "some"
    assert main(["reproduce", "--quiet", "--only", "fake_standin,fake_pass",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fake_standin: finished" in printed and "fake_pass: finished" in printed
    assert "fake_miss" not in printed
    assert "data source: fakedata missing, used generated stand-in" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert {r["name"]: r["data_fallbacks"] for r in summary["runs"]} == {
        "fake_pass": {}, "fake_standin": {"fakedata": "generated stand-in"}}
    assert main(["reproduce", "--quiet", "--scale", "full", "--only", "fake_standin",
                 "--out", str(tmp_path / "full")]) == 0
    assert "fake_standin: skipped (data missing: fakedata: x.gz not found)" in (
        capsys.readouterr().out)
    assert main(["experiments"]) == 0
    assert "quick scale uses a stand-in: fakedata -> generated stand-in" in (
        capsys.readouterr().out)


def test_a_failed_run_prints_its_message_and_keeps_the_traceback_in_the_log(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "fake_pass", "--set", "fail=true", "--out", str(tmp_path / "r")]) == 3
    captured = capsys.readouterr()
    assert "RuntimeError: boom" in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
    assert "log.txt" in captured.out and "--debug" in captured.out
    log = (tmp_path / "r" / "log.txt").read_text()
    assert "Traceback (most recent call last)" in log and "RuntimeError: boom" in log
    # --debug: the traceback on the terminal too
    assert main(["run", "fake_pass", "--set", "fail=true", "--debug",
                 "--out", str(tmp_path / "d")]) == 3
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_a_usage_error_prints_a_traceback_only_with_debug(
    fake_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "fake_pass", "--set", "steps=many", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "setting 'steps' expects int" in err and "Traceback" not in err
    assert main(["run", "fake_pass", "--set", "steps=many", "--debug",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "setting 'steps' expects int" in err and "Traceback (most recent call last)" in err


def test_a_truncated_data_file_is_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from attnlab.experiments.runner import resolve_data_dir

    data = resolve_data_dir(None)
    if data is None or not (data / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("needs the MNIST files (ATTNLAB_DATA)")
    bad = tmp_path / "data" / "mnist"
    bad.mkdir(parents=True)
    for source in (data / "mnist").iterdir():
        blob = source.read_bytes()
        (bad / source.name).write_bytes(blob[:5000] if "t10k-images" in source.name else blob)
    code = main(["run", "jaderberg2015_distorted_mnist", "--scale", "smoke", "--quiet",
                 "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "r")])
    captured = capsys.readouterr()
    assert code == 3
    assert "t10k-images-idx3-ubyte.gz: cannot decompress" in captured.out
    assert "Traceback" not in captured.out + captured.err
    assert "Traceback (most recent call last)" in (tmp_path / "r" / "log.txt").read_text()
