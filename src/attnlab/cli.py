"""The ``attnlab`` command line.

``attnlab list`` prints the registered mechanisms with their survey tags; ``attnlab demo`` trains a
tiny attention model on generated data and shows what its attention learned. ``attnlab
experiments``, ``run``, ``reproduce`` and ``report`` list, run and report the reproduced claims
(:mod:`attnlab.experiments`); ``attnlab explain`` shows where a finished run's model attends on
new input. ``attnlab bench`` times attnlab against its peers (:mod:`attnlab.bench`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main"]


# The four axes of the survey, with their tags, for --help (which must not import torch);
# attnlab.core.registry.TAG_VOCABULARY is the authority (a test keeps the two equal).
_TAG_EXAMPLES = {
    "sequences": "distinctive, co, self",
    "levels": "single, multi",
    "positions": "soft, hard, local",
    "representations": "single, multi-representational, multi-dimensional",
}


def _cmd_list(args: argparse.Namespace) -> int:
    import attnlab

    try:
        entries = attnlab.list_mechanisms(
            sequences=args.sequences,
            levels=args.levels,
            positions=args.positions,
            representations=args.representations,
        )
    except ValueError as error:  # an unknown tag: the message lists the known ones
        print(f"attnlab list: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        rows = [
            {
                "name": e.name,
                "class": f"{e.cls.__module__}.{e.cls.__qualname__}",
                "tags": {axis: list(values) for axis, values in e.tags.items()},
                "paper": {
                    "title": e.paper.title,
                    "authors": e.paper.authors,
                    "year": e.paper.year,
                    "url": e.paper.url,
                },
            }
            for e in entries
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not entries:
        print("no registered mechanism carries all of these tags")
        return 0
    header = ("name", "class", "sequences", "levels", "positions", "representations", "paper")
    rows_text = [
        (
            e.name,
            e.cls.__qualname__,
            ",".join(e.tags["sequences"]),
            ",".join(e.tags["levels"]),
            ",".join(e.tags["positions"]),
            ",".join(e.tags["representations"]),
            f"{e.paper.authors} {e.paper.year}, {e.paper.title} <{e.paper.url}>",
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in [header, *rows_text]) for i in range(len(header) - 1)]
    for row in [header, *rows_text]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]))
    print(f"\n{len(entries)} mechanism(s)")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from attnlab.demo import run_demo

    result = run_demo(
        steps=args.steps,
        seed=args.seed,
        out_dir=args.out,
        plot=not args.no_plot,
        progress=not args.quiet,
    )
    return 0 if result.accuracy >= args.min_accuracy else 1


def _cmd_experiments(args: argparse.Namespace) -> int:
    from attnlab.experiments.commands import cmd_experiments

    return cmd_experiments(args)


def _cmd_run(args: argparse.Namespace) -> int:
    from attnlab.experiments.commands import cmd_run

    return cmd_run(args)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from attnlab.experiments.commands import cmd_reproduce

    return cmd_reproduce(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from attnlab.experiments.commands import cmd_report

    return cmd_report(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    from attnlab.bench.command import cmd_bench

    return cmd_bench(args)


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads", type=_threads, default=None, metavar="N",
        help="torch CPU threads (default: $OMP_NUM_THREADS if set, else 1 at the smoke and quick "
        "scales, else the available cores); recorded in run.json",
    )


def _cmd_data(args: argparse.Namespace) -> int:
    from attnlab.data.command import cmd_data

    return cmd_data(args)


def _add_data_parser(sub: Any) -> None:
    """The ``data`` command: list and fetch datasets."""
    p_data = sub.add_parser(
        "data",
        help="list the datasets and where they are looked for; fetch one (checksum-verified)",
        description="Datasets are read from --data-dir, else $ATTNLAB_DATA, else the user "
        "cache (~/.cache/attnlab). No other command downloads anything.",
    )
    data_sub = p_data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p_list = data_sub.add_parser("list", help="every dataset: folder, files present, how to get")
    p_list.add_argument("--data-dir", default=None, metavar="D", help="data root to look in")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of text")
    p_fetch = data_sub.add_parser("fetch", help="download and verify one dataset")
    p_fetch.add_argument("name", metavar="NAME", help="dataset name (see: attnlab data list)")
    p_fetch.add_argument("--data-dir", default=None, metavar="D", help="data root to fill")
    p_fetch.add_argument("--verify", action="store_true",
                         help="re-check the sha256 of files already present")
    p_fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    p_data.set_defaults(func=_cmd_data)


def _cmd_results(args: argparse.Namespace) -> int:
    from attnlab.report.records import cmd_results

    return cmd_results(args)


def _add_results_parser(sub: Any) -> None:
    """The ``results`` command: record finished runs and make the results table from them."""
    p_results = sub.add_parser(
        "results",
        help="record finished runs (small committed files) and make the results table",
        description="A record keeps a finished run's config, environment, metrics, times and "
        "verdicts (no checkpoints or data), one file per run under --records. The README's "
        "results table is generated from the records.",
    )
    results_sub = p_results.add_subparsers(dest="results_command", metavar="ACTION",
                                           required=True)
    p_record = results_sub.add_parser("record", help="record finished runs")
    p_record.add_argument("runs", nargs="+", metavar="RUN_DIR",
                          help="a run folder, or a reproduce folder (each finished experiment)")
    p_table = results_sub.add_parser("table", help="the results table from the records")
    p_table.add_argument("--readme", default=None, metavar="FILE",
                         help="rewrite the table between the markers in FILE instead of printing")
    p_table.add_argument("--check", action="store_true",
                         help="with --readme: write nothing; exit 1 if FILE's table is stale")
    p_table.add_argument("--detail", action="store_true",
                         help="one row per target (default: one row per run, headline first)")
    for p in (p_record, p_table):
        p.add_argument("--records", default="results", metavar="DIR",
                       help="records folder (default: ./results)")
    p_results.set_defaults(func=_cmd_results)


# attnlab.report.checks.ALL_SCALES is the authority (a test keeps the two equal); spelled out
# here so that --help imports nothing heavy.
_SCALES = ("smoke", "quick", "full", "paper")


def _add_run_options(parser: argparse.ArgumentParser, *, default_out: str) -> None:
    """Options shared by ``run`` and ``reproduce``."""
    parser.add_argument(
        "--scale",
        choices=_SCALES,
        default=None,
        help="smoke: seconds (pipeline check); quick: minutes (default); full: the paper's "
        "schedule; paper: the paper's protocol with seeds or a significance test, about an "
        "hour (only the experiments that define it; reproduce skips the others) "
        "(with --resume: the recorded one)",
    )
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (default 0; with --resume: the recorded one)")
    _add_threads_option(parser)
    parser.add_argument(
        "--data-dir",
        default=None,
        metavar="D",
        help="dataset folder (default: $ATTNLAB_DATA, then the loaders' cache)",
    )
    parser.add_argument("--out", default=None, metavar="DIR", help=f"output folder ({default_out})")
    parser.add_argument(
        "--device", default="cpu", help="cpu (default), cuda, cuda:N or auto"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit with status 1 when a metric misses its paper target",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")
    parser.add_argument(
        "--logger", action="append", default=None, choices=("tensorboard", "mlflow"),
        help="also log the configuration, curves, figures and final metrics to TensorBoard "
        "(RUN_DIR/tensorboard) or MLflow (RUN_DIR/mlruns); repeatable",
    )
    parser.add_argument(
        "--keep-checkpoints", action="store_true",
        help="keep the checkpoint files of finished runs (by default only unfinished runs keep "
        "them, to resume)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="print the Python traceback of an error (it is always kept in the run's log.txt)",
    )


def _add_list_parser(sub: Any) -> None:
    """``attnlab list``: the registered mechanisms and their tags."""
    p_list = sub.add_parser(
        "list",
        help="list registered mechanisms with their survey tags",
        description="List registered mechanisms; filters combine (a mechanism must carry all).",
    )
    for axis, examples in _TAG_EXAMPLES.items():  # checked against the registry's vocabulary
        p_list.add_argument(f"--{axis}", metavar="TAG",
                            help=f"only mechanisms tagged {axis}=TAG ({examples})")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_list.set_defaults(func=_cmd_list)


def _add_demo_parser(sub: Any) -> None:
    """``attnlab demo``: a tiny model learns retrieval and shows its weights."""
    p_demo = sub.add_parser(
        "demo",
        help="train a tiny attention model on generated data and show its weights",
        description=(
            "Key-value retrieval: each example is a padded list of (key, value) symbol pairs and "
            "a query key; the model must return the query's value. An additive (Bahdanau) "
            "attention reads the list, and its weights should land on the matching key."
        ),
    )
    p_demo.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
    p_demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p_demo.add_argument(
        "--out", default="attnlab-demo", help="folder for the plot (default ./attnlab-demo)"
    )
    p_demo.add_argument("--no-plot", action="store_true", help="do not write the PNG plot")
    p_demo.add_argument("--quiet", action="store_true", help="no progress bar")
    p_demo.add_argument(
        "--min-accuracy",
        type=float,
        default=0.0,
        help="exit with status 1 when test accuracy is below this (default 0: never)",
    )
    p_demo.set_defaults(func=_cmd_demo)


def _add_experiment_parsers(sub: Any) -> None:
    """``attnlab experiments | run | reproduce | report``."""
    p_exps = sub.add_parser(
        "experiments",
        help="list the reproduced claims with data availability and expected CPU time",
        description="List every experiment: its claim, paper, whether its data is available, and "
        "the expected CPU time of each scale.",
    )
    p_exps.add_argument("--data-dir", default=None, metavar="D",
                        help="dataset folder (default: $ATTNLAB_DATA)")
    p_exps.add_argument("--json", action="store_true", help="print JSON instead of text")
    p_exps.add_argument(
        "--record-timings", default=None, metavar="REPRODUCE_DIR",
        help="add the CPU times of a finished reproduce folder to the recorded timings "
        "(for maintainers: rewrites attnlab/experiments/timings.json)",
    )
    p_exps.set_defaults(func=_cmd_experiments)

    p_run = sub.add_parser(
        "run",
        help="run one experiment into a run directory with an HTML report",
        description="Run experiment NAME: writes the resolved config, environment, metrics, "
        "learning curves, plots and report.html into the run directory and prints the measured "
        "numbers next to the paper's. Exit status: 0 ok, 1 --check missed a target, 2 bad "
        "usage or missing data, 3 the run failed.",
    )
    p_run.add_argument("name", metavar="NAME", help="experiment name (see: attnlab experiments)")
    p_run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, dotted for nested ones (optim.lr=0.01); repeatable",
    )
    _add_run_options(p_run, default_out="default ./runs/NAME-TIMESTAMP")
    p_run.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out (same experiment, scale and settings)",
    )
    p_run.set_defaults(func=_cmd_run)

    p_repro = sub.add_parser(
        "reproduce",
        help="run every experiment whose data is available; one combined report",
        description="Run all experiments at one scale; those whose data is missing are skipped "
        "with the reason. Writes one folder per experiment, summary.json and report.html.",
    )
    _add_run_options(p_repro, default_out="default ./runs/reproduce-SCALE-TIMESTAMP")
    p_repro.add_argument(
        "--only", action="append", default=None, metavar="NAME",
        help="run only this experiment (repeatable)",
    )
    p_repro.add_argument(
        "--resume", default=None, metavar="DIR",
        help="continue the reproduce folder DIR: finished experiments are kept, the interrupted "
        "one resumes from its last checkpoint",
    )
    p_repro.set_defaults(func=_cmd_reproduce)

    p_report = sub.add_parser(
        "report",
        help="rebuild the HTML report of runs (several runs: one comparison page)",
        description="Rebuild RUN_DIR/report.html for one run, or write one page comparing "
        "several runs (a reproduce folder counts as its runs).",
    )
    p_report.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders")
    p_report.add_argument(
        "--out", default=None, metavar="FILE",
        help="HTML file (default RUN_DIR/report.html for one folder, else ./attnlab-report.html)",
    )
    p_report.add_argument("--title", default=None, help="page title")
    p_report.set_defaults(func=_cmd_report)


def _cmd_explain(args: argparse.Namespace) -> int:
    from attnlab.experiments.explain import cmd_explain

    return cmd_explain(args)


def _add_explain_parser(sub: Any) -> None:
    """``attnlab explain``: a finished run's model on new input, as an attention page."""
    p_explain = sub.add_parser(
        "explain",
        help="show where a finished run's model attends on your input (an HTML page)",
        description="Rebuild the trained model of the finished run RUN_DIR, run it on TEXT and "
        "write a standalone page where the layer, head and query token are chosen "
        "interactively. Experiments that support it: vaswani2017_translation. Exit status: "
        "0 written, 2 the run cannot be explained (the reason is printed).",
    )
    p_explain.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    p_explain.add_argument("--input", required=True, metavar="TEXT",
                           help="the input, as plain text (tokenised like the training data)")
    p_explain.add_argument("--out", default=None, metavar="FILE",
                           help="HTML file (default RUN_DIR/explain.html)")
    p_explain.set_defaults(func=_cmd_explain)


def _add_bench_parser(sub: Any) -> None:
    """``attnlab bench``: attnlab against its peers."""
    p_bench = sub.add_parser(
        "bench",
        help="time attnlab against the libraries a user would otherwise pick",
        description="Run benchmark suites (default: all) in this process: a table per suite "
        "(median, inter-quartile range, peak memory, GFLOP/s and fraction of the float32 matmul "
        "roofline, ratio against each peer) with its targets, and optionally a JSON document "
        "with the machine. Exit status: 0 done, 1 --check missed a target, 2 bad usage.",
    )
    p_bench.add_argument(
        "--suite", action="extend", nargs="+", default=None, metavar="NAME",
        help="suite(s) to run (repeatable; see --list); default: all",
    )
    p_bench.add_argument("--json", default=None, metavar="OUT", help="write the results here")
    p_bench.add_argument(
        "--markdown",
        default=None,
        metavar="OUT",
        help="write a Markdown page of the run (machine, targets, tables), as BENCHMARKS.md",
    )
    p_bench.add_argument(
        "--quick", action="store_true",
        help="small sizes: every suite in about two minutes (targets stated for the issue's "
        "sizes are shown but not judged)",
    )
    p_bench.add_argument("--list", action="store_true", help="list the suites and exit")
    p_bench.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="torch intra-op threads (default: torch's)",
    )
    p_bench.add_argument(
        "--roofline-size", type=int, default=None, metavar="N",
        help="N of the N x N float32 matmul roofline (default 1024 quick, 2048 full; 0: skip)",
    )
    p_bench.add_argument(
        "--no-memory", action="store_true",
        help="skip the peak-memory measurements (each runs in a fresh process)",
    )
    p_bench.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    p_bench.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p_bench.set_defaults(func=_cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``attnlab`` command."""
    from attnlab import __version__

    parser = argparse.ArgumentParser(
        prog="attnlab",
        description="Attention mechanisms as tested PyTorch modules that show their attention.",
    )
    parser.add_argument("--version", action="version", version=f"attnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _add_list_parser(sub)
    _add_demo_parser(sub)
    _add_experiment_parsers(sub)
    _add_data_parser(sub)
    _add_results_parser(sub)
    _add_explain_parser(sub)
    _add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``attnlab`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["attnlab", *(sys.argv[1:] if argv is None else argv)]
    if getattr(args, "steps", 1) is not None and getattr(args, "steps", 1) < 1:
        parser.error("--steps must be >= 1")
    try:
        return int(args.func(args))
    except BrokenPipeError:  # the reader went away (``attnlab data list | head``): stop quietly
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (no flush error at exit)
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
