"""``reproduce``: every runnable experiment at one scale into one folder, with one report.

The folder gets one sub-folder per experiment (a run directory of
:func:`~attnlab.experiments.runner.run_experiment`), ``summary.json`` (rewritten after every
run, so that it always says how far the job got) and ``report.html``. Progress is one line per
experiment with the elapsed time and an estimate of the time left, calibrated on the runs done
so far. Ctrl-C stops cleanly: the interrupted run keeps its last checkpoint, the summary and the
combined report cover what finished, and ``reproduce(resume=True)`` (``attnlab reproduce
--resume DIR``) skips the finished experiments and resumes the interrupted one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from attnlab.experiments.overrides import ConfigError, config_to_dict
from attnlab.experiments.registry import (
    ALL_SCALES,
    Experiment,
    current_registry,
    get_experiment,
    list_experiments,
)
from attnlab.experiments.runner import (
    DataUnavailableError,
    RunResult,
    missing_data_message,
    process_rank,
    resolve_data_dir,
    resolve_device,
    run_experiment,
)
from attnlab.experiments.threads import resolve_threads
from attnlab.experiments.timings import expected_seconds
from attnlab.report.checks import check_targets
from attnlab.report.environment import now_iso
from attnlab.report.files import ReportError, atomic_write_json
from attnlab.report.html import write_report
from attnlab.report.rundir import (
    CONFIG_FILE,
    METRICS_FILE,
    RunLock,
    check_writable,
    default_run_dir,
)

__all__ = ["SUMMARY_FILE", "ReproduceResult", "reproduce"]

SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class ReproduceResult:
    """The outcome of :func:`reproduce`: runs, skipped experiments with reasons, the report.

    ``interrupted`` is true when Ctrl-C stopped the job; ``reused`` names the experiments whose
    finished runs a resumed job took from the folder instead of running them again.
    """

    out_dir: Path
    runs: list[RunResult]
    skipped: list[tuple[str, str]]
    report: Path | None
    duration_s: float
    errors: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False
    reused: list[str] = field(default_factory=list)


def format_duration(seconds: float) -> str:
    """``75 -> "1m15s"``, ``3700 -> "1h01m"``, ``8 -> "8s"``.

    Example:
        >>> format_duration(75), format_duration(3700), format_duration(8.4)
        ('1m15s', '1h01m', '8s')
    """
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class _Progress:
    """``[3/16] name (estimate; elapsed, time left)`` lines, the estimate calibrated on the
    experiments done so far (recorded CPU times per scale are the prior)."""

    def __init__(self, estimates: Sequence[float], echo: Callable[[str], None] | None) -> None:
        self.estimates = [max(1.0, float(e)) for e in estimates]
        self.echo = echo
        self.start = time.perf_counter()
        self.done_estimate = 0.0

    def begin(self, index: int, name: str) -> None:
        if self.echo is None:
            return
        elapsed = time.perf_counter() - self.start
        left = sum(self.estimates[index:])
        if self.done_estimate > 0:
            left *= elapsed / self.done_estimate  # this machine's speed relative to the record
        self.echo(f"[{index + 1}/{len(self.estimates)}] {name} (elapsed "
                  f"{format_duration(elapsed)}, about {format_duration(left)} left)")

    def end(self, index: int) -> None:
        self.done_estimate += self.estimates[index]


def _recorded_result(exp: Experiment[Any], folder: Path, scale: str, seed: int) -> RunResult | None:
    """The finished run of ``exp`` in ``folder`` when it matches this job, else ``None``."""
    try:
        meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        metrics = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (meta.get("status") != "finished" or meta.get("scale") != scale
            or meta.get("seed") != seed or meta.get("experiment") != exp.name):
        return None
    if config != config_to_dict(exp.make_config(scale, {})):
        return None
    if not isinstance(metrics, dict):
        return None
    values = {str(k): float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    sources = meta.get("data_sources") or {}
    fallbacks = {str(k): str(v)[len("fallback: "):] for k, v in sources.items()
                 if str(v).startswith("fallback: ")}
    report = folder / "report.html"
    return RunResult(exp.name, folder, "finished", values,
                     check_targets(exp.targets, values, scale=scale), None,
                     float(meta.get("duration_s") or 0.0), report if report.is_file() else None,
                     fallbacks, meta.get("cpu_s"))


def _recorded_job(root: Path) -> dict[str, Any]:
    try:
        summary = json.loads((root / SUMMARY_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"cannot resume {str(root)!r}: it holds no {SUMMARY_FILE} (not a "
                          "reproduce folder)") from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot resume {str(root)!r}: unreadable {SUMMARY_FILE} "
                          f"({error})") from error
    if not isinstance(summary, dict) or summary.get("scale") not in ALL_SCALES:
        raise ConfigError(f"cannot resume {str(root)!r}: {SUMMARY_FILE} records no scale")
    return summary


def recorded_settings(root: str | Path) -> dict[str, Any]:
    """The scale, seed and experiment selection a reproduce folder was started with."""
    summary = _recorded_job(Path(root))
    return {"scale": summary["scale"], "seed": int(summary.get("seed") or 0),
            "only": summary.get("only") or None}


def reproduce(
    *,
    scale: str = "quick",
    out: str | Path | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    quiet: bool = False,
    only: Sequence[str] | None = None,
    argv: Sequence[str] | None = None,
    debug: bool = False,
    threads: int | None = None,
    keep_checkpoints: bool = False,
    trackers: Sequence[str] = (),
    resume: bool = False,
    echo: Callable[[str], None] | None = None,
) -> ReproduceResult:
    """Run every registered experiment whose data is available; one combined report.

    At an optional scale (``"paper"``) only the experiments that define it run; the others are
    skipped with the reason ``"no paper scale"``. Experiments whose data is missing are skipped
    with the reason, unless their data requirement
    names a fallback allowed at ``scale`` (then they run on it, and the run records it); a run
    that fails is recorded and the others still run. The folder ``out`` (default
    ``./runs/reproduce-<scale>-<time>``) gets one sub-folder per experiment, ``summary.json``
    and ``report.html``. ``echo`` receives the progress lines (the plan, then one line per
    experiment); ``resume=True`` continues the job in ``out`` (see the module docstring).
    Ctrl-C ends the job with ``interrupted=True`` instead of raising.

    Raises:
        ConfigError: unknown scale or device, or a folder to resume that is not a reproduce
            folder of this scale. UnknownExperimentError: a name in ``only`` (names, each
            possibly a comma-separated list: ``["a,b", "c"]``).
        ReportError: ``out`` is not writable.
    """
    if scale not in ALL_SCALES:
        raise ConfigError(f"unknown scale {scale!r}; expected one of {', '.join(ALL_SCALES)}")
    resolve_device(device)
    try:
        resolve_threads(threads, scale)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"--threads: {error}") from error
    names = [n.strip() for item in only or () for n in item.split(",") if n.strip()]
    experiments = [get_experiment(n) for n in names] if names else list_experiments()
    broken = {} if names else current_registry().broken()
    rank, world_size = process_rank()
    if (world_size > 1 or resume) and out is None:
        raise ConfigError("pass --out: " + ("the folder to resume" if resume else
                          "under torchrun every process must agree on the run directory"))
    root = Path(out) if out is not None else default_run_dir(f"reproduce-{scale}")
    if resume:
        recorded = _recorded_job(root)
        if recorded["scale"] != scale:
            raise ConfigError(f"cannot resume {str(root)!r} at scale {scale}: it was started at "
                              f"scale {recorded['scale']}")
    root_lock: RunLock | None = None
    if rank == 0:
        check_writable(root)
        root_lock = RunLock.acquire(root)  # one reproduce per folder, for its whole life
    job = _Job(root, scale=scale, seed=seed, data_path=resolve_data_dir(data_dir),
               device=device, progress=progress, quiet=quiet, argv=argv, debug=debug,
               threads=threads, keep_checkpoints=keep_checkpoints, trackers=tuple(trackers),
               names=names,
               main_process=rank == 0,
               distributed=world_size > 1, resume=resume, echo=echo if rank == 0 else None)
    try:
        return job.run(experiments, broken)
    finally:
        if root_lock is not None:
            root_lock.release()


class _Job:
    """One reproduce job: the plan, the runs in order, the summary and the report."""

    def __init__(self, root: Path, *, scale: str, seed: int, data_path: Path | None,
                 device: str | torch.device, progress: bool, quiet: bool,
                 argv: Sequence[str] | None, debug: bool, threads: int | None,
                 keep_checkpoints: bool, trackers: tuple[str, ...], names: list[str],
                 main_process: bool,
                 distributed: bool, resume: bool,
                 echo: Callable[[str], None] | None) -> None:
        self.root, self.scale, self.seed, self.data_path = root, scale, seed, data_path
        self.device, self.progress, self.quiet, self.argv = device, progress, quiet, argv
        self.debug, self.threads, self.names = debug, threads, names
        self.keep_checkpoints, self.trackers = keep_checkpoints, trackers
        self.main_process, self.distributed, self.resume = main_process, distributed, resume
        self.echo = echo
        self.started = now_iso()
        self.start = time.perf_counter()
        self.runs: list[RunResult] = []
        self.skipped: list[tuple[str, str]] = []
        self.errors: list[tuple[str, str]] = []
        self.reused: list[str] = []
        self.status = "running"

    def say(self, line: str) -> None:
        if self.echo is not None:
            self.echo(line)

    def write_summary(self) -> None:
        if not self.main_process:
            return
        atomic_write_json(self.root / SUMMARY_FILE, {
            "scale": self.scale,
            "seed": self.seed,
            "only": self.names or None,
            "status": self.status,
            "argv": list(self.argv) if self.argv is not None else None,
            "started": self.started,
            "duration_s": round(time.perf_counter() - self.start, 3),
            "runs": [
                {"name": r.experiment, "dir": r.run_dir.name, "status": r.status,
                 "duration_s": round(r.duration_s, 3),
                 "cpu_s": None if r.cpu_s is None else round(r.cpu_s, 3),
                 "pass": sum(c.status == "pass" for c in r.checks),
                 "fail": sum(c.status == "fail" for c in r.checks),
                 "data_fallbacks": r.data_fallbacks,
                 "reused": r.experiment in self.reused}
                for r in self.runs
            ],
            "skipped": [{"name": n, "reason": r} for n, r in [*self.skipped, *self.errors]],
        })

    def plan(self, experiments: Sequence[Experiment[Any]]) -> list[Experiment[Any]]:
        """The experiments to run; the others are skipped now, with the reason said at once."""
        runnable: list[Experiment[Any]] = []
        undefined = [exp.name for exp in experiments if not exp.has_scale(self.scale)]
        if undefined:
            self.skipped += [(name, f"no {self.scale} scale") for name in undefined]
            self.say(f"skip (no {self.scale} scale): {', '.join(undefined)}")
        for exp in experiments:
            if not exp.has_scale(self.scale):
                continue
            missing = exp.data_missing(self.data_path, self.scale)
            if missing:
                reason = missing_data_message(exp, self.data_path, self.scale, missing)
                self.skipped.append((exp.name, "data missing: " + "; ".join(missing)))
                self.say(f"skip {exp.name}: {reason}")
            else:
                runnable.append(exp)
        return runnable

    def run(self, experiments: Sequence[Experiment[Any]],
            broken: Mapping[str, str]) -> ReproduceResult:
        self.errors += [(package, f"could not import: {error}")
                        for package, error in broken.items()]
        runnable = self.plan(experiments)
        self.write_summary()
        progress = _Progress([expected_seconds(e.name, self.scale, e.cpu_time)[0]
                              for e in runnable], self.echo)
        for index, exp in enumerate(runnable):
            progress.begin(index, exp.name)
            if not self.run_one(exp):
                break
            progress.end(index)
        if self.status == "running":
            self.status = "finished"
        self.write_summary()
        report: Path | None = None
        try:
            if self.main_process:
                report = write_report([self.root],
                                      title=f"attnlab reproduce ({self.scale} scale)")
        except ReportError as error:
            self.errors.append(("report", str(error)))
        return ReproduceResult(self.root, self.runs, self.skipped, report,
                               time.perf_counter() - self.start, self.errors,
                               self.status == "interrupted", self.reused)

    def run_one(self, exp: Experiment[Any]) -> bool:
        """Run (or reuse, or resume) one experiment; ``False`` when the job must stop."""
        folder = self.root / exp.name
        if self.resume:
            recorded = _recorded_result(exp, folder, self.scale, self.seed)
            if recorded is not None:
                self.runs.append(recorded)
                self.reused.append(exp.name)
                self.say(f"      {exp.name}: finished before, kept")
                return True
        resume_run = self.resume and (folder / "run.json").is_file()
        try:
            self.runs.append(run_experiment(
                exp, scale=self.scale, seed=self.seed, data_dir=self.data_path, out=folder,
                device=self.device, progress=self.progress, quiet=self.quiet, argv=self.argv,
                debug=self.debug, threads=self.threads, resume=resume_run,
                keep_checkpoints=self.keep_checkpoints, trackers=self.trackers,
            ))
        except (ConfigError, ReportError, DataUnavailableError) as error:
            self.errors.append((exp.name, f"could not start: {error}"))
        except KeyboardInterrupt:
            self.status = "interrupted"
            self.runs.append(RunResult(exp.name, folder, "interrupted", {},
                                       check_targets(exp.targets, {}, scale=self.scale),
                                       "KeyboardInterrupt: interrupted", 0.0, None))
            self.write_summary()
            return False
        self.write_summary()
        if self.distributed and self.runs and self.runs[-1].experiment == exp.name \
                and self.runs[-1].status != "finished":
            # the other ranks may still be inside this run's collectives: stop here (torchrun
            # then ends the job) rather than start the next run out of step with them
            self.errors.append(("reproduce", f"stopped after {exp.name} failed under torchrun"))
            return False
        return True
