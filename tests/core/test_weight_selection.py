"""Weights of selected heads and query rows next to the fused context (``WeightSelection``).

The reference is the full weights path of the same module (``need_weights=True``), indexed entry
by entry in Python loops; the context must be the fused path's (``need_weights=False``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from torch import Tensor

from attnlab.architectures.transformer import TransformerEncoder
from attnlab.core import WeightSelection, attend
from attnlab.core.attend import dot_product_attention
from attnlab.core.scores import AdditiveScore, ScaledDotScore
from attnlab.core.weight_selection import check_need_weights, selected_weights
from attnlab.interpret.record import record
from attnlab.mechanisms.multihead import KVCache, MultiHeadAttention

B, H, DIM = 2, 4, 16

SELECTIONS = [
    WeightSelection(heads=[2]),
    WeightSelection(heads=[3, 0, 3], queries=[-1, 0, 2]),
    WeightSelection(heads=slice(1, None, 2), queries=slice(1, None, 2)),
    WeightSelection(queries=[4]),
    WeightSelection(),
]


def _pick(full: Tensor, heads: Sequence[int], queries: Sequence[int]) -> Tensor:
    """``full[:, heads][:, :, queries]`` by explicit loops (``full``: ``(B, H, Lq, Lk)``)."""
    out = full.new_zeros(full.shape[0], len(heads), len(queries), full.shape[-1])
    for b in range(full.shape[0]):
        for a, h in enumerate(heads):
            for c, i in enumerate(queries):
                out[b, a, c] = full[b, h, i]
    return out


def _explicit(sel: WeightSelection, num_heads: int, q_len: int) -> tuple[list[int], list[int]]:
    """The indices of ``sel`` written out by hand (negative ones wrapped)."""
    def one(value: object, size: int) -> list[int]:
        if value is None:
            return list(range(size))
        if isinstance(value, slice):
            return list(range(size))[value]
        assert isinstance(value, tuple)
        return [i + size if i < 0 else i for i in value]

    return one(sel.heads, num_heads), one(sel.queries, q_len)


def _settings(q_len: int, k_len: int) -> list[tuple[str, bool, dict[str, Tensor]]]:
    """``(label, causal, forward kwargs)`` covering masks, fully masked rows and biases."""
    g = torch.Generator().manual_seed(1)
    rows = torch.rand(B, q_len, k_len, generator=g) > 0.4
    rows[0, 1] = False  # a query without any valid key
    rows[1, q_len - 1] = False
    padding = torch.ones(B, k_len, dtype=torch.bool)
    padding[1, k_len - 2 :] = False
    head_bias = torch.randn(B, H, q_len, k_len, generator=g, dtype=torch.float64)
    shared_bias = torch.randn(q_len, k_len, generator=g, dtype=torch.float64)
    return [
        ("plain", False, {}),
        ("padding", False, {"mask": padding}),
        ("rows+empty", False, {"mask": rows}),
        ("causal", True, {}),
        ("causal+padding", True, {"mask": padding}),
        ("head-bias", False, {"attn_bias": head_bias}),
        ("bias+rows", True, {"attn_bias": shared_bias, "mask": rows}),
    ]


def _module(causal: bool, *, dropout: float = 0.0) -> MultiHeadAttention:
    torch.manual_seed(0)
    return MultiHeadAttention(DIM, H, causal=causal, dropout=dropout).double().eval()


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no-grad"])
@pytest.mark.parametrize("lengths", [(6, 6), (5, 7)], ids=["self", "cross"])
def test_multihead_selected_weights_equal_full_entries(
    lengths: tuple[int, int], grad: bool
) -> None:
    q_len, k_len = lengths
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, q_len, DIM, generator=g, dtype=torch.float64)
    memory = torch.randn(B, k_len, DIM, generator=g, dtype=torch.float64)
    for label, causal, kwargs in _settings(q_len, k_len):
        mha = _module(causal)
        inputs = (x,) if q_len == k_len else (x, memory)
        with torch.set_grad_enabled(grad):
            full = mha(*inputs, need_weights=True, **kwargs)
            fused = mha(*inputs, need_weights=False, **kwargs)
            assert full.weights is not None
            for sel in SELECTIONS:
                out = mha(*inputs, need_weights=sel, **kwargs)
                heads, queries = _explicit(sel, H, q_len)
                assert out.weights is not None
                assert out.weights.shape == (B, len(heads), len(queries), k_len), label
                expected = _pick(full.weights, heads, queries)
                torch.testing.assert_close(out.weights, expected, rtol=1e-12, atol=1e-12)
                assert torch.equal(out.context, fused.context), label
                assert not out.weights.isnan().any()


def test_fully_masked_rows_are_zero() -> None:
    mha = _module(False)
    x = torch.randn(B, 5, DIM, dtype=torch.float64)
    mask = torch.ones(B, 5, 5, dtype=torch.bool)
    mask[1, 3] = False
    out = mha(x, mask=mask, need_weights=WeightSelection(heads=[0, 2], queries=[3, 0]))
    assert out.weights is not None
    assert out.weights[1, :, 0].eq(0).all()  # query 3 of item 1: no key at all
    torch.testing.assert_close(out.weights[1, :, 1].sum(-1), torch.ones(2, dtype=torch.float64))
    assert torch.isfinite(out.context).all()


def test_dropout_gives_pre_dropout_weights_and_the_fused_context() -> None:
    mha = _module(False, dropout=0.5).train()
    x = torch.randn(B, 6, DIM, dtype=torch.float64)
    sel = WeightSelection(heads=[1], queries=slice(0, 4))
    full = mha(x, need_weights=True)
    torch.manual_seed(3)
    out = mha(x, need_weights=sel)
    torch.manual_seed(3)
    fused = mha(x, need_weights=False)
    assert full.weights is not None and out.weights is not None
    torch.testing.assert_close(out.weights, _pick(full.weights, [1], [0, 1, 2, 3]))
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B, 1, 4, dtype=torch.float64))
    assert torch.equal(out.context, fused.context)


def test_kv_cache_step_selects_from_every_cached_key() -> None:
    mha = _module(True)
    x = torch.randn(1, 5, DIM, dtype=torch.float64)
    full_cache, sel_cache = KVCache(), KVCache()
    sel = WeightSelection(heads=[3, 1])
    for t in range(5):
        step = x[:, t : t + 1]
        full = mha(step, cache=full_cache)
        out = mha(step, cache=sel_cache, need_weights=sel)
        assert full.weights is not None and out.weights is not None
        assert out.weights.shape == (1, 2, 1, t + 1)
        torch.testing.assert_close(out.weights, _pick(full.weights, [3, 1], [0]))


@pytest.mark.parametrize("causal", [False, True])
def test_dot_product_attention_selection(causal: bool) -> None:
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 3, 6, 5, generator=g, dtype=torch.float64) for _ in range(3))
    sel = WeightSelection(heads=[2, 0], queries=[5, 1])
    with torch.no_grad():  # the in-place route; Lq == Lk without a mask is the kernel's causal
        context, weights = dot_product_attention(q, k, v, scale=0.4, need_weights=sel,
                                                 causal=causal)
        fused, _ = dot_product_attention(q, k, v, scale=0.4, need_weights=False, causal=causal)
        _, full = dot_product_attention(q, k, v, scale=0.4, causal=causal)
    assert full is not None and weights is not None
    torch.testing.assert_close(weights, _pick(full, [2, 0], [5, 1]), rtol=1e-12, atol=1e-12)
    assert torch.equal(context, fused)


def test_attend_selects_query_rows() -> None:
    g = torch.Generator().manual_seed(4)
    query = torch.randn(B, 5, 8, generator=g, dtype=torch.float64)
    kv = torch.randn(B, 7, 8, generator=g, dtype=torch.float64)
    mask = torch.ones(B, 5, 7, dtype=torch.bool)
    mask[0, 2] = False
    sel = WeightSelection(queries=[2, 4, 0])
    torch.manual_seed(0)
    scores = [ScaledDotScore(), AdditiveScore(8, 8, hidden_dim=6).double()]
    for score in scores:  # the fused route and the generic one
        full = attend(query, kv, kv, score=score, mask=mask)
        fused = attend(query, kv, kv, score=score, mask=mask, need_weights=False)
        out = attend(query, kv, kv, score=score, mask=mask, need_weights=sel)
        assert full.weights is not None and out.weights is not None
        assert out.weights.shape == (B, 3, 7)
        expected = _pick(full.weights[:, None], [0], [2, 4, 0])[:, 0]
        torch.testing.assert_close(out.weights, expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out.context, fused.context, rtol=0, atol=0)
        assert out.weights[0, 0].eq(0).all()
    with pytest.raises(ValueError, match="leave heads=None"):
        attend(query, kv, kv, score=scores[0], need_weights=WeightSelection(heads=[0]))


def test_selected_weights_gradcheck() -> None:
    g = torch.Generator().manual_seed(5)
    q = torch.randn(1, 3, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(1, 3, 5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(1, 3, 4, 5, generator=g, dtype=torch.float64)
    mask = torch.rand(1, 1, 4, 5, generator=g) > 0.3
    mask[..., 1, :] = False
    sel = WeightSelection(heads=[2, 0], queries=[1, 3])

    def fn(q: Tensor, k: Tensor) -> Tensor:
        return selected_weights(q, k, scale=0.7, selection=sel, mask=mask, attn_bias=bias,
                                causal=True)

    assert torch.autograd.gradcheck(fn, (q, k))


@pytest.mark.parametrize(
    ("need_weights", "error", "match"),
    [
        (WeightSelection(heads=[4]), IndexError, r"heads index 4, out of range for 4 heads"),
        (WeightSelection(heads=[-5]), IndexError, r"heads index -5"),
        (WeightSelection(queries=[6]), IndexError, r"queries index 6, out of range for 6"),
        ([0], TypeError, r"need_weights must be True or False, got list \(or a WeightSel"),
        ("yes", TypeError, r"need_weights must be True or False, got str"),
    ],
)
def test_bad_selections_raise(need_weights: object, error: type[Exception], match: str) -> None:
    mha = _module(False)
    with pytest.raises(error, match=match):
        mha(torch.randn(1, 6, DIM, dtype=torch.float64), need_weights=need_weights)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"heads": 2}, TypeError, r"heads must be a sequence of ints.*heads=\[2\]"),
        ({"heads": [1.5]}, TypeError, r"heads must hold ints, got float"),
        ({"queries": [True]}, TypeError, r"queries must hold ints, got bool"),
        ({"queries": "01"}, TypeError, r"queries must be a sequence of ints"),
        ({"queries": slice(0, 4, 0)}, ValueError, r"queries slice step must not be zero"),
        ({"heads": slice(0.5, 2)}, TypeError, r"heads slice start must be an int"),
        ({"heads": torch.tensor([0.0])}, TypeError, r"heads as a tensor must be 1-D"),
    ],
)
def test_bad_selection_types_raise(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        WeightSelection(**kwargs)  # type: ignore[arg-type]


def test_selection_values() -> None:
    a = WeightSelection(heads=[1, 2], queries=range(3))
    assert a == WeightSelection(heads=(1, 2), queries=torch.tensor([0, 1, 2]))
    assert a.heads == (1, 2) and a.queries == (0, 1, 2)
    with_slice = WeightSelection(queries=slice(2, None))
    assert hash(with_slice) == hash(WeightSelection(queries=slice(2, None)))
    resolved = check_need_weights(with_slice, num_heads=3, q_len=5)
    assert resolved == WeightSelection(heads=(0, 1, 2), queries=(2, 3, 4))
    assert check_need_weights(False, num_heads=3, q_len=5) is False


def test_record_forces_a_selection() -> None:
    torch.manual_seed(0)
    encoder = TransformerEncoder(2, 8, 2, 16, dropout=0.0).double().eval()
    x = torch.randn(1, 6, 8, dtype=torch.float64)
    sel = WeightSelection(heads=[1], queries=slice(0, 3))
    with record(encoder, force_weights=True) as full_rec:
        reference = encoder(x, need_weights=False)
    with record(encoder, force_weights={"layers.0.*": sel}) as rec:
        out = encoder(x, need_weights=False)
    torch.testing.assert_close(out, reference, rtol=1e-12, atol=1e-12)
    first, second = rec
    assert (first.forced, second.forced) == (True, False)
    assert second.weights is None and second.selection is None
    assert first.selection == WeightSelection(heads=(1,), queries=(0, 1, 2))
    assert first.weights is not None and full_rec[0].weights is not None
    torch.testing.assert_close(first.weights, _pick(full_rec[0].weights, [1], [0, 1, 2]))
    bad = {"layers.0.*": [1]}
    with (
        pytest.raises(TypeError, match=r"force_weights\['layers.0.\*'\] must be True, False"),
        record(encoder, force_weights=bad),  # type: ignore[arg-type]
    ):
        pass
