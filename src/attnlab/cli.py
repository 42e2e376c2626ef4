"""The ``attnlab`` command line.

``attnlab list`` prints the registered mechanisms with their survey tags; ``attnlab demo`` trains a
tiny attention model on generated data and shows what its attention learned.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from attnlab.core.registry import TAG_VOCABULARY

__all__ = ["build_parser", "main"]


def _cmd_list(args: argparse.Namespace) -> int:
    import attnlab

    entries = attnlab.list_mechanisms(
        sequences=args.sequences,
        levels=args.levels,
        positions=args.positions,
        representations=args.representations,
    )
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``attnlab`` command."""
    from attnlab import __version__

    parser = argparse.ArgumentParser(
        prog="attnlab",
        description="Attention mechanisms as tested PyTorch modules that show their attention.",
    )
    parser.add_argument("--version", action="version", version=f"attnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p_list = sub.add_parser(
        "list",
        help="list registered mechanisms with their survey tags",
        description="List registered mechanisms; filters combine (a mechanism must carry all).",
    )
    for axis, values in TAG_VOCABULARY.items():
        p_list.add_argument(f"--{axis}", choices=values, help=f"only mechanisms tagged {axis}=...")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_list.set_defaults(func=_cmd_list)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``attnlab`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "steps", 1) is not None and getattr(args, "steps", 1) < 1:
        parser.error("--steps must be >= 1")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
