"""Fully masked rows: every registered mechanism x every mask pattern it accepts x both paths.

For each registered module (registry-driven, so new modules are covered automatically):

* ``all``: every mask of example 0 is all ``False`` (no valid key anywhere in that example);
* ``only-<mask>``: one mask at a time is all ``False`` for example 0 (modules with several);
* ``query-row``: a ``(B, Lq, Lk)`` mask in which query 0 of example 1 sees no key, for every
  mask argument that accepts that form;

and, where the module has ``need_weights``, both the weights path and the fused path, in
training and evaluation mode, forward and backward. Every output and every gradient must be
finite; the weights of the masked rows must be exactly 0; the context of a fully masked
example must not depend on that example's data (no information from masked keys: zero, or
for multi-head attention the output projection's bias); the fused context equals the weights
path's.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import attnlab

ENTRIES = [e for e in attnlab.list_mechanisms()]


def _mask_names(module: nn.Module, kwargs: dict[str, Any]) -> list[str]:
    names = inspect.signature(module.forward).parameters
    return [n for n in names if (n == "mask" or n.endswith("_mask")) and kwargs.get(n) is not None]


def _float_tensors(x: Any) -> list[Tensor]:
    if isinstance(x, Tensor):
        return [x] if x.is_floating_point() else []
    if isinstance(x, (tuple, list)):
        return [t for y in x for t in _float_tensors(y)]
    return []


def _weight_fields(out: Any) -> dict[str, Tensor]:
    """``weights`` and every ``*_weights`` field that is a tensor."""
    return {
        name: value
        for name, value in zip(out._fields, out, strict=True)
        if (name == "weights" or name.endswith("_weights")) and isinstance(value, Tensor)
    }


def _variants() -> list[Any]:
    params = []
    for entry in ENTRIES:
        module, args, kwargs = entry.example()
        names = _mask_names(module, kwargs)
        if not names:
            continue
        patterns = ["all"] + ([f"only-{n}" for n in names] if len(names) > 1 else [])
        patterns += [f"query-row-{n}" for n in names
                     if _query_row_mask(module, args, kwargs, n) is not None]
        for pattern in patterns:
            for mode in ("train", "eval"):
                params.append(pytest.param(entry, pattern, mode,
                                           id=f"{entry.name}/{pattern}/{mode}"))
    return params


def _call(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], **extra: Any
) -> Any:
    kwargs = dict(kwargs, **extra)
    if isinstance(kwargs.get("generator"), torch.Generator):
        kwargs["generator"] = torch.Generator().manual_seed(0)  # the same draws every call
    return module(*args, **kwargs)


def _query_row_mask(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any],
                    name: str) -> Tensor | None:
    """A ``(B, Lq, Lk)`` version of mask ``name`` with query 0 of example 1 fully masked, or
    ``None`` when the module does not accept that form for ``name``."""
    key_mask = kwargs[name]
    if key_mask.dim() != 2:
        return None
    with torch.no_grad():
        out = _call(module, args, kwargs)
    weights = out.weights if isinstance(out.weights, Tensor) else None
    if weights is None or weights.dim() < 3:
        return None
    q_len = weights.shape[-2]  # token weights (B, [H,] Lq, Lk) or windows (B, Lq, w)
    mask = key_mask[:, None].expand(-1, q_len, -1).clone()
    mask[1, 0] = False
    try:
        with torch.no_grad():
            _call(module, args, dict(kwargs, **{name: mask}))
    except (ValueError, TypeError) as error:
        if not str(error).startswith(name):
            raise AssertionError(f"a refused mask must be named first: {error}") from error
        return None  # this mask has no per-query form (a padding mask of tokens or items)
    return mask


def _backward(module: nn.Module, out: Any, inputs: list[Tensor]) -> None:
    tensors = [t for t in _float_tensors(tuple(out)) if t.requires_grad]
    if not tensors:
        return
    g = torch.Generator().manual_seed(1)
    loss = sum((t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in tensors)
    assert isinstance(loss, Tensor)
    loss.backward()
    for name, p in module.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), f"non-finite gradient of {name}"
    for x in inputs:
        if x.grad is not None:
            assert torch.isfinite(x.grad).all(), "non-finite gradient of an input"


def _governs(
    pattern: str, field: str, weights: Tensor, kwargs: dict[str, Any], names: list[str]
) -> bool:
    """Whether the rows masked by ``pattern`` must have zero ``weights``.

    ``all``: every weight field of example 0. ``query-row-<mask>``: ``weights`` when that mask
    is the module's only mask, or the only one whose length is the weights' key axis (e.g. the
    character mask of attention-via-attention, not its word mask). ``only-<mask>``: none (the
    other masks still open keys; only finiteness is required).
    """
    if pattern == "all":
        return True
    if not pattern.startswith("query-row-") or field != "weights":
        return False
    name = pattern.removeprefix("query-row-")
    if len(names) == 1:
        return True
    same_length = [n for n in names if kwargs[n].shape[-1] == weights.shape[-1]]
    return same_length == [name]


@pytest.mark.parametrize(("entry", "pattern", "mode"), _variants())
def test_fully_masked_rows(entry: Any, pattern: str, mode: str) -> None:
    torch.manual_seed(0)
    module, args, kwargs = entry.example(dtype=torch.float64)
    module.train(mode == "train")
    names = _mask_names(module, kwargs)
    kwargs = {k: v.clone() if isinstance(v, Tensor) else v for k, v in kwargs.items()}

    if pattern.startswith("query-row-"):
        name = pattern.removeprefix("query-row-")
        mask = _query_row_mask(module, args, kwargs, name)
        assert mask is not None
        kwargs[name] = mask
        rows: tuple[Any, ...] = (1, Ellipsis, 0, slice(None))  # weights[1, ..., 0, :]
    else:
        for name in names if pattern == "all" else [pattern.removeprefix("only-")]:
            kwargs[name][0] = False
        rows = (0,)
    assert any(not bool(kwargs[n].all()) for n in names)

    has_fused = "need_weights" in inspect.signature(module.forward).parameters
    paths = [{}, {"need_weights": False}] if has_fused else [{}]
    contexts = []
    for extra in paths:
        module.zero_grad(set_to_none=True)
        inputs = [a.detach().clone().requires_grad_(True) if isinstance(a, Tensor)
                  and a.is_floating_point() else a for a in args]
        out = _call(module, tuple(inputs), kwargs, **extra)
        assert out._fields[:2] == ("context", "weights")
        for t in _float_tensors(tuple(out)):
            assert torch.isfinite(t).all(), f"{entry.name}: non-finite output"
        if not extra:
            for field, weights in _weight_fields(out).items():
                if _governs(pattern, field, weights, kwargs, names):
                    assert bool(weights[rows].eq(0).all()), (
                        f"{entry.name}: {field} of a fully masked row must be exactly 0"
                    )
        contexts.append(out.context.detach())
        _backward(module, out, [x for x in inputs if isinstance(x, Tensor)])
    if len(contexts) == 2:
        torch.testing.assert_close(contexts[1], contexts[0])

    if pattern == "all":
        # Nothing of a fully masked example may reach its context: new data, same context.
        module.zero_grad(set_to_none=True)
        g = torch.Generator().manual_seed(2)
        other = tuple(
            torch.cat([torch.randn(a[:1].shape, generator=g, dtype=a.dtype) * 10, a[1:]])
            if isinstance(a, Tensor) and a.is_floating_point() else a
            for a in args
        )
        with torch.no_grad():
            again = _call(module, other, kwargs)
        torch.testing.assert_close(again.context[0], contexts[0][0])


def test_every_masked_module_has_variants() -> None:
    variants = _variants()
    names = {p.values[0].name for p in variants}
    with_masks = {e.name for e in ENTRIES if _mask_names(e.example()[0], e.example()[2])}
    assert names == with_masks and len(names) >= 15
    per_query = {p.values[0].name for p in variants if p.values[1].startswith("query-row-")}
    # token attention with a query axis accepts (B, Lq, Lk) masks
    assert {"additive", "multihead", "kernel", "hard", "local", "sliding_window"} <= per_query
