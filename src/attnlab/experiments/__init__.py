"""Experiments: reproduced claims, each a config, a run function, targets and a README.

Each experiment lives in ``attnlab/experiments/<author><year>_<task>/``:

* ``config.py``: a frozen dataclass whose defaults are the paper's hyper-parameters, each field
  commented with the section/table it comes from; nested frozen dataclasses group settings
  (``optim.lr`` on the command line);
* ``run.py``: ``main(config, ctx) -> dict[str, float]``; ``ctx`` is a :class:`RunContext`;
* ``README.md``: the claim, the paper's number, the tolerance and the CPU time per scale;
* ``__init__.py``: ``register_experiment(Experiment(...))``.

The packages named in :data:`EXPERIMENT_PACKAGES` (in :mod:`attnlab.experiments.registry`) are
imported (and so registered) on the first registry lookup; add a new experiment there. A skeleton
of ``__init__.py``::

    from attnlab.core.registry import Paper
    from attnlab.data import MNIST_RESOURCE
    from attnlab.experiments.registry import DataRequirement, Experiment, register_experiment
    from attnlab.report.checks import Target

    from .config import RTSConfig
    from .run import main

    EXPERIMENT = register_experiment(Experiment(
        name="jaderberg2015_distorted_mnist",
        claim="ST-CNN beats CNN on RTS MNIST (Table 1: 0.5% vs 0.8% error).",
        paper=Paper("Spatial Transformer Networks", "Jaderberg et al.", 2015,
                    "https://arxiv.org/abs/1506.02025"),
        config=RTSConfig,
        run=main,
        scales={"smoke": RTSConfig.smoke, "quick": {"train.epochs": 3}, "full": {}},
        cpu_time={"smoke": 10, "quick": 300, "full": 3000},   # seconds on 2 CPU cores
        targets=(
            Target("rts/st_cnn_aff/error_pct", paper=0.5, tolerance=0.5, direction="lower",
                   source="Table 1, RTS, ST-CNN Aff"),
            Target("rts/cnn_minus_st_cnn/error_pct", paper=0.3, tolerance=0.3,
                   direction="higher", source="Table 1 (ST-CNN beats CNN)",
                   scales=("smoke", "quick", "full")),
        ),
        datasets=(DataRequirement.from_resource(MNIST_RESOURCE, "MNIST IDX files"),),
    ))

and of ``run.py``'s ``main``: build data from ``ctx.data_dir`` and the seed, train each model with
``attnlab.train.fit(..., run_dir=ctx.checkpoint_dir / "cnn", resume=ctx.resume,
progress=ctx.progress)``, record its curves with ``ctx.log_records(result.history,
prefix="cnn/")``, save figures with ``ctx.save_plot(fig, "sampling_grids", caption=...)`` and
return every target metric (also at smoke scale, where targets may be unchecked).

Matplotlib is optional (the ``plot`` extra), and a run must finish without it. So draw and save
every figure inside a ``ctx.plotting`` block named after it, and draw it with a view of
:mod:`attnlab.interpret.viz` (where every figure of the package is drawn), never by importing
matplotlib::

    from attnlab.interpret.viz import plot_alignment

    with ctx.plotting("alignment"):
        fig = plot_alignment(weights, source=source_tokens, target=output_tokens)
        ctx.save_plot(fig, "alignment", caption="...")

Without matplotlib, the view raises
:class:`~attnlab.interpret.viz.PlottingUnavailableError`; the block skips the rest of the
figure, the run logs one warning, and ``run.json`` and ``report.html`` list the figure as not
drawn. Only that error is caught, so compute every metric outside the block: whatever the block
computes is lost when the figure is skipped.
"""

from attnlab.experiments.context import RunContext
from attnlab.experiments.overrides import (
    ConfigError,
    apply_overrides,
    config_fields,
    config_to_dict,
    parse_overrides,
)
from attnlab.experiments.registry import (
    EXPERIMENT_PACKAGES,
    SCALES,
    DataRequirement,
    Experiment,
    ExperimentRegistry,
    UnknownExperimentError,
    get_experiment,
    isolated_registry,
    list_experiments,
    register_experiment,
)
from attnlab.experiments.reproduce import ReproduceResult, reproduce
from attnlab.experiments.runner import (
    DataUnavailableError,
    RunInterrupted,
    RunResult,
    run_experiment,
)
from attnlab.report.checks import Target

__all__ = [
    "EXPERIMENT_PACKAGES",
    "SCALES",
    "ConfigError",
    "DataRequirement",
    "DataUnavailableError",
    "Experiment",
    "ExperimentRegistry",
    "ReproduceResult",
    "RunContext",
    "RunInterrupted",
    "RunResult",
    "Target",
    "UnknownExperimentError",
    "apply_overrides",
    "config_fields",
    "config_to_dict",
    "get_experiment",
    "isolated_registry",
    "list_experiments",
    "parse_overrides",
    "register_experiment",
    "reproduce",
    "run_experiment",
]
