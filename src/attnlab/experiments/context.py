"""What a running experiment receives besides its config: :class:`RunContext`."""

from __future__ import annotations

import contextlib
import io
import logging
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from attnlab.interpret.plots import PlottingUnavailableError
from attnlab.report.rundir import RunDirectory, safe_plot_name
from attnlab.train.trackers import Tracker

__all__ = ["RunContext"]


@dataclass
class RunContext:
    """The run's folder, seed, data location, device and helpers to log, plot and save.

    Args:
        experiment: the experiment's name.
        scale: ``"smoke"``, ``"quick"`` or ``"full"``.
        run_dir: the run folder (created and writable).
        seed: the seed; the runner has already seeded ``random``, ``numpy`` and ``torch`` with it.
            Derive generators from it (``torch.Generator().manual_seed(ctx.seed)``).
        data_dir: where datasets live: ``--data-dir``, else ``$ATTNLAB_DATA``, else ``None``
            (the data loaders' default cache). Pass it to the loaders unchanged.
        device: where to train (``--device``; CPU by default).
        progress: whether to show progress bars (``False`` under ``--quiet``).
        logger: the run's logger (to ``log.txt`` and, unless quiet, the terminal).
        resume: ``--resume`` was given: continue from the checkpoints in :attr:`checkpoint_dir`.
        is_main: ``False`` in the non-zero ranks of a ``torchrun`` job, which write nothing
            (plots are dropped; the training loop writes checkpoints from rank 0 only).

    Matplotlib is optional, so draw and save every figure inside ``with ctx.plotting(name):``
    (see :meth:`plotting`): without matplotlib the figure is skipped and recorded in
    :attr:`missing_plots` (the runner stores them in ``run.json`` and the report lists them),
    and the run still finishes with its metrics. Compute metrics outside such blocks.

    Example:
        >>> import logging, tempfile
        >>> ctx = RunContext("demo", "smoke", Path(tempfile.mkdtemp()), 0, None,
        ...                  torch.device("cpu"), False, logging.getLogger("demo"))
        >>> ctx.log("val/accuracy", 0.5, step=10)
        >>> ctx.history
        {'val/accuracy': [(10.0, 0.5)]}
    """

    experiment: str
    scale: str
    run_dir: Path
    seed: int
    data_dir: Path | None
    device: torch.device
    progress: bool
    logger: logging.Logger
    resume: bool = False
    is_main: bool = True
    history: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    plots: list[dict[str, str]] = field(default_factory=list)
    saved_plots: set[str] = field(default_factory=set)
    #: Figures skipped because matplotlib is missing: ``{"name": ..., "reason": ...}`` each.
    missing_plots: list[dict[str, str]] = field(default_factory=list)
    #: Experiment trackers (``--logger``) that receive every logged point and saved figure.
    trackers: list[Tracker] = field(default_factory=list)

    @property
    def plots_dir(self) -> Path:
        """``RUN_DIR/plots``."""
        return self.run_dir / "plots"

    @property
    def checkpoint_dir(self) -> Path:
        """``RUN_DIR/checkpoints`` (created on first access) for the training loop's files.

        Give each trained model its own ``fit(..., run_dir=ctx.checkpoint_dir / name)``: when
        the run finishes, the best weights ``fit`` exported there are moved to
        ``RUN_DIR/model`` (one model) or ``RUN_DIR/model/<name>`` (several), loadable with
        ``attnlab.from_pretrained``, and listed in ``run.json`` under ``"models"``.
        """
        path = self.run_dir / "checkpoints"
        path.mkdir(exist_ok=True)
        return path

    def path(self, name: str) -> Path:
        """``RUN_DIR/name`` for any other artefact (write it atomically, e.g. with
        :func:`attnlab.report.atomic_write_bytes`)."""
        return self.run_dir / name

    def log(self, name: str, value: float, *, step: float | None = None) -> None:
        """Append a point to the learning curve ``name`` (e.g. ``"cnn/train_loss"``).

        Series sharing the part after the last ``/`` are drawn on one panel of the learning-curve
        plot. ``step`` defaults to the number of points already in the series. A point at a step
        the series already reached replaces the points from that step on (a resumed run that
        replays steps after its last checkpoint leaves one consistent curve).
        """
        if not isinstance(value, numbers.Real) and not (
            isinstance(value, torch.Tensor) and value.numel() == 1
        ):
            raise TypeError(
                f"history value of {name!r} must be a number, got {type(value).__name__}"
            )
        series = self.history.setdefault(str(name), [])
        at = float(len(series) if step is None else step)
        if series and series[-1][0] >= at:
            series[:] = [p for p in series if p[0] < at]
        series.append((at, float(value)))
        if self.is_main:
            for tracker in self.trackers:
                tracker.log_scalar(str(name), float(value), round(at))

    def log_history(
        self, history: Mapping[str, Sequence[Any]], *, prefix: str = ""
    ) -> None:
        """Record whole curves: name -> values (one per epoch/evaluation) or ``(step, value)``.

        Args:
            history: e.g. the history the training loop returns, ``{"train_loss": [...]}``.
            prefix: prepended to every name, e.g. ``"st_cnn/"`` to compare models.
        """
        for name, points in history.items():
            for index, point in enumerate(points):
                if isinstance(point, (tuple, list)):
                    step, value = point
                    self.log(prefix + name, value, step=float(step))
                else:
                    self.log(prefix + name, point, step=index)

    def log_records(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        prefix: str = "",
        x: str = "epoch",
        skip: Sequence[str] = ("epoch", "step", "time"),
    ) -> None:
        """Record per-epoch records such as ``attnlab.train.fit(...).history``.

        Every numeric field but ``skip`` becomes a curve ``prefix + field`` with ``record[x]`` as
        its step; ``None`` values (e.g. epochs without validation) are left out.

        Example:
            >>> import logging, tempfile
            >>> ctx = RunContext("demo", "smoke", Path(tempfile.mkdtemp()), 0, None,
            ...                  torch.device("cpu"), False, logging.getLogger("demo"))
            >>> ctx.log_records([{"epoch": 1, "train_loss": 0.9, "val_error": None},
            ...                  {"epoch": 2, "train_loss": 0.5, "val_error": 0.1}], prefix="cnn/")
            >>> ctx.history
            {'cnn/train_loss': [(1.0, 0.9), (2.0, 0.5)], 'cnn/val_error': [(2.0, 0.1)]}
        """
        for index, record in enumerate(records):
            at = record.get(x, index)
            for key, value in record.items():
                if key in skip or value is None or isinstance(value, bool):
                    continue
                if isinstance(value, numbers.Real) or (
                    isinstance(value, torch.Tensor) and value.numel() == 1
                ):
                    self.log(prefix + str(key), float(value), step=float(at))

    def save_plot(self, figure: Any, name: str, *, caption: str = "", dpi: int = 110) -> Path:
        """Save a matplotlib figure (or axes) to ``plots/<name>.png`` atomically and close it.

        The plot appears in ``report.html`` in the order saved, under ``caption``.

        Args:
            figure: a ``Figure`` or an ``Axes``.
            name: file name (letters, digits, ``_.-``), ``.png`` added.
            caption: what the plot shows, for the report.
            dpi: resolution.

        Returns:
            The PNG's path.
        """
        from attnlab.interpret.viz import close_figure

        file_name = safe_plot_name(name)
        fig = getattr(figure, "figure", figure)
        if not self.is_main:
            close_figure(fig)
            return self.plots_dir / file_name
        buffer = io.BytesIO()
        try:
            fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        finally:
            close_figure(fig)
        path = RunDirectory(self.run_dir).save_plot_bytes(file_name, buffer.getvalue())
        for tracker in self.trackers:
            tracker.log_image(f"plots/{path.stem}", buffer.getvalue())
        entry = {"file": f"plots/{file_name}", "caption": caption}
        for index, existing in enumerate(self.plots):
            if existing.get("file") == entry["file"]:
                self.plots[index] = entry  # saved again (e.g. by a resumed run): keep its place
                break
        else:
            self.plots.append(entry)
        self.saved_plots.add(file_name)
        return path

    @contextlib.contextmanager
    def plotting(self, name: str) -> Iterator[None]:
        """A block that draws and saves the figure ``name``; skipped when matplotlib is missing.

        A :class:`~attnlab.interpret.viz.PlottingUnavailableError` raised in the block (by
        any view of :mod:`attnlab.interpret.viz`, which all import matplotlib through one
        gate) ends the block quietly: the figure is recorded
        in :attr:`missing_plots` with the reason, and the first such figure of a run logs one
        warning. Any other error propagates. Keep metric computation out of the block: what it
        computes is lost when the figure is skipped.

        Args:
            name: the figure's name as the report lists it (best: the name given to
                :meth:`save_plot`).

        Raises:
            ValueError: ``name`` is not a non-empty string.

        Example:
            >>> import logging, tempfile
            >>> ctx = RunContext("demo", "smoke", Path(tempfile.mkdtemp()), 0, None,
            ...                  torch.device("cpu"), False, logging.getLogger("demo"))
            >>> with ctx.plotting("attention_heatmap"):
            ...     raise PlottingUnavailableError("plotting needs matplotlib")
            >>> ctx.missing_plots
            [{'name': 'attention_heatmap', 'reason': 'plotting needs matplotlib'}]
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"plotting name must be a non-empty string, got {name!r}")
        try:
            yield
        except PlottingUnavailableError as error:
            if not self.missing_plots and self.is_main:
                self.logger.warning(
                    "matplotlib is not installed: figures skipped; pip install 'attnlab[plot]'"
                )
            entry = {"name": name, "reason": str(error)}
            self.missing_plots[:] = [m for m in self.missing_plots if m.get("name") != name]
            self.missing_plots.append(entry)

    def finite_history(self) -> dict[str, list[tuple[float, float]]]:
        """The history without series that hold no finite value."""
        return {
            name: points
            for name, points in self.history.items()
            if any(math.isfinite(v) for _, v in points)
        }
