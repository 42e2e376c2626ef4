"""record(): every attention module of attnlab's models, in one call each; fused calls; forcing
weights; selection; hooks always removed; every registered mechanism recordable."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnlab.architectures.gat import GAT
from attnlab.architectures.han import HierarchicalAttentionNetwork
from attnlab.architectures.memn2n import MemN2N
from attnlab.architectures.pointer import PointerNetwork
from attnlab.architectures.seq2seq import Seq2Seq
from attnlab.architectures.stn_classifiers import build_model
from attnlab.architectures.transformer import Transformer, TransformerEncoder
from attnlab.core.registry import list_mechanisms
from attnlab.interpret import KINDS, AttentionRecord, attention_kind, record
from attnlab.mechanisms import MultiHeadAttention
from attnlab.vision import SCSE, PreActResNet, ResNet, SqueezeExcitation


def _transformer() -> Transformer:
    return Transformer(11, 11, dim=8, num_heads=2, num_encoder_layers=2, num_decoder_layers=3,
                       hidden_dim=16, dropout=0.0, pad_index=0).eval()


SRC = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 0]])
TGT = torch.tensor([[1, 3, 4], [1, 5, 0]])


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


# ---------------------------------------------------------------------------------------------
# every attention module of every architecture, in one call


def test_records_every_attention_of_the_transformer() -> None:
    model = _transformer()
    with record(model) as rec:
        out = model(SRC, TGT)
    names = [r.name for r in rec]
    assert names == [
        "encoder.layers.0.self_attn", "encoder.layers.1.self_attn",
        *[f"decoder.layers.{n}.{part}" for n in range(3) for part in ("self_attn",
                                                                         "multihead_attn")],
    ]
    assert {r.kind for r in rec} == {"tokens"}
    assert all(r.axes == ("batch", "head", "query", "key") for r in rec)
    assert all(r.need_weights and not r.forced and r.call == 0 for r in rec)
    assert out.encoder_weights is not None and out.cross_weights is not None
    for n in range(2):
        assert torch.equal(rec.weights(f"encoder.layers.{n}.*")[0], out.encoder_weights[:, n])
    for n in range(3):
        assert torch.equal(rec.weights(f"decoder.layers.{n}.multihead_attn")[0],
                           out.cross_weights[:, n])
    assert _no_hooks(model)


def test_records_each_step_of_seq2seq() -> None:
    model = Seq2Seq(10, 12, embed_dim=8, hidden_dim=16, attention="additive").eval()
    args = (torch.tensor([[4, 5, 6, 2], [7, 2, 0, 0]]), torch.tensor([4, 2]),
            torch.tensor([[1, 5, 6], [1, 8, 0]]))
    with record(model) as rec:
        out = model(*args)
    assert [(r.name, r.call, r.module_type) for r in rec] == [
        ("attention", t, "AdditiveAttention") for t in range(3)
    ]
    assert rec[0].axes == ("batch", "query", "key")
    alignment = torch.cat([w for w in rec.weights("attention")], dim=1)  # (B, T, S)
    assert out.weights is not None and torch.equal(alignment, out.weights)


def test_records_the_han_with_its_word_weights() -> None:
    model = HierarchicalAttentionNetwork(50, 4, embed_dim=8, hidden_dim=5, attention_dim=6)
    tokens = torch.randint(2, 50, (2, 3, 4))
    tokens[1, 2] = 0
    with record(model) as rec:
        out = model(tokens)
    (r,) = rec
    assert (r.name, r.kind, r.axes) == ("attention", "tokens", ("batch", "sentence"))
    assert torch.equal(r.weights, out.weights)
    assert torch.equal(r.extras["word_weights"], out.word_weights)


def test_records_both_gat_layers_as_edges() -> None:
    model = GAT(5, 3, hidden_dim=4, num_heads=2)
    edges = torch.tensor([[0, 1, 2], [1, 2, 3]])
    with record(model) as rec:
        out = model(torch.randn(4, 5), edges)
    assert [(r.name, r.kind, r.axes) for r in rec] == [
        ("hidden", "edges", ("edge", "head")), ("output", "edges", ("edge", "head")),
    ]
    assert [tuple(r.weights.shape) for r in rec] == [tuple(w.shape) for w in out.weights]
    assert "edge_index" in rec[0].extras


def test_records_memn2n_hops() -> None:
    model = MemN2N(10, dim=8, num_hops=2, memory_size=4)
    story, query = torch.randint(1, 10, (2, 4, 5)), torch.randint(1, 10, (2, 3))
    with record(model) as rec:
        out = model(story, query)
    (r,) = rec
    assert (r.name, r.kind, r.axes) == ("", "tokens", ("batch", "hop", "memory"))
    assert torch.equal(r.weights, out.weights)


def test_records_pointer_distributions() -> None:
    model = PointerNetwork(2, 16, end_token=True)
    with record(model) as rec:
        out = model(torch.rand(2, 5, 2))
    (r,) = rec
    assert (r.kind, r.axes) == ("pointers", ("batch", "step", "input"))
    assert torch.equal(r.weights, out.weights) and torch.equal(r.extras["pointers"], out.pointers)


def test_records_the_spatial_transformer_of_a_classifier() -> None:
    model = build_model("st_cnn_aff", input_size=(42, 42), param_budget=30_000)
    with record(model) as rec:
        out = model(torch.rand(2, 1, 42, 42))
    (r,) = rec
    assert (r.name, r.kind, r.axes) == ("transformer", "grids", ("batch", "parameter"))
    assert torch.equal(r.extras["theta"], out.thetas[0])
    assert torch.equal(r.extras["grid"], out.grids[0])


def test_records_every_gate_of_an_se_resnet() -> None:
    model = PreActResNet(20, num_classes=10, reduction=4).eval()
    with record(model) as rec:
        out = model(torch.randn(2, 3, 32, 32))
    assert len(rec) == len(out.gates) == 9
    assert all(r.kind == "gates" and r.axes == ("batch", "channel") for r in rec)
    assert all(torch.equal(r.weights, g) for r, g in zip(rec, out.gates, strict=True))
    # the standard SE position gates inside the residual sum: recorded at the block
    assert all(r.module_type == "PreActBasicBlock" for r in rec)
    assert rec[0].name == "blocks.0"


def test_records_the_gates_of_a_bottleneck_se_resnet() -> None:
    model = ResNet((1, 1, 1, 1), num_classes=10, reduction=16, stages=(4, 5)).eval()
    with record(model) as rec:
        out = model(torch.randn(2, 3, 32, 32))
    assert [(r.module_type, tuple(r.weights.shape)) for r in rec] == [
        ("Bottleneck", (2, 1024)), ("Bottleneck", (2, 2048)),
    ]
    assert all(torch.equal(r.weights, g) for r, g in zip(rec, out.gates, strict=True))


def test_se_resnet_blocks_without_se_are_not_attention() -> None:
    with pytest.raises(ValueError, match="no attention module"), record(
        PreActResNet(20, num_classes=10)
    ):
        pass


def test_every_registered_mechanism_is_recorded_with_a_kind_and_axes() -> None:
    for entry in list_mechanisms():
        module, args, kwargs = entry.example()
        assert attention_kind(module) in KINDS, entry.name
        with record(module) as rec:
            out = module(*args, **kwargs)
        (r,) = rec
        assert r.name == "" and r.module_type == entry.cls.__name__
        assert r.weights is out.weights, entry.name
        assert len(r.axes) == r.weights.dim(), (entry.name, r.axes, tuple(r.weights.shape))


# ---------------------------------------------------------------------------------------------
# fused calls and forced weights


def test_a_fused_call_is_recorded_as_such() -> None:
    model = _transformer()
    with record(model) as rec:
        out = model(SRC, TGT, need_weights=False)
    assert out.weights is None and len(rec) == 8
    assert all(r.weights is None and not r.need_weights and r.axes == () for r in rec)
    with pytest.raises(ValueError, match="need_weights=False"):
        rec.weights()


def test_force_weights_on_chosen_modules_only() -> None:
    model = _transformer()
    expected = model(SRC, TGT).logits
    with record(model, force_weights=["encoder.layers.1.*", "*.multihead_attn"]) as rec:
        out = model(SRC, TGT, need_weights=False)
    forced = {r.name for r in rec if r.forced}
    assert forced == {"encoder.layers.1.self_attn",
                      *(f"decoder.layers.{n}.multihead_attn" for n in range(3))}
    assert all(r.weights is not None for r in rec if r.forced)
    assert all(r.weights is None for r in rec if not r.forced)
    assert out.weights is None and out.cross_weights is None  # the model's return is unchanged
    torch.testing.assert_close(out.logits, expected, rtol=1e-5, atol=1e-6)


def test_forced_weights_equal_the_unfused_ones() -> None:
    model = _transformer()
    with record(model, force_weights=True) as forced:
        model(SRC, TGT, need_weights=False)
    with record(model) as plain:
        model(SRC, TGT)
    for a, b in zip(forced, plain, strict=True):
        assert a.name == b.name and a.forced and not b.forced
        torch.testing.assert_close(a.weights, b.weights)


def test_weights_keep_their_graph_for_gradients() -> None:
    model = _transformer()
    with record(model, include="decoder.layers.2.multihead_attn") as rec:
        logits = model(SRC, TGT).logits
    (grad,) = torch.autograd.grad(logits[:, -1, 3].sum(), rec.weights())
    assert grad.shape == (2, 2, 3, 4) and grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------
# selection


def test_include_by_pattern_and_by_type() -> None:
    model = _transformer()
    with record(model, include="decoder.layers.0.*") as rec:
        model(SRC, TGT)
    assert [r.name for r in rec] == [
        "decoder.layers.0.self_attn", "decoder.layers.0.multihead_attn"
    ]
    with record(model, include=[MultiHeadAttention]) as rec:
        model(SRC, TGT)
    assert len(rec) == 8
    assert [r.name for r in rec.select("*self_attn")][:2] == [
        "encoder.layers.0.self_attn", "encoder.layers.1.self_attn"
    ]


def test_outermost_by_default_nested_on_request() -> None:
    block = SCSE(8, 2)
    x = torch.randn(2, 8, 4, 4)
    with record(block) as rec:
        block(x)
    assert [(r.name, r.module_type) for r in rec] == [("", "SCSE")]
    with record(block, include=[SqueezeExcitation]) as rec:
        block(x)
    assert [r.module_type for r in rec] == ["SqueezeExcitation"]
    assert rec.select(kind="gates") == list(rec)
    with pytest.raises(ValueError, match="kind"):
        rec.select(kind="heads")


def test_a_foreign_type_becomes_recordable() -> None:
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    with record(layer, include=nn.MultiheadAttention) as rec:
        layer.self_attn(torch.randn(1, 3, 8), torch.randn(1, 3, 8), torch.randn(1, 3, 8))
    (r,) = rec
    assert r.name == "self_attn" and r.kind == "tokens" and r.weights.shape == (1, 3, 3)


def test_nothing_to_record_is_an_error_that_lists_the_candidates() -> None:
    with pytest.raises(ValueError, match="no attention module"), record(nn.Linear(2, 2)):
        pass
    encoder = TransformerEncoder(2, 8, 2, 16)
    with pytest.raises(ValueError, match=r"layers\.0\.self_attn"), record(
        encoder, include="decoder.*"
    ):
        pass
    with pytest.raises(TypeError), record(encoder, include=[3]):  # type: ignore[list-item]
        pass
    with pytest.raises(TypeError), record("model"):  # type: ignore[arg-type]
        pass


def test_hooks_are_removed_even_when_the_block_raises() -> None:
    model = _transformer()
    with pytest.raises(RuntimeError, match="boom"), record(model):
        model(SRC, TGT)
        raise RuntimeError("boom")
    assert _no_hooks(model)
    with record(model) as rec:
        pass
    assert rec == [] and _no_hooks(model)


def test_records_are_plain_named_tuples() -> None:
    encoder = TransformerEncoder(1, 8, 2, 16, dropout=0.0)
    with record(encoder) as rec:
        encoder(torch.randn(1, 3, 8))
    assert isinstance(rec[0], AttentionRecord) and rec[0]._fields[:3] == ("name", "kind", "weights")
