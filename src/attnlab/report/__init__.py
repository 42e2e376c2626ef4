"""Run directories and their self-contained HTML reports.

:class:`~attnlab.report.rundir.RunDirectory` creates a run folder (failing early when it cannot be
written) and writes its files atomically; :func:`~attnlab.report.html.write_report` turns one or
more run folders into a single HTML page with the measured numbers next to the paper's, the plots,
the configuration and the environment.
"""

from attnlab.report.checks import CheckResult, Target, check_targets, format_value
from attnlab.report.files import (
    ReportError,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_json,
)
from attnlab.report.html import RunRecord, load_run, render_report, write_report
from attnlab.report.rundir import RunDirectory, default_run_dir

__all__ = [
    "CheckResult",
    "ReportError",
    "RunDirectory",
    "RunRecord",
    "Target",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_targets",
    "default_run_dir",
    "format_value",
    "load_run",
    "read_json",
    "render_report",
    "write_report",
]
