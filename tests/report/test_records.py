"""Recorded runs (attnlab.report.records) and the results tables generated from them.

A record is made from a real run folder and compared with what the run wrote; tampered, misnamed
and unfinished records are refused; the README's and results/README.md's tables are the ones the
committed records generate.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnlab.cli import main
from attnlab.experiments.runner import run_experiment
from attnlab.report.checks import format_value
from attnlab.report.files import ReportError
from attnlab.report.html import load_run
from attnlab.report.records import (
    TABLE_BEGIN,
    TABLE_END,
    load_records,
    record_from_run,
    replace_table,
    results_table,
    write_record,
)

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ROOT / "results"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "demo"
    result = run_experiment("demo_retrieval", scale="smoke", out=out, progress=False, quiet=True)
    assert result.run_dir == out
    return out


def test_record_keeps_the_run_and_drops_local_details(run_dir: Path, tmp_path: Path) -> None:
    record = record_from_run(run_dir)
    path = write_record(record, tmp_path)
    assert path == tmp_path / "demo_retrieval" / "smoke-seed0.json"
    saved = json.loads(path.read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert saved["metrics"] == pytest.approx(metrics)
    assert saved["config"] == json.loads((run_dir / "config.json").read_text())
    meta = json.loads((run_dir / "run.json").read_text())
    for key in ("experiment", "scale", "seed", "targets", "duration_s", "cpu_s", "threads"):
        assert saved[key] == meta[key]
    assert saved["environment"]["versions"] == meta["environment"]["versions"]
    assert saved["environment"]["git"] == meta["environment"]["git"]
    # Paths of the recording machine and the command line are not part of a result.
    for local in ("argv", "data_dir", "plots", "checkpoints"):
        assert local not in saved
    assert "python_executable" not in saved["environment"]
    # The stored verdicts are those the run's own report gives.
    report = load_run(run_dir).verdict
    assert [v["verdict"] for v in saved["verdicts"]] == [t.verdict for t in report.targets]
    assert [v["metric"] for v in saved["verdicts"]] == [t.target.metric for t in report.targets]
    loaded = load_records(tmp_path)
    assert len(loaded) == 1 and loaded[0].metrics == record.metrics


def test_unfinished_runs_are_not_recorded(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    copy.mkdir()
    meta = json.loads((run_dir / "run.json").read_text())
    meta["status"] = "interrupted"
    (copy / "run.json").write_text(json.dumps(meta))
    with pytest.raises(ReportError, match="did not finish.*'interrupted'"):
        record_from_run(copy)
    with pytest.raises(ReportError, match="not a run folder"):
        record_from_run(tmp_path / "nowhere")


def _toy(folder: Path, acc: float, *, status: str = "finished") -> Path:
    folder.mkdir(parents=True)
    meta = {
        "experiment": "toy", "scale": "quick", "seed": 3, "status": status, "claim": "c",
        "targets": [
            {"metric": "acc", "paper": 0.9, "tolerance": 0.05, "direction": "higher",
             "scales": ["quick"]},
            {"metric": "gap", "paper": 1.0, "tolerance": 0.0, "direction": "higher",
             "scales": ["quick"]},
        ],
        "duration_s": 125.0, "cpu_s": 100.0,
    }
    (folder / "run.json").write_text(json.dumps(meta))
    (folder / "metrics.json").write_text(json.dumps(
        {"acc": acc, "acc_std": 0.001, "gap": 0.5, "label": "text"}))
    return folder


def test_tampered_misnamed_and_future_records_are_refused(tmp_path: Path) -> None:
    path = write_record(record_from_run(_toy(tmp_path / "run", 0.97)), tmp_path / "rec")
    good = json.loads(path.read_text())
    assert [v["verdict"] for v in good["verdicts"]] == ["met", "missed"]
    assert good["metrics"]["label"] is None

    tampered = dict(good, metrics=dict(good["metrics"], acc=0.5))  # would now miss
    path.write_text(json.dumps(tampered))
    with pytest.raises(ReportError, match="stored verdicts differ"):
        load_records(tmp_path / "rec")

    path.write_text(json.dumps(dict(good, seed=4)))
    with pytest.raises(ReportError, match="misnamed"):
        load_records(tmp_path / "rec")

    path.write_text(json.dumps(dict(good, record_version=99)))
    with pytest.raises(ReportError, match="record_version 99"):
        load_records(tmp_path / "rec")

    with pytest.raises(ReportError, match="does not exist"):
        load_records(tmp_path / "missing")


def test_tables_show_each_target_beside_the_paper(tmp_path: Path) -> None:
    write_record(record_from_run(_toy(tmp_path / "run", 0.97)), tmp_path / "rec")
    (record,) = load_records(tmp_path / "rec")
    detail = results_table([record], detail=True).splitlines()
    assert len(detail) == 2 + 2
    assert detail[2].startswith("| toy | quick | 3 | `acc` | 0.97 | 0.9 | met | 2.1 min |")
    assert detail[3].startswith(f"| toy | quick | 3 | `gap` | {format_value(0.5)} | 1 | missed: ")
    summary = results_table([record]).splitlines()
    assert len(summary) == 3
    assert summary[2] == "| toy | quick | 3 | `acc` | 0.97 | 0.9 | 1 of 2 met, 1 missed | 2.1 min |"


def test_replace_table_and_the_check_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f"intro\n{TABLE_BEGIN}\nold\n{TABLE_END}\noutro\n"
    assert replace_table(text, "new\n") == f"intro\n{TABLE_BEGIN}\nnew\n{TABLE_END}\noutro\n"
    with pytest.raises(ReportError, match="exactly once"):
        replace_table("no markers", "t")
    with pytest.raises(ReportError, match="before the begin"):
        replace_table(f"{TABLE_END}\n{TABLE_BEGIN}\n", "t")

    assert main(["results", "record", str(_toy(tmp_path / "run", 0.97)),
                 "--records", str(tmp_path / "rec")]) == 0
    readme = tmp_path / "README.md"
    readme.write_text(text)
    args = ["results", "table", "--records", str(tmp_path / "rec"), "--readme", str(readme)]
    assert main([*args, "--check"]) == 1
    assert readme.read_text() == text  # --check writes nothing
    assert main(args) == 0
    assert main([*args, "--check"]) == 0
    assert "| toy | quick | 3 |" in readme.read_text()
    (tmp_path / "empty").mkdir()
    assert main(["results", "record", str(tmp_path / "empty"), "--records", str(tmp_path)]) == 2
    assert "holds no run folder" in capsys.readouterr().err


def test_the_committed_tables_are_generated_from_the_committed_records() -> None:
    records = load_records(RECORDS)
    assert records, "no committed records"
    for readme, detail in ((ROOT / "README.md", False), (RECORDS / "README.md", True)):
        text = readme.read_text(encoding="utf-8")
        assert replace_table(text, results_table(records, detail=detail), source=str(readme)) == (
            text), f"{readme} is stale: run attnlab results table --readme {readme}"
