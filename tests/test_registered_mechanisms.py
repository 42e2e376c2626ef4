"""Registry-driven tests: every registered mechanism, through its ``example()``.

A mechanism added to the registry is covered here without writing a test for it: forward +
backward with every parameter receiving a gradient, the output contract, masks that mask,
float64, rejection of unknown keyword arguments, and the CLI listing.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import Tensor

import attnlab
from attnlab.cli import main

ENTRIES = attnlab.list_mechanisms()
IDS = [e.name for e in ENTRIES]


def _tensors(x) -> list[Tensor]:
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for y in x for t in _tensors(y)]
    return []


def test_registry_is_populated() -> None:
    expected = {
        "additive", "dot", "scaled_dot", "general", "concat", "location", "cosine", "kernel",
        "multihead",
    }
    assert expected <= set(IDS)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_forward_backward_every_parameter_gets_a_gradient(entry) -> None:
    torch.manual_seed(0)
    module, args, kwargs = entry.example()
    module.train()
    out = module(*args, **kwargs)
    assert isinstance(out, tuple) and hasattr(out, "_fields"), "outputs must be NamedTuples"
    assert out._fields[:2] == ("context", "weights")
    outputs = [t for t in _tensors(tuple(out)) if t.is_floating_point()]
    assert outputs and all(torch.isfinite(t).all() for t in outputs)
    loss = sum((t.float() * torch.randn_like(t.float())).sum()
               for t in outputs if t.requires_grad)
    assert isinstance(loss, Tensor)
    loss.backward()
    missing = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    for name, p in module.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_example_mask_masks_something(entry) -> None:
    module, _, kwargs = entry.example()
    names = [n for n in inspect.signature(module.forward).parameters
             if n == "mask" or n.endswith("_mask")]
    if not names:
        pytest.skip(f"{entry.name} takes no mask")
    given = [n for n in names if kwargs.get(n) is not None]
    assert given, f"examples must pass a mask when the module accepts one ({names})"
    for name in given:
        mask = kwargs[name]
        assert mask.dtype == torch.bool, name
        assert mask.any() and (~mask).any(), f"the example's {name} must mask something"


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_float64_and_eval(entry) -> None:
    module, args, kwargs = entry.example(dtype=torch.float64)
    module.eval()
    with torch.no_grad():
        out = module(*args, **kwargs)
    assert out.context.dtype == torch.float64
    assert all(torch.isfinite(t).all() for t in _tensors(tuple(out)) if t.is_floating_point())


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_unknown_keyword_is_rejected(entry) -> None:
    module, args, kwargs = entry.example()
    with pytest.raises(TypeError):
        module(*args, **kwargs, not_an_argument=True)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_entry_metadata(entry) -> None:
    assert entry.paper.url.startswith("http")
    assert entry.paper.year >= 1990
    assert entry.cls.__doc__ and len(entry.cls.__doc__) > 50, "document the mechanism"
    module, _, _ = entry.example()
    assert isinstance(module, entry.cls)


def test_cli_list_prints_every_mechanism(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for entry in ENTRIES:
        assert entry.name in text and entry.cls.__qualname__ in text
    assert f"{len(ENTRIES)} mechanism(s)" in text


@pytest.mark.parametrize("axis", ["sequences", "levels", "positions", "representations"])
def test_cli_list_filters(axis: str, capsys: pytest.CaptureFixture[str]) -> None:
    from attnlab.core.registry import TAG_VOCABULARY

    for value in TAG_VOCABULARY[axis]:
        assert main(["list", f"--{axis}", value, "--json"]) == 0
        import json

        rows = json.loads(capsys.readouterr().out)
        assert sorted(r["name"] for r in rows) == sorted(
            e.name for e in attnlab.list_mechanisms(**{axis: value})
        )
        assert all(value in r["tags"][axis] for r in rows)


def test_cli_list_rejects_unknown_tag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--sequences", "cross"]) == 2
    assert "unknown sequences tag 'cross'; expected one of" in capsys.readouterr().err


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_need_weights_false_gives_same_context_and_no_weights(entry) -> None:
    module, args, kwargs = entry.example(dtype=torch.float64)
    if "need_weights" not in inspect.signature(module.forward).parameters:
        pytest.skip(f"{entry.name} has no fused path")
    module.eval()
    with torch.no_grad():
        full = module(*args, **kwargs)
        fused = module(*args, **kwargs, need_weights=False)
    assert full.weights is not None
    assert fused.weights is None
    torch.testing.assert_close(fused.context, full.context)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_fully_masked_example_stays_finite(entry) -> None:
    """Mask out every key of the first example: no NaN anywhere, forward or backward."""
    module, args, kwargs = entry.example(dtype=torch.float64)
    names = [n for n in inspect.signature(module.forward).parameters
             if n == "mask" or n.endswith("_mask")]
    given = [n for n in names if kwargs.get(n) is not None]
    if not given:
        pytest.skip(f"{entry.name} takes no mask")
    for name in given:
        mask = kwargs[name].clone()
        mask[0] = False
        kwargs[name] = mask
    module.train()
    out = module(*args, **kwargs)
    tensors = [t for t in _tensors(tuple(out)) if t.is_floating_point()]
    assert all(torch.isfinite(t).all() for t in tensors)
    if out.weights is not None and isinstance(out.weights, Tensor):
        assert torch.all(out.weights[0] == 0), "a query with no valid key must get zero weights"
    loss = sum((t * torch.randn_like(t)).sum() for t in tensors if t.requires_grad)
    if isinstance(loss, Tensor):
        loss.backward()
        for p in module.parameters():
            if p.grad is not None:
                assert torch.isfinite(p.grad).all()
