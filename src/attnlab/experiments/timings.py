"""Expected run times from recorded runs, not guesses.

``timings.json`` (shipped with the package) holds, per experiment and scale, the CPU and wall
seconds of a recorded ``attnlab reproduce`` run, with the machine, thread count and date it was
measured under. ``attnlab experiments`` shows those numbers, and ``reproduce`` uses them to
estimate the time left; an experiment not recorded yet falls back to its declared
``cpu_time``, shown as an estimate.

Record a new reproduce folder with ``attnlab experiments --record-timings RUN_DIR`` (it updates
``timings.json`` in place, keeping the entries of other scales and experiments).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["TIMINGS_FILE", "expected_seconds", "record_timings", "recorded_timings"]

TIMINGS_FILE = "timings.json"


@functools.lru_cache(maxsize=1)
def recorded_timings() -> dict[str, Any]:
    """The recorded timings: ``{"runs": {name: {scale: {...}}}, ...}`` (empty when none)."""
    try:
        text = resources.files("attnlab.experiments").joinpath(TIMINGS_FILE).read_text("utf-8")
    except (FileNotFoundError, OSError):
        return {"runs": {}}
    data = json.loads(text)
    return data if isinstance(data, dict) and isinstance(data.get("runs"), dict) else {"runs": {}}


def expected_seconds(name: str, scale: str, declared: Mapping[str, float]) -> tuple[float, bool]:
    """``(seconds, measured)``: the recorded CPU seconds of ``name`` at ``scale`` when there
    are any (``measured=True``), else the declared estimate."""
    entry = recorded_timings()["runs"].get(name, {}).get(scale)
    if isinstance(entry, dict) and isinstance(entry.get("cpu_s"), (int, float)):
        return float(entry["cpu_s"]), True
    return float(declared.get(scale, 60)), False


def record_timings(run_dir: str | Path, *, target: str | Path | None = None) -> dict[str, Any]:
    """Add the finished runs of the reproduce folder ``run_dir`` to ``timings.json``.

    Runs kept from an earlier attempt (``reused``) and runs that did not finish are left out.
    Returns the updated document.
    """
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    path = Path(target) if target is not None else Path(__file__).with_name(TIMINGS_FILE)
    document: dict[str, Any] = (json.loads(path.read_text(encoding="utf-8"))
                                if path.is_file() else {})
    document.setdefault("about", "CPU and wall seconds of recorded reproduce runs, per scale; "
                                 "attnlab experiments --record-timings RUN_DIR adds a run")
    runs = document.setdefault("runs", {})
    for run in summary.get("runs", []):
        if run.get("status") != "finished" or run.get("reused") or run.get("cpu_s") is None:
            continue
        meta = json.loads((run_dir / run["dir"] / "run.json").read_text(encoding="utf-8"))
        environment = meta.get("environment") or {}
        runs.setdefault(run["name"], {})[summary["scale"]] = {
            "cpu_s": round(float(run["cpu_s"]), 1),
            "wall_s": round(float(run["duration_s"]), 1),
            "threads": (meta.get("threads") or {}).get("threads"),
            "machine": f"{environment.get('cpu_count')} CPUs, {environment.get('platform')}",
            "date": str(meta.get("finished") or summary.get("started"))[:10],
            "data": "stand-in" if run.get("data_fallbacks") else "real or generated",
        }
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    recorded_timings.cache_clear()
    return document
