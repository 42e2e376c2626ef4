"""Banded local attention vs masked global attention: time and peak memory.

A thin wrapper over the library suite: the measurement lives in :mod:`attnlab.bench` (suite
``local``), this script only forwards its options to the command line tool::

    python benchmarks/bench_local.py [--quick] [--json OUT] [--threads N] [--no-memory]

is ``attnlab bench --suite local [options]`` (see ``attnlab bench --list`` for the sizes).
"""

from __future__ import annotations

import sys

from attnlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "--suite", "local", *sys.argv[1:]]))
