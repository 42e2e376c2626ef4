"""``attnlab bench``: run benchmark suites, print their tables, write the JSON document.

The run records the machine (CPU model, logical CPUs, torch version and threads, memory, load
average at the start and at the end) and measures the float32 matmul roofline at the start and
at the end of the same run, so that every figure can be read as a fraction of what the machine
did at that time. Timings on a machine shared with other processes are indicative: the load
averages say how busy it was, the inter-quartile ranges how far a median moved.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from attnlab.bench.measure import Roofline, matmul_gflops
from attnlab.bench.report import bench_document, format_header, format_suite, summarize_targets
from attnlab.bench.suite import Suite, SuiteResult, list_suites, resolve_suites, run_suite
from attnlab.bench.timing import describe_machine, num_threads
from attnlab.report.files import atomic_write_json, atomic_write_text

__all__ = [
    "cmd_bench",
    "contention_warning",
    "format_suite_list",
    "machine_description",
    "run_bench",
]


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def machine_description() -> dict[str, Any]:
    """CPU, logical CPUs, torch version and threads, memory, platform and the current load.

    Example:
        >>> {"cpu", "logical_cpus", "torch_version", "load_average"} <= set(machine_description())
        True
    """
    machine = describe_machine()
    return {
        **machine.to_dict(),
        "description": machine.describe(),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "memory_gib": _memory_gib(),
        "cuda_available": torch.cuda.is_available(),
    }


def contention_warning(
    load_average: Sequence[float] | None, logical_cpus: int, threads: int
) -> str | None:
    """A warning when other processes already use the CPUs this run's threads need.

    With ``threads`` intra-op threads on ``logical_cpus`` CPUs, a load average above
    ``logical_cpus - threads`` (plus a margin) means some parallel operations will wait for a
    time slice of a busy CPU: every small operation then costs a few milliseconds more, which
    distorts medians far beyond their spread.

    Example:
        >>> contention_warning([0.1, 0.1, 0.1], 2, 2) is None
        True
        >>> contention_warning([1.2, 1.0, 1.0], 2, 2).startswith("other processes")
        True
    """
    if load_average is None:
        return None
    load = float(load_average[0])
    if load <= max(0.0, logical_cpus - threads) + 0.5:
        return None
    advice = "; --threads 1 is less sensitive to it" if threads > 1 else ""
    return (
        f"other processes use the CPUs (load {load:.2f} on {logical_cpus} CPUs, {threads} "
        f"torch thread{'s' if threads != 1 else ''}): timings are indicative{advice}"
    )


def format_suite_list(suites: Sequence[Suite]) -> str:
    """One block per suite: name, description, peers (installed or not), availability, sizes.

    Example:
        >>> from attnlab.bench.suite import Suite
        >>> print(format_suite_list([Suite("demo", "a demo", run=lambda ctx: None)]))
        demo   a demo
    """
    lines = []
    width = max((len(s.name) for s in suites), default=0) + 2
    for suite in suites:
        lines.append(f"{suite.name:<{width}} {suite.description}".rstrip())
        if suite.peers:
            peers = ", ".join(
                f"{p.name}{'' if p.installed() else ' (not installed)'}" for p in suite.peers
            )
            lines.append(f"{'':<{width}} peers: {peers}")
        reason = suite.availability()
        if reason is not None:
            lines.append(f"{'':<{width}} unavailable: {reason}")
        for scale, sizes in suite.sizes.items():
            if sizes:
                text = ", ".join(f"{k}={v}" for k, v in sizes.items())
                lines.append(f"{'':<{width}} {scale}: {text}")
    return "\n".join(lines)


def run_bench(
    suites: Sequence[Suite],
    *,
    scale: str = "full",
    memory: bool = True,
    threads: int | None = None,
    roofline_size: int | None = None,
    echo: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run ``suites`` and return the JSON document; each suite's table goes to ``echo`` as soon
    as it is done.

    Args:
        suites: what to run.
        scale: ``"quick"`` or ``"full"``.
        memory: measure peak memory where suites ask for it (fresh processes: slower).
        threads: torch intra-op threads for the run (``None``: torch's default).
        roofline_size: ``n`` of the roofline matmul (``None``: 1024 quick, 2048 full; ``0``:
            not measured).
        echo: receives the header, each table and the summary.
        progress: receives a line before each case.
    """
    started = time.time()
    with num_threads(threads) as used_threads:
        machine_start = machine_description()
        size = roofline_size if roofline_size is not None else (1024 if scale == "quick" else 2048)
        roof_start: Roofline | None = matmul_gflops(size) if size else None
        echo(format_header(machine_start, roof_start, scale))
        warning = contention_warning(
            machine_start["load_average"], machine_start["logical_cpus"], used_threads
        )
        if warning is not None:
            echo(f"note: {warning}")
        results: list[SuiteResult] = []
        for suite in suites:
            if progress is not None:
                progress(f"suite {suite.name} ...")
            result = run_suite(
                suite,
                scale=scale,
                memory=memory,
                threads=used_threads if threads is not None else None,
                progress=progress,
            )
            results.append(result)
            echo("")
            echo(
                format_suite(
                    result, roofline_gflops=None if roof_start is None else roof_start.median_gflops
                )
            )
        roof_end: Roofline | None = matmul_gflops(size) if size else None
        machine_end = machine_description()
    counts = summarize_targets(results)
    echo("")
    if roof_end is not None:
        echo(f"roofline at end: {roof_end.median_gflops:.1f} GFLOP/s median")
    echo(f"machine at end: {machine_end['description']}")
    echo(
        f"targets: {counts['met']} met, {counts['missed']} missed, "
        f"{counts['not measured']} not measured, {counts['not checked']} not checked "
        f"({time.time() - started:.0f} s)"
    )
    return bench_document(
        results,
        scale=scale,
        machine=_machine_record(machine_start, machine_end, warning),
        roofline=_roofline_record(roof_start, roof_end),
        extra={"started": started, "seconds": time.time() - started},
    )


def _machine_record(
    start: Mapping[str, Any], end: Mapping[str, Any], warning: str | None
) -> dict[str, Any]:
    """The machine of the JSON document: its description and load at the start and the end."""
    return {
        **{k: v for k, v in start.items() if k not in ("load_average", "description")},
        "load_average_start": start["load_average"],
        "load_average_end": end["load_average"],
        "contention_warning_start": warning,
        "description_start": start["description"],
        "description_end": end["description"],
    }


def _roofline_record(start: Roofline | None, end: Roofline | None) -> dict[str, Any] | None:
    """The roofline of the JSON document (``None`` when it was not measured)."""
    if start is None or end is None:
        return None
    return {"start": start.to_dict(), "end": end.to_dict(), "gflops": start.median_gflops}


def markdown_document(document: Mapping[str, Any], tables: str) -> str:
    """The Markdown page of a run (the repository's BENCHMARKS.md is one): the machine, the
    command, every target line with its verdict, then the printed tables verbatim.

    Example:
        >>> doc = {"argv": ["attnlab", "bench"], "scale": "full", "machine": {
        ...     "description_start": "2 CPUs"}, "suites": [], "summary": {"met": 0}}
        >>> markdown_document(doc, "table").splitlines()[0]
        '# Benchmarks'
    """
    machine = document.get("machine", {})
    argv = " ".join(str(a) for a in document.get("argv", [])) or "attnlab bench"
    started = document.get("started")
    when = (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(started)))
        if isinstance(started, (int, float))
        else "unknown date"
    )
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{argv}` ({document.get('scale', 'full')} sizes) on {when}.",
        "",
        f"Machine: {machine.get('description_start', 'unknown')}.",
    ]
    warning = machine.get("contention_warning_start")
    if warning:
        lines += ["", f"Note: {warning}."]
    lines += ["", "## Targets", "", "| suite | target | measured | verdict |", "|---|---|---|---|"]
    for suite in document.get("suites", []):
        if str(suite.get("status", "ok")) != "ok":
            lines.append(f"| {suite.get('name', '')} | (suite) | - | {suite.get('status')} |")
    for suite in document.get("suites", []):
        for target in suite.get("targets", []):
            value = target.get("measured")
            shown = "-" if value is None else f"{float(value):.3g}"
            description = str(target.get("description", "")).replace("|", "\\|")
            lines.append(
                f"| {suite.get('name', '')} | {description} | {shown} | "
                f"{target.get('status', '')} |"
            )
    summary = document.get("summary", {})
    lines += [
        "",
        "Totals: " + ", ".join(f"{v} {k}" for k, v in summary.items()) + ".",
        "",
        "## Tables",
        "",
        "Ratios are the peer's median time divided by attnlab's (> 1: attnlab is faster).",
        "",
        "```text",
        tables.strip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def cmd_bench(args: argparse.Namespace) -> int:
    """The ``attnlab bench`` command (see :func:`attnlab.cli.build_parser`).

    Exit status: 0 done, 1 ``--check`` and a target missed, 2 an unknown suite or bad option.
    """
    if args.list:
        print(format_suite_list(list_suites()))
        return 0
    try:
        suites = resolve_suites(args.suite)
    except KeyError as error:
        print(f"attnlab bench: {error.args[0]}", file=sys.stderr)
        return 2
    if args.threads is not None and args.threads < 1:
        print("attnlab bench: --threads must be >= 1", file=sys.stderr)
        return 2
    if args.roofline_size is not None and args.roofline_size < 0:
        print("attnlab bench: --roofline-size must be >= 0", file=sys.stderr)
        return 2
    for option, value in (("--json", args.json), ("--markdown", args.markdown)):
        if value is not None:
            parent = Path(value).expanduser().resolve().parent
            if not parent.is_dir():
                print(f"attnlab bench: {option} folder {parent} does not exist", file=sys.stderr)
                return 2

    def progress(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    printed: list[str] = []

    def echo(text: str) -> None:
        printed.append(text)
        print(text, flush=True)

    document = run_bench(
        suites,
        scale="quick" if args.quick else "full",
        memory=not args.no_memory,
        threads=args.threads,
        roofline_size=args.roofline_size,
        echo=echo,
        progress=None if args.quiet else progress,
    )
    document["argv"] = list(getattr(args, "argv", []))
    if args.json is not None:
        path = atomic_write_json(Path(args.json).expanduser(), document)
        print(f"wrote {path}")
    if args.markdown is not None:
        text = markdown_document(document, "\n".join(printed))
        path = atomic_write_text(Path(args.markdown).expanduser(), text)
        print(f"wrote {path}")
    if args.check and document["summary"]["missed"]:
        return 1
    return 0
