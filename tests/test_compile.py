"""Every registered mechanism works under ``torch.compile`` and agrees with eager mode.

Registry-driven like ``test_registered_mechanisms.py``: each family's ``example()`` is run eagerly
and compiled, in evaluation mode (no dropout, no sampling noise) and in float64, and the outputs
and the parameter gradients are compared. The ``aot_eager`` backend traces the forward and the
backward through dynamo and AOTAutograd exactly as inductor does, without the C++ compile that
would take minutes on a small CI machine; one inductor test covers the code generation on the
hottest family (multi-head attention).

Data-dependent argument checks (``check_attn_bias`` scanning for non-finite values) are skipped
under compilation by design; everything else must trace.

Graph breaks are a contract too: every mechanism compiles with ``fullgraph=True`` (one graph, no
break) except those listed in ``ALLOWED_BREAKS`` with the reason of each break, and for those the
breaks ``torch._dynamo.explain`` reports must be exactly the listed ones. A new break, in any
mechanism, fails the tests. The fused path (``need_weights=False``, one
``F.scaled_dot_product_attention`` call) is compiled the same way, as are
:func:`attnlab.core.attend` and :func:`attnlab.core.dot_product_attention` on their own.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import Tensor

import attnlab
from helpers import assert_close

ENTRIES = attnlab.list_mechanisms()
IDS = [e.name for e in ENTRIES]

# Hard (sampling) attention draws from the distribution: in eval mode it takes the argmax, which
# is deterministic and so comparable; nothing is excluded.

ALLOWED_BREAKS: dict[str, list[str]] = {
    # The contextual variant runs its BiLSTM on packed sequences (their sizes are the sentence
    # lengths, i.e. data), and dynamo does not trace nn.LSTM modules at all: the BiLSTM runs
    # eagerly between two graphs. (torch.export, which cannot break a graph, steps the same
    # BiLSTM through its equations instead; see test_export.py.)
    "contextual_meta_embedding": ["Attempted to wrap RNN, GRU, or LSTM"],
}
"""The graph breaks each mechanism is allowed, by the first line of dynamo's reason; every
mechanism not listed must compile with ``fullgraph=True``."""


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


def _break_reasons(module: torch.nn.Module, args: tuple, kwargs: dict) -> list[str]:
    """The first line of the reason of every graph break dynamo makes in ``module(...)``."""
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(module)(*args, **kwargs)
    return sorted(str(b.reason).splitlines()[0] for b in explanation.break_reasons)


def test_allowed_breaks_name_registered_mechanisms() -> None:
    assert set(ALLOWED_BREAKS) <= set(IDS)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_compiled_equals_eager(entry) -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    module, args, kwargs = entry.example(dtype=torch.float64)
    module.eval()
    want_out, want_grads = _run(module, args, kwargs)
    allowed = ALLOWED_BREAKS.get(entry.name, [])
    if allowed:
        assert _break_reasons(module, args, kwargs) == sorted(allowed)
        torch._dynamo.reset()
    # Without allowed breaks, fullgraph=True raises at the first break.
    compiled = torch.compile(module, backend="aot_eager", fullgraph=not allowed)
    got_out, got_grads = _run(compiled, args, kwargs)
    assert len(got_out) == len(want_out) and want_out
    for got, want in zip(got_out, want_out, strict=True):
        assert_close(got, want, atol=1e-10, rtol=1e-8)
    assert len(got_grads) == len(want_grads)
    for got, want in zip(got_grads, want_grads, strict=True):
        assert_close(got, want, atol=1e-10, rtol=1e-8)


FUSED = [e for e in ENTRIES if "need_weights" in inspect.signature(e.cls.forward).parameters]


@pytest.mark.parametrize("entry", FUSED, ids=[e.name for e in FUSED])
def test_fused_path_compiles_to_one_graph(entry) -> None:
    """``need_weights=False`` (the route to the fused kernels) compiles with no graph break."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    module, args, kwargs = entry.example(dtype=torch.float64)
    module.eval()
    kwargs = {**kwargs, "need_weights": False}
    want_out, want_grads = _run(module, args, kwargs)
    got_out, got_grads = _run(
        torch.compile(module, backend="aot_eager", fullgraph=True), args, kwargs
    )
    assert len(got_out) == len(want_out) and want_out
    for got, want in zip(got_out, want_out, strict=True):
        assert_close(got, want, atol=1e-10, rtol=1e-8)
    assert len(got_grads) == len(want_grads)
    for got, want in zip(got_grads, want_grads, strict=True):
        assert_close(got, want, atol=1e-10, rtol=1e-8)


def _attend_inputs() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 8, dtype=torch.float64, generator=g, requires_grad=True)
    k = torch.randn(2, 6, 8, dtype=torch.float64, generator=g, requires_grad=True)
    v = torch.randn(2, 6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    mask = torch.ones(2, 4, 6, dtype=torch.bool)
    mask[0, :, 4:] = False  # padded keys
    mask[1, 2] = False  # a query with no valid key: zero row, zero context
    assert mask.any() and (~mask).any()
    return q, k, v, mask


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
def test_attend_compiles_to_one_graph(need_weights: bool, grad: bool) -> None:
    """:func:`attnlab.core.attend` with a scaled dot-product score, on every path it takes:
    the equation (weights and a gradient), the in-place fast path (weights, no gradient) and
    the fused kernel (no weights)."""
    from attnlab.core import attend
    from attnlab.core.scores import ScaledDotScore

    q, k, v, mask = _attend_inputs()
    score = ScaledDotScore()

    def run(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> tuple[Tensor, Tensor | None]:
        out = attend(q, k, v, score=score, mask=mask, need_weights=need_weights)
        return out.context, out.weights

    torch._dynamo.reset()
    compiled = torch.compile(run, backend="aot_eager", fullgraph=True)
    with torch.set_grad_enabled(grad):
        want = run(q, k, v, mask)
        got = compiled(q, k, v, mask)
    assert_close(got[0], want[0], atol=1e-12, rtol=1e-10)
    if need_weights:
        assert got[1] is not None and want[1] is not None
        assert_close(got[1], want[1], atol=1e-12, rtol=1e-10)
    else:
        assert got[1] is None and want[1] is None
    assert torch.all(got[0][1, 2] == 0)
    if grad:
        want_grads = torch.autograd.grad(want[0].pow(2).sum(), (q, k, v))
        got_grads = torch.autograd.grad(got[0].pow(2).sum(), (q, k, v))
        for g_got, g_want in zip(got_grads, want_grads, strict=True):
            assert_close(g_got, g_want, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("need_weights", [True, False])
def test_dot_product_attention_compiles_to_one_graph(need_weights: bool) -> None:
    """The shared kernel of the dot-product families, multi-head layout, causal and masked."""
    from attnlab.core import dot_product_attention

    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 2, 5, 4, dtype=torch.float64, generator=g) for _ in range(3))
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])[:, None, None, :]

    def run(q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor | None]:
        return dot_product_attention(
            q, k, v, scale=0.5, mask=mask, causal=True, need_weights=need_weights
        )

    torch._dynamo.reset()
    want = run(q, k, v)
    got = torch.compile(run, backend="aot_eager", fullgraph=True)(q, k, v)
    assert_close(got[0], want[0], atol=1e-12, rtol=1e-10)
    if need_weights:
        assert got[1] is not None and want[1] is not None
        assert_close(got[1], want[1], atol=1e-12, rtol=1e-10)
        assert torch.all(got[1].triu(1) == 0)  # causal: no weight above the diagonal


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
