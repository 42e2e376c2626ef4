"""The optional ``paper`` scale: registration, ``run``, ``reproduce``, listing, threads, timings."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attnlab.cli import build_parser, main
from attnlab.experiments.overrides import ConfigError
from attnlab.experiments.registry import (
    ALL_SCALES,
    OPTIONAL_SCALES,
    SCALES,
    DataRequirement,
    Experiment,
    ExperimentRegistry,
    ScaleUnavailableError,
    experiments_with_scale,
    get_experiment,
    isolated_registry,
)
from attnlab.experiments.reproduce import reproduce
from attnlab.experiments.threads import resolve_threads
from attnlab.experiments.timings import expected_seconds, record_timings
from attnlab.report.checks import Target, check_targets
from experiment_fakes import FakeConfig, make_fake

PAPER_SECONDS = 3000


def with_paper(exp: Experiment[FakeConfig], **changes: Any) -> Experiment[FakeConfig]:
    """``exp`` with a paper scale (accuracy 0.99, 7 steps), its estimate and a paper target."""
    fields: dict[str, Any] = {
        "scales": {**exp.scales, "paper": {"accuracy": 0.99, "steps": 7}},
        "cpu_time": {**exp.cpu_time, "paper": PAPER_SECONDS},
        "targets": (*exp.targets,
                    Target("seed", paper=0.0, tolerance=100.0, direction="higher",
                           source="paper-scale check", scales=("paper",))),
    }
    fields.update(changes)
    return dataclasses.replace(exp, **fields)


@pytest.fixture
def paper_registry() -> Iterator[ExperimentRegistry]:
    """``fake_paper`` (defines the paper scale) next to ``fake_pass`` and ``fake_miss``."""
    with isolated_registry() as registry:
        registry.register(with_paper(make_fake("fake_paper")))
        registry.register(make_fake("fake_pass", accuracy=0.97))
        registry.register(make_fake("fake_miss", accuracy=0.5))
        yield registry


def test_the_scale_lists() -> None:
    assert SCALES == ("smoke", "quick", "full") and OPTIONAL_SCALES == ("paper",)
    assert ALL_SCALES == ("smoke", "quick", "full", "paper")


def test_paper_is_optional_and_builds_its_config(paper_registry: ExperimentRegistry) -> None:
    exp = paper_registry.get("fake_paper")
    assert exp.defined_scales == ALL_SCALES and exp.has_scale("paper")
    assert exp.make_config("paper") == FakeConfig(accuracy=0.99, steps=7)
    assert exp.make_config("paper", {"steps": "2"}).steps == 2
    plain = paper_registry.get("fake_pass")
    assert plain.defined_scales == SCALES and not plain.has_scale("paper")


def test_asking_for_an_undefined_paper_scale_names_those_that_define_it(
    paper_registry: ExperimentRegistry,
) -> None:
    with pytest.raises(ScaleUnavailableError) as caught:
        paper_registry.get("fake_pass").make_config("paper")
    message = str(caught.value)
    assert "fake_pass defines no paper scale" in message
    assert "experiments with a paper scale: fake_paper" in message
    assert isinstance(caught.value, ConfigError)
    assert experiments_with_scale("paper") == ["fake_paper"]
    assert experiments_with_scale("quick") == ["fake_miss", "fake_paper", "fake_pass"]
    with pytest.raises(ConfigError, match="unknown scale 'huge'"):
        paper_registry.get("fake_paper").make_config("huge")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"scales": {"smoke": {}, "quick": {}, "full": {}, "huge": {}},
          "cpu_time": {"smoke": 1, "quick": 2, "full": 3, "huge": 4}}, "scales must be"),
        ({"scales": {"smoke": {}, "quick": {}, "paper": {}},
          "cpu_time": {"smoke": 1, "quick": 2, "paper": 4}}, "scales must be"),
        ({"cpu_time": {"smoke": 1, "quick": 2, "full": 3}}, "cpu_time"),
        ({"cpu_time": {"smoke": 1, "quick": 2, "full": 3, "paper": 0}}, "cpu_time"),
        ({"scales": {"smoke": {}, "quick": {}, "full": {}, "paper": {"stepz": 1}}},
         "'paper'"),
    ],
)
def test_malformed_paper_scales_are_refused(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        with_paper(make_fake("fake_bad"), **changes)


def test_targets_may_name_the_paper_scale_only_where_it_is_defined() -> None:
    paper_target = Target("accuracy_mean", paper=0.9, tolerance=0.0, direction="higher",
                          scales=("paper",))
    assert paper_target.scales == ("paper",)
    with pytest.raises(ValueError, match="scales of 'x'"):
        Target("x", paper=1.0, tolerance=0.0, direction="higher", scales=("huge",))
    plain = make_fake("fake_plain")
    with pytest.raises(ValueError, match="which the experiment does not define"):
        dataclasses.replace(plain, targets=(paper_target,))
    checks = check_targets([paper_target, *plain.targets], {"accuracy_mean": 0.95,
                           "accuracy": 0.5, "error_pct": 1.0}, scale="paper")
    assert [c.status for c in checks] == ["pass", "not checked", "not checked"]
    assert [c.status for c in check_targets([paper_target], {"accuracy_mean": 0.95},
                                            scale="full")] == ["not checked"]


def test_paper_scale_never_uses_a_stand_in() -> None:
    with pytest.raises(ValueError, match="paper scale always needs the real data"):
        DataRequirement("toy", "toy", lambda d: None, "noise", fallback_scales=("quick", "paper"))
    requirement = DataRequirement("toy", "toy", lambda d: "gone", "noise")
    assert requirement.fallback_at("paper") is None


def test_run_at_paper_scale(paper_registry: ExperimentRegistry, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "paper"
    assert main(["run", "fake_paper", "--scale", "paper", "--quiet", "--check",
                 "--out", str(out), "--seed", "3"]) == 0
    meta = json.loads((out / "run.json").read_text())
    assert meta["scale"] == "paper" and meta["status"] == "finished"
    assert json.loads((out / "config.json").read_text())["steps"] == 7
    assert json.loads((out / "metrics.json").read_text())["accuracy"] == 0.99
    statuses = {c["metric"]: c["status"] for c in meta["checks"]}
    assert statuses == {"seed": "pass", "accuracy": "not checked", "error_pct": "not checked"}
    assert "fake_paper: finished" in capsys.readouterr().out


def test_run_of_an_experiment_without_paper_scale_is_a_usage_error(
    paper_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "fake_pass", "--scale", "paper", "--quiet", "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert "fake_pass defines no paper scale" in err
    assert "experiments with a paper scale: fake_paper" in err
    assert not (tmp_path / "x" / "run.json").exists()


def test_reproduce_at_paper_scale_skips_the_others(
    paper_registry: ExperimentRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "job"
    assert main(["reproduce", "--scale", "paper", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scale"] == "paper"
    assert [r["name"] for r in summary["runs"]] == ["fake_paper"]
    assert summary["runs"][0]["status"] == "finished"
    skipped = {s["name"]: s["reason"] for s in summary["skipped"]}
    assert skipped == {"fake_miss": "no paper scale", "fake_pass": "no paper scale"}
    assert "fake_pass: skipped (no paper scale)" in printed
    assert "skip (no paper scale): fake_miss, fake_pass" in printed
    assert not (out / "fake_pass").exists()
    # the job resumes at its recorded scale, keeping the finished run
    again = reproduce(scale="paper", out=out, resume=True, progress=False, quiet=True)
    assert again.reused == ["fake_paper"]
    assert [name for name, _ in again.skipped] == ["fake_miss", "fake_pass"]


def test_reproduce_only_names_a_run_without_paper_scale(
    paper_registry: ExperimentRegistry, tmp_path: Path
) -> None:
    result = reproduce(scale="paper", out=tmp_path / "only", only=["fake_pass"],
                       progress=False, quiet=True)
    assert result.runs == [] and result.skipped == [("fake_pass", "no paper scale")]


def test_listing_shows_the_paper_scale_as_an_estimate(
    paper_registry: ExperimentRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["experiments"]) == 0
    out = capsys.readouterr().out
    block = out.split("fake_paper\n", 1)[1].split("\n\n", 1)[0]
    assert "full ~3 s (estimate), paper ~50 min (estimate)" in block
    plain = out.split("fake_pass\n", 1)[1].split("\n\n", 1)[0]
    assert plain.endswith("full ~3 s (estimate)") and "paper ~" not in plain
    assert main(["experiments", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["fake_paper"]["cpu_time_s"] == {"smoke": 1, "quick": 2, "full": 3,
                                                "paper": PAPER_SECONDS}
    assert rows["fake_paper"]["cpu_time_measured"]["paper"] is False
    assert rows["fake_paper"]["scales"] == list(ALL_SCALES)
    assert rows["fake_pass"]["cpu_time_s"] == {"smoke": 1, "quick": 2, "full": 3}


def test_paper_scale_uses_the_available_cores_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import attnlab.experiments.threads as threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 6)
    assert resolve_threads(None, "paper") == threads.ThreadPolicy(
        6, "default: the available cores")
    assert resolve_threads(None, "full").threads == 6
    assert resolve_threads(None, "quick").threads == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resolve_threads(None, "paper").threads == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user's own choice wins
    assert resolve_threads(None, "paper") == threads.ThreadPolicy(1, "OMP_NUM_THREADS")


def test_paper_times_are_estimates_until_recorded(
    paper_registry: ExperimentRegistry, tmp_path: Path
) -> None:
    exp = paper_registry.get("fake_paper")
    assert expected_seconds(exp.name, "paper", exp.cpu_time) == (float(PAPER_SECONDS), False)
    out = tmp_path / "job"
    assert main(["reproduce", "--scale", "paper", "--quiet", "--out", str(out)]) == 0
    document = record_timings(out, target=tmp_path / "timings.json")
    assert set(document["runs"]) == {"fake_paper"}
    assert set(document["runs"]["fake_paper"]) == {"paper"}
    assert document["runs"]["fake_paper"]["paper"]["cpu_s"] >= 0


@pytest.mark.parametrize("name", ["yang2016_han_reuters", "sukhbaatar2015_memn2n_babi"])
def test_builtin_paper_scales_are_declared_estimates(name: str) -> None:
    exp = get_experiment(name)
    assert exp.has_scale("paper") and name in experiments_with_scale("paper")
    exp.make_config("paper")
    assert exp.cpu_time["full"] <= exp.cpu_time["paper"] <= 2 * 3600
    assert any("paper" in t.scales for t in exp.targets)
    readme = exp.readme()
    assert readme is not None and "**Paper scale" in readme
    # nothing is recorded for the paper scale: the listing shows the declared estimate
    assert expected_seconds(name, "paper", exp.cpu_time) == (float(exp.cpu_time["paper"]), False)


def _scale_choices(parser: argparse.ArgumentParser, command: str) -> tuple[str, ...]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if "--scale" in a.option_strings)
    assert action.choices is not None
    return tuple(action.choices)


def test_cli_scale_choices_are_every_scale() -> None:
    parser = build_parser()
    assert _scale_choices(parser, "run") == ALL_SCALES
    assert _scale_choices(parser, "reproduce") == ALL_SCALES
