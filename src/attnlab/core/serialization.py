"""Save a module to a folder and load it back, in the layout of the Hugging Face Hub.

A folder written by :func:`save_pretrained` holds two files and nothing executable:

* ``model.safetensors``: the state dict in the safetensors format (header metadata
  ``{"format": "pt"}``), tensor names as in ``module.state_dict()``; a tensor shared by several
  names (tied weights) is stored once, under its first name.
* ``config.json``: the class as ``"package.module:Class"`` under ``"_attnlab_class"`` and its
  constructor's keyword arguments, flat, as the Hub's ``config.json`` files hold their
  hyper-parameters (values that JSON cannot hold are tagged, see
  :mod:`attnlab.core.init_args`).

Every module class of attnlab records its constructor's arguments when a module is built, so
``save_pretrained(AdditiveAttention(16, 32, hidden_dim=64), folder)`` needs nothing more (see
:mod:`attnlab.core.init_args` for other classes and for what cannot be saved).
:func:`from_pretrained` imports the class, calls it with the arguments and loads the tensors:
state dicts are bit-identical and outputs in eval mode identical. Nothing is unpickled, and a
config can only name classes of the ``attnlab`` package (of any package when the caller passes
the class itself, ``cls=``).

Before writing, :func:`save_pretrained` rebuilds the module from the config it is about to write
and compares the two: class, every attribute of every submodule, the names, shapes and dtypes of
the parameters and buffers, which of them are tied, and the values of the tensors the state dict
leaves out. A module whose constructor arguments were guessed wrong is refused there, with the
differences, not discovered after loading.

Convention:
    ``device`` is never saved: a module is rebuilt on the CPU (``device=`` moves it). ``dtype``
    is passed when the constructor takes one and every floating tensor of the module has the
    same non-default dtype; every tensor is then given the dtype it was saved with.

Example:
    >>> import tempfile
    >>> from attnlab.vision import SqueezeExcitation
    >>> se = SqueezeExcitation(32, reduction=4)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = save_pretrained(se, tmp)
    ...     files = sorted(p.name for p in folder.iterdir())
    ...     same = from_pretrained(folder, cls=SqueezeExcitation)
    >>> files
    ['config.json', 'model.safetensors']
    >>> all(torch.equal(a, b) for a, b in zip(se.state_dict().values(),
    ...                                        same.state_dict().values(), strict=True))
    True
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self, TypeVar, cast, overload

import torch
from torch import Tensor, nn

from attnlab.core.init_args import (
    CLASS_KEY,
    CLASS_ROOTS,
    NOT_SAVED,
    ConfigError,
    build,
    decode_args,
    decode_kwargs,
    encode_object,
    encode_value,
    import_path,
    inferred_config,
    init_config,
    is_recorded,
    recording_init_args,
    remember_args,
    remember_init,
    resolve,
)
from attnlab.core.module_diff import module_differences, tie_groups

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "ConfigError",
    "PretrainedMixin",
    "build",
    "from_pretrained",
    "init_config",
    "recording_init_args",
    "remember_init",
    "save_pretrained",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
VERSION_KEY = "_attnlab_version"
_M = TypeVar("_M", bound=nn.Module)


def _safetensors() -> Any:
    try:
        return importlib.import_module("safetensors.torch")
    except ImportError:
        raise ModuleNotFoundError(
            "saving and loading pretrained folders needs the safetensors package: "
            "pip install 'attnlab[hub]'"
        ) from None


def _version() -> str:
    try:
        return importlib.metadata.version("attnlab")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _unwrap(module: nn.Module) -> nn.Module:
    """The module inside ``torch.compile``'s or a data-parallel wrapper."""
    while True:
        inner = getattr(module, "_orig_mod", None)
        if not isinstance(inner, nn.Module) and isinstance(
            module, nn.DataParallel | nn.parallel.DistributedDataParallel
        ):
            inner = module.module
        if not isinstance(inner, nn.Module):
            return module
        module = inner


# ---------------------------------------------------------------------------------------------
# tensors


def _tensors_to_save(module: nn.Module) -> dict[str, Tensor]:
    state = module.state_dict(keep_vars=True)
    out: dict[str, Tensor] = {}
    storages: set[int] = set()
    for group in tie_groups(state):
        name = group[0]
        tensor = state[name]
        if not isinstance(tensor, Tensor):
            raise ConfigError(f"state-dict entry {name!r} is not a tensor "
                              f"({type(tensor).__name__}); safetensors holds tensors only")
        if tensor.is_meta:
            raise ConfigError(f"tensor {name!r} is on the meta device: it holds no values")
        tensor = tensor.detach().to("cpu").contiguous()
        if tensor.numel():
            pointer = tensor.untyped_storage().data_ptr()
            if pointer in storages:  # a view of a tensor already written: give it its own copy
                tensor = tensor.clone()
            else:
                storages.add(pointer)
        out[name] = tensor
    return out


def _listing(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def _load_tensors(module: nn.Module, tensors: Mapping[str, Tensor], source: str) -> None:
    """Load ``tensors`` into ``module``, each keeping its saved dtype; names checked first."""
    state = module.state_dict(keep_vars=True)
    missing, mismatched, loaded = [], [], {}
    for group in tie_groups(state):
        present = [name for name in group if name in tensors]
        if not present:
            missing.append(group[0] if len(group) == 1 else " = ".join(group))
            continue
        saved = tensors[present[0]]
        for other in present[1:]:
            if not torch.equal(tensors[other], saved):
                raise ValueError(f"{source}: tensors {present[0]!r} and {other!r} are tied in "
                                 f"{type(module).__qualname__} but hold different values")
        target = state[group[0]]
        if saved.shape != target.shape:
            mismatched.append(f"{present[0]!r}: saved {tuple(saved.shape)}, "
                              f"module {tuple(target.shape)}")
            continue
        if target.dtype != saved.dtype:
            target.data = target.data.to(saved.dtype)
        loaded.update(dict.fromkeys(group, saved))
    unexpected = [name for name in tensors if name not in state]
    problems = []
    if missing:
        problems.append(f"missing tensor(s) {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected tensor(s) {_listing(unexpected)}")
    if mismatched:
        problems.append("shape mismatch for " + "; ".join(mismatched))
    if problems:
        raise ValueError(f"{source} does not fit {type(module).__qualname__}: "
                         + "; ".join(problems))
    module.load_state_dict(loaded, strict=True)


# ---------------------------------------------------------------------------------------------
# config


def _common_dtype(module: nn.Module) -> torch.dtype | None:
    dtypes = {t.dtype for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()}
    return next(iter(dtypes)) if len(dtypes) == 1 else None


def _takes(cls: type, name: str) -> bool:
    return name in inspect.signature(cls).parameters


def _config(module: nn.Module, config: Mapping[str, Any] | None) -> dict[str, Any]:
    cls = type(module)
    if config is None:
        encoded = encode_object(module, "", roots=None)
    else:
        kwargs = {k: v for k, v in config.items() if k not in NOT_SAVED}
        encoded = {CLASS_KEY: import_path(cls)}
        for key, value in kwargs.items():
            if not isinstance(key, str) or key.startswith("_attnlab_"):
                raise ConfigError(f"config key {key!r} must be a string not starting with "
                                  "'_attnlab_'")
            encoded[key] = encode_value(value, key)
    dtype = _common_dtype(module)
    if dtype is not None and dtype != torch.get_default_dtype() and _takes(cls, "dtype"):
        encoded["dtype"] = encode_value(dtype, "dtype")
    return {CLASS_KEY: encoded.pop(CLASS_KEY), VERSION_KEY: _version(), **encoded}


def _class_from(config: Mapping[str, Any], cls: type | None, where: str) -> type[nn.Module]:
    path = config.get(CLASS_KEY)
    if path is None:
        raise ConfigError(f"{where} names no class (no {CLASS_KEY!r} key): it was not written "
                          "by save_pretrained")
    if cls is not None and path == import_path(cls):
        return cls
    try:
        found = resolve(path, CLASS_ROOTS, what="class")
    except ConfigError as error:
        if cls is None:
            raise ConfigError(f"{where}: {error}") from None
        found = None
    if cls is not None and not (isinstance(found, type) and issubclass(found, cls)):
        raise TypeError(f"{where} holds a {path}, not a {import_path(cls)}")
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        raise ConfigError(f"{where}: {path!r} is not an nn.Module class")
    return found


def _instantiate(target: type[nn.Module], kwargs: dict[str, Any],
                 args: list[Any] | None = None) -> nn.Module:
    # Building draws initial weights that the loaded ones replace: leave the caller's random
    # stream where it was.
    with torch.random.fork_rng(devices=[]):
        module = target(*(args or ()), **kwargs)
    if not args:
        remember_args(module, kwargs)  # so that a loaded module saves again as it was loaded
    return module


# ---------------------------------------------------------------------------------------------
# files


def _write_atomically(path: Path, write: Callable[[str], None]) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(descriptor)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_text(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")


def _folder(directory: str | os.PathLike[str]) -> Path:
    folder = Path(directory)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such folder (a save_pretrained folder holds "
                                f"{CONFIG_NAME} and {WEIGHTS_NAME})")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder (a save_pretrained folder holds "
                                 f"{CONFIG_NAME} and {WEIGHTS_NAME})")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} has no {name} (a save_pretrained folder holds "
                                    f"{CONFIG_NAME} and {WEIGHTS_NAME})")
    return folder


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path} must hold a JSON object, got {type(config).__name__}")
    return config


_HINT = (
    "pass config= with the constructor's keyword arguments (a class outside the attnlab package "
    "records them when it derives from attnlab.PretrainedMixin or is built with "
    "attnlab.core.init_args.build)"
)


def _attempts(
    module: nn.Module, config: Mapping[str, Any] | None
) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """Where the arguments may come from, in the order tried: (origin, encoder)."""
    if config is not None:
        return [("given", lambda: _config(module, config))]
    if not is_recorded(module):  # its attributes, or the parts of a container
        return [("read from the module", lambda: _config(module, None))]
    return [("recorded", lambda: _config(module, None)),
            ("read from its attributes", lambda: _config(module, inferred_config(module)))]


def _check_rebuild(module: nn.Module, text: str, tensors: Mapping[str, Tensor]) -> list[str]:
    """The differences between ``module`` and its rebuild from the config ``text``."""
    data = json.loads(text)
    rebuilt = _instantiate(type(module), decode_kwargs(data), decode_args(data))
    for key, tensor in rebuilt.state_dict(keep_vars=True).items():
        if key in tensors and tensor.dtype != tensors[key].dtype:
            tensor.data = tensor.data.to(tensors[key].dtype)
    return module_differences(module, rebuilt)


def save_pretrained(
    module: nn.Module,
    directory: str | os.PathLike[str],
    *,
    config: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``module`` to ``directory`` as ``config.json`` + ``model.safetensors``.

    Args:
        module: the module (a ``torch.compile`` or data-parallel wrapper is unwrapped).
        directory: the folder, created if needed; other files in it are left alone.
        config: the constructor's keyword arguments; by default those recorded when the module
            was built (every module class of attnlab records them), and, when these cannot
            rebuild it, its attributes named after the parameters (see
            :mod:`attnlab.core.init_args`).

    Returns:
        The folder, as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: the arguments are unknown or cannot be written as JSON (the argument is
            named), or the module rebuilt from them differs from ``module`` (the differences
            are listed); nothing is written then.
    """
    module = _unwrap(module)
    safetensors = _safetensors()
    folder = Path(directory)
    name = type(module).__qualname__
    tensors = _tensors_to_save(module)
    failures: list[str] = []
    tried: set[str] = set()
    text: str | None = None
    for origin, encode in _attempts(module, config):
        try:
            encoded = encode()
        except ConfigError as error:
            failures.append(f"the arguments {origin}: {error}")
            continue
        candidate = json.dumps(encoded, indent=2, allow_nan=False) + "\n"
        if candidate in tried:
            continue
        tried.add(candidate)
        arguments = {k: v for k, v in encoded.items() if not k.startswith("_attnlab_")}
        try:
            differences = _check_rebuild(module, candidate, tensors)
        except Exception as error:
            failures.append(f"rebuilding it from the arguments {origin}, {arguments}, fails: "
                            f"{error}")
            continue
        if differences:
            failures.append(f"rebuilt from the arguments {origin}, {arguments}, it differs "
                            "from the module:\n  " + "\n  ".join(differences))
            continue
        text = candidate
        break
    if text is None:
        raise ConfigError(f"cannot save {name}: " + "\nand ".join(failures) + f"\n{_HINT}")
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(folder / CONFIG_NAME, lambda p: _write_text(p, text))
    _write_atomically(
        folder / WEIGHTS_NAME,
        lambda p: safetensors.save_file(tensors, p, metadata={"format": "pt"}),
    )
    return folder


@overload
def from_pretrained(
    directory: str | os.PathLike[str],
    *,
    cls: type[_M],
    device: torch.device | str | None = None,
) -> _M: ...


@overload
def from_pretrained(
    directory: str | os.PathLike[str],
    *,
    cls: None = None,
    device: torch.device | str | None = None,
) -> nn.Module: ...


def from_pretrained(
    directory: str | os.PathLike[str],
    *,
    cls: type[nn.Module] | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """Rebuild the module saved in ``directory`` by :func:`save_pretrained`, in eval mode.

    Args:
        directory: a folder holding ``config.json`` and ``model.safetensors``.
        cls: the class expected; with it, a folder holding another class is an error, and a
            class outside the ``attnlab`` package can be loaded.
        device: where to put the module (the CPU by default).

    Raises:
        FileNotFoundError: no such folder, or a file is missing.
        TypeError: the folder holds a class that is not ``cls`` or a subclass of it.
        ConfigError: ``config.json`` is not a save_pretrained config, or names a class outside
            the ``attnlab`` package (never imported).
        ValueError: a tensor is missing, unexpected or of the wrong shape (each named).
    """
    safetensors = _safetensors()
    folder = _folder(directory)
    where = str(folder / CONFIG_NAME)
    config = _read_config(folder / CONFIG_NAME)
    target = _class_from(config, cls, where)
    kwargs, args = decode_kwargs(config, where), decode_args(config, where)
    try:
        module = _instantiate(target, kwargs, args)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {target.__qualname__} refuses the saved arguments: "
                          f"{error}") from error
    weights = folder / WEIGHTS_NAME
    try:
        tensors = safetensors.load_file(str(weights), device="cpu")
    except Exception as error:  # the safetensors error type comes from its compiled core
        raise ValueError(f"{weights} is not a readable safetensors file: {error}") from None
    _load_tensors(module, tensors, str(weights))
    if device is not None:
        module.to(device)
    return module.eval()


class PretrainedMixin:
    """``save_pretrained`` / ``from_pretrained`` methods, and constructor arguments recorded.

    For new modules: ``class MyModel(PretrainedMixin, nn.Module)``. Every subclass that
    defines ``__init__`` records its arguments (:func:`remember_init`), so
    ``model.save_pretrained(folder)`` and ``MyModel.from_pretrained(folder)`` need no
    ``config=``, whatever its attributes are called. The modules of attnlab itself do not
    derive from it (they record their arguments all the same): use the functions
    :func:`save_pretrained` and :func:`from_pretrained`.

    Example:
        >>> import tempfile
        >>> class Gate(PretrainedMixin, nn.Module):
        ...     def __init__(self, dim: int, *, scale: float = 1.0) -> None:
        ...         super().__init__()
        ...         self.proj = nn.Linear(dim, dim)
        ...         self.factor = scale
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     folder = Gate(4, scale=0.5).save_pretrained(tmp)
        ...     Gate.from_pretrained(folder).factor
        0.5
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            remember_init(cls)

    def save_pretrained(
        self, directory: str | os.PathLike[str], *, config: Mapping[str, Any] | None = None
    ) -> Path:
        """:func:`save_pretrained` of this module."""
        if not isinstance(self, nn.Module):
            raise TypeError(f"{type(self).__qualname__} must also derive from nn.Module")
        return save_pretrained(self, directory, config=config)

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike[str], *, device: torch.device | str | None = None
    ) -> Self:
        """:func:`from_pretrained` expecting this class (or a subclass)."""
        if not issubclass(cls, nn.Module):
            raise TypeError(f"{cls.__qualname__} must also derive from nn.Module")
        return cast(Self, from_pretrained(directory, cls=cls, device=device))
