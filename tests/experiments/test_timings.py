"""Expected run times come from recorded runs; unrecorded ones say they are estimates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnlab.cli import main
from attnlab.experiments.registry import ExperimentRegistry
from attnlab.experiments.timings import expected_seconds, record_timings, recorded_timings

pytest.importorskip("matplotlib")


def test_record_a_reproduce_folder(fake_registry: ExperimentRegistry, tmp_path: Path) -> None:
    out = tmp_path / "job"
    assert main(["reproduce", "--scale", "smoke", "--quiet", "--out", str(out)]) in (0, 3)
    target = tmp_path / "timings.json"
    document = record_timings(out, target=target)
    summary = json.loads((out / "summary.json").read_text())
    finished = {r["name"] for r in summary["runs"] if r["status"] == "finished"}
    assert finished and set(document["runs"]) == finished
    entry = document["runs"][sorted(finished)[0]]["smoke"]
    assert entry["threads"] == 1 and entry["cpu_s"] >= 0 and "CPUs" in entry["machine"]
    assert json.loads(target.read_text()) == document


def test_every_builtin_experiment_has_a_recorded_quick_time() -> None:
    from attnlab.experiments.registry import list_experiments

    runs = recorded_timings()["runs"]
    missing = [e.name for e in list_experiments() if "quick" not in runs.get(e.name, {})]
    assert not missing, f"no recorded quick-scale time: {missing}"


def test_unrecorded_times_fall_back_to_the_declared_estimate() -> None:
    assert expected_seconds("no_such_experiment", "quick", {"quick": 42}) == (42.0, False)
