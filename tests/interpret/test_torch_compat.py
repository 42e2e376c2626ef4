"""convert_torch_attention: torch models keep their outputs and become recordable per head."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

from attnlab.interpret import TorchAttentionAdapter, convert_torch_attention, record

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _encoder(batch_first: bool, norm_first: bool = False) -> nn.TransformerEncoder:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=batch_first,
                                       norm_first=norm_first, dtype=torch.float64)
    return nn.TransformerEncoder(layer, 3, enable_nested_tensor=False).eval()


def _padding(batch: int, length: int) -> Tensor:
    lengths = torch.tensor([length, length - 2, 1])[:batch]
    pad = torch.arange(length)[None, :] >= lengths[:, None]  # torch: True = ignore
    assert pad.any() and (~pad).any()
    return pad


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("norm_first", [False, True])
def test_converted_encoder_computes_the_same_outputs(batch_first: bool, norm_first: bool) -> None:
    original = _encoder(batch_first, norm_first)
    converted = convert_torch_attention(copy.deepcopy(original))
    assert all(isinstance(layer.self_attn, TorchAttentionAdapter) for layer in converted.layers)
    x = torch.randn(3, 6, 16, dtype=torch.float64)
    if not batch_first:
        x = x.transpose(0, 1)
    pad = _padding(3, 6)
    causal = torch.ones(6, 6, dtype=torch.bool).triu(1)  # torch: True = not allowed
    for kwargs in ({}, {"src_key_padding_mask": pad}, {"mask": causal},
                   {"mask": causal, "src_key_padding_mask": pad}):
        expected = original(x, **kwargs)
        got = converted(x, **kwargs)  # gradients on: attnlab's module runs
        real = ~pad if "src_key_padding_mask" in kwargs else torch.ones(3, 6, dtype=torch.bool)
        real = real if batch_first else real.T
        torch.testing.assert_close(got[real], expected[real], **TOL)


def test_converted_encoder_records_every_layer_and_head() -> None:
    original = _encoder(batch_first=True)
    converted = convert_torch_attention(copy.deepcopy(original))
    x = torch.randn(3, 6, 16, dtype=torch.float64)
    pad = _padding(3, 6)
    with torch.no_grad(), record(converted, force_weights=True) as rec:
        out = converted(x, src_key_padding_mask=pad)
    assert [r.name for r in rec] == [f"layers.{n}.self_attn.attention" for n in range(3)]
    assert all(r.forced and r.weights.shape == (3, 4, 6, 6) for r in rec)
    # torch's own per-head weights, layer by layer on the same inputs
    h = x
    for n, layer in enumerate(original.layers):
        _, expected = layer.self_attn(h, h, h, key_padding_mask=pad, need_weights=True,
                                      average_attn_weights=False)
        torch.testing.assert_close(rec[n].weights, expected, **TOL)
        h = layer(h, src_key_padding_mask=pad)
    real = ~pad
    torch.testing.assert_close(out[real], original(x, src_key_padding_mask=pad)[real], **TOL)


def test_without_forcing_torch_layers_are_recorded_as_fused() -> None:
    converted = convert_torch_attention(_encoder(batch_first=True))
    with record(converted) as rec:
        converted(torch.randn(2, 4, 16, dtype=torch.float64))
    assert [r.need_weights for r in rec] == [False] * 3 and rec[0].weights is None


def test_converted_decoder_with_cross_attention() -> None:
    torch.manual_seed(1)
    layer = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, batch_first=True,
                                       dtype=torch.float64)
    original = nn.TransformerDecoder(layer, 2).eval()
    converted = convert_torch_attention(copy.deepcopy(original))
    tgt, memory = torch.randn(2, 5, 16, dtype=torch.float64), torch.randn(2, 7, 16,
                                                                          dtype=torch.float64)
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    memory_pad = torch.tensor([[False] * 7, [False] * 4 + [True] * 3])
    kwargs = {"tgt_mask": causal, "memory_key_padding_mask": memory_pad, "tgt_is_causal": True}
    expected = original(tgt, memory, **kwargs)
    with record(converted, force_weights=True) as rec:
        got = converted(tgt, memory, **kwargs)
    torch.testing.assert_close(got, expected, **TOL)
    assert [r.name for r in rec] == [
        f"layers.{n}.{part}.attention" for n in range(2) for part in ("self_attn", "multihead_attn")
    ]
    assert rec[0].weights[:, :, 0, 1:].eq(0).all()  # causal
    assert rec[1].weights[1, :, :, 4:].eq(0).all()  # memory padding


@pytest.mark.parametrize("batch_first", [True, False])
def test_adapter_matches_torch_on_every_call_form(batch_first: bool) -> None:
    torch.manual_seed(2)
    mha = nn.MultiheadAttention(8, 2, kdim=6, vdim=5, batch_first=batch_first,
                                dtype=torch.float64).eval()
    adapter = TorchAttentionAdapter(mha)
    b, lq, lk = 3, 4, 5

    def lay(t: Tensor) -> Tensor:
        return t if batch_first else t.transpose(0, 1)

    q = lay(torch.randn(b, lq, 8, dtype=torch.float64))
    k = lay(torch.randn(b, lk, 6, dtype=torch.float64))
    v = lay(torch.randn(b, lk, 5, dtype=torch.float64))
    pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2, [False] + [True] * 4])
    bool_mask = torch.rand(lq, lk) < 0.3
    bool_mask[:, 0] = False  # every query keeps a key
    float_mask = torch.randn(lq, lk, dtype=torch.float64)
    per_head = torch.randn(b * 2, lq, lk, dtype=torch.float64)
    float_pad = torch.zeros(b, lk, dtype=torch.float64).masked_fill(pad, float("-inf"))
    for kwargs in (
        {},
        {"key_padding_mask": pad},
        {"attn_mask": bool_mask},
        {"attn_mask": float_mask, "key_padding_mask": float_pad},
        {"attn_mask": bool_mask, "key_padding_mask": pad},
        {"attn_mask": per_head},
        {"average_attn_weights": False, "key_padding_mask": pad},
        {"need_weights": False},
    ):
        out, w = adapter(q, k, v, **kwargs)
        ref_out, ref_w = mha(q, k, v, **kwargs)
        torch.testing.assert_close(out, ref_out, **TOL)
        if ref_w is None:
            assert w is None
        else:
            torch.testing.assert_close(w, ref_w, **TOL)


def test_adapter_handles_unbatched_inputs() -> None:
    mha = nn.MultiheadAttention(8, 2, dtype=torch.float64).eval()
    adapter = TorchAttentionAdapter(mha)
    x = torch.randn(4, 8, dtype=torch.float64)
    out, w = adapter(x, x, x)
    ref_out, ref_w = mha(x, x, x)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(w, ref_w, **TOL)


def test_gradients_flow_through_the_converted_model() -> None:
    converted = convert_torch_attention(_encoder(batch_first=True)).train()
    x = torch.randn(2, 4, 16, dtype=torch.float64, requires_grad=True)
    converted(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    adapter = converted.layers[0].self_attn
    assert adapter.attention.in_proj_weight.grad is not None


def test_unsupported_modules_leave_the_model_unchanged() -> None:
    model = nn.Sequential(nn.MultiheadAttention(8, 2), nn.MultiheadAttention(8, 2,
                                                                             add_bias_kv=True))
    with pytest.raises(ValueError, match="add_bias_kv"):
        convert_torch_attention(model)
    assert isinstance(model[0], nn.MultiheadAttention)


def test_a_bare_module_and_a_shared_module() -> None:
    mha = nn.MultiheadAttention(8, 2)
    assert isinstance(convert_torch_attention(mha), TorchAttentionAdapter)
    shared = nn.MultiheadAttention(8, 2)
    model = nn.ModuleDict({"a": nn.ModuleDict({"x": shared}), "b": nn.ModuleDict({"y": shared})})
    convert_torch_attention(model)
    assert model["a"]["x"] is model["b"]["y"]
    assert isinstance(model["a"]["x"], TorchAttentionAdapter)


def test_is_causal_without_a_mask_is_refused() -> None:
    adapter = TorchAttentionAdapter(nn.MultiheadAttention(8, 2, batch_first=True))
    x = torch.randn(1, 3, 8)
    with pytest.raises(ValueError, match="is_causal"):
        adapter(x, x, x, is_causal=True)


def test_inference_fast_path_uses_the_same_parameters() -> None:
    """Without hooks, torch's fused encoder-layer kernel may run on the adapter's parameters."""
    original = _encoder(batch_first=True).float()
    converted = convert_torch_attention(copy.deepcopy(original))
    x = torch.randn(2, 4, 16)
    with torch.inference_mode():
        torch.testing.assert_close(converted(x), original(x), rtol=1e-5, atol=1e-5)


def test_a_checkpoint_of_the_torch_model_loads_into_the_converted_one() -> None:
    original = _encoder(batch_first=True)
    converted = convert_torch_attention(_encoder(batch_first=True))
    for p in converted.parameters():
        torch.nn.init.zeros_(p)
    converted.load_state_dict(original.state_dict())
    x = torch.randn(2, 4, 16, dtype=torch.float64)
    torch.testing.assert_close(converted(x), original(x), **TOL)
    converted.load_state_dict(converted.state_dict())  # its own keys load too
