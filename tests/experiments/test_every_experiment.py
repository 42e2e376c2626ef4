"""Registry-driven: every registered experiment builds every scale and runs at smoke scale.

A new experiment is covered as soon as it is listed in ``EXPERIMENT_PACKAGES``. When its data is
missing and it declares no smoke-scale fallback the smoke run is skipped, except when
``ATTNLAB_DATA`` is set (CI): then it fails.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from attnlab.experiments.registry import SCALES, get_experiment, list_experiments
from attnlab.experiments.runner import run_experiment
from helpers import require_smoke_data

NAMES = [e.name for e in list_experiments()]


@pytest.mark.parametrize("name", NAMES)
def test_every_scale_builds(name: str) -> None:
    exp = get_experiment(name)
    configs = {scale: exp.make_config(scale) for scale in SCALES}
    assert configs["full"] == exp.make_config("full")
    assert exp.cpu_time["smoke"] <= 60, "smoke scale must finish in seconds"
    assert exp.cpu_time["smoke"] <= exp.cpu_time["quick"] <= exp.cpu_time["full"]
    assert exp.claim.strip() and (exp.paper is None or exp.paper.url.startswith("https://"))


@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_runs_at_smoke_scale(name: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    exp = get_experiment(name)
    require_smoke_data(name)
    start = time.perf_counter()
    result = run_experiment(name, scale="smoke", out=tmp_path / name, progress=False, quiet=True)
    elapsed = time.perf_counter() - start
    assert result.status == "finished", result.error
    for target in exp.targets:  # every target metric is reported, even when not checked
        assert target.metric in result.metrics, f"{name} does not report {target.metric}"
        assert math.isfinite(result.metrics[target.metric])
    assert not [c for c in result.checks if c.status == "fail"
                and "smoke" in c.target.scales], "a target checked at smoke scale missed"
    assert (result.run_dir / "report.html").stat().st_size > 0
    assert json.loads((result.run_dir / "run.json").read_text())["status"] == "finished"
    assert list((result.run_dir / "plots").glob("*.png")), f"{name} saved no plot"
    assert elapsed < 30 * exp.cpu_time["smoke"] + 30, f"smoke run took {elapsed:.0f} s"
