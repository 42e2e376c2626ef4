"""``attnlab explain RUN_DIR --input TEXT``: the attention of a finished run's model on new input.

An experiment opts in with an *explain hook*: a function ``explain(run_dir, text) ->
AttentionExample`` that rebuilds the run's trained model (and its tokeniser) from the run folder,
runs it on ``text`` and returns the token attention it recorded
(:class:`~attnlab.report.attention_view.AttentionExample`). :data:`EXPLAINERS` lists the hooks,
by experiment name, as ``"module:function"`` paths imported only when used; :func:`explain_run`
checks the run folder, calls the hook and writes a standalone page with the interactive view of
:mod:`attnlab.report.attention_view`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

from attnlab.report.attention_view import AttentionExample, render_page, view_data
from attnlab.report.files import ReportError, atomic_write_text, read_json
from attnlab.report.rundir import RUN_FILE

__all__ = ["EXPLAINERS", "EXPLAIN_FILE", "ExplainError", "cmd_explain", "explain_run", "explainer"]

#: Experiment name -> ``"module:function"`` of its explain hook. A new hook is added here.
EXPLAINERS: dict[str, str] = {
    "vaswani2017_translation":
        "attnlab.experiments.vaswani2017_translation.attention_view:explain",
}

#: The page's default name, in the run folder.
EXPLAIN_FILE = "explain.html"

ExplainHook = Callable[[Path, str], AttentionExample]


class ExplainError(RuntimeError):
    """A run cannot be explained: no such folder, an unfinished run, an experiment without a
    hook, a run folder missing the model or its vocabulary, or an unusable input."""


def explainer(name: str) -> ExplainHook:
    """The explain hook of experiment ``name``.

    Raises:
        ExplainError: the experiment has no hook (the message names those that have one).
    """
    path = EXPLAINERS.get(name)
    if path is None:
        supported = ", ".join(sorted(EXPLAINERS)) or "none"
        raise ExplainError(
            f"experiment {name!r} does not support explain; experiments that do: {supported}"
        )
    module_name, _, function = path.partition(":")
    hook: ExplainHook = getattr(importlib.import_module(module_name), function)
    return hook


def explain_run(run_dir: str | Path, text: str, *, out: str | Path | None = None) -> Path:
    """Write the attention of run ``run_dir``'s trained model on ``text`` as a standalone page.

    Args:
        run_dir: a finished run's folder.
        text: the input, as a person would type it (the hook tokenises it).
        out: the HTML file (default ``RUN_DIR/explain.html``).

    Returns:
        The page's path.

    Raises:
        ExplainError: ``run_dir`` is not a run folder, the run did not finish, its experiment
            has no explain hook, the hook cannot rebuild the model, or ``text`` is unusable.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ExplainError(f"{str(folder)!r} is not a run folder (no such folder)")
    if not isinstance(text, str) or not text.strip():
        raise ExplainError("--input must be non-empty text")
    try:
        meta = read_json(folder / RUN_FILE)
    except ReportError as error:
        raise ExplainError(f"{str(folder)!r} is not a run folder: {error}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("experiment"), str):
        raise ExplainError(f"{folder / RUN_FILE} does not name an experiment")
    name = meta["experiment"]
    status = meta.get("status", "unknown")
    if status != "finished":
        raise ExplainError(
            f"the {name} run in {str(folder)!r} is {status}, not finished: explain needs the "
            "trained model of a finished run"
        )
    example = explainer(name)(folder, text)
    page = render_page(
        view_data([example]),
        title=f"attnlab explain: {name}",
        intro=f"The attention of the model trained in {folder} on the input {text!r}.",
    )
    target = Path(out) if out is not None else folder / EXPLAIN_FILE
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(target, page)
    except OSError as error:
        raise ExplainError(f"cannot write {str(target)!r}: {error.strerror or error}") from None


def cmd_explain(args: argparse.Namespace) -> int:
    """``attnlab explain``: 0 written, 2 when the run cannot be explained (the reason on
    stderr)."""
    try:
        path = explain_run(args.run_dir, args.input, out=args.out)
    except ExplainError as error:
        print(f"attnlab explain: error: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0
