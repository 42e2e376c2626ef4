"""Constructor arguments of a module: recorded at construction, or read back from its attributes,
and written as JSON that names only classes and functions a loader may import.

:func:`~attnlab.core.serialization.save_pretrained` rebuilds a module from the keyword arguments
of its constructor. PyTorch keeps no trace of them, so they come from, in this order:

1. the ``config=`` the caller passes;
2. a record made when the module was built. Every ``nn.Module`` class of the ``attnlab``
   package records the arguments of its outermost constructor call, however the module is
   built (``Cls(...)``, :func:`build`, :func:`attnlab.create`, inside another module): they
   derive from :class:`AttnModule`, whose ``__init_subclass__`` wraps the ``__init__`` of each
   such class as the class is defined. Classes of other packages record when decorated with
   :func:`remember_init`, when deriving from
   :class:`~attnlab.core.serialization.PretrainedMixin`, or when built by :func:`build`;
3. the module's public attributes named after its constructor parameters (``self.channels =
   channels``), the required ones and those that differ from their default: for modules of
   other packages, and as a second try when the record cannot rebuild the module (an argument
   with no JSON form, a module changed after it was built).

Whatever the source, the save rebuilds the module and compares it with the original (see
:mod:`attnlab.core.serialization`), so a guess that would rebuild a different module is refused.

Arguments without a JSON form:
    A nested object (an ``attnlab`` module or distribution passed to a constructor, or a
    ``torch.nn`` module) is written as a nested config, from its own record or attributes; a
    function by its import path. A tensor, a class, a lambda or a local function, or a nested
    module that cannot be rebuilt from its arguments makes the save fail with an error naming
    the argument (``localisation: a Sequential built from parts ...``): pass ``config=``, or
    make the tensor a parameter or buffer. The record keeps references to the arguments, not
    copies.

Values in the JSON (``config.json`` and nested objects) are plain JSON where they can be; the
others are tagged objects, every tag starting with ``_attnlab_``:

==============================================  =============================================
value                                           JSON
==============================================  =============================================
``None``, bool, int, str, finite float, list    as is
dict with string keys                           an object (no key may start with ``_attnlab_``)
tuple                                           ``{"_attnlab_tuple": [...]}``
``inf``, ``-inf``, ``nan``                      ``{"_attnlab_float": "inf"}``
``torch.float64`` (a dtype)                     ``{"_attnlab_dtype": "float64"}``
a function (``torch.tanh``)                     ``{"_attnlab_function": "torch:tanh"}``
an object (a score module, a distribution)      ``{"_attnlab_class": "module:Class", ...its
                                                arguments}``
``nn.Sequential(a, b)``                         ``{"_attnlab_class": "torch.nn...:Sequential",
                                                "_attnlab_args": [a, b]}``
``nn.ModuleList([a, b])`` / ``nn.ModuleDict``   ``{"_attnlab_class": ..., "modules": [a, b]}``
==============================================  =============================================

Convention:
    Classes and functions are named ``"package.module:QualifiedName"``, the entry-point
    spelling. A loader imports only modules of the ``attnlab`` package for classes
    (``torch.nn`` too for a nested object such as an activation module) and of ``attnlab``,
    ``torch`` and ``math`` for functions: a folder cannot make it import anything else.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
import inspect
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

__all__ = [
    "AttnModule",
    "ConfigError",
    "build",
    "check_keywords",
    "decode_args",
    "decode_kwargs",
    "decode_value",
    "encode_value",
    "import_path",
    "inferred_config",
    "init_config",
    "is_recorded",
    "recorded_config",
    "recording_init_args",
    "remember_args",
    "remember_init",
    "resolve",
]

T = TypeVar("T", bound=type)
M = TypeVar("M")

CLASS_KEY = "_attnlab_class"
"""The key naming an object's class in ``config.json`` and in nested objects."""
POSITIONAL_KEY = "_attnlab_args"
"""The key holding the positional arguments of an ``nn.Sequential``: its modules."""

_TAG_PREFIX = "_attnlab_"
RECORD_ATTRIBUTE = "_attnlab_init_args"
"""Instance attribute (in ``__dict__``) holding the recorded keyword arguments."""
_RECORD = RECORD_ATTRIBUTE
_RECORDS_MARK = "_attnlab_records_init"
"""Attribute set on the wrapping ``__init__`` functions."""

#: Parameters never saved: a module is rebuilt on the CPU and each tensor keeps its saved dtype.
NOT_SAVED = frozenset({"device", "dtype"})

CLASS_ROOTS = ("attnlab",)
NESTED_CLASS_ROOTS = ("attnlab", "torch.nn")
FUNCTION_ROOTS = ("attnlab", "torch", "math")

_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_PLAIN = (bool, int, str, type(None))


class ConfigError(ValueError):
    """A module's constructor arguments cannot be saved, or a saved config cannot be read."""


# ---------------------------------------------------------------------------------------------
# recording


class _Record:
    """Keyword arguments recorded at construction, or why they cannot rebuild the module."""

    __slots__ = ("kwargs", "problem")

    def __init__(self, kwargs: dict[str, Any], problem: str | None) -> None:
        self.kwargs = kwargs
        self.problem = problem

    def __deepcopy__(self, memo: dict[int, Any]) -> _Record:
        return self  # the values are the caller's objects; copies of a module share the record


def _is_record(value: object) -> bool:
    """Whether ``value`` is a :class:`_Record`, made by this module or by a second copy of it
    (``importlib.reload``, a test runner importing the file by its path), whose hook may be the
    one installed on ``nn.Module``."""
    kind = type(value)
    return kind is _Record or (kind.__qualname__ == _Record.__qualname__
                               and kind.__module__ == _Record.__module__)


class _Binder:
    """How a constructor's arguments bind to its parameters, worked out once per signature.

    Binding by hand, not with ``Signature.bind``, keeps recording at a few microseconds per
    module: the call has already succeeded, so only the names are needed.
    """

    __slots__ = ("order", "positional", "positional_only", "var_positional")

    def __init__(self, signature: inspect.Signature) -> None:
        kinds = inspect.Parameter
        parameters = list(signature.parameters.values())[1:]  # self
        self.positional = tuple(p.name for p in parameters
                                if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD))
        self.positional_only = frozenset(p.name for p in parameters
                                         if p.kind is kinds.POSITIONAL_ONLY)
        self.var_positional = next(
            (p.name for p in parameters if p.kind is kinds.VAR_POSITIONAL), "args"
        )
        self.order = {p.name: i for i, p in enumerate(parameters)}

    def record(self, module: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Keep the call's arguments in ``module``'s ``__dict__``, by parameter name."""
        problem = None
        if len(args) > len(self.positional):
            problem = f"it was given extra positional arguments (*{self.var_positional})"
        recorded = dict(zip(self.positional, args, strict=False))
        for name in self.positional_only.intersection(recorded):
            problem = f"its parameter {name!r} is positional-only"
        if kwargs:
            recorded.update(kwargs)
            last = len(self.order)  # ``**kwargs`` entries, in the order given
            recorded = dict(sorted(recorded.items(), key=lambda kv: self.order.get(kv[0], last)))
        for name, value in recorded.items():
            if isinstance(value, list):
                recorded[name] = list(value)
        object.__setattr__(module, _RECORD, _Record(recorded, problem))


def _record(module: object, signature: inspect.Signature, args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> None:
    _Binder(signature).record(module, args, kwargs)


def remember_args(obj: object, kwargs: Mapping[str, Any]) -> None:
    """Record ``kwargs`` as the constructor arguments that rebuild ``obj``."""
    object.__setattr__(obj, _RECORD, _Record(dict(kwargs), None))


def is_recorded(obj: object) -> bool:
    """Whether ``obj`` holds constructor arguments recorded when it was built."""
    return _is_record(getattr(obj, "__dict__", {}).get(_RECORD))


def _recording(init: Callable[..., None]) -> Callable[..., None]:
    binder = _Binder(inspect.signature(init))

    @functools.wraps(init)
    def init_and_record(self: object, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        # Only the constructor that built the object records: a parent's __init__ reached
        # through super() gets other arguments than the class was called with.
        if getattr(type(self), "__init__", None) is init_and_record:
            binder.record(self, args, kwargs)

    setattr(init_and_record, _RECORDS_MARK, True)
    return init_and_record


def _records(cls: type) -> bool:
    return bool(getattr(getattr(cls, "__init__", None), _RECORDS_MARK, False))


def _records_own(cls: type) -> bool:
    return bool(getattr(cls.__dict__.get("__init__"), _RECORDS_MARK, False))


def remember_init(cls: T) -> T:
    """Class decorator: every instance remembers the keyword arguments it was built with.

    Only the arguments the caller passed are kept (defaults stay defaults). A subclass that
    defines its own ``__init__`` needs the decorator too.

    Example:
        >>> from torch import nn
        >>> @remember_init
        ... class Scale(nn.Module):
        ...     def __init__(self, dim: int, *, factor: float = 1.0) -> None:
        ...         super().__init__()
        ...         self.weight = nn.Parameter(torch.full((dim,), factor))
        >>> init_config(Scale(3, factor=2.0))
        {'dim': 3, 'factor': 2.0}
    """
    if not _records(cls):
        cls.__init__ = _recording(cls.__init__)  # type: ignore[misc]
    return cls


def build(cls: Callable[..., M], /, *args: Any, **kwargs: Any) -> M:
    """``cls(*args, **kwargs)``, remembering the arguments for ``save_pretrained``.

    Example:
        >>> from torch import nn
        >>> init_config(build(nn.Linear, 4, 2, bias=False))
        {'in_features': 4, 'out_features': 2, 'bias': False}
    """
    obj = cls(*args, **kwargs)
    if not isinstance(cls, type) or type(obj) is not cls:
        raise TypeError(f"build needs a class, got {cls!r}")
    _record(obj, inspect.signature(cls.__init__), args, kwargs)
    return obj


_LIBRARY = ("attnlab.mechanisms", "attnlab.vision", "attnlab.architectures")
"""Imported by :func:`recording_init_args`, so that their classes exist when it wraps them."""
_recording_lock = threading.Lock()
_recording_depth = 0
_unwrapped: dict[type, Any] = {}


def _attnlab_module_classes() -> Iterator[type]:
    todo: list[type] = [nn.Module]
    seen: set[type] = set()
    while todo:
        sub: type
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
                if sub.__module__.split(".")[0] == "attnlab" and "__init__" in sub.__dict__:
                    yield sub


@contextlib.contextmanager
def recording_init_args() -> Iterator[None]:
    """Inside the block, every ``attnlab`` module built remembers its constructor arguments.

    The package's module classes record by themselves (they derive from :class:`AttnModule`),
    so the block is needed no more; it is kept for code written before, and still wraps, until
    it ends, any class of the package that does not record (one defined before the hook was
    installed). It imports the library's layers (mechanisms, vision, architectures) as it
    starts.

    Note:
        The block replaces the ``__init__`` of such classes until it ends, for every thread;
        use it around construction only.

    Example:
        >>> from attnlab.vision import SCSE
        >>> with recording_init_args():
        ...     scse = SCSE(32, reduction=4)
        >>> init_config(scse)
        {'channels': 32, 'reduction': 4}
    """
    global _recording_depth
    for module in _LIBRARY:
        importlib.import_module(module)
    with _recording_lock:
        if _recording_depth == 0:
            for cls in _attnlab_module_classes():
                if not _records(cls):
                    _unwrapped[cls] = cls.__dict__["__init__"]
                    cls.__init__ = _recording(cls.__dict__["__init__"])  # type: ignore[misc]
        _recording_depth += 1
    try:
        yield
    finally:
        with _recording_lock:
            _recording_depth -= 1
            if _recording_depth == 0:
                for cls, init in _unwrapped.items():
                    cls.__init__ = init  # type: ignore[misc]
                _unwrapped.clear()


# ---------------------------------------------------------------------------------------------
# automatic recording for the package's module classes

def _is_library_class(cls: type) -> bool:
    module = getattr(cls, "__module__", None)
    return isinstance(module, str) and _under(module, CLASS_ROOTS)


def _record_automatically(cls: type) -> None:
    """Wrap the ``__init__`` that ``cls`` defines, when ``cls`` belongs to the package."""
    if "__init__" in cls.__dict__ and _is_library_class(cls) and not _records_own(cls):
        cls.__init__ = _recording(cls.__dict__["__init__"])  # type: ignore[misc]


class AttnModule(nn.Module):
    """The base of every ``nn.Module`` of attnlab: a plain ``nn.Module`` whose subclasses
    remember the arguments they were built with, so that
    :func:`~attnlab.core.serialization.save_pretrained` can rebuild any of them, however it was
    built (``Cls(...)``, :func:`build`, :func:`attnlab.create`, inside another module).

    Each subclass defined in the ``attnlab`` package gets its ``__init__`` wrapped as the class
    is defined (``__init_subclass__``; torch's ``nn.Module`` itself is left untouched). After
    the constructor returns, when it is the outermost constructor of the instance (a parent's
    ``__init__`` reached through ``super()`` records nothing), the wrapper binds the call's
    arguments to the signature and keeps them in the instance's ``__dict__``
    (``_attnlab_init_args``): a few microseconds per module, references to the arguments, no
    copies. Pickling, ``copy.deepcopy``, ``torch.compile``, ``torch.export`` and
    ``DistributedDataParallel`` see one more plain attribute. Subclasses written outside the
    package are not wrapped (decorate them with :func:`remember_init`, or pass ``config=``).

    Example:
        >>> from attnlab.mechanisms import AdditiveAttention
        >>> isinstance(AdditiveAttention(16, 32), AttnModule)
        True
        >>> init_config(AdditiveAttention(16, 32, hidden_dim=64))
        {'query_dim': 16, 'key_dim': 32, 'hidden_dim': 64}
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _record_automatically(cls)


def check_keywords(cls: type, kwargs: Mapping[str, Any], what: str) -> None:
    """Refuse keyword arguments that ``cls`` does not take, suggesting the closest ones.

    Raises:
        TypeError: naming the unknown keywords, close matches and the accepted ones.

    Example:
        >>> from torch import nn
        >>> try:
        ...     check_keywords(nn.Linear, {"bais": False}, "nn.Linear")
        ... except TypeError as error:
        ...     print(str(error).split(" (accepted")[0])
        nn.Linear got an unexpected keyword argument 'bais'; did you mean 'bias'?
    """
    parameters = list(inspect.signature(cls).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return  # the constructor checks its own extra keywords
    accepted = [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    for name in kwargs:
        if name not in accepted:
            close = difflib.get_close_matches(name, accepted, n=2, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise TypeError(f"{what} got an unexpected keyword argument {name!r}{hint} "
                            f"(accepted: {', '.join(accepted)})")


# ---------------------------------------------------------------------------------------------
# reading arguments back


def _is_plain_data(value: object) -> bool:
    if isinstance(value, (*_PLAIN, float)):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain_data(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain_data(v) for k, v in value.items())
    return False


def _is_saveable_object(value: object) -> bool:
    """An attnlab object that is not a module (a config, a distribution) and can be encoded.

    A submodule is left out: an attribute that holds one (``self.gate = nn.Sigmoid()``) is
    seldom what the parameter of that name (``gate="sigmoid"``) took.
    """
    if isinstance(value, nn.Module | torch.Tensor | type) or not hasattr(value, "__dict__"):
        return False
    if type(value).__module__.split(".")[0] != "attnlab":
        return False
    try:
        encode_value(value)
    except ConfigError:
        return False
    return True


def _equal_default(value: object, default: object) -> bool:
    if default is inspect.Parameter.empty or type(value) is not type(default):
        return False
    try:
        return bool(encode_value(value) == encode_value(default))
    except Exception:  # no JSON form, or an __eq__ without a single truth value
        return False


def _inferred(obj: object) -> dict[str, Any]:
    """Keyword arguments read from the public attributes named after the parameters."""
    cls = type(obj)
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        raise ConfigError(f"{cls.__qualname__} has no constructor signature to read") from None
    kwargs: dict[str, Any] = {}
    unknown = []
    for name, parameter in list(signature.parameters.items())[1:]:
        if name in NOT_SAVED or parameter.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            continue
        static = inspect.getattr_static(obj, name, None)
        # a property is a computed view (a deprecated spelling, a derived size), not storage
        found = not isinstance(static, property) and hasattr(obj, name)
        value = getattr(obj, name) if found else None
        if found and (_is_plain_data(value) or _is_saveable_object(value)):
            if not _equal_default(value, parameter.default):
                kwargs[name] = value
        elif parameter.default is inspect.Parameter.empty:
            unknown.append(name)
    if unknown:
        raise ConfigError(
            f"{cls.__qualname__} keeps no attribute for its required argument(s) "
            f"{', '.join(unknown)}"
        )
    return kwargs


def init_config(obj: object) -> dict[str, Any]:
    """The keyword arguments that rebuild ``obj``: recorded at construction, else read from its
    attributes (``device`` and ``dtype`` left out).

    Raises:
        ConfigError: nothing was recorded and a required argument has no attribute, or the
            recorded call cannot be repeated with keywords.

    Example:
        >>> from attnlab.vision import SqueezeExcitation
        >>> init_config(SqueezeExcitation(64, reduction=8))
        {'channels': 64, 'reduction': 8}
    """
    record = recorded_config(obj)
    return _inferred(obj) if record is None else record


def recorded_config(obj: object) -> dict[str, Any] | None:
    """The keyword arguments recorded when ``obj`` was built (``device`` and ``dtype`` left
    out); ``None`` when nothing was recorded.

    Raises:
        ConfigError: the recorded call cannot be repeated with keywords and the attributes do
            not say the arguments either.
    """
    record: Any = obj.__dict__.get(_RECORD) if hasattr(obj, "__dict__") else None
    if not _is_record(record):
        return None
    if record.problem is not None:
        try:
            return _inferred(obj)
        except ConfigError:
            raise ConfigError(f"{type(obj).__qualname__} cannot be rebuilt: "
                              f"{record.problem}") from None
    return {k: v for k, v in record.kwargs.items() if k not in NOT_SAVED}


def inferred_config(obj: object) -> dict[str, Any]:
    """The keyword arguments read from ``obj``'s attributes named after its constructor's
    parameters, whatever was recorded (see the module docstring).

    Raises:
        ConfigError: a required argument has no attribute.
    """
    return _inferred(obj)


# ---------------------------------------------------------------------------------------------
# import paths


def import_path(obj: object) -> str:
    """``"module:QualifiedName"`` of a class or function."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise ConfigError(f"{obj!r} has no import path")
    return f"{module}:{qualname}"


def _under(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def resolve(path: object, roots: tuple[str, ...], *, what: str = "class") -> Any:
    """The object at ``path`` (``"module:QualifiedName"``), importing only modules under
    ``roots``.

    Raises:
        ConfigError: a malformed path, a module outside ``roots`` (never imported), or a name
            that does not exist.
    """
    if not isinstance(path, str) or not _PATH.match(path):
        raise ConfigError(f"{what} path must read 'package.module:Name', got {path!r}")
    module_name, qualname = path.split(":")
    if not _under(module_name, roots):
        allowed = " or ".join(f"'{r}'" for r in roots)
        plural = "classes" if what == "class" else f"{what}s"
        raise ConfigError(
            f"refusing to import {path!r}: only {plural} under {allowed} are loaded"
        )
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"{what} {path!r} does not exist ({error})") from None
    return obj


# ---------------------------------------------------------------------------------------------
# JSON values


def _check_resolvable(obj: object, roots: tuple[str, ...], what: str, where: str) -> str:
    """The path of ``obj`` that :func:`resolve` turns back into ``obj``."""
    try:
        path = import_path(obj)
    except ConfigError as unnamed:
        raise ConfigError(f"{where}: {unnamed}") from None
    module = path.split(":")[0]
    # torch's built-in functions have a qualified name of an internal class
    # (``_VariableFunctionsClass.tanh``) and are reached by their plain name
    candidates = dict.fromkeys([path, f"{module}:{getattr(obj, '__name__', '')}"])
    error: ConfigError | None = None
    for candidate in candidates:
        try:
            if resolve(candidate, roots, what=what) is obj:
                return candidate
        except ConfigError as failure:
            error = error or failure
    if error is not None and "refusing" in str(error):
        raise ConfigError(f"{where}: {error}")
    raise ConfigError(f"{where}: {obj!r} cannot be found again by its name {path!r} (a "
                      f"{what} defined inside a function, or a lambda?)")


def encode_value(value: object, where: str = "value") -> Any:
    """``value`` as JSON data (see the table in the module docstring).

    Raises:
        ConfigError: for a value with no JSON form (a tensor, a lambda, a class outside the
            allowed packages); the message names ``where`` it was found.

    Example:
        >>> encode_value((3, float("inf"), torch.tanh))
        {'_attnlab_tuple': [3, {'_attnlab_float': 'inf'}, {'_attnlab_function': 'torch:tanh'}]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else {_TAG_PREFIX + "float": repr(value)}
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, list):
        return [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {_TAG_PREFIX + "tuple": [encode_value(v, f"{where}[{i}]")
                                        for i, v in enumerate(value)]}
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str) or key.startswith(_TAG_PREFIX):
                raise ConfigError(f"{where}: dict key {key!r} must be a string not starting "
                                  f"with {_TAG_PREFIX!r}")
            out[key] = encode_value(v, f"{where}[{key!r}]")
        return out
    if isinstance(value, torch.dtype):
        return {_TAG_PREFIX + "dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.Tensor):
        raise ConfigError(f"{where}: a tensor argument cannot be saved in config.json; "
                          "make it a parameter or buffer of the module")
    if isinstance(value, type):
        raise ConfigError(f"{where}: a class ({value.__qualname__}) as an argument cannot be "
                          "saved; pass an instance or a name")
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        path = _check_resolvable(value, FUNCTION_ROOTS, "function", where)
        return {_TAG_PREFIX + "function": path}
    if callable(value) and not hasattr(value, "__dict__"):
        raise ConfigError(f"{where}: {value!r} cannot be saved in config.json")
    return encode_object(value, where, roots=NESTED_CLASS_ROOTS)


def _encode_container(obj: object, path: str, where: str) -> dict[str, Any] | None:
    """An ``nn.Sequential`` (children named ``0``, ``1``, ...), ``nn.ModuleList`` or
    ``nn.ModuleDict`` as the list or dict of its children's configs; ``None`` for any other
    object. Only these exact classes: a subclass may take other arguments."""
    kind = type(obj)
    if kind not in (nn.Sequential, nn.ModuleList, nn.ModuleDict):
        return None
    children = obj._modules  # type: ignore[attr-defined]
    if kind is nn.ModuleDict:
        return {CLASS_KEY: path,
                "modules": encode_value(dict(children), f"{where}.modules" if where else "modules")}
    encoded = [encode_value(child, f"{where}[{i}]") for i, child in enumerate(children.values())]
    if kind is nn.ModuleList:
        return {CLASS_KEY: path, "modules": encoded}
    if list(children) != [str(i) for i in range(len(children))]:
        raise ConfigError(f"{where or 'the module'}: an nn.Sequential with named children "
                          f"({', '.join(list(children)[:4])}) cannot be written in config.json; "
                          "name them 0, 1, ... (nn.Sequential(a, b)) or use an nn.ModuleDict")
    return {CLASS_KEY: path, POSITIONAL_KEY: encoded}


def encode_object(obj: object, where: str, *, roots: tuple[str, ...] | None) -> dict[str, Any]:
    """``{"_attnlab_class": path, **arguments}`` for an object rebuilt from its constructor
    arguments; ``roots=None`` skips the check that a loader may import its class."""
    cls = type(obj)
    path = import_path(cls) if roots is None else _check_resolvable(cls, roots, "class", where)
    container = _encode_container(obj, path, where)
    if container is not None:
        return container
    if where and isinstance(obj, nn.Module) and not is_recorded(obj):
        parts = [p.name for p in inspect.signature(cls).parameters.values()
                 if p.kind is inspect.Parameter.VAR_POSITIONAL]
        if parts and any(True for _ in obj.children()):
            raise ConfigError(
                f"{where}: a {cls.__qualname__} built from parts (*{parts[0]}) cannot be "
                "written in config.json; pass a module that keyword arguments rebuild (an "
                "attnlab module, or a class of your own deriving from attnlab.PretrainedMixin)"
            )
    try:
        kwargs = init_config(obj)
    except ConfigError as error:
        if not where:
            raise
        raise ConfigError(f"{where}: {error}") from None
    encoded: dict[str, Any] = {CLASS_KEY: path}
    for key, v in kwargs.items():
        if key.startswith(_TAG_PREFIX):
            raise ConfigError(f"{where}: argument {key!r} collides with the config's own keys")
        encoded[key] = encode_value(v, f"{where}.{key}" if where else key)
    return encoded


def decode_value(data: object, where: str = "value") -> Any:
    """The value ``data`` (from :func:`encode_value`) stands for, importing only what the
    allowed roots permit."""
    if isinstance(data, list):
        return [decode_value(v, f"{where}[{i}]") for i, v in enumerate(data)]
    if not isinstance(data, dict):
        return data
    tags = [k for k in data if k.startswith(_TAG_PREFIX)]
    if not tags:
        return {k: decode_value(v, f"{where}[{k!r}]") for k, v in data.items()}
    if CLASS_KEY in data:
        cls = resolve(data[CLASS_KEY], NESTED_CLASS_ROOTS, what="class")
        if not isinstance(cls, type):
            raise ConfigError(f"{where}: {data[CLASS_KEY]!r} is not a class")
        args, kwargs = decode_args(data, where), decode_kwargs(data, where)
        obj = cls(*args, **kwargs)
        if hasattr(obj, "__dict__") and not args:
            remember_args(obj, kwargs)
        return obj
    if len(data) != 1:
        raise ConfigError(f"{where}: a tagged value holds one key, got {sorted(data)}")
    (tag, payload), = data.items()
    if tag == _TAG_PREFIX + "tuple" and isinstance(payload, list):
        return tuple(decode_value(v, f"{where}[{i}]") for i, v in enumerate(payload))
    if tag == _TAG_PREFIX + "float" and payload in ("inf", "-inf", "nan"):
        return float(payload)
    if tag == _TAG_PREFIX + "dtype" and isinstance(getattr(torch, str(payload), None),
                                                   torch.dtype):
        return getattr(torch, str(payload))
    if tag == _TAG_PREFIX + "function":
        function = resolve(payload, FUNCTION_ROOTS, what="function")
        if isinstance(function, type) or not callable(function):
            raise ConfigError(f"{where}: {payload!r} is not a function")
        return function
    raise ConfigError(f"{where}: unknown tagged value {data!r}")


def decode_args(data: Mapping[str, Any], where: str = "") -> list[Any]:
    """The positional constructor arguments of an encoded object (the modules of an
    ``nn.Sequential``, under ``"_attnlab_args"``), decoded; usually none."""
    payload = data.get(POSITIONAL_KEY, [])
    if not isinstance(payload, list):
        raise ConfigError(f"{where or 'config'}: {POSITIONAL_KEY!r} must hold a list, got "
                          f"{type(payload).__name__}")
    return [decode_value(v, f"{where}[{i}]") for i, v in enumerate(payload)]


def decode_kwargs(data: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """The constructor keyword arguments of an encoded object (its non-tag keys, decoded)."""
    return {
        key: decode_value(value, f"{where}.{key}" if where else key)
        for key, value in data.items()
        if not key.startswith(_TAG_PREFIX)
    }

