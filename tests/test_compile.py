"""Every registered mechanism works under ``torch.compile`` and agrees with eager mode.

Registry-driven like ``test_registered_mechanisms.py``: each family's ``example()`` is run eagerly
and compiled, in evaluation mode (no dropout, no sampling noise) and in float64, and the outputs
and the parameter gradients are compared. The ``aot_eager`` backend traces the forward and the
backward through dynamo and AOTAutograd exactly as inductor does, without the C++ compile that
would take minutes on a small CI machine; one inductor test covers the code generation on the
hottest family (multi-head attention).

Data-dependent argument checks (``check_attn_bias`` scanning for non-finite values) are skipped
under compilation by design; everything else must trace.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import attnlab
from helpers import assert_close

ENTRIES = attnlab.list_mechanisms()
IDS = [e.name for e in ENTRIES]

# Hard (sampling) attention draws from the distribution: in eval mode it takes the argmax, which
# is deterministic and so comparable; nothing is excluded.


def _tensors(x: object) -> list[Tensor]:
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for y in x for t in _tensors(y)]
    return []


def _run(module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[list[Tensor], list[Tensor]]:
    module.zero_grad(set_to_none=True)
    out = module(*args, **kwargs)
    outputs = [t for t in _tensors(tuple(out)) if t.is_floating_point()]
    loss = sum((t * (1.0 + torch.arange(t.numel(), dtype=t.dtype).view_as(t) / t.numel())).sum()
               for t in outputs if t.requires_grad)
    grads: list[Tensor] = []
    if isinstance(loss, Tensor):
        loss.backward()
        grads = [p.grad.detach().clone() for p in module.parameters() if p.grad is not None]
    return [t.detach() for t in outputs], grads


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_compiled_equals_eager(entry) -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    module, args, kwargs = entry.example(dtype=torch.float64)
    module.eval()
    want_out, want_grads = _run(module, args, kwargs)
    compiled = torch.compile(module, backend="aot_eager")
    got_out, got_grads = _run(compiled, args, kwargs)
    assert len(got_out) == len(want_out) and want_out
    for got, want in zip(got_out, want_out, strict=True):
        assert_close(got, want, atol=1e-10, rtol=1e-8)
    assert len(got_grads) == len(want_grads)
    for got, want in zip(got_grads, want_grads, strict=True):
        assert_close(got, want, atol=1e-10, rtol=1e-8)


def test_multihead_inductor_matches_eager() -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    module = attnlab.MultiHeadAttention(16, num_heads=2).eval()
    x = torch.randn(2, 5, 16)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    compiled = torch.compile(module, backend="inductor")
    for need_weights in (True, False):
        with torch.no_grad():
            got = compiled(x, x, x, mask=mask, need_weights=need_weights)
            want = module(x, x, x, mask=mask, need_weights=need_weights)
        assert_close(got.context, want.context, atol=1e-5, rtol=1e-4)
        if need_weights:
            assert_close(got.weights, want.weights, atol=1e-5, rtol=1e-4)
        else:
            assert got.weights is None and want.weights is None
