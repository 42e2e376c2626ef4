"""Experiment trackers: TensorBoard event files and MLflow runs, fed by the training loop.

A :class:`Tracker` receives the resolved configuration (as hyper-parameters), scalars with
their step, and images (PNG bytes: the run's attention plots and learning curves). Two
adapters write what the ecosystem reads: :class:`TensorBoardTracker` (``tensorboard --logdir``)
and :class:`MLflowTracker` (a local MLflow store, ``mlflow ui --backend-store-uri ...``). Both
are optional dependencies (``pip install attnlab[track]``); asking for one that is not installed
is a clear error, not a silent no-op.

With :func:`~attnlab.train.loop.fit`, pass ``callbacks=[TrackerCallback(tracker)]``; ``attnlab
run NAME --logger tensorboard`` (or ``mlflow``, repeatable) does it for every experiment: the
curves the experiment records, its figures, its configuration and its final metrics go to
``RUN_DIR/tensorboard/`` and ``RUN_DIR/mlruns/``.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attnlab.train.events import Callback, FitState

__all__ = [
    "TRACKERS",
    "MLflowTracker",
    "TensorBoardTracker",
    "Tracker",
    "TrackerCallback",
    "TrackerUnavailableError",
    "flatten_params",
    "make_tracker",
]

#: The tracker names ``--logger`` accepts.
TRACKERS: tuple[str, ...] = ("tensorboard", "mlflow")


class TrackerUnavailableError(ImportError):
    """The tracker's package is not installed; the message says which one to install."""


class Tracker:
    """Where a run's parameters, scalars and images go. Subclasses override what they store."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """The run's configuration (flat ``name -> value``; nested mappings are flattened)."""

    def log_scalar(self, name: str, value: float, step: int) -> None:
        """One point of the series ``name``."""

    def log_image(self, name: str, png: bytes, step: int = 0) -> None:
        """One PNG image."""

    def close(self, *, status: str = "finished", metrics: Mapping[str, float] | None = None,
              ) -> None:
        """Flush and close; ``metrics`` are the run's final numbers."""


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}} -> {"optim.lr": 0.1}``; lists become JSON text.

    Example:
        >>> flatten_params({"optim": {"lr": 0.1, "betas": [0.9, 0.99]}, "seed": 0})
        {'optim.lr': 0.1, 'optim.betas': '[0.9, 0.99]', 'seed': 0}
    """
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        elif value is None or isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, default=str)
    return flat


def _png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        raise ValueError("png must be the bytes of a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


class TensorBoardTracker(Tracker):
    """TensorBoard event files in ``log_dir`` (``torch.utils.tensorboard``; needs the
    ``tensorboard`` package). The configuration is written as text and, at the end, as
    hyper-parameters next to the final metrics; images keep their PNG encoding."""

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise TrackerUnavailableError(
                "the tensorboard tracker needs the tensorboard package: pip install "
                "'attnlab[track]' (or pip install tensorboard)"
            ) from error
        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        self._params: dict[str, Any] = {}

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._params = flatten_params(params)
        rows = "\n".join(f"| {k} | {v} |" for k, v in self._params.items())
        self.writer.add_text("config", "| parameter | value |\n|---|---|\n" + rows, 0)

    def log_scalar(self, name: str, value: float, step: int) -> None:
        self.writer.add_scalar(name, float(value), int(step))

    def log_image(self, name: str, png: bytes, step: int = 0) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        width, height = _png_size(png)
        image = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=png)
        summary = Summary(value=[Summary.Value(tag=name, image=image)])
        self.writer._get_file_writer().add_summary(summary, int(step))

    def close(self, *, status: str = "finished", metrics: Mapping[str, float] | None = None,
              ) -> None:
        if metrics:
            hparams = {k: v for k, v in self._params.items()
                       if isinstance(v, (bool, int, float, str))}
            self.writer.add_hparams(hparams, {f"final/{k}": float(v) for k, v in metrics.items()},
                                    run_name=".")
        self.writer.add_text("status", status, 0)
        self.writer.close()


_MLFLOW_NAME = re.compile(r"[^0-9A-Za-z_\-. /]")


class MLflowTracker(Tracker):
    """One MLflow run in a local store (``tracking_uri``, default ``file:<directory>``; needs
    the ``mlflow`` or ``mlflow-skinny`` package). Images are logged as artifacts under
    ``plots/``; the run ends ``FINISHED`` or ``FAILED``.

    MLflow's file store refuses to start unless ``MLFLOW_ALLOW_FILE_STORE`` is set; for a
    ``file:`` URI this tracker sets it (a database store needs extra packages).
    """

    def __init__(self, directory: str | os.PathLike[str], *, experiment: str = "attnlab",
                 run_name: str | None = None, tracking_uri: str | None = None) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as error:
            raise TrackerUnavailableError(
                "the mlflow tracker needs the mlflow package: pip install 'attnlab[track]' "
                "(or pip install mlflow-skinny)"
            ) from error
        uri = tracking_uri or Path(directory).resolve().as_uri()
        if uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.tracking_uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = (found.experiment_id if found is not None
                         else self.client.create_experiment(experiment))
        self.run_id: str = self.client.create_run(experiment_id, run_name=run_name).info.run_id

    @staticmethod
    def _name(name: str) -> str:
        return _MLFLOW_NAME.sub("_", name)

    def log_params(self, params: Mapping[str, Any]) -> None:
        for key, value in flatten_params(params).items():
            self.client.log_param(self.run_id, self._name(key), str(value)[:6000])

    def log_scalar(self, name: str, value: float, step: int) -> None:
        self.client.log_metric(self.run_id, self._name(name), float(value), step=int(step))

    def log_image(self, name: str, png: bytes, step: int = 0) -> None:
        _png_size(png)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / (self._name(name).replace("/", "_") + ".png")
            path.write_bytes(png)
            self.client.log_artifact(self.run_id, str(path), "plots")

    def close(self, *, status: str = "finished", metrics: Mapping[str, float] | None = None,
              ) -> None:
        for key, value in (metrics or {}).items():
            self.client.log_metric(self.run_id, self._name(f"final/{key}"), float(value))
        self.client.set_terminated(self.run_id, "FINISHED" if status == "finished" else "FAILED")


def make_tracker(kind: str, run_dir: str | os.PathLike[str], *, name: str) -> Tracker:
    """The tracker ``kind`` (``"tensorboard"`` or ``"mlflow"``) writing under ``run_dir``.

    Raises:
        ValueError: unknown kind. TrackerUnavailableError: its package is not installed.
    """
    if kind == "tensorboard":
        return TensorBoardTracker(Path(run_dir) / "tensorboard")
    if kind == "mlflow":
        return MLflowTracker(Path(run_dir) / "mlruns", experiment=name,
                             run_name=Path(run_dir).name)
    raise ValueError(f"unknown tracker {kind!r}; expected one of {TRACKERS}")


class TrackerCallback(Callback):
    """Feed a :class:`Tracker` from :func:`~attnlab.train.loop.fit`: the training
    configuration at the start, the step loss every ``every`` steps, every numeric field of
    each epoch's record (``train_loss``, ``val_accuracy``, ``lr`` ...) at its epoch; rank 0 only.
    Closing the tracker stays with the caller (a run may call ``fit`` several times).
    """

    def __init__(self, tracker: Tracker, *, prefix: str = "", every: int = 10) -> None:
        self.tracker, self.prefix, self.every = tracker, prefix, max(1, int(every))

    def on_train_begin(self, state: FitState) -> None:
        if state.rank == 0:
            config = getattr(state.config, "__dict__", {})
            self.tracker.log_params({f"{self.prefix}train": dict(config)})

    def on_step_end(self, state: FitState) -> None:
        if state.rank == 0 and state.loss is not None and state.step % self.every == 0:
            self.tracker.log_scalar(f"{self.prefix}train/step_loss", state.loss, state.step)

    def on_epoch_end(self, state: FitState) -> None:
        if state.rank != 0 or not state.history:
            return
        record = state.history[-1]
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.tracker.log_scalar(f"{self.prefix}{key}", float(value), state.epoch)
