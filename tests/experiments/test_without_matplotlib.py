"""Runs without matplotlib: figures are skipped and recorded, the metrics and verdicts survive.

``matplotlib`` and ``matplotlib.pyplot`` are set to ``None`` in ``sys.modules`` (so importing them
fails even when they are installed and already imported); every plot then hits the one gate,
``attnlab.interpret.plots._pyplot``, which raises ``PlottingUnavailableError``.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from attnlab.cli import main as cli_main
from attnlab.experiments.context import RunContext
from attnlab.experiments.registry import (
    Experiment,
    get_experiment,
    isolated_registry,
    list_experiments,
)
from attnlab.experiments.runner import DataUnavailableError, resolve_data_dir, run_experiment
from attnlab.interpret.plots import PlottingUnavailableError, _pyplot, plot_attention
from attnlab.report.checks import Target
from attnlab.report.html import load_run, render_report

NAMES = [e.name for e in list_experiments()]
WARNING = "matplotlib is not installed: figures skipped"


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import matplotlib`` (and ``matplotlib.pyplot``) fail for the test."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)


def _ctx(tmp_path: Path, logger: logging.Logger, *, is_main: bool = True) -> RunContext:
    (tmp_path / "plots").mkdir(exist_ok=True)
    return RunContext("x", "smoke", tmp_path, 0, None, torch.device("cpu"), False, logger,
                      is_main=is_main)


def _assert_skipped_cleanly(run_dir: Path) -> dict[str, Any]:
    """The run directory of a run without matplotlib: missing figures recorded, none drawn."""
    meta = json.loads((run_dir / "run.json").read_text())
    missing = meta["missing_plots"]
    assert missing, "no figure recorded as missing"
    names = [m["name"] for m in missing]
    assert len(names) == len(set(names)), f"a figure is listed twice: {names}"
    assert all("matplotlib" in m["reason"] for m in missing), missing
    assert meta["plots"] == []
    assert not list(run_dir.glob("**/*.png")), "a PNG was written"
    page = (run_dir / "report.html").read_text()
    assert "Figures not drawn:" in page
    for name in names:
        assert f"<code>{name}</code>" in page, f"report.html does not name {name}"
    log = (run_dir / "log.txt").read_text()
    assert log.count(WARNING) == 1, "expected one warning line per run"
    return meta


# ---------------------------------------------------------------------------------------------
# the gate and the context manager


def test_the_gate_raises_a_dedicated_import_error(no_matplotlib: None) -> None:
    with pytest.raises(PlottingUnavailableError, match=r"pip install 'attnlab\[plot\]'") as info:
        _pyplot()
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value.__cause__, ImportError)
    with pytest.raises(PlottingUnavailableError, match="matplotlib"):
        plot_attention(torch.eye(2))


def test_plotting_suppresses_only_missing_matplotlib(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = _ctx(tmp_path, logging.getLogger("attnlab.test.plotting"))
    reached = []
    with caplog.at_level(logging.WARNING, logger="attnlab.test.plotting"):
        with ctx.plotting("drawn"):
            reached.append("drawn")
        with ctx.plotting("first"):
            raise PlottingUnavailableError("plotting needs matplotlib")
        with ctx.plotting("second"):
            _pyplot_unavailable()
            reached.append("second")  # not reached: the rest of the block is skipped
        with ctx.plotting("first"):  # the same figure again (e.g. a resumed run): listed once
            raise PlottingUnavailableError("plotting needs matplotlib, again")
        with pytest.raises(ValueError, match="a bug in the plot"), ctx.plotting("buggy"):
            raise ValueError("a bug in the plot")
        with pytest.raises(ImportError, match="some other module"), ctx.plotting("import"):
            raise ImportError("some other module")
    assert reached == ["drawn"]
    assert ctx.missing_plots == [
        {"name": "second", "reason": "plotting needs matplotlib (unavailable)"},
        {"name": "first", "reason": "plotting needs matplotlib, again"},
    ]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and WARNING in warnings[0].getMessage()
    assert "pip install 'attnlab[plot]'" in warnings[0].getMessage()
    for bad in ("", "  ", None):
        with pytest.raises(ValueError, match="plotting name must be a non-empty string"):
            ctx.plotting(bad).__enter__()  # type: ignore[arg-type]


def _pyplot_unavailable() -> None:
    raise PlottingUnavailableError("plotting needs matplotlib (unavailable)")


def test_secondary_ranks_record_without_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = _ctx(tmp_path, logging.getLogger("attnlab.test.rank1"), is_main=False)
    with caplog.at_level(logging.WARNING, logger="attnlab.test.rank1"), ctx.plotting("figure"):
        _pyplot_unavailable()
    assert [m["name"] for m in ctx.missing_plots] == ["figure"]
    assert not caplog.records


# ---------------------------------------------------------------------------------------------
# the runner and the report


def _plotting_run(config: Any, ctx: RunContext) -> dict[str, float]:
    for step in range(3):
        ctx.log("model/train_loss", 1.0 / (step + 1), step=step)
    accuracy = 0.97  # computed outside the plotting block, so it survives a skipped figure
    with ctx.plotting("accuracy_bar"):
        fig, ax = _pyplot().subplots()
        ax.bar([0], [accuracy])
        ctx.save_plot(fig, "accuracy_bar", caption="accuracy")
    return {"accuracy": accuracy}


def _plotting_experiment() -> Experiment[Any]:
    from experiment_fakes import FakeConfig

    return Experiment(
        name="fake_plotting",
        claim="A fake run that draws one figure.",
        paper=None,
        config=FakeConfig,
        run=_plotting_run,
        scales={"smoke": {}, "quick": {}, "full": {}},
        cpu_time={"smoke": 1, "quick": 1, "full": 1},
        targets=(Target("accuracy", paper=0.95, tolerance=0.01, direction="higher",
                        source="Table 1", scales=("smoke", "quick", "full")),),
    )


def test_runner_records_missing_figures(no_matplotlib: None, tmp_path: Path) -> None:
    with isolated_registry() as registry:
        registry.register(_plotting_experiment())
        result = run_experiment("fake_plotting", scale="smoke", out=tmp_path / "run",
                                progress=False, quiet=True)
    assert result.status == "finished", result.error
    assert result.metrics == {"accuracy": 0.97}
    assert [c.status for c in result.checks] == ["pass"]
    meta = _assert_skipped_cleanly(result.run_dir)
    assert meta["status"] == "finished"
    assert [m["name"] for m in meta["missing_plots"]] == ["accuracy_bar", "learning_curves"]
    assert [c["status"] for c in meta["checks"]] == ["pass"]
    assert json.loads((result.run_dir / "metrics.json").read_text()) == {"accuracy": 0.97}


def test_report_escapes_missing_figures(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({
        "experiment": "x", "status": "finished",
        "missing_plots": [{"name": "<b>bold</b>", "reason": "needs <matplotlib> & co"},
                          "not a mapping"],
    }))
    page = render_report([load_run(tmp_path)])
    assert "Figures not drawn:" in page
    assert "<code>&lt;b&gt;bold&lt;/b&gt;</code> (needs &lt;matplotlib&gt; &amp; co)" in page
    assert "<b>bold</b>" not in page and "not a mapping" not in page


# ---------------------------------------------------------------------------------------------
# every registered experiment, and the command line


def _skip_unless_runnable(exp: Experiment[Any]) -> None:
    data_dir = resolve_data_dir(None)
    missing = exp.data_missing(data_dir, "smoke")
    if missing:
        pytest.skip(f"data missing: {missing}")
    fallbacks = exp.data_fallbacks(data_dir, "smoke")
    if fallbacks:  # the synthetic-digit stand-in is drawn with fonts that matplotlib ships
        pytest.skip(f"would run on a data stand-in: {fallbacks}")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_finishes_without_matplotlib(
    name: str, no_matplotlib: None, tmp_path: Path
) -> None:
    exp = get_experiment(name)
    _skip_unless_runnable(exp)
    start = time.perf_counter()
    try:
        result = run_experiment(name, scale="smoke", out=tmp_path / name, progress=False,
                                quiet=True)
    except DataUnavailableError as error:  # pragma: no cover - checked above
        pytest.skip(str(error))
    elapsed = time.perf_counter() - start
    assert result.status == "finished", result.error
    assert result.metrics
    for target in exp.targets:  # every target metric is reported, as with matplotlib
        assert target.metric in result.metrics, f"{name} does not report {target.metric}"
        assert math.isfinite(result.metrics[target.metric])
    assert [c.target.metric for c in result.checks] == [t.metric for t in exp.targets]
    assert not [c for c in result.checks if c.status == "fail"
                and "smoke" in c.target.scales], "a target checked at smoke scale missed"
    meta = _assert_skipped_cleanly(result.run_dir)
    assert meta["status"] == "finished"
    assert [(c["metric"], c["status"]) for c in meta["checks"]] == [
        (c.target.metric, c.status) for c in result.checks
    ]
    assert json.loads((result.run_dir / "metrics.json").read_text()) == result.metrics
    assert elapsed < 30 * exp.cpu_time["smoke"] + 30, f"smoke run took {elapsed:.0f} s"


def test_cli_run_exits_zero_without_matplotlib(
    no_matplotlib: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _skip_unless_runnable(get_experiment("hu2018_se_accounting"))
    out = tmp_path / "run"
    code = cli_main(["run", "hu2018_se_accounting", "--scale", "smoke", "--out", str(out),
                     "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.count(WARNING) == 1
    assert "hu2018_se_accounting: finished" in captured.out
    meta = _assert_skipped_cleanly(out)
    assert [m["name"] for m in meta["missing_plots"]] == ["complexity_table"]
    assert json.loads((out / "metrics.json").read_text())
