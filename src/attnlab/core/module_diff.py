"""Differences between a module and the same class rebuilt from constructor arguments.

:func:`attnlab.core.serialization.save_pretrained` rebuilds every module from the config it is
about to write and refuses to write when :func:`module_differences` finds anything: a module's
behaviour is its class's code plus what its instances hold, and the state dict (loaded
afterwards) covers only part of that. Long for a check, because it must walk every kind of
attribute a module can hold without raising on any of them.
"""

from __future__ import annotations

import enum
import functools
import inspect
import weakref
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from attnlab.core.init_args import RECORD_ATTRIBUTE

__all__ = ["module_differences", "tie_groups"]

_MAX_DIFFERENCES = 12


def tie_groups(state: Mapping[str, Any]) -> list[list[str]]:
    """State-dict names grouped by the tensor object they hold, in state-dict order."""
    groups: dict[int, list[str]] = {}
    for name, tensor in state.items():
        groups.setdefault(id(tensor), []).append(name)
    return list(groups.values())


_NOT_COMPARED = frozenset(
    {RECORD_ATTRIBUTE, "training", "_is_torch_compile", "_compiled_call_impl"}
)
"""Module attributes that are not configuration (the record, train/eval, compilation)."""


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Comparison:
    """Differences between a module and its rebuild that loading the state dict cannot fix."""

    def __init__(self, state_tensors: set[int]) -> None:
        self.state_tensors = state_tensors
        self.differences: list[str] = []
        self.seen: set[tuple[int, int]] = set()

    def differ(self, path: str, message: str) -> None:
        self.differences.append(f"{path or '<module>'}: {message}")

    def compare(self, a: Any, b: Any, path: str) -> None:
        if len(self.differences) >= _MAX_DIFFERENCES or (id(a), id(b)) in self.seen:
            return
        self.seen.add((id(a), id(b)))
        if type(a) is not type(b):
            self.differ(path, f"{type(a).__qualname__} in the module, "
                              f"{type(b).__qualname__} rebuilt")
        elif isinstance(a, Tensor):
            self.tensors(a, b, path)
        elif isinstance(a, nn.Module):
            self.attributes(_members(a), _members(b), path, module=True)
        elif isinstance(a, float):
            if not (a == b or (a != a and b != b)):
                self.differ(path, f"{a!r} in the module, {b!r} rebuilt")
        elif isinstance(a, bool | int | str | bytes | type(None) | torch.dtype | range):
            if a != b:
                self.differ(path, f"{_describe(a)} in the module, {_describe(b)} rebuilt")
        elif isinstance(a, torch.device | torch.Generator):
            pass  # the rebuild is on the CPU; a generator's state is not configuration
        elif isinstance(a, list | tuple):
            if len(a) != len(b):
                self.differ(path, f"{len(a)} items in the module, {len(b)} rebuilt")
            else:
                for i, (x, y) in enumerate(zip(a, b, strict=True)):
                    self.compare(x, y, f"{path}[{i}]")
        elif isinstance(a, dict):
            self.attributes(a, b, path, module=False)
        elif isinstance(a, weakref.ref):
            self.compare(a(), b(), path)
        elif isinstance(a, functools.partial):
            self.compare((a.func, a.args, a.keywords), (b.func, b.args, b.keywords), path)
        elif isinstance(a, set | frozenset | enum.Enum | type) or inspect.isroutine(a):
            if not _same_callable(a, b):
                self.differ(path, f"{_describe(a)} in the module, {_describe(b)} rebuilt")
        elif hasattr(a, "__dict__"):
            self.attributes(vars(a), vars(b), path, module=False)
        elif not _equal(a, b):
            self.differ(path, f"{_describe(a)} in the module, {_describe(b)} rebuilt")

    def attributes(self, a: Mapping[Any, Any], b: Mapping[Any, Any], path: str, *,
                   module: bool) -> None:
        dot = f"{path}." if path else ""
        skip = _NOT_COMPARED if module else {RECORD_ATTRIBUTE}
        a = {k: v for k, v in a.items() if k not in skip}
        b = {k: v for k, v in b.items() if k not in skip}
        for key in [k for k in a if k not in b] + [k for k in b if k not in a]:
            where = "the module" if key in a else "the rebuild"
            self.differ(f"{dot}{key}" if module else f"{path}[{key!r}]", f"only in {where}")
        for key in [k for k in a if k in b]:
            if module and _is_lazy_cache(key, a[key], b[key]):
                continue
            if module and isinstance(key, str) and "hook" in key and isinstance(a[key], dict):
                if len(a[key]) != len(b[key]):
                    self.differ(f"{dot}{key}", f"{len(a[key])} hook(s) in the module, "
                                               f"{len(b[key])} rebuilt")
            else:
                self.compare(a[key], b[key], f"{dot}{key}" if module else f"{path}[{key!r}]")

    def tensors(self, a: Tensor, b: Tensor, path: str) -> None:
        if a.shape != b.shape or a.dtype != b.dtype:
            self.differ(path, f"{a.dtype} {tuple(a.shape)} in the module, "
                              f"{b.dtype} {tuple(b.shape)} rebuilt")
        elif id(a) not in self.state_tensors and not (a.is_meta or b.is_meta):
            x, y = a.detach().cpu(), b.detach().cpu()
            same = torch.equal(x, y) or (
                x.is_floating_point() and bool(((x == y) | (x.isnan() & y.isnan())).all())
            )
            if not same:
                self.differ(path, "a tensor outside the state dict holds other values")


def _is_lazy_cache(key: object, a: object, b: object) -> bool:
    """A value a forward pass computes and keeps (``self._solve_cache``): empty in one of the
    two modules, it says nothing about how they were built."""
    return isinstance(key, str) and "cache" in key.lower() and (a is None or b is None)


def _members(module: nn.Module) -> dict[str, Any]:
    """A module's attributes, its parameters, buffers and submodules among them."""
    members = dict(vars(module))
    for kind in ("_parameters", "_buffers", "_modules"):
        members.update(members.pop(kind))
    return members


def _equal(a: object, b: object) -> bool:
    try:
        return bool(a == b)
    except Exception:  # an __eq__ that returns no single truth value
        return a is b


def _same_callable(a: object, b: object) -> bool:
    if a is b or a == b:
        return True
    func_a, func_b = getattr(a, "__func__", None), getattr(b, "__func__", None)
    return func_a is not None and func_a is func_b  # bound methods of the two modules


def module_differences(module: nn.Module, rebuilt: nn.Module) -> list[str]:
    """What ``rebuilt`` does differently from ``module`` once it holds the same state dict.

    Compared: the classes, every attribute of every submodule (recursively, through lists,
    dicts and plain objects), the names, shapes and dtypes of parameters and buffers, the values
    of tensors outside the state dict, and which state-dict entries are one tied tensor. Left
    out: train/eval mode, devices, random generators' states, hooks beyond their number, and
    caches a forward pass fills (a module attribute named ``*cache*`` that is ``None`` on one
    side).
    At most a dozen differences are listed, as ``"path: ..."`` lines.
    """
    state = module.state_dict(keep_vars=True)
    comparison = _Comparison({id(t) for t in state.values()})
    comparison.compare(module, rebuilt, "")
    ties = [g for g in tie_groups(state) if len(g) > 1]
    rebuilt_ties = [g for g in tie_groups(rebuilt.state_dict(keep_vars=True)) if len(g) > 1]
    if ties != rebuilt_ties:
        comparison.differ("", f"tied tensors {ties} in the module, {rebuilt_ties} rebuilt")
    return comparison.differences
