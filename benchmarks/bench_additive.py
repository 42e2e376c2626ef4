"""Chunked vs materialising additive (Bahdanau) attention scores: time and peak memory.

A thin wrapper over the library suite: the measurement lives in :mod:`attnlab.bench` (suite
``additive``), this script only forwards its options to the command line tool::

    python benchmarks/bench_additive.py [--quick] [--json OUT] [--threads N] [--no-memory]

is ``attnlab bench --suite additive [options]`` (see ``attnlab bench --list`` for the sizes).
"""

from __future__ import annotations

import sys

from attnlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "--suite", "additive", *sys.argv[1:]]))
