"""Benchmark helpers: wall-clock timing of models and a description of the machine that ran them.

Used by the ``hu2018_se_overhead`` experiment and by the scripts in ``benchmarks/``; see
:mod:`attnlab.bench.timing`.
"""

from attnlab.bench.timing import (
    Machine,
    Timing,
    cpu_model,
    describe_machine,
    num_threads,
    time_models,
)

__all__ = ["Machine", "Timing", "cpu_model", "describe_machine", "num_threads", "time_models"]
