"""Running experiments: one run into its run directory, or every runnable experiment at once.

:func:`run_experiment` resolves the configuration (defaults, then the scale, then ``--set``
overrides), checks the data and the output folder *before* any work, writes the run directory
(:mod:`attnlab.report.rundir`), calls the experiment, records metrics, learning curves, target
checks and the outcome, and renders ``report.html``. :func:`reproduce` does that for every
registered experiment whose data is available and writes one combined report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import numbers
import os
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from attnlab.data.resources import default_cache_dir as default_data_dir
from attnlab.experiments.context import RunContext
from attnlab.experiments.overrides import ConfigError, config_to_dict, parse_overrides
from attnlab.experiments.registry import (
    Experiment,
    get_experiment,
)
from attnlab.experiments.threads import ThreadPolicy, resolve_threads, use_threads
from attnlab.report.checks import CheckResult, check_targets, format_value
from attnlab.report.environment import collect_environment, now_iso
from attnlab.report.files import ReportError, atomic_write_json
from attnlab.report.html import write_report
from attnlab.report.rundir import (
    CONFIG_FILE,
    HISTORY_FILE,
    LOG_FILE,
    METRICS_FILE,
    RunDirectory,
    default_run_dir,
)
from attnlab.train.distributed import (
    DistributedContext,
    broadcast_object,
    distributed_env,
    init_distributed,
)
from attnlab.train.distributed import resolve_device as _train_device
from attnlab.train.export import MODEL_DIR, collect_exports, unexported_runs
from attnlab.train.seeding import seed_everything
from attnlab.train.trackers import TRACKERS, make_tracker

__all__ = [
    "DATA_ENV",
    "DataUnavailableError",
    "RunInterrupted",
    "RunResult",
    "format_checks",
    "resolve_data_dir",
    "resolve_device",
    "run_experiment",
]

#: Environment variable naming the data folder when ``--data-dir`` is not given.
DATA_ENV = "ATTNLAB_DATA"


class DataUnavailableError(RuntimeError):
    """An experiment's dataset cannot be read; the message says which file and where."""


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run.

    Attributes:
        experiment: the experiment's name.
        run_dir: the run folder.
        status: ``"finished"`` or ``"failed"``.
        metrics: what the run measured (empty when it failed before returning).
        checks: the targets next to the metrics.
        error: ``"ExceptionType: message"`` when the run failed.
        duration_s: wall time of the experiment itself.
        report: the ``report.html`` written (``None`` if it could not be).
        data_fallbacks: dataset name -> the stand-in used because the real data was missing
            (see :class:`~attnlab.experiments.registry.DataRequirement`); empty when every
            dataset was the real one.
        cpu_s: CPU time of the process during the experiment (user + system, all threads);
            next to ``duration_s`` it tells the work from the waiting on a shared machine.
    """

    experiment: str
    run_dir: Path
    status: str
    metrics: dict[str, float]
    checks: list[CheckResult]
    error: str | None
    duration_s: float
    report: Path | None
    data_fallbacks: dict[str, str] = field(default_factory=dict)
    cpu_s: float | None = None

    @property
    def missed(self) -> list[CheckResult]:
        """The checks that failed."""
        return [c for c in self.checks if c.failed]


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """``data_dir`` if given, else ``$ATTNLAB_DATA`` if set, else ``None`` (loader default)."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir)
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else None


def resolve_device(device: str | torch.device) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available) as a device.

    Raises:
        ConfigError: CUDA is asked but unavailable, or the name is not a device.
    """
    try:
        resolved = torch.device(device) if str(device) != "auto" else None
    except (RuntimeError, TypeError) as error:
        raise ConfigError(f"--device {device!r} is not a device name ({error})") from error
    if resolved is not None and resolved.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {device!r}: only cpu, cuda[:N] and auto are supported")
    if resolved is not None and resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device!r}: CUDA is not available on this machine")
    if resolved is None:
        return _train_device("auto")
    return resolved


def process_rank() -> tuple[int, int]:
    """``(rank, world_size)`` from the variables ``torchrun`` sets (``(0, 1)`` otherwise)."""
    try:
        rank, _, world_size = distributed_env()
    except ValueError as error:
        raise ConfigError(str(error)) from error
    return rank, world_size


def _clean_metrics(name: str, raw: Any) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise TypeError(
            f"experiment {name!r} must return a mapping of metric name -> number, "
            f"got {type(raw).__name__}"
        )
    metrics: dict[str, float] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise TypeError(f"experiment {name!r} returned a metric name that is not a string: "
                            f"{key!r}")
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"experiment {name!r} returned metric {key!r} of type {type(value).__name__}; "
                "metrics must be numbers"
            )
        metrics[key] = float(value)
    return metrics


def _make_logger(name: str, run_dir: Path, *, quiet: bool, debug: bool = False) -> logging.Logger:
    """The run's logger: everything (tracebacks included) to ``log.txt``; the terminal gets
    progress lines (warnings only when ``quiet``) and tracebacks only when ``debug``."""
    logger = logging.getLogger(f"attnlab.run.{name}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    file_handler = logging.FileHandler(run_dir / LOG_FILE, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(file_handler)
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    console.setFormatter(logging.Formatter(f"[{name}] %(message)s"))
    logger.addHandler(console)
    return logger


def _close_logger(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def _load_history(run: RunDirectory) -> dict[str, list[tuple[float, float]]]:
    stored = run.read_optional_json(HISTORY_FILE)
    if not isinstance(stored, dict):
        return {}
    history: dict[str, list[tuple[float, float]]] = {}
    for name, points in stored.items():
        if isinstance(points, list):
            history[str(name)] = [
                (float(p[0]), float(p[1])) for p in points
                if isinstance(p, list) and len(p) == 2
                and all(isinstance(x, (int, float)) for x in p)
            ]
    return history


def _paper_dict(experiment: Experiment[Any]) -> dict[str, Any] | None:
    return None if experiment.paper is None else dataclasses.asdict(experiment.paper)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; its folder holds the last checkpoint and ``run.json`` says
    ``"interrupted"``. ``attnlab run NAME --resume --out DIR`` continues it."""

    def __init__(self, experiment: str, run_dir: Path) -> None:
        super().__init__(f"{experiment} interrupted")
        self.experiment = experiment
        self.run_dir = run_dir


@dataclass(frozen=True)
class _Plan:
    """A run checked before anything is written: configuration, data, device, threads."""

    exp: Experiment[Any]
    config: Any
    pairs: dict[str, str]
    device: torch.device
    data_path: Path | None
    fallbacks: dict[str, str]
    threads: ThreadPolicy
    trackers: tuple[str, ...] = ()


def _plan(
    experiment: str | Experiment[Any],
    *,
    scale: str,
    overrides: Sequence[str] | Mapping[str, str],
    device: str | torch.device,
    data_dir: str | Path | None,
    threads: int | None,
    trackers: Sequence[str] = (),
) -> _Plan:
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    pairs = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides)
    config = exp.make_config(scale, pairs)
    torch_device = resolve_device(device)
    try:
        policy = resolve_threads(threads, scale)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"--threads: {error}") from error
    for kind in trackers:
        if kind not in TRACKERS:
            raise ConfigError(f"--logger {kind!r}: expected one of {', '.join(TRACKERS)}")
        package = "tensorboard" if kind == "tensorboard" else "mlflow"
        if importlib.util.find_spec(package) is None:
            raise ConfigError(f"--logger {kind} needs the {package} package: pip install "
                              "'attnlab[track]'")
    data_path = resolve_data_dir(data_dir)
    missing = exp.data_missing(data_path, scale)
    if missing:
        raise DataUnavailableError(missing_data_message(exp, data_path, scale, missing))
    return _Plan(exp, config, pairs, torch_device, data_path,
                 dict(exp.data_fallbacks(data_path, scale)), policy, tuple(dict.fromkeys(trackers)))


def missing_data_message(
    exp: Experiment[Any], data_path: Path | None, scale: str, missing: Sequence[str]
) -> str:
    """Why ``exp`` cannot run at ``scale``: the folder searched, the files, how to get them."""
    where = (str(data_path) if data_path is not None
             else f"{default_data_dir()} (${DATA_ENV} is not set)")
    hint = (" (the smoke/quick scales would use a stand-in)"
            if scale in ("full", "paper") and not exp.data_missing(data_path, "quick") else "")
    return (f"experiment {exp.name} cannot run at scale {scale}: data missing under {where}: "
            + "; ".join(missing) + hint
            + ". Get it with: attnlab data fetch "
            + " / ".join(d.name for d in exp.datasets if d.status(data_path) is not None)
            + f" (attnlab data list shows what can be fetched), or point ${DATA_ENV} at a "
            "folder holding it")


def run_experiment(
    experiment: str | Experiment[Any],
    *,
    scale: str = "quick",
    overrides: Sequence[str] | Mapping[str, str] = (),
    seed: int = 0,
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    quiet: bool = False,
    argv: Sequence[str] | None = None,
    resume: bool = False,
    debug: bool = False,
    threads: int | None = None,
    keep_checkpoints: bool = False,
    trackers: Sequence[str] = (),
) -> RunResult:
    """Run one experiment into its run directory and return what it measured.

    Args:
        experiment: a registered name or an :class:`Experiment`.
        scale: ``"smoke"``, ``"quick"``, ``"full"``, or ``"paper"`` for the experiments that
            define it (others raise :class:`~attnlab.experiments.registry.ScaleUnavailableError`).
        overrides: ``["key=value", ...]`` (or a mapping of strings), validated against the config.
        seed: seeds ``random``, ``numpy`` and ``torch`` and is passed to the experiment.
        data_dir: dataset folder (default ``$ATTNLAB_DATA``, then the loaders' default).
        out: the run folder (default ``./runs/<name>-<timestamp>``).
        device: ``"cpu"``, ``"cuda[:N]"`` or ``"auto"``.
        progress: show progress bars.
        quiet: only warnings on the terminal (the log file gets everything).
        argv: the command line, recorded in ``run.json``.
        resume: reopen ``out`` (a run of the same experiment and configuration) and continue.
        debug: also print the traceback of a failure on the terminal (it is always in
            ``log.txt``).
        threads: torch's intra-op threads for the run (default: the policy of
            :mod:`attnlab.experiments.threads`); recorded in ``run.json``, restored afterwards.
        keep_checkpoints: keep the ``*.pt`` files of a finished run (by default they are
            removed when it finishes: only an unfinished run needs them, to resume).
        trackers: experiment trackers fed with the configuration, every curve point, every
            figure and the final metrics: ``"tensorboard"`` (``RUN_DIR/tensorboard``),
            ``"mlflow"`` (``RUN_DIR/mlruns``); see :mod:`attnlab.train.trackers`.

    Under ``torchrun`` every process calls this with the same arguments (``out`` required):
    the process group is created once, rank 0 writes the run directory, the report and the
    log, the other ranks write nothing and return rank 0's metrics.

    Returns:
        A :class:`RunResult`. A failure inside the experiment does not raise: it is recorded in
        the run directory and the result (``status == "failed"``). Ctrl-C is recorded
        (``status == "interrupted"``) and raised as :class:`RunInterrupted`.

    Raises:
        UnknownExperimentError, ConfigError: bad name, scale, overrides, device or thread count
            (nothing is written).
        DataUnavailableError: a dataset is missing (nothing is written).
        ReportError: the output folder cannot be used (nothing is run).
        RunInterrupted: Ctrl-C during the run.
    """
    plan = _plan(experiment, scale=scale, overrides=overrides, device=device, data_dir=data_dir,
                 threads=threads, trackers=trackers)
    exp = plan.exp
    _, world_size = process_rank()
    if world_size > 1 and out is None:
        raise ConfigError(
            "under torchrun pass --out, so that every process agrees on the run directory"
        )
    job = _join_job(plan.device) if world_size > 1 else None
    with use_threads(plan.threads.threads):
        if job is not None and not job.is_main:
            assert out is not None
            return _run_secondary(plan, job, scale=scale, seed=seed, out=Path(out),
                                  resume=resume)
        try:
            run, logger, ctx = _open_run(
                plan, scale=scale, seed=seed, out=out, progress=progress, quiet=quiet,
                argv=argv, resume=resume, debug=debug,
            )
        except BaseException as setup_error:
            _announce_setup(job, f"{type(setup_error).__name__}: {setup_error}")
            raise
        _announce_setup(job, None)
        done = _execute(plan, ctx, logger, seed)
        status, error, report_path = _record(run, ctx, plan, done, scale=scale, logger=logger,
                                             keep_checkpoints=keep_checkpoints)
    if done.interrupted:
        raise RunInterrupted(exp.name, run.path)
    if job is not None and status == "finished":
        # every rank reports rank 0's metrics, so --check gives every rank the same verdict
        # (a failed rank 0 exits at once instead, and torchrun stops the others)
        broadcast_object((status, done.metrics), job)
    checks = check_targets(exp.targets, done.metrics, scale=scale)
    return RunResult(exp.name, run.path, status, done.metrics, checks, error, done.duration,
                     report_path, plan.fallbacks, done.cpu_s)


@dataclass(frozen=True)
class _Executed:
    metrics: dict[str, float]
    status: str
    error: str | None
    duration: float
    cpu_s: float
    interrupted: bool


def _execute(plan: _Plan, ctx: RunContext, logger: logging.Logger, seed: int) -> _Executed:
    """Call the experiment; failures and Ctrl-C are caught and returned, not raised."""
    metrics: dict[str, float] = {}
    error: str | None = None
    status = "failed"
    interrupted = False
    seed_everything(seed)
    start = time.perf_counter()
    cpu_start = time.process_time()
    try:
        metrics = _clean_metrics(plan.exp.name, plan.exp.run(plan.config, ctx))
        status = "finished"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        _log_failure(logger, error)
    except KeyboardInterrupt:
        status, error, interrupted = "interrupted", "KeyboardInterrupt: interrupted", True
        logger.error("run interrupted")
    # CPU time of this process: on a shared machine it tells the work from the waiting
    return _Executed(metrics, status, error, time.perf_counter() - start,
                     time.process_time() - cpu_start, interrupted)


def _record(
    run: RunDirectory, ctx: RunContext, plan: _Plan, done: _Executed, *, scale: str,
    logger: logging.Logger, keep_checkpoints: bool,
) -> tuple[str, str | None, Path | None]:
    """Write the outcome and the report; release the folder. Returns (status, error, report)."""
    status, error = done.status, done.error
    report_path: Path | None = None
    try:
        try:
            _finish(run, ctx, plan.exp, scale=scale, metrics=done.metrics, status=status,
                    error=error, duration=done.duration, cpu_s=done.cpu_s,
                    keep_checkpoints=keep_checkpoints)
        except OSError as write_error:
            # a full disk or a vanished folder: the run fails with one clear line (the last good
            # checkpoint is untouched, so --resume continues once space is freed)
            status = "failed"
            error = (f"OSError: cannot write the run folder {str(run.path)!r}: "
                     f"{write_error.strerror or write_error}")
            _log_failure(logger, error)
            with contextlib.suppress(OSError):  # say so in run.json if anything can be written
                run.update_meta(status=status, error=error, finished=now_iso())
        else:
            try:
                report_path = write_report([run.path])
            except (ReportError, OSError) as report_error:
                logger.warning("could not write report.html: %s", report_error)
    finally:
        for tracker in ctx.trackers:
            try:
                tracker.close(status=status, metrics=done.metrics)
            except Exception as tracker_error:  # a tracker must not lose the run
                logger.warning("could not close the %s tracker: %s",
                               type(tracker).__name__, tracker_error)
        _close_logger(logger)
        run.release()
    return status, error, report_path


def _check_resumable(run: RunDirectory, exp: Experiment[Any], config: dict[str, Any]) -> None:
    """A folder to resume must hold an unfinished run of ``exp`` with the same configuration."""
    if run.meta.get("experiment") != exp.name:
        raise ReportError(
            f"cannot resume {str(run.path)!r}: it holds a run of "
            f"{run.meta.get('experiment')!r}, not {exp.name!r}"
        )
    if run.read_optional_json(CONFIG_FILE) != config:
        raise ConfigError(
            f"cannot resume {str(run.path)!r} with a different configuration; "
            "use the same --scale and --set values"
        )
    if run.meta.get("status") == "finished":
        raise ConfigError(
            f"cannot resume {str(run.path)!r}: its run already finished (see "
            "metrics.json); start a new run with another --out"
        )


def _run_meta(plan: _Plan, run: RunDirectory, *, scale: str, seed: int,
              argv: Sequence[str] | None, resume: bool) -> dict[str, Any]:
    """What ``run.json`` says about a run as it starts."""
    exp, fallbacks = plan.exp, plan.fallbacks
    return {
        "experiment": exp.name,
        "claim": exp.claim,
        "paper": _paper_dict(exp),
        "targets": [t.to_dict() for t in exp.targets],
        "datasets": [{"name": d.name, "description": d.description} for d in exp.datasets],
        "data_sources": {
            d.name: (f"fallback: {fallbacks[d.name]}" if d.name in fallbacks else "real")
            for d in exp.datasets
        },
        "scale": scale,
        "seed": seed,
        "overrides": [f"{k}={v}" for k, v in plan.pairs.items()],
        "argv": list(argv) if argv is not None else None,
        "data_dir": None if plan.data_path is None else str(plan.data_path),
        "device": str(plan.device),
        "threads": plan.threads.to_dict(),
        "environment": collect_environment(plan.device),
        "started": now_iso(),
        "finished": None,
        "status": "running",
        "error": None,
        "attempts": int(run.meta.get("attempts", 0)) + 1,
        "plots": run.meta.get("plots", []) if resume else [],
    }


def _open_run(
    plan: _Plan,
    *,
    scale: str,
    seed: int,
    out: str | Path | None,
    progress: bool,
    quiet: bool,
    argv: Sequence[str] | None,
    resume: bool,
    debug: bool,
) -> tuple[RunDirectory, logging.Logger, RunContext]:
    """Create (or reopen) the run directory, record the run's metadata, open its log."""
    exp = plan.exp
    config_dict = config_to_dict(plan.config)
    run = RunDirectory.create(out if out is not None else default_run_dir(exp.name), resume=resume)
    # the folder is locked from here: every way out of this function but success releases it
    try:
        if resume and run.meta:  # (a folder without run.json: a run killed at once, started afresh)
            _check_resumable(run, exp, config_dict)
            run.remove_stale_temporaries()
        run.write_json(CONFIG_FILE, config_dict)
        run.update_meta(**_run_meta(plan, run, scale=scale, seed=seed, argv=argv, resume=resume))
        logger = _make_logger(exp.name, run.path, quiet=quiet, debug=debug)
        ctx = RunContext(
            experiment=exp.name, scale=scale, run_dir=run.path, seed=seed,
            data_dir=plan.data_path, device=plan.device, progress=progress and not quiet,
            logger=logger, resume=resume, plots=list(run.meta.get("plots", [])),
            history=_load_history(run) if resume else {},
        )
        for kind in plan.trackers:
            tracker = make_tracker(kind, run.path, name=exp.name)
            tracker.log_params({"experiment": exp.name, "scale": scale, "seed": seed,
                                "threads": plan.threads.threads, "config": config_dict})
            ctx.trackers.append(tracker)
        logger.info("run %s (scale %s, seed %d) in %s", exp.name, scale, seed, run.path)
        for requirement in exp.datasets:
            if requirement.name in plan.fallbacks:
                logger.warning(
                    "data source: %s; using %s instead: the numbers are not comparable with the "
                    "paper's", requirement.status(plan.data_path), plan.fallbacks[requirement.name],
                )
        return run, logger, ctx
    except OSError as error:
        run.release()
        raise ReportError(f"cannot write the run folder {str(run.path)!r}: "
                          f"{error.strerror or error}") from error
    except BaseException:
        run.release()
        raise


def _log_failure(logger: logging.Logger, error: str) -> None:
    """The one-line error on the terminal and in the log; the traceback in the log only (and
    on the terminal with ``--debug``)."""
    logger.error("run failed: %s", error)
    logger.debug("traceback of the failure:\n%s", traceback.format_exc())


def _join_job(device: torch.device) -> DistributedContext:
    """Join the ``torchrun`` job's process group (created once; every ``fit`` reuses it)."""
    from attnlab.train.config import TrainConfig

    return init_distributed(device_type=device.type, timeout_s=TrainConfig().dist_timeout_s)


def _announce_setup(job: DistributedContext | None, error: str | None) -> None:
    """Rank 0 tells the other ranks whether the run directory is ready (``None``) or why not."""
    if job is not None:
        broadcast_object(error, job)


def _run_secondary(
    plan: _Plan,
    job: DistributedContext,
    *,
    scale: str,
    seed: int,
    out: Path,
    resume: bool,
) -> RunResult:
    """A non-zero rank of a ``torchrun`` job: run the experiment, write and print nothing.

    It waits for rank 0 to set up the run directory, runs the experiment (its ``fit`` calls
    train the shared model with rank 0), and returns rank 0's metrics, so that ``--check`` gives
    every rank the same verdict.
    """
    exp, config, data_dir, device = plan.exp, plan.config, plan.data_path, plan.device
    fallbacks = plan.fallbacks
    setup_error = broadcast_object(None, job)
    if setup_error is not None:
        raise ReportError(f"rank 0 could not start the run: {setup_error}")
    logger = logging.getLogger(f"attnlab.run.{exp.name}.rank{job.rank}")
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(logging.NullHandler())
    ctx = RunContext(exp.name, scale, out, seed, data_dir, device, False, logger, resume=resume,
                     is_main=False)
    seed_everything(seed)
    start = time.perf_counter()
    cpu_start = time.process_time()
    metrics: dict[str, float] = {}
    error: str | None = None
    try:
        metrics = _clean_metrics(exp.name, exp.run(config, ctx))
    except Exception as exc:
        error = f"rank {job.rank}: {type(exc).__name__}: {exc}"
        print(f"attnlab run {exp.name}: {error}", file=sys.stderr)
    status = "finished" if error is None else "failed"
    if status == "finished":
        status, metrics = broadcast_object(None, job)
    checks = check_targets(exp.targets, metrics, scale=scale)
    return RunResult(exp.name, out, status, metrics, checks, error,
                     time.perf_counter() - start, None, dict(fallbacks),
                     time.process_time() - cpu_start)


def _prune_checkpoints(folder: Path) -> None:
    """A finished run needs no checkpoint to resume: drop the weight files (the largest part of
    a run folder) and keep the training event logs."""
    if folder.is_dir():
        for path in folder.rglob("*.pt"):
            with contextlib.suppress(OSError):
                path.unlink()


def _finish(
    run: RunDirectory,
    ctx: RunContext,
    exp: Experiment[Any],
    *,
    keep_checkpoints: bool,
    scale: str,
    metrics: dict[str, float],
    status: str,
    error: str | None,
    duration: float,
    cpu_s: float,
) -> None:
    history = ctx.finite_history()
    if history:
        run.write_json(HISTORY_FILE, {k: [list(p) for p in v] for k, v in history.items()})
        if "learning_curves.png" not in ctx.saved_plots:
            from attnlab.report.plots import plot_learning_curves

            try:
                with ctx.plotting("learning_curves"):  # no matplotlib: recorded as missing
                    ctx.save_plot(
                        plot_learning_curves(history),
                        "learning_curves",
                        caption="Learning curves recorded during training.",
                    )
            except Exception as plot_error:  # a broken plot must not lose the metrics either
                ctx.logger.warning("no learning-curve plot: %s", plot_error)
    sources = dict(run.meta.get("data_sources") or {})
    models: list[str] = []  # the trained models, exported by fit, moved to RUN_DIR/model
    if status == "finished":
        atomic_write_json(run.path / METRICS_FILE, metrics)
        for requirement in exp.datasets:  # present but left unread: not "real"
            if requirement.used_metric is not None and metrics.get(requirement.used_metric) == 0:
                sources[requirement.name] = "not used by this run"
        for name in unexported_runs(run.path / "checkpoints"):
            ctx.logger.warning("the model trained in checkpoints/%s was not exported", name)
        models = collect_exports(run.path / "checkpoints", run.path / MODEL_DIR)
        if not keep_checkpoints:
            _prune_checkpoints(run.path / "checkpoints")
    checks = check_targets(exp.targets, metrics, scale=scale)
    run.update_meta(
        data_sources=sources,
        status=status,
        error=error,
        finished=now_iso(),
        duration_s=round(duration, 3),
        cpu_s=round(cpu_s, 3),
        checkpoints="kept" if keep_checkpoints or status != "finished" else "removed",
        models=models,
        plots=ctx.plots,
        missing_plots=ctx.missing_plots,
        checks=[
            {"metric": c.target.metric, "measured": c.measured, "status": c.status}
            for c in checks
        ],
    )
    ctx.logger.info("%s in %.1f s", status, duration)


def format_checks(result: RunResult) -> str:
    """A plain-text table of the targets and metrics of ``result`` (for the terminal); targets
    of other scales are left out when the run did not measure them.

    Example:
        >>> from attnlab.report.checks import Target
        >>> r = RunResult("x", Path("."), "finished", {"acc": 0.97, "loss": 0.1},
        ...     check_targets([Target("acc", paper=0.95, tolerance=0.0, direction="higher")],
        ...                   {"acc": 0.97}, scale="quick"), None, 1.0, None)
        >>> print(format_checks(r))
        metric  measured  paper  criterion  result
        acc     0.97      0.95   >= 0.95    pass
        loss    0.1       —      —          —
    """
    header = ("metric", "measured", "paper", "criterion", "result")
    # targets of other scales that this run did not measure would only be rows of dashes
    rows: list[tuple[str, str, str, str, str]] = [
        (c.target.metric, format_value(c.measured), format_value(c.target.paper),
         c.target.criterion, c.status)
        for c in result.checks
        if not (c.status == "not checked" and c.measured is None)
    ]
    targeted = {c.target.metric for c in result.checks}
    rows += [(k, format_value(v), "—", "—", "—") for k, v in result.metrics.items()
             if k not in targeted]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines)
