"""Fake experiments with fixed metrics for the experiment-framework tests (not registered unless a
test puts them in an isolated registry)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from attnlab.core.registry import Paper
from attnlab.experiments.context import RunContext
from attnlab.experiments.registry import DataRequirement, Experiment
from attnlab.report.checks import Target

MAGENTA = (1.0, 0.0, 1.0)


@dataclass(frozen=True)
class Inner:
    width: int = 4
    ratio: float = 0.5


@dataclass(frozen=True)
class FakeConfig:
    accuracy: float = 0.97  # "paper" default
    error_pct: float = 1.0
    label: str = "fake"
    steps: int = 3
    fail: bool = False
    plot: bool = True
    inner: Inner = field(default_factory=Inner)


def solid_figure(color: tuple[float, float, float] = MAGENTA, size: tuple[int, int] = (30, 20)):  # type: ignore[no-untyped-def]
    """A figure that is one flat colour: easy to find in a screenshot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig = plt.figure(figsize=(3, 2))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(np.ones((size[1], size[0], 3)) * np.array(color), aspect="auto")
    ax.axis("off")
    return fig


def fake_run(config: FakeConfig, ctx: RunContext) -> dict[str, float]:
    ctx.logger.info("fake run %s", config.label)
    if config.fail:
        raise RuntimeError("boom: the fake experiment failed")
    for step in range(config.steps):
        ctx.log("model/train_loss", 1.0 / (step + 1), step=step)
        ctx.log("baseline/train_loss", 2.0 / (step + 1), step=step)
        ctx.log("model/val_accuracy", config.accuracy * (step + 1) / config.steps, step=step)
    if config.plot:
        ctx.save_plot(solid_figure(), "solid", caption=f"solid colour for {config.label}")
    return {"accuracy": config.accuracy, "error_pct": config.error_pct, "seed": float(ctx.seed)}


def make_fake(
    name: str,
    *,
    accuracy: float = 0.97,
    datasets: tuple[DataRequirement, ...] = (),
    run: Callable[[FakeConfig, RunContext], dict[str, float]] = fake_run,
    claim: str = "The fake model reaches 95% accuracy.",
) -> Experiment[FakeConfig]:
    """A fake experiment whose quick/full metrics are fixed: ``accuracy`` and 1.0 % error."""
    return Experiment(
        name=name,
        claim=claim,
        paper=Paper("A Fake Paper", "Doe, Roe", 2020, "https://example.org/fake"),
        config=FakeConfig,
        run=run,
        scales={
            "smoke": {"steps": 2},
            "quick": {"accuracy": accuracy},
            "full": {"accuracy": accuracy},
        },
        cpu_time={"smoke": 1, "quick": 2, "full": 3},
        targets=(
            Target("accuracy", paper=0.95, tolerance=0.01, direction="higher", source="Table 1"),
            Target("error_pct", paper=0.8, tolerance=0.5, direction="lower", source="Table 2",
                   scales=("smoke", "quick", "full")),
        ),
        datasets=datasets,
    )


def missing_data(
    reason: str,
    *,
    fallback: str | None = None,
    fallback_scales: tuple[str, ...] = ("smoke", "quick"),
) -> DataRequirement:
    """A dataset that is never available (with an optional stand-in at ``fallback_scales``)."""

    def check(data_dir: Path | None) -> str | None:
        return reason

    return DataRequirement("fakedata", "a dataset nobody has", check, fallback, fallback_scales)
