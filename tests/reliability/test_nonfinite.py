"""The one rule for non-finite data: a NaN spoils only the rows it reaches.

For every registered mechanism (through its ``example()``), one batch element of the first
floating input is set to NaN. The module must not raise, that element's outputs must hold NaN
(it is not silently cleaned), and every other element's outputs must equal those of the clean
input exactly: nothing leaks across the batch. Hard attention is included (it once rejected the
whole batch).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import attnlab
from attnlab.core.distributions import argmax_categorical, gumbel_softmax, sample_categorical

ENTRIES = attnlab.list_mechanisms()
IDS = [e.name for e in ENTRIES]


def _fields(out: tuple) -> dict[str, Tensor]:
    return {name: value for name, value in zip(out._fields, out, strict=True)
            if isinstance(value, Tensor) and value.is_floating_point()}


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_a_nan_row_stays_in_its_row(entry) -> None:
    torch.manual_seed(0)
    module, args, kwargs = entry.example(dtype=torch.float64)
    module.eval()
    first = next(i for i, a in enumerate(args) if isinstance(a, Tensor) and a.is_floating_point())
    batch = args[first].shape[0]
    if batch < 2:
        pytest.skip(f"{entry.name}'s example has one batch element")
    poisoned = args[first].clone()
    poisoned[1] = float("nan")
    bad_args = (*args[:first], poisoned, *args[first + 1:])
    with torch.no_grad():
        clean = _fields(module(*args, **kwargs))
        dirty = _fields(module(*bad_args, **kwargs))
    assert clean.keys() == dirty.keys()
    assert torch.isnan(dirty["context"][1]).any(), "the poisoned row must not be cleaned silently"
    others = [b for b in range(batch) if b != 1]
    for name, value in clean.items():
        if value.dim() == 0 or value.shape[0] != batch:
            continue
        torch.testing.assert_close(dirty[name][others], value[others], rtol=0, atol=0,
                                   equal_nan=True, msg=f"{name} changed outside the NaN row")


@pytest.mark.parametrize("draw", ["sample", "argmax"])
def test_categorical_draws_confine_a_non_finite_row(draw) -> None:
    weights = torch.tensor([[0.2, 0.8, 0.0], [float("nan"), 0.5, 0.5], [float("inf"), 0.0, 1.0],
                            [0.0, 0.0, 1.0]], requires_grad=True)
    if draw == "sample":
        out = sample_categorical(weights, generator=torch.Generator().manual_seed(0))
    else:
        out = argmax_categorical(weights)
    assert torch.isnan(out.one_hot[1:3]).all() and torch.isnan(out.log_prob[1:3]).all()
    assert torch.isfinite(out.one_hot[[0, 3]]).all() and torch.isfinite(out.log_prob[[0, 3]]).all()
    assert out.one_hot[3].tolist() == [0.0, 0.0, 1.0] and out.log_prob[3].item() == 0.0
    out.log_prob[[0, 3]].sum().backward()
    assert weights.grad is not None and torch.isfinite(weights.grad[[0, 3]]).all()


def test_negative_weights_are_still_refused() -> None:
    with pytest.raises(ValueError, match=r"weights must be >= 0"):
        sample_categorical(torch.tensor([[-0.1, 1.1]]))


def test_hard_gumbel_sample_of_a_nan_row_is_nan() -> None:
    scores = torch.tensor([[0.0, 1.0, 2.0], [float("nan"), 0.0, 0.0]])
    y = gumbel_softmax(scores, tau=0.5, hard=True, generator=torch.Generator().manual_seed(0))
    assert torch.isnan(y[1]).all()
    assert y[0].sum().item() == 1.0 and ((y[0] == 0) | (y[0] == 1)).all()
