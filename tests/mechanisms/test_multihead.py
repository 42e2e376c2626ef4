"""MultiHeadAttention against nn.MultiheadAttention (copied weights) and a paper-literal loop."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from attnlab.core.masks import causal_mask
from attnlab.core.registry import list_mechanisms
from attnlab.mechanisms.multihead import MultiHeadAttention
from helpers import assert_close, gradcheck, random_key_mask, random_query_key_mask, tol
from reference.multihead import multihead_attention_loop

F64 = torch.float64
EXACT = {"rtol": 0.0, "atol": 1e-10}  # float64 agreement asked of every torch comparison


def _torch_pair(
    dim: int = 16,
    heads: int = 4,
    *,
    kdim: int | None = None,
    vdim: int | None = None,
    batch_first: bool = True,
    bias: bool = True,
    dtype: torch.dtype = F64,
) -> tuple[nn.MultiheadAttention, MultiHeadAttention]:
    theirs = nn.MultiheadAttention(
        dim, heads, kdim=kdim, vdim=vdim, bias=bias, batch_first=batch_first, dtype=dtype
    )
    with torch.no_grad():  # torch starts biases at 0: make them matter
        for p in theirs.parameters():
            if p.dim() == 1:
                p.normal_()
    theirs.eval()
    return theirs, MultiHeadAttention.from_torch(theirs)


def _theirs(
    m: nn.MultiheadAttention, query: Tensor, key: Tensor, value: Tensor, **kwargs: Any
) -> tuple[Tensor, Tensor | None]:
    """Run a torch module on batch-first inputs whatever its ``batch_first``; per-head weights."""
    if not m.batch_first:
        query, key, value = (x.transpose(0, 1) for x in (query, key, value))
    out, weights = m(query, key, value, average_attn_weights=False, **kwargs)
    return (out if m.batch_first else out.transpose(0, 1)), weights


def _inputs(
    batch: int, q_len: int, k_len: int, dim: int, kdim: int, vdim: int, dtype: torch.dtype = F64
) -> tuple[Tensor, Tensor, Tensor]:
    return (
        torch.randn(batch, q_len, dim, dtype=dtype),
        torch.randn(batch, k_len, kdim, dtype=dtype),
        torch.randn(batch, k_len, vdim, dtype=dtype),
    )


def _reference(m: MultiHeadAttention, query: Tensor, key: Tensor, value: Tensor, **kwargs: Any):
    if m.in_proj_weight is not None:
        w_q, w_k, w_v = m.in_proj_weight.chunk(3)
    else:
        w_q, w_k, w_v = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
    b_q = b_k = b_v = None
    if m.in_proj_bias is not None:
        b_q, b_k, b_v = m.in_proj_bias.chunk(3)
    with torch.no_grad():
        return multihead_attention_loop(
            query, key, value, w_q=w_q, w_k=w_k, w_v=w_v, w_o=m.out_proj.weight,
            b_q=b_q, b_k=b_k, b_v=b_v, b_o=m.out_proj.bias, num_heads=m.num_heads, **kwargs,
        )


def _heads_input(m: MultiHeadAttention) -> tuple[list[Tensor], Any]:
    """Capture the input of the output projection: the concatenated attention context."""
    seen: list[Tensor] = []
    handle = m.out_proj.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    return seen, handle


# ---------------------------------------------------------------------------------------------
# shapes and the output contract


@pytest.mark.parametrize("batch", [1, 3])
def test_shapes_self_and_cross(batch: int, dtype: torch.dtype) -> None:
    m = MultiHeadAttention(12, 3, kdim=5, vdim=7, dtype=dtype)
    q, k, v = _inputs(batch, 4, 6, 12, 5, 7, dtype)
    out = m(q, k, v)
    assert out._fields[:2] == ("context", "weights")
    assert out.context.shape == (batch, 4, 12) and out.context.dtype == dtype
    assert out.weights is not None and out.weights.shape == (batch, 3, 4, 6)
    assert_close(out.weights.sum(-1), torch.ones(batch, 3, 4, dtype=dtype))
    assert m(q, k, v, need_weights=False).weights is None
    self_attn = MultiHeadAttention(12, 3, dtype=dtype)(q)
    assert self_attn.context.shape == (batch, 4, 12) and self_attn.weights.shape == (batch, 3, 4, 4)


def test_parameter_layout_matches_torch() -> None:
    for kwargs in ({}, {"kdim": 5, "vdim": 7}):
        ours = MultiHeadAttention(8, 2, **kwargs)
        theirs = nn.MultiheadAttention(8, 2, **kwargs)
        assert {n: p.shape for n, p in ours.named_parameters()} == {
            n: p.shape for n, p in theirs.named_parameters()
        }
        ours.load_state_dict(theirs.state_dict())  # interchangeable both ways
        theirs.load_state_dict(ours.state_dict())
    no_bias = MultiHeadAttention(8, 2, qkv_bias=False, out_bias=False)
    assert no_bias.in_proj_bias is None and no_bias.out_proj.bias is None
    assert "in_proj_bias" not in dict(no_bias.named_parameters())


# ---------------------------------------------------------------------------------------------
# against nn.MultiheadAttention


CASES = {
    "self": {},
    "cross": {},
    "cross_shared_kv": {},
    "kdim_vdim": {"kdim": 6, "vdim": 10},
}


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "seq_first"])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch_with_key_padding_mask(case: str, batch_first: bool, grad: bool) -> None:
    theirs, ours = _torch_pair(batch_first=batch_first, **CASES[case])
    batch, q_len, k_len = 3, 5, 7
    if case == "self":
        k_len = q_len
    q, k, v = _inputs(batch, q_len, k_len, 16, ours.kdim, ours.vdim)
    if case == "self":
        k = v = q
    elif case == "cross_shared_kv":
        v = k
    mask = random_key_mask(batch, k_len, min_len=2)
    assert mask.any() and (~mask).any()
    with torch.set_grad_enabled(grad):
        ref, ref_w = _theirs(theirs, q, k, v, key_padding_mask=~mask)
        ref_avg = theirs(*((q, k, v) if batch_first else (x.transpose(0, 1) for x in (q, k, v))),
                         key_padding_mask=~mask)[1]
        # self-attention passes no key; a shared key/value tensor passes no value
        out, w = ours(q, None if case == "self" else k,
                      None if case in ("self", "cross_shared_kv") else v, mask=mask)
        fused, none = ours(q, k, v, mask=mask, need_weights=False)
    assert none is None and w is not None
    torch.testing.assert_close(out, ref, **EXACT)
    torch.testing.assert_close(w, ref_w, **EXACT)  # per head: average_attn_weights=False
    torch.testing.assert_close(w.mean(1), ref_avg, **EXACT)  # torch's default is the head mean
    torch.testing.assert_close(fused, ref, **EXACT)
    assert (w.masked_select(~mask[:, None, None, :].expand_as(w)) == 0).all()


def test_matches_torch_in_dtype(dtype: torch.dtype) -> None:
    theirs, ours = _torch_pair(dtype=dtype)
    q = torch.randn(2, 9, 16, dtype=dtype)
    mask = random_key_mask(2, 9)
    with torch.no_grad():
        ref, ref_w = _theirs(theirs, q, q, q, key_padding_mask=~mask)
        out, w = ours(q, mask=mask)
        fused = ours(q, mask=mask, need_weights=False).context
    assert_close(out, ref)
    assert_close(w, ref_w)
    assert_close(fused, ref)


@pytest.mark.parametrize("need_weights", [True, False])
def test_boolean_attn_mask_and_padding(need_weights: bool) -> None:
    theirs, ours = _torch_pair()
    batch, q_len, k_len = 2, 5, 6
    q, k, v = _inputs(batch, q_len, k_len, 16, 16, 16)
    attn_mask = torch.rand(q_len, k_len) < 0.4  # True = not allowed (torch)
    attn_mask[:, 0] = False  # every query keeps key 0
    kpm = torch.zeros(batch, k_len, dtype=torch.bool)
    kpm[1, 3:] = True
    mask = ~attn_mask[None] & ~kpm[:, None, :]  # documented conversion
    assert mask.any() and (~mask).any() and attn_mask.any()
    ref, ref_w = _theirs(theirs, q, k, v, attn_mask=attn_mask, key_padding_mask=kpm)
    out, w = ours(q, k, v, mask=mask, need_weights=need_weights)
    torch.testing.assert_close(out, ref, **EXACT)
    if need_weights:
        torch.testing.assert_close(w, ref_w, **EXACT)
    # (1, Lq, Lk) broadcasts over the batch like torch's 2-D attn_mask
    only, _ = _theirs(theirs, q, k, v, attn_mask=attn_mask)
    torch.testing.assert_close(ours(q, k, v, mask=~attn_mask[None]).context, only, **EXACT)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("layout", ["2d", "batch", "per_head"])
def test_float_attn_mask_is_attn_bias(layout: str, need_weights: bool) -> None:
    theirs, ours = _torch_pair()
    batch, heads, q_len, k_len = 2, 4, 5, 6
    q, k, v = _inputs(batch, q_len, k_len, 16, 16, 16)
    if layout == "2d":
        bias = torch.randn(q_len, k_len, dtype=F64)
        torch_mask = bias
    elif layout == "batch":
        bias = torch.randn(batch, q_len, k_len, dtype=F64)
        torch_mask = bias.repeat_interleave(heads, 0)  # torch wants (B * H, Lq, Lk)
    else:
        torch_mask = torch.randn(batch * heads, q_len, k_len, dtype=F64)
        bias = torch_mask.view(batch, heads, q_len, k_len)
    kpm = torch.zeros(batch, k_len, dtype=torch.bool)
    kpm[0, -2:] = True
    kpm_float = torch.zeros(batch, k_len, dtype=F64).masked_fill(kpm, float("-inf"))
    ref, ref_w = _theirs(theirs, q, k, v, attn_mask=torch_mask, key_padding_mask=kpm_float)
    out, w = ours(q, k, v, attn_bias=bias, mask=~kpm, need_weights=need_weights)
    torch.testing.assert_close(out, ref, **EXACT)
    if need_weights:
        torch.testing.assert_close(w, ref_w, **EXACT)


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_causal_matches_torch(need_weights: bool, grad: bool) -> None:
    theirs, ours = _torch_pair()
    ours.causal = True
    q = torch.randn(2, 6, 16, dtype=F64)
    with torch.set_grad_enabled(grad):
        ref, ref_w = _theirs(theirs, q, q, q, attn_mask=~causal_mask(6))
        out, w = ours(q, need_weights=need_weights)
        # causal combined with a padding mask
        kpm = torch.zeros(2, 6, dtype=torch.bool)
        kpm[1, 4:] = True
        ref_p, _ = _theirs(theirs, q, q, q, attn_mask=~causal_mask(6), key_padding_mask=kpm)
        out_p, _ = ours(q, mask=~kpm, need_weights=need_weights)
    torch.testing.assert_close(out, ref, **EXACT)
    torch.testing.assert_close(out_p, ref_p, **EXACT)
    if need_weights:
        torch.testing.assert_close(w, ref_w, **EXACT)
        assert (w.triu(1) == 0).all()


@pytest.mark.parametrize("need_weights", [True, False])
def test_causal_cross_attention_aligns_to_the_end(need_weights: bool) -> None:
    # Lq < Lk (a decoder step with cached keys): query i sees keys j <= i + Lk - Lq.
    theirs, ours = _torch_pair()
    ours.causal = True
    q, k, v = _inputs(2, 3, 7, 16, 16, 16)
    allowed = causal_mask(3, 7)
    assert allowed.any() and (~allowed).any()
    ref, _ = _theirs(theirs, q, k, v, attn_mask=~allowed)
    torch.testing.assert_close(ours(q, k, v, need_weights=need_weights).context, ref, **EXACT)


# ---------------------------------------------------------------------------------------------
# against the paper-literal loop (covers what torch cannot: rows with no valid key)


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_matches_reference_loop(need_weights: bool, grad: bool) -> None:
    _, ours = _torch_pair(kdim=6, vdim=10)
    q, k, v = _inputs(2, 4, 5, 16, 6, 10)
    mask = random_query_key_mask(2, 4, 5)  # query 0 of batch 0 sees no key
    bias = torch.randn(2, 4, 4, 5, dtype=F64)
    ref, ref_w, _ = _reference(ours, q, k, v, mask=mask, attn_bias=bias)
    with torch.set_grad_enabled(grad):
        out, w = ours(q, k, v, mask=mask, attn_bias=bias, need_weights=need_weights)
    torch.testing.assert_close(out, ref, **EXACT)
    if need_weights:
        torch.testing.assert_close(w, ref_w, **EXACT)


@pytest.mark.parametrize("need_weights", [True, False])
def test_causal_more_queries_than_keys_matches_reference(need_weights: bool) -> None:
    _, ours = _torch_pair()
    ours.causal = True
    q, k, v = _inputs(2, 6, 4, 16, 16, 16)  # queries 0 and 1 see no key
    ref, ref_w, _ = _reference(ours, q, k, v, causal=True)
    out, w = ours(q, k, v, need_weights=need_weights)
    torch.testing.assert_close(out, ref, **EXACT)
    torch.testing.assert_close(out[:, :2], ours.out_proj.bias.expand(2, 2, 16), rtol=0, atol=0)
    if need_weights:
        torch.testing.assert_close(w, ref_w, **EXACT)


# ---------------------------------------------------------------------------------------------
# fused path vs weights path


@pytest.mark.parametrize("causal", [False, True])
def test_fused_matches_weights_path_forward_and_backward(causal: bool) -> None:
    torch.manual_seed(1)
    base = MultiHeadAttention(16, 4, kdim=6, vdim=10, causal=causal, dtype=F64)
    with torch.no_grad():
        assert base.in_proj_bias is not None
        base.in_proj_bias.normal_()
    mask = random_query_key_mask(3, 5, 5)
    assert mask.any() and (~mask).any() and (~mask.any(-1)).any()
    q0, k0, v0 = _inputs(3, 5, 5, 16, 6, 10)
    bias0 = torch.randn(3, 4, 5, 5, dtype=F64)
    results = []
    for need_weights in (True, False):
        m = MultiHeadAttention(16, 4, kdim=6, vdim=10, causal=causal, dtype=F64)
        m.load_state_dict(base.state_dict())
        q, k, v, bias = (t.clone().requires_grad_() for t in (q0, k0, v0, bias0))
        out = m(q, k, v, mask=mask, attn_bias=bias, need_weights=need_weights).context
        (out * torch.linspace(-1, 1, out.numel(), dtype=F64).view_as(out)).sum().backward()
        grads = [q.grad, k.grad, v.grad, bias.grad] + [p.grad for p in m.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        results.append((out, grads))
    (out_w, grads_w), (out_f, grads_f) = results
    torch.testing.assert_close(out_f, out_w, **EXACT)
    for g_f, g_w in zip(grads_f, grads_w, strict=True):
        torch.testing.assert_close(g_f, g_w, **EXACT)


def test_fused_path_dispatches_to_sdpa(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(*args: Any, **kwargs: Any) -> Tensor:
        calls.append(kwargs)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    x = torch.randn(2, 6, 16)
    causal = MultiHeadAttention(16, 4, causal=True)
    assert causal(x, need_weights=False).weights is None
    assert calls[-1]["is_causal"] and calls[-1]["attn_mask"] is None  # no mask materialised
    mask = random_key_mask(2, 6)
    causal(x, mask=mask, need_weights=False)  # causal folded into the mask
    assert not calls[-1]["is_causal"] and calls[-1]["attn_mask"].dtype == torch.bool
    n = len(calls)
    causal(x, mask=mask)  # the weights path does not use the fused kernel
    assert len(calls) == n


# ---------------------------------------------------------------------------------------------
# fully masked rows: zero weights, zero attention context, output = out_proj.bias


@pytest.mark.parametrize("out_bias", [True, False])
@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_fully_masked_rows(need_weights: bool, grad: bool, out_bias: bool) -> None:
    m = MultiHeadAttention(16, 4, out_bias=out_bias, dtype=F64)
    if out_bias:
        with torch.no_grad():
            m.out_proj.bias.normal_()
    q = torch.randn(3, 4, 16, dtype=F64, requires_grad=grad)
    kv = torch.randn(3, 5, 16, dtype=F64, requires_grad=grad)
    mask = torch.ones(3, 4, 5, dtype=torch.bool)
    mask[0, 1] = False  # one query with no key
    mask[2] = False  # a whole sequence with no key
    empty = ~mask.any(-1)  # (b, i)
    seen, handle = _heads_input(m)
    with torch.set_grad_enabled(grad):
        out, w = m(q, kv, mask=mask, need_weights=need_weights)
    handle.remove()
    heads = seen[0]  # (b, i, h*d): [head_1; ...; head_H] before W^O
    assert torch.isfinite(out).all() and torch.isfinite(heads).all()
    assert (heads[empty] == 0).all() and (heads[~empty] != 0).any()
    expected_row = m.out_proj.bias if out_bias else torch.zeros(16, dtype=F64)
    assert torch.equal(out[empty], expected_row.expand(int(empty.sum()), 16))
    if need_weights:
        assert w is not None and (w.permute(0, 2, 1, 3)[empty] == 0).all()
        assert_close(w.sum(-1)[~empty[:, None, :].expand(3, 4, 4)], torch.ones(1, dtype=F64)
                     .expand(int((~empty).sum()) * 4))
    if grad:
        loss = out.pow(2).sum() + (0 if w is None else w.pow(2).sum())
        loss.backward()
        assert q.grad is not None and kv.grad is not None
        assert torch.isfinite(q.grad).all() and torch.isfinite(kv.grad).all()
        assert (q.grad[empty] == 0).all()  # an output row that is constant has no gradient
        for p in m.parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all()


def test_fully_masked_padding_mask_self_attention_both_paths_agree() -> None:
    m = MultiHeadAttention(8, 2, dtype=F64)
    x = torch.randn(2, 3, 8, dtype=F64, requires_grad=True)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    outs = []
    for need_weights in (True, False):
        out = m(x, mask=mask, need_weights=need_weights).context
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert torch.isfinite(grad).all()
        outs.append((out, grad))
    torch.testing.assert_close(outs[0][0], outs[1][0], **EXACT)
    torch.testing.assert_close(outs[0][1], outs[1][1], **EXACT)
    assert torch.equal(outs[0][0][1], m.out_proj.bias.expand(3, 8))


# ---------------------------------------------------------------------------------------------
# invariances


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_padding_invariance(need_weights: bool, grad: bool) -> None:
    m = MultiHeadAttention(16, 4, kdim=6, vdim=10, dtype=F64)
    q, k, v = _inputs(2, 4, 5, 16, 6, 10)
    mask = random_key_mask(2, 5, min_len=2)
    k_pad = torch.cat([k, torch.randn(2, 3, 6, dtype=F64) * 100], 1)
    v_pad = torch.cat([v, torch.randn(2, 3, 10, dtype=F64) * 100], 1)
    mask_pad = torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], 1)
    with torch.set_grad_enabled(grad):
        out, w = m(q, k, v, mask=mask, need_weights=need_weights)
        out_pad, w_pad = m(q, k_pad, v_pad, mask=mask_pad, need_weights=need_weights)
    torch.testing.assert_close(out_pad, out, **EXACT)
    if need_weights:
        assert w is not None and w_pad is not None
        torch.testing.assert_close(w_pad[..., :5], w, **EXACT)
        assert (w_pad[..., 5:] == 0).all()


@pytest.mark.parametrize("need_weights", [True, False])
def test_causality(need_weights: bool) -> None:
    m = MultiHeadAttention(16, 4, causal=True, dtype=F64)
    x = torch.randn(2, 7, 16, dtype=F64)
    t = 3
    changed = x.clone()
    changed[:, t + 1 :] = torch.randn(2, 7 - t - 1, 16, dtype=F64)
    out = m(x, need_weights=need_weights).context
    out_changed = m(changed, need_weights=need_weights).context
    torch.testing.assert_close(out_changed[:, : t + 1], out[:, : t + 1], **EXACT)
    assert not torch.allclose(out_changed[:, t + 1 :], out[:, t + 1 :])


def test_dropout_only_in_training() -> None:
    m = MultiHeadAttention(16, 4, dropout=0.5)
    x = torch.randn(2, 6, 16)
    m.eval()
    a, b = m(x), m(x)
    torch.testing.assert_close(a.context, b.context, rtol=0, atol=0)
    m.train()
    out = m(x)
    assert not torch.allclose(out.context, a.context)
    assert out.weights is not None
    assert_close(out.weights, a.weights)  # weights are the pre-dropout distribution
    with torch.no_grad():  # the in-place path drops out too, leaving the weights intact
        out = m(x)
    assert not torch.allclose(out.context, a.context)
    assert_close(out.weights, a.weights)


def test_compiles_without_graph_breaks() -> None:
    m = MultiHeadAttention(16, 4, causal=True).eval()
    compiled = torch.compile(m, backend="aot_eager", fullgraph=True)
    x = torch.randn(2, 6, 16)
    mask = random_key_mask(2, 6)
    for need_weights in (True, False):
        for grad in (True, False):  # autograd path and in-place path
            with torch.set_grad_enabled(grad):
                got, want = compiled(x, mask=mask, need_weights=need_weights), m(
                    x, mask=mask, need_weights=need_weights
                )
            assert_close(got.context, want.context)
            if need_weights:
                assert_close(got.weights, want.weights)


# ---------------------------------------------------------------------------------------------
# gradcheck


@pytest.mark.parametrize("need_weights", [True, False])
def test_gradcheck_inputs(need_weights: bool) -> None:
    m = MultiHeadAttention(4, 2, kdim=3, vdim=5, dtype=F64)
    q, k, v = (t.requires_grad_() for t in _inputs(1, 3, 4, 4, 3, 5))
    bias = torch.randn(1, 2, 3, 4, dtype=F64, requires_grad=True)
    mask = random_query_key_mask(1, 3, 4)  # query 0 sees no key

    def fn(q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> tuple[Tensor, ...]:
        out = m(q, k, v, mask=mask, attn_bias=bias, need_weights=need_weights)
        return (out.context,) if out.weights is None else (out.context, out.weights)

    assert gradcheck(fn, (q, k, v, bias))


def test_gradcheck_parameters_causal_self_attention() -> None:
    m = MultiHeadAttention(4, 2, causal=True, dtype=F64)
    x = torch.randn(2, 3, 4, dtype=F64)
    mask = random_key_mask(2, 3)
    names = [n for n, _ in m.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in m.parameters())

    def fn(*values: Tensor) -> Tensor:
        return torch.func.functional_call(m, dict(zip(names, values, strict=True)), (x,),
                                          {"mask": mask}).context

    assert gradcheck(fn, params)


# ---------------------------------------------------------------------------------------------
# bad inputs


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(8, 0)
    with pytest.raises(TypeError, match="dim"):
        MultiHeadAttention(8.0, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kdim"):
        MultiHeadAttention(8, 2, kdim=-1)
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(8, 2, dropout=1.5)
    with pytest.raises(TypeError, match="qkv"):
        MultiHeadAttention(8, 2, qkv=True)  # type: ignore[call-arg]


def test_bad_forward_arguments() -> None:
    m = MultiHeadAttention(8, 2, kdim=4, vdim=6)
    q, k, v = torch.randn(2, 3, 8), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"query": torch.randn(3, 8), "key": k, "value": v}, ValueError, "query"),
        ({"query": torch.randn(2, 3, 7), "key": k, "value": v}, ValueError, "dim"),
        ({"query": q, "key": torch.randn(2, 5, 5), "value": v}, ValueError, "kdim"),
        ({"query": q, "key": k, "value": torch.randn(2, 5, 4)}, ValueError, "vdim"),
        ({"query": q, "key": k}, ValueError, "vdim"),  # value defaults to key
        ({"query": q, "key": k[:1], "value": v[:1]}, ValueError, "batch"),
        ({"query": q, "key": k, "value": v[:, :4]}, ValueError, "length"),
        ({"query": q, "value": v}, ValueError, "key"),
        ({"query": q.long(), "key": k, "value": v}, TypeError, "query"),
        ({"query": q, "key": k, "value": v, "mask": torch.ones(2, 5)}, TypeError, "mask"),
        ({"query": q, "key": k, "value": v, "mask": torch.ones(2, 4, dtype=torch.bool)},
         ValueError, "mask"),
        ({"query": q, "key": k, "value": v, "mask": torch.ones(2, 5, 3, dtype=torch.bool)},
         ValueError, "mask"),
        ({"query": q, "key": k, "value": v, "attn_bias": torch.zeros(2, 3, 3, 5)},
         ValueError, "attn_bias"),
        ({"query": q, "key": k, "value": v, "attn_bias": torch.zeros(3, 5, dtype=torch.bool)},
         TypeError, "attn_bias"),
        ({"query": q, "key": k, "value": v, "key_padding_mask": torch.zeros(2, 5)},
         TypeError, "key_padding_mask"),
    ]
    for kwargs, error, match in cases:
        query = kwargs.pop("query")
        with pytest.raises(error, match=match):
            m(query, **kwargs)


def test_from_torch_rejects_unsupported_modules() -> None:
    with pytest.raises(ValueError, match="bias_k"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, add_bias_kv=True))
    with pytest.raises(ValueError, match="add_zero_attn"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, add_zero_attn=True))
    with pytest.raises(TypeError, match="module"):
        MultiHeadAttention.from_torch(nn.Linear(8, 8))  # type: ignore[arg-type]


def test_from_torch_copies_parameters_and_settings() -> None:
    theirs = nn.MultiheadAttention(8, 2, dropout=0.25, bias=False, kdim=3, vdim=5)
    ours = MultiHeadAttention.from_torch(theirs)
    assert ours.dropout == 0.25 and ours.training
    assert ours.in_proj_bias is None and ours.out_proj.bias is None
    assert ours.k_proj_weight is not None and theirs.k_proj_weight is not None
    assert torch.equal(ours.k_proj_weight, theirs.k_proj_weight)
    assert ours.k_proj_weight.data_ptr() != theirs.k_proj_weight.data_ptr()  # a copy
    assert not MultiHeadAttention.from_torch(theirs.eval()).training


# ---------------------------------------------------------------------------------------------
# registry


def test_registered() -> None:
    (entry,) = [e for e in list_mechanisms() if e.name == "multihead"]
    assert entry.cls is MultiHeadAttention
    assert entry.tags == {
        "sequences": ("distinctive", "self"),
        "levels": ("single",),
        "positions": ("soft",),
        "representations": ("multi-dimensional",)  # one weight per head,
    }
    assert "1706.03762" in entry.paper.url
    module, args, kwargs = entry.example()
    assert kwargs["mask"].any() and (~kwargs["mask"]).any()
    out = module(*args, **kwargs)
    assert out.weights is not None
    padding = ~kwargs["mask"][:, None, None, :].expand_as(out.weights)
    assert (out.weights[padding] == 0).all() and (out.weights[~padding] > 0).all()


# ---------------------------------------------------------------------------------------------
# CUDA (run with: pytest -m cuda --device cuda)


def _cuda_case() -> tuple[MultiHeadAttention, Tensor, Tensor, Tensor, Tensor]:
    torch.manual_seed(0)
    m = MultiHeadAttention(32, 4, kdim=24, vdim=16)
    q, k, v = torch.randn(3, 9, 32), torch.randn(3, 11, 24), torch.randn(3, 11, 16)
    mask = random_query_key_mask(3, 9, 11)  # with a query that sees no key
    return m, q, k, v, mask


@pytest.mark.cuda
@pytest.mark.parametrize("need_weights", [True, False])
def test_cuda_matches_cpu(need_weights: bool) -> None:
    cuda = torch.device("cuda")
    m, q, k, v, mask = _cuda_case()
    ref = m(q, k, v, mask=mask, need_weights=need_weights)
    m_gpu = MultiHeadAttention(32, 4, kdim=24, vdim=16, device=cuda)
    m_gpu.load_state_dict(m.state_dict())
    inputs = [t.to(cuda).requires_grad_() for t in (q, k, v)]
    out = m_gpu(*inputs, mask=mask.to(cuda), need_weights=need_weights)
    assert_close(out.context.cpu(), ref.context, rtol=1e-3, atol=1e-4)
    if need_weights:
        assert_close(out.weights.cpu(), ref.weights, rtol=1e-3, atol=1e-4)
    out.context.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in inputs)
    assert (out.context.cpu()[~mask.any(-1)] == m.out_proj.bias.detach()).all()


@pytest.mark.cuda
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("amp_dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_cuda_autocast_matches_float32(amp_dtype: torch.dtype, need_weights: bool) -> None:
    cuda = torch.device("cuda")
    m, q, k, v, mask = _cuda_case()
    m = m.to(cuda)
    q, k, v, mask = (t.to(cuda) for t in (q, k, v, mask))
    ref = m(q, k, v, mask=mask, need_weights=need_weights)
    x = q.clone().requires_grad_()
    with torch.autocast("cuda", dtype=amp_dtype):
        out = m(x, k, v, mask=mask, need_weights=need_weights)
    assert out.context.dtype == amp_dtype
    assert_close(out.context.float(), ref.context, **tol(amp_dtype))
    if need_weights:
        assert out.weights is not None
        assert_close(out.weights.float(), ref.weights, **tol(amp_dtype))
        assert (out.weights[~mask[:, None].expand_as(out.weights)] == 0).all()
    out.context.float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    empty = ~mask.any(-1)
    assert empty.any() and (x.grad[empty] == 0).all()
    with torch.no_grad(), torch.autocast("cuda", dtype=amp_dtype):  # the in-place path
        fast = m(q, k, v, mask=mask, need_weights=need_weights)
    assert_close(fast.context.float(), ref.context, **tol(amp_dtype))
    if need_weights:
        assert fast.weights is not None
        assert_close(fast.weights.float(), ref.weights, **tol(amp_dtype))
