"""Multi-head attention vs nn.MultiheadAttention and raw SDPA.

A thin wrapper over the library suite: the measurement lives in :mod:`attnlab.bench` (suite
``multihead``), this script only forwards its options to the command line tool::

    python benchmarks/bench_multihead.py [--quick] [--json OUT] [--threads N] [--no-memory]

is ``attnlab bench --suite multihead [options]`` (see ``attnlab bench --list`` for the sizes).
"""

from __future__ import annotations

import sys

from attnlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "--suite", "multihead", *sys.argv[1:]]))
