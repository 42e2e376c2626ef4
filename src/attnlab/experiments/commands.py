"""The ``attnlab experiments | run | reproduce | report`` commands (argument handling in
:mod:`attnlab.cli`).

Exit status: 0 success; 1 ``--check`` found a metric outside its tolerance; 2 bad usage (unknown
experiment or setting, wrong value type, unusable output folder, missing data); 3 the experiment
raised (recorded in its run directory); 130 interrupted by Ctrl-C (resumable).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any

from attnlab.experiments.overrides import ConfigError
from attnlab.experiments.registry import (
    UnknownExperimentError,
    current_registry,
    list_experiments,
)
from attnlab.experiments.reproduce import ReproduceResult, recorded_settings, reproduce
from attnlab.experiments.runner import (
    DataUnavailableError,
    RunInterrupted,
    RunResult,
    format_checks,
    resolve_data_dir,
    run_experiment,
)
from attnlab.experiments.timings import expected_seconds, record_timings
from attnlab.report.files import ReportError
from attnlab.train.distributed import finish_distributed

__all__ = [
    "EXIT_CHECK_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_RUN_FAILED",
    "EXIT_USAGE",
    "cmd_experiments",
    "cmd_report",
    "cmd_reproduce",
    "cmd_run",
    "format_seconds",
]

EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_RUN_FAILED = 3

_USAGE_ERRORS = (
    ConfigError,
    UnknownExperimentError,
    ReportError,
    DataUnavailableError,
    ImportError,  # a listed experiment package that fails to import
)


def format_seconds(seconds: float) -> str:
    """``~5 s``, ``~3 min``, ``~1.5 h``.

    Example:
        >>> format_seconds(4), format_seconds(150), format_seconds(5400)
        ('~4 s', '~2 min', '~1.5 h')
    """
    if seconds < 90:
        return f"~{seconds:.0f} s"
    if seconds < 5400:
        return f"~{seconds / 60:.0f} min"
    return f"~{seconds / 3600:.1f} h"


def _error(command: str, error: BaseException, *, debug: bool = False) -> int:
    """An expected error: its message and exit status 2; the traceback only with ``--debug``."""
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    if not _is_secondary_rank() or debug:
        print(f"attnlab {command}: error: {error}", file=sys.stderr)
    return EXIT_USAGE


def cmd_experiments(args: argparse.Namespace) -> int:
    """``attnlab experiments``: every experiment with its claim, data status and CPU time of
    each scale it defines (``paper`` only where defined, as an estimate until recorded)."""
    if getattr(args, "record_timings", None):
        try:
            document = record_timings(args.record_timings)
        except (OSError, ValueError, KeyError) as error:
            return _error("experiments", error)
        print(f"{sum(len(v) for v in document['runs'].values())} recorded timings")
        return 0
    data_dir = resolve_data_dir(args.data_dir)
    try:
        experiments = list_experiments()
    except ImportError as error:
        return _error("experiments", error)
    rows: list[dict[str, Any]] = []
    for exp in experiments:
        missing = exp.data_missing(data_dir)
        scales = exp.defined_scales  # smoke, quick, full and the optional ones it defines
        fallbacks = {s: exp.data_fallbacks(data_dir, s) for s in scales}
        expected = {s: expected_seconds(exp.name, s, exp.cpu_time) for s in scales}
        rows.append({
            "name": exp.name,
            "claim": exp.claim,
            "paper": None if exp.paper is None else str(exp.paper),
            "data": "available" if not missing else "missing",
            "data_missing": missing,
            "data_fallbacks": {s: f for s, f in fallbacks.items() if f},
            "datasets": [d.name for d in exp.datasets],
            "scales": list(scales),
            "cpu_time_s": {s: expected[s][0] for s in scales},
            "cpu_time_measured": {s: expected[s][1] for s in scales},
            "targets": [t.to_dict() for t in exp.targets],
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no experiment is registered")
        return 0
    for row in rows:
        times = ", ".join(
            f"{s} {format_seconds(t)}" + ("" if row["cpu_time_measured"][s] else " (estimate)")
            for s, t in row["cpu_time_s"].items())
        data = (
            "data: " + ("generated (none needed)" if not row["datasets"] else "available")
            if row["data"] == "available"
            else "data MISSING: " + "; ".join(row["data_missing"])
        )
        for scale, stand_in in row["data_fallbacks"].items():
            data += f"\n    {scale} scale uses a stand-in: " + "; ".join(
                f"{name} -> {text}" for name, text in stand_in.items())
        print(row["name"])
        for line in textwrap.wrap(row["claim"], width=96):
            print(f"    {line}")
        if row["paper"]:
            print(f"    paper: {row['paper']}")
        print(f"    {data}")
        print(f"    CPU time (1 thread, measured on a 2-core CPU unless marked): {times}")
        print()
    for package, reason in current_registry().broken().items():
        print(f"{package}\n    BROKEN: the package failed to import ({reason})\n")
    print(f"{len(rows)} experiment(s); run one with: attnlab run NAME --scale quick")
    return 0


def _is_secondary_rank() -> bool:
    """Whether this process is a non-zero rank of a ``torchrun`` job (it prints nothing)."""
    try:
        return int(os.environ.get("RANK", "0")) != 0
    except ValueError:
        return False


def _exit_status(result: RunResult, *, check: bool) -> int:
    if result.status != "finished":
        return EXIT_RUN_FAILED
    if check and result.missed:
        return EXIT_CHECK_FAILED
    return 0


def _print_result(result: RunResult, *, check: bool) -> int:
    if _is_secondary_rank():
        return _exit_status(result, check=check)
    print()
    cpu = "" if result.cpu_s is None else f" (CPU {result.cpu_s:.1f} s)"
    print(f"{result.experiment}: {result.status} in {result.duration_s:.1f} s{cpu} -> "
          f"{result.run_dir}")
    for name, replacement in result.data_fallbacks.items():
        print(f"data source: {name} missing, used {replacement}")
    if result.error:
        print(f"error: {result.error}")
        print(f"(the traceback is in {result.run_dir / 'log.txt'}; --debug also prints it)")
    table = format_checks(result)
    if "\n" in table:  # more than the header
        print(table)
    if result.report is not None:
        print(f"report: {result.report}")
    if result.status == "finished" and check and result.missed:
        names = ", ".join(c.target.metric for c in result.missed)
        print(f"check failed: {names} outside tolerance", file=sys.stderr)
    return _exit_status(result, check=check)


EXIT_INTERRUPTED = 130


def _run_settings(args: argparse.Namespace) -> tuple[str, list[str], int]:
    """Scale, ``--set`` values and seed: as given, else (``--resume``) as the folder recorded
    them, else the defaults."""
    scale, sets, seed = args.scale, list(args.set or []), args.seed
    if args.resume and args.out is not None:
        try:
            meta = json.loads((Path(args.out) / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        if isinstance(meta, dict):
            scale = scale if scale is not None else meta.get("scale")
            seed = seed if seed is not None else meta.get("seed")
            if not sets and args.scale is None:
                sets = [str(x) for x in meta.get("overrides") or []]
    return scale or "quick", sets, 0 if seed is None else int(seed)


def cmd_run(args: argparse.Namespace) -> int:
    """``attnlab run NAME``: one run into its directory; ``--check`` compares with the paper."""
    scale, sets, seed = _run_settings(args)
    try:
        result = run_experiment(
            args.name,
            scale=scale,
            overrides=sets,
            seed=seed,
            data_dir=args.data_dir,
            out=args.out,
            device=args.device,
            progress=not args.quiet,
            quiet=args.quiet,
            argv=getattr(args, "argv", None),
            resume=args.resume,
            debug=args.debug,
            threads=args.threads,
            keep_checkpoints=args.keep_checkpoints,
            trackers=args.logger or (),
        )
    except _USAGE_ERRORS as error:
        finish_distributed(synchronize=False)
        return _error("run", error, debug=args.debug)
    except RunInterrupted as stop:
        finish_distributed(synchronize=False)
        print(f"\nattnlab run: interrupted; resume with: attnlab run {stop.experiment} --resume "
              f"--out {shlex.quote(str(stop.run_dir))}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        finish_distributed(synchronize=False)
        print("\nattnlab run: interrupted before the run started", file=sys.stderr)
        return EXIT_INTERRUPTED
    code = _print_result(result, check=args.check)
    # under torchrun every rank that finished waits for the others before the group goes
    finish_distributed(synchronize=result.status == "finished")
    return code


def cmd_reproduce(args: argparse.Namespace) -> int:
    """``attnlab reproduce``: every runnable experiment, one combined report."""
    out, scale, seed, only = args.out, args.scale, args.seed, args.only
    try:
        if args.resume is not None:
            if out is not None and Path(out) != Path(args.resume):
                raise ConfigError("--resume DIR names the folder: leave out --out")
            out = args.resume
            recorded = recorded_settings(out)
            scale = scale if scale is not None else recorded["scale"]
            seed = seed if seed is not None else recorded["seed"]
            only = only if only is not None else recorded["only"]
        outcome = reproduce(
            scale=scale or "quick",
            out=out,
            seed=0 if seed is None else seed,
            data_dir=args.data_dir,
            device=args.device,
            progress=not args.quiet,
            quiet=args.quiet,
            only=only,
            argv=getattr(args, "argv", None),
            debug=args.debug,
            threads=args.threads,
            keep_checkpoints=args.keep_checkpoints,
            trackers=args.logger or (),
            resume=args.resume is not None,
            echo=None if _is_secondary_rank() else _echo,
        )
    except _USAGE_ERRORS as error:
        finish_distributed(synchronize=False)
        return _error("reproduce", error, debug=args.debug)
    except KeyboardInterrupt:
        finish_distributed(synchronize=False)
        print("\nattnlab reproduce: interrupted before the first run started", file=sys.stderr)
        return EXIT_INTERRUPTED
    finish_distributed(synchronize=all(r.status == "finished" for r in outcome.runs))
    code = _reproduce_status(outcome, check=args.check)
    if _is_secondary_rank():
        return code
    _print_outcome(outcome, scale=scale or "quick")
    if outcome.interrupted:
        print(f"\nattnlab reproduce: interrupted; resume with: attnlab reproduce --resume "
              f"{shlex.quote(str(outcome.out_dir))}", file=sys.stderr)
    return code


def _echo(line: str) -> None:
    print(line, flush=True)


def _reproduce_status(outcome: ReproduceResult, *, check: bool) -> int:
    """130 interrupted; 3 a run failed or could not start; 1 ``--check`` and a target missed."""
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    code = 0
    for result in outcome.runs:
        if result.status != "finished":
            code = EXIT_RUN_FAILED
        elif check and result.missed and code == 0:
            code = EXIT_CHECK_FAILED
    if outcome.errors:
        code = code or EXIT_RUN_FAILED
    return code


def _print_outcome(outcome: ReproduceResult, *, scale: str) -> None:
    print()
    print(f"reproduce ({scale} scale) in {outcome.duration_s:.1f} s -> {outcome.out_dir}")
    for result in outcome.runs:
        counts = {s: sum(c.status == s for c in result.checks) for s in ("pass", "fail")}
        cpu = "" if result.cpu_s is None else f" (CPU {result.cpu_s:.1f} s)"
        kept = " (kept from before)" if result.experiment in outcome.reused else ""
        print(f"  {result.experiment}: {result.status} in {result.duration_s:.1f} s{cpu}{kept}, "
              f"{counts['pass']} target(s) passed, {counts['fail']} missed")
        for name, replacement in result.data_fallbacks.items():
            print(f"    data source: {name} missing, used {replacement}")
    for name, reason in outcome.skipped:
        print(f"  {name}: skipped ({reason})")
    for name, reason in outcome.errors:
        print(f"  {name}: not run ({reason})")
    for result in outcome.runs:
        if result.status == "interrupted":
            continue
        print()
        print(f"[{result.experiment}]")
        print(format_checks(result))
    missed = [f"{r.experiment}: {c.target.metric}" for r in outcome.runs for c in r.missed]
    if missed:
        print(f"\n{len(missed)} target(s) missed (exit status 1 with --check): "
              + "; ".join(missed))
    if outcome.report is not None:
        print(f"\nreport: {outcome.report}")


def cmd_report(args: argparse.Namespace) -> int:
    """``attnlab report RUN_DIR...``: rebuild one run's report, or one page for several."""
    from attnlab.report.html import write_report

    try:
        path = write_report(args.run_dirs, args.out, title=args.title)
    except ReportError as error:
        return _error("report", error)
    print(f"report: {path}")
    return 0
