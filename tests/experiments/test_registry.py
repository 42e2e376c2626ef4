"""The experiment registry: registration checks, duplicates, unknown names, isolation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

import attnlab.experiments as experiments_pkg
import attnlab.experiments.registry as experiments_registry
from attnlab.experiments.registry import (
    DataRequirement,
    Experiment,
    ExperimentRegistry,
    UnknownExperimentError,
    get_experiment,
    isolated_registry,
    list_experiments,
    register_experiment,
)
from attnlab.report.checks import Target
from experiment_fakes import FakeConfig, fake_run, make_fake, missing_data


def _kwargs(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "doe2020_fake",
        "claim": "a claim",
        "paper": None,
        "config": FakeConfig,
        "run": fake_run,
        "scales": {"smoke": {"steps": 1}, "quick": {}, "full": {}},
        "cpu_time": {"smoke": 1, "quick": 2, "full": 3},
    }
    base.update(changes)
    return base


def test_builtin_packages_register_their_experiments() -> None:
    names = [e.name for e in list_experiments()]
    assert names == sorted(names)
    assert set(experiments_pkg.EXPERIMENT_PACKAGES) <= set(names)


def test_duplicate_name_is_refused() -> None:
    with isolated_registry():
        register_experiment(make_fake("fake_a"))
        with pytest.raises(ValueError, match="fake_a.*already registered"):
            register_experiment(make_fake("fake_a"))


def test_builtin_name_cannot_be_registered_twice() -> None:
    original = get_experiment("demo_retrieval")
    with isolated_registry(builtin=True), pytest.raises(ValueError, match="already registered"):
        register_experiment(dataclasses.replace(original))


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(UnknownExperimentError, match="did you mean 'demo_retrieval'"):
        get_experiment("demo_retreival")
    with isolated_registry(), pytest.raises(UnknownExperimentError, match="registered: none"):
        get_experiment("anything")


def test_isolated_registry_does_not_leak() -> None:
    with isolated_registry() as registry:
        register_experiment(make_fake("fake_only_here"))
        assert registry.names() == ["fake_only_here"]
        assert [e.name for e in list_experiments()] == ["fake_only_here"]
    assert "fake_only_here" not in [e.name for e in list_experiments()]
    assert "demo_retrieval" in [e.name for e in list_experiments()]


def test_unregister() -> None:
    registry = ExperimentRegistry([make_fake("fake_a")])
    registry.unregister("fake_a")
    assert registry.names() == []
    with pytest.raises(UnknownExperimentError, match="fake_a"):
        registry.unregister("fake_a")
    with pytest.raises(TypeError, match="Experiment"):
        registry.register("fake_a")  # type: ignore[arg-type]


@dataclass
class MutableConfig:
    steps: int = 1


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"name": "Bad-Name"}, "snake_case"),
        ({"name": ""}, "snake_case"),
        ({"name": "fake\n"}, "snake_case"),
        ({"claim": "  "}, "claim"),
        ({"config": MutableConfig}, "frozen dataclass"),
        ({"config": dict}, "frozen dataclass"),
        ({"scales": {"smoke": {}, "quick": {}}}, "scales must be exactly"),
        ({"scales": {"smoke": {"stepz": 1}, "quick": {}, "full": {}}},
         "stepz.*did you mean 'steps'"),
        ({"scales": {"smoke": {"steps": "1"}, "quick": {}, "full": {}}}, "'steps' expects int"),
        ({"scales": {"smoke": lambda: 3, "quick": {}, "full": {}}}, "returned int"),
        ({"cpu_time": {"smoke": 1, "quick": 2}}, "cpu_time"),
        ({"cpu_time": {"smoke": 0, "quick": 2, "full": 3}}, "cpu_time"),
        ({"targets": (Target("a", paper=1, tolerance=0, direction="higher"),) * 2}, "twice"),
        ({"targets": ("accuracy",)}, "Target"),
        ({"datasets": ("mnist",)}, "DataRequirement"),
        ({"run": 3}, "callable"),
        ({"paper": "Doe 2020"}, "Paper"),
    ],
)
def test_malformed_experiment_is_refused(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Experiment(**_kwargs(**changes))  # type: ignore[arg-type]


def test_scale_may_be_a_classmethod_or_overrides() -> None:
    exp = Experiment(**_kwargs(scales={  # type: ignore[arg-type]
        "smoke": lambda: FakeConfig(steps=1), "quick": {"inner.width": 8}, "full": {},
    }))
    assert exp.make_config("smoke").steps == 1
    assert exp.make_config("quick").inner.width == 8
    assert exp.make_config("full") == FakeConfig()
    assert exp.make_config("quick", {"inner.width": "2"}).inner.width == 2


def test_data_requirement_reports_reasons_and_never_raises(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def broken(data_dir: object) -> str | None:
        raise OSError("disk on fire")

    exp = make_fake("fake_data", datasets=(
        missing_data("train.gz not found"),
        DataRequirement("present", "always there", lambda d: None),
        DataRequirement("broken", "check raises", broken),
    ))
    reasons = exp.data_missing(tmp_path)
    assert reasons[0] == "fakedata: train.gz not found"
    assert "broken: availability check failed (OSError: disk on fire)" in reasons[1]
    assert len(reasons) == 2


@pytest.mark.parametrize("name", [e.name for e in list_experiments()])
def test_builtin_readme_states_claim_numbers_and_time(name: str) -> None:
    exp = get_experiment(name)
    readme = exp.readme()
    assert readme is not None, f"{exp.package} has no README.md"
    assert name in readme
    for target in exp.targets:
        assert target.metric in readme
    assert "time" in readme.lower()
    assert "tolerance" in readme.lower()


def test_requirement_from_a_data_resource(tmp_path) -> None:  # type: ignore[no-untyped-def]
    class Resource:
        name = "mnist"

        def missing_files(self, data_dir: object) -> list[str]:
            return [] if data_dir == tmp_path else ["train-images-idx3-ubyte", "t10k-labels"]

        def directory(self, data_dir: object) -> str:
            return f"{data_dir}/mnist"

    requirement = DataRequirement.from_resource(Resource(), "MNIST IDX files")
    assert requirement.name == "mnist" and requirement.description == "MNIST IDX files"
    assert requirement.status(tmp_path) is None
    assert requirement.status(None) == (
        "mnist: train-images-idx3-ubyte, t10k-labels not found under None/mnist"
    )


def test_a_broken_builtin_package_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(experiments_registry, "EXPERIMENT_PACKAGES",
                        ("demo_retrieval", "no_such_experiment_pkg"))
    registry = ExperimentRegistry(load_builtin=True)
    assert list(registry.broken()) == ["no_such_experiment_pkg"]
    with pytest.raises(ImportError, match="no_such_experiment_pkg failed to import"):
        registry.get("no_such_experiment_pkg")
    with pytest.raises(UnknownExperimentError):
        registry.get("something_else")
