"""The experiment registry: what ``attnlab experiments`` lists and ``attnlab run NAME`` runs.

An :class:`Experiment` bundles a claim from a paper, the paper, a frozen config dataclass whose
defaults are the paper's hyper-parameters, the ``smoke``/``quick``/``full`` scales (and, for some,
the optional ``paper`` scale), the targets the run is checked against, the expected CPU time,
the datasets it needs and the function that runs it.

The built-in experiments are the packages listed in :data:`EXPERIMENT_PACKAGES`; the registry
imports them on its first lookup (each package's ``__init__`` calls :func:`register_experiment`),
so that one broken package is reported without taking the others down. The names are kept in
the ``name -> entry`` registry of :class:`attnlab.core.registry.Registry`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.resources
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from attnlab.core.registry import Paper, Registry, UnknownNameError
from attnlab.experiments.overrides import (
    ConfigError,
    apply_overrides,
    is_frozen_dataclass,
)
from attnlab.report.checks import ALL_SCALES, OPTIONAL_SCALES, SCALES, Target

if TYPE_CHECKING:  # pragma: no cover
    from attnlab.experiments.context import RunContext

__all__ = [
    "ALL_SCALES",
    "EXPERIMENT_PACKAGES",
    "OPTIONAL_SCALES",
    "SCALES",
    "DataRequirement",
    "Experiment",
    "ExperimentRegistry",
    "ScaleUnavailableError",
    "UnknownExperimentError",
    "current_registry",
    "experiments_with_scale",
    "get_experiment",
    "isolated_registry",
    "list_experiments",
    "register_experiment",
    "scale_unavailable_message",
]

ConfigT = TypeVar("ConfigT")
_NAME = re.compile(r"[a-z][a-z0-9_]*")

#: Experiment packages (sub-folders of :mod:`attnlab.experiments`) registered on first use, in
#: listing order. A new experiment is added here.
EXPERIMENT_PACKAGES: tuple[str, ...] = (
    "demo_retrieval",
    "jaderberg2015_distorted_mnist",
    "jaderberg2015_cluttered_mnist",
    "jaderberg2015_mnist_addition",
    "hu2018_se_accounting",
    "hu2018_se_overhead",
    "hu2018_se_fashion_mnist",
    "vaswani2017_param_counts",
    "vaswani2017_translation",
    "vinyals2015_pointer",
    "yang2016_han_reuters",
    "velickovic2018_gat_cora",
    "lu2016_coattention_sort_of_clevr",
    "bahdanau2015_length",
    "luong2015_local_vs_global",
    "sukhbaatar2015_memn2n_babi",
    "interpretability_faithfulness",
)


class UnknownExperimentError(UnknownNameError):
    """No experiment is registered under the requested name (a :class:`LookupError`)."""


class ScaleUnavailableError(ConfigError):
    """An experiment was asked for an optional scale (``paper``) that it does not define."""


@dataclass(frozen=True)
class DataRequirement:
    """A dataset an experiment reads, and how to tell whether it is there.

    A requirement may name a *fallback*: what the experiment reads instead when the data is
    missing (``"synthetic font-rendered digits"``), allowed only at ``fallback_scales``
    (default ``smoke`` and ``quick``; ``full`` and ``paper`` always need the real data). The
    runner then runs the experiment instead of refusing it, records the source in ``run.json``
    and the report, and prints it. The experiment itself must read the stand-in at those scales
    (e.g. a config with ``data.source="auto"``, see :func:`attnlab.data.mnist.load_digits`).

    Args:
        name: short name (``"mnist"``).
        description: one line for people (``"MNIST IDX files, 60k train / 10k test"``).
        missing: ``missing(data_dir) -> None`` when the data can be read from ``data_dir``
            (``None`` = the loaders' default location), else the reason it cannot
            (``"train-images-idx3-ubyte.gz not found under /data/mnist"``). Must be cheap: it
            runs for every ``attnlab experiments`` listing.
        fallback: what is read instead when the data is missing (``None``: nothing; the
            experiment cannot run without the data).
        fallback_scales: the scales at which the fallback may be used.
        used_metric: for data the experiment may leave unread even when present (an optional
            part of the run), the metric that says whether it was read (``0`` = not read); the
            run then records the source as not used instead of "real".

    Example:
        >>> req = DataRequirement("toy", "toy files", lambda d: "toy.bin not found",
        ...                       fallback="generated toy data")
        >>> req.fallback_at("quick"), req.fallback_at("full")
        ('generated toy data', None)
    """

    name: str
    description: str
    missing: Callable[[Path | None], str | None]
    fallback: str | None = None
    fallback_scales: tuple[str, ...] = ("smoke", "quick")
    used_metric: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fallback_scales", tuple(self.fallback_scales))
        unknown = [s for s in self.fallback_scales if s not in ALL_SCALES]
        if unknown:
            raise ValueError(
                f"data requirement {self.name!r}: fallback_scales must be among {ALL_SCALES}, "
                f"got {unknown}"
            )
        for scale in _REAL_DATA_SCALES:
            if scale in self.fallback_scales:
                raise ValueError(
                    f"data requirement {self.name!r}: the {scale} scale always needs the real "
                    f"data; remove {scale!r} from fallback_scales"
                )
        if self.fallback is not None and not self.fallback.strip():
            raise ValueError(f"data requirement {self.name!r}: fallback must be None or text")

    @classmethod
    def from_resource(
        cls,
        resource: Any,
        description: str,
        *,
        fallback: str | None = None,
        fallback_scales: tuple[str, ...] = ("smoke", "quick"),
        used_metric: str | None = None,
    ) -> DataRequirement:
        """A requirement for an :class:`attnlab.data.resources.Resource` (anything with ``name``,
        ``missing_files(data_dir)`` and ``directory(data_dir)``): available when no file is
        missing; ``fallback`` and ``fallback_scales`` as in the class.
        """

        def missing(data_dir: Path | None) -> str | None:
            absent = list(resource.missing_files(data_dir))
            if not absent:
                return None
            shown = ", ".join(absent[:4])
            more = f" and {len(absent) - 4} more files" if len(absent) > 4 else ""
            return f"{shown}{more} not found under {resource.directory(data_dir)}"

        return cls(str(resource.name), description, missing, fallback, fallback_scales,
                   used_metric)

    def fallback_at(self, scale: str) -> str | None:
        """The fallback allowed at ``scale``, or ``None``."""
        return self.fallback if scale in self.fallback_scales else None

    def status(self, data_dir: Path | None) -> str | None:
        """The reason the data is unavailable, or ``None``; never raises."""
        try:
            reason = self.missing(data_dir)
        except Exception as error:  # a broken check must not break the listing
            return f"{self.name}: availability check failed ({type(error).__name__}: {error})"
        return None if reason is None else f"{self.name}: {reason}"


ScaleSpec = Mapping[str, Any] | Callable[[], Any]

#: Scales that never run on a stand-in for missing data.
_REAL_DATA_SCALES = ("full", "paper")


@dataclass(frozen=True)
class Experiment(Generic[ConfigT]):
    """One reproduced claim.

    Args:
        name: registry name, ``<author><year>_<task>`` in snake case (``jaderberg2015_rts``).
        claim: the claim in one or two sentences, with the paper's number.
        paper: the paper (``None`` only for experiments that reproduce no paper).
        config: a frozen dataclass type; ``config()`` gives the paper's hyper-parameters.
        run: ``run(config, ctx) -> metrics``, the experiment's ``run.main``; metrics map names to
            numbers (``{"rts/cnn/error_pct": 0.9}``).
        scales: ``"smoke"``, ``"quick"`` and ``"full"``, each either a mapping of dotted-key
            overrides applied to the defaults (``{"steps": 20, "optim.lr": 0.1}``, values checked
            against the field types) or a zero-argument callable returning a config (e.g. a
            classmethod ``Config.smoke``). ``smoke`` must finish in seconds (a test runs every
            experiment at smoke scale); ``quick`` in minutes; ``full`` is the paper's schedule.
            An experiment may add ``"paper"`` (:data:`OPTIONAL_SCALES`): the paper's
            architecture and data protocol on a schedule that fits about an hour of a 2-core
            CPU, whose targets judge a mean over seeds with its spread or a paired test.
        cpu_time: expected wall time in seconds on a 2-core CPU for each scale it defines (the
            listing marks it as an estimate until a run of that scale is recorded).
        targets: the numbers ``--check`` compares with (see :class:`~attnlab.report.Target`).
        datasets: the data the experiment reads (empty for generated data).

    Raises:
        ValueError: on a malformed name, a missing required scale or an unknown one,
            ``cpu_time`` not matching the scales, a non-frozen config, a duplicated target
            metric, a target checked at a scale the experiment does not define, or a scale
            whose overrides do not fit the config.
    """

    name: str
    claim: str
    paper: Paper | None
    config: type[ConfigT]
    run: Callable[[ConfigT, RunContext], Mapping[str, float]]
    scales: Mapping[str, ScaleSpec]
    cpu_time: Mapping[str, float]
    targets: tuple[Target, ...] = ()
    datasets: tuple[DataRequirement, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(
                f"experiment name must be snake_case like 'jaderberg2015_rts', got {self.name!r}"
            )
        if not isinstance(self.claim, str) or not self.claim.strip():
            raise ValueError(f"experiment {self.name!r}: claim must be a non-empty string")
        if self.paper is not None and not isinstance(self.paper, Paper):
            raise ValueError(f"experiment {self.name!r}: paper must be a Paper or None")
        if not is_frozen_dataclass(self.config):
            raise ValueError(
                f"experiment {self.name!r}: config must be a frozen dataclass type, "
                f"got {self.config!r}"
            )
        if not callable(self.run):
            raise ValueError(f"experiment {self.name!r}: run must be callable")
        if not set(SCALES) <= set(self.scales) <= set(ALL_SCALES):
            raise ValueError(
                f"experiment {self.name!r}: scales must be exactly {SCALES}, optionally with "
                f"{OPTIONAL_SCALES}, got {tuple(self.scales)}"
            )
        if set(self.cpu_time) != set(self.scales) or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0
            for t in self.cpu_time.values()
        ):
            raise ValueError(
                f"experiment {self.name!r}: cpu_time must give positive seconds for each of "
                f"its scales {self.defined_scales}, got {tuple(self.cpu_time)}"
            )
        object.__setattr__(self, "targets", tuple(self.targets))
        object.__setattr__(self, "datasets", tuple(self.datasets))
        if not all(isinstance(t, Target) for t in self.targets):
            raise ValueError(f"experiment {self.name!r}: targets must be Target instances")
        metrics = [t.metric for t in self.targets]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"experiment {self.name!r}: a target metric is listed twice")
        for target in self.targets:
            undefined = [s for s in target.scales if s not in self.scales]
            if undefined:
                raise ValueError(
                    f"experiment {self.name!r}: target {target.metric!r} is checked at scale "
                    f"{undefined[0]!r}, which the experiment does not define"
                )
        if not all(isinstance(d, DataRequirement) for d in self.datasets):
            raise ValueError(f"experiment {self.name!r}: datasets must be DataRequirement objects")
        for scale in self.defined_scales:  # fail at registration, not at the first run
            try:
                self.make_config(scale)
            except ConfigError as error:
                raise ValueError(f"experiment {self.name!r}: {error}") from error

    @property
    def defined_scales(self) -> tuple[str, ...]:
        """The scales this experiment defines, in the order of :data:`ALL_SCALES`.

        Example:
            >>> get_experiment("demo_retrieval").defined_scales
            ('smoke', 'quick', 'full')
        """
        return tuple(s for s in ALL_SCALES if s in self.scales)

    def has_scale(self, scale: str) -> bool:
        """Whether the experiment defines ``scale`` (always true for :data:`SCALES`)."""
        return scale in self.scales

    def make_config(
        self, scale: str = "full", overrides: Mapping[str, str] | None = None
    ) -> ConfigT:
        """The configuration of ``scale`` with command-line ``overrides`` (strings) applied.

        Raises:
            ScaleUnavailableError: ``scale`` is an optional scale (``paper``) this experiment
                does not define; the message names the experiments that do.
            ConfigError: unknown scale, unknown key or a value of the wrong type.
        """
        if scale not in ALL_SCALES:
            raise ConfigError(
                f"unknown scale {scale!r}; expected one of {', '.join(ALL_SCALES)}"
            )
        if scale not in self.scales:
            raise ScaleUnavailableError(scale_unavailable_message(self, scale))
        spec = self.scales[scale]
        where = f" for experiment {self.name}"
        if isinstance(spec, Mapping):
            config = apply_overrides(
                self.config(), spec, where=f" in scale {scale!r} of experiment {self.name}"
            )
        else:
            config = spec()
            if not isinstance(config, self.config):
                raise ConfigError(
                    f"scale {scale!r} of experiment {self.name} returned "
                    f"{type(config).__name__}, not {self.config.__name__}"
                )
        if overrides:
            config = apply_overrides(config, overrides, from_strings=True, where=where)
        return config

    def data_missing(self, data_dir: Path | None, scale: str | None = None) -> list[str]:
        """Reasons the experiment cannot run for lack of data; empty when it can.

        Without ``scale`` every missing dataset counts; with it, a missing dataset whose
        fallback is allowed at ``scale`` does not (see :meth:`data_fallbacks`).
        """
        return [
            reason
            for d in self.datasets
            if (reason := d.status(data_dir)) is not None
            and (scale is None or d.fallback_at(scale) is None)
        ]

    def data_fallbacks(self, data_dir: Path | None, scale: str) -> dict[str, str]:
        """Dataset name -> its fallback, for every missing dataset that ``scale`` replaces by
        its fallback; empty when all the real data is there."""
        return {
            d.name: replacement
            for d in self.datasets
            if (replacement := d.fallback_at(scale)) is not None
            and d.status(data_dir) is not None
        }

    @property
    def package(self) -> str:
        """The Python package that defines the experiment (where its README lives)."""
        return self.config.__module__.rpartition(".")[0] or self.config.__module__

    def readme(self) -> str | None:
        """The experiment's ``README.md`` (claim, paper number, tolerance, CPU time), if any."""
        try:
            return (importlib.resources.files(self.package) / "README.md").read_text("utf-8")
        except (OSError, ModuleNotFoundError, TypeError, ValueError):
            return None


def experiments_with_scale(scale: str) -> list[str]:
    """Names of the registered experiments that define ``scale``, sorted.

    Example:
        >>> "demo_retrieval" in experiments_with_scale("quick")
        True
    """
    return [e.name for e in list_experiments() if e.has_scale(scale)]


def scale_unavailable_message(experiment: Experiment[Any], scale: str) -> str:
    """Why ``experiment`` cannot run at ``scale``, naming the experiments that can."""
    others = experiments_with_scale(scale)
    which = ", ".join(others) if others else "none is registered"
    return (f"experiment {experiment.name} defines no {scale} scale (its scales: "
            f"{', '.join(experiment.defined_scales)}); experiments with a {scale} scale: "
            f"{which}")


class ExperimentRegistry:
    """Name -> :class:`Experiment`, refusing duplicates and explaining unknown names.

    Args:
        entries: experiments to start with.
        load_builtin: import the packages of :data:`EXPERIMENT_PACKAGES` on first lookup.

    Example:
        >>> registry = ExperimentRegistry()
        >>> registry.names()
        []
    """

    def __init__(self, entries: Iterable[Experiment[Any]] = (), *, load_builtin: bool = False):
        self._entries: Registry[Experiment[Any]] = Registry(
            "experiment", unknown_error=UnknownExperimentError
        )
        self._broken: dict[str, str] = {}
        self._pending_builtin = load_builtin
        for entry in entries:
            self.register(entry)

    def _load_builtin(self) -> None:
        if not self._pending_builtin:
            return
        self._pending_builtin = False  # set first: the imports below register into this registry
        # One broken package must not take every other experiment down with it: it is
        # recorded (``broken()``, ``get`` raises for it, ``reproduce`` reports it) and logged.
        for package in EXPERIMENT_PACKAGES:
            module = f"attnlab.experiments.{package}"
            try:
                importlib.import_module(module)
            except Exception as error:
                self._broken[package] = f"{type(error).__name__}: {error}"
                logging.getLogger("attnlab.experiments").warning(
                    "experiment package %s failed to import: %s", module, self._broken[package]
                )

    def broken(self) -> dict[str, str]:
        """Built-in experiment packages that failed to import -> the error (empty when none)."""
        self._load_builtin()
        return dict(self._broken)

    def register(self, experiment: Experiment[ConfigT]) -> Experiment[ConfigT]:
        """Add ``experiment``; returns it.

        Raises:
            ValueError: the name is already registered.
            TypeError: ``experiment`` is not an :class:`Experiment`.
        """
        if not isinstance(experiment, Experiment):
            raise TypeError(f"expected an Experiment, got {type(experiment).__name__}")
        return self._entries.register(experiment.name, experiment)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (raises :class:`UnknownExperimentError` when absent)."""
        self.get(name)
        self._entries.unregister(name)

    def get(self, name: str) -> Experiment[Any]:
        """The experiment called ``name``.

        Raises:
            UnknownExperimentError: with the closest registered names and the full list.
        """
        self._load_builtin()
        if name not in self._entries and name in self._broken:
            raise ImportError(
                f"experiment package attnlab.experiments.{name} failed to import: "
                f"{self._broken[name]}"
            )
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load_builtin()
        return sorted(self._entries)

    def list(self) -> list[Experiment[Any]]:
        """Registered experiments, sorted by name."""
        return [self._entries[n] for n in self.names()]


_DEFAULT = ExperimentRegistry(load_builtin=True)
_ACTIVE: list[ExperimentRegistry] = []


def current_registry() -> ExperimentRegistry:
    """The registry that the functions below use (the default one outside
    :func:`isolated_registry`)."""
    return _ACTIVE[-1] if _ACTIVE else _DEFAULT


def register_experiment(experiment: Experiment[ConfigT]) -> Experiment[ConfigT]:
    """Register ``experiment`` in the current registry and return it.

    Raises:
        ValueError: the name is already registered.
    """
    return current_registry().register(experiment)


def get_experiment(name: str) -> Experiment[Any]:
    """The registered experiment ``name``.

    Raises:
        UnknownExperimentError: no such name (the message suggests close matches).
        ImportError: the experiment's package is listed but failed to import.

    Example:
        >>> get_experiment("demo_retrieval").make_config("smoke").steps
        20
    """
    return current_registry().get(name)


def list_experiments() -> list[Experiment[Any]]:
    """Every registered experiment, sorted by name.

    Example:
        >>> "demo_retrieval" in [e.name for e in list_experiments()]
        True
    """
    return current_registry().list()


@contextlib.contextmanager
def isolated_registry(*, builtin: bool = False) -> Iterator[ExperimentRegistry]:
    """Use a fresh registry inside the ``with`` block (for tests): experiments registered there
    vanish afterwards. With ``builtin`` it starts with the built-in experiments.

    Example:
        >>> with isolated_registry() as registry:
        ...     list_experiments()
        []
    """
    # Import the built-in packages now, so that none of them registers into the temporary registry.
    entries = _DEFAULT.list()
    if not builtin:
        entries = []
    registry = ExperimentRegistry(entries)
    _ACTIVE.append(registry)
    try:
        yield registry
    finally:
        _ACTIVE.remove(registry)

