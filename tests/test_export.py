"""Every registered mechanism and every architecture exports with ``torch.export``.

``torch.export.export(module.eval(), args, kwargs)`` must trace each module into one graph, and
the exported program must compute what eager mode computes: run with gradients enabled, as a
user would run it, every tensor of its output structure is compared with eager mode's in float64
to a tight tolerance, the structure itself (NamedTuple types, ``None`` fields) must be the same,
and so must the gradients of a fixed weighted sum of the outputs with respect to the parameters
and the differentiable inputs.

* Mechanisms come from the registry (:func:`attnlab.list_mechanisms`) and their ``example()``,
  as in ``test_registered_mechanisms.py``: a newly registered mechanism is exported here
  without writing a case for it, and the test fails if it does not export.
* Architectures (the models of :mod:`attnlab.architectures` and :mod:`attnlab.vision`) are
  built small by the ``ARCHITECTURES`` table below. ``test_every_architecture_has_a_case``
  fails when a public module class of either package has no case and is not a registered
  mechanism, so the table cannot silently fall behind.

What is exported is each model's ``forward`` in evaluation mode. Autoregressive decoding is not:
``Seq2Seq.greedy_decode`` / ``beam_search``, ``Transformer.greedy_decode`` / ``beam_search`` and
the greedy decoding of ``PointerNetwork`` (its ``forward`` without ``targets``) stop as soon as
every sequence has produced its end token (beam search also once no live hypothesis can beat a
finished one) and return sequences as long as the longest one produced. The number of steps and
the width of the result are values the model computes, which one static graph cannot hold.
Their parts are covered: the teacher-forced ``forward`` of each model runs the same encoder,
attention and decoder step at every position, and the Transformer decoder stack and layer are
exported on their own (without the incremental key/value cache).

Sizes are tiny: tracing time grows with the number of operations, not with their size.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import attnlab
import attnlab.architectures as architectures
import attnlab.vision as vision
from attnlab.architectures.stn_classifiers import build_model
from attnlab.core.registry import MechanismEntry

# Exporting a model that calls an nn.GRU / nn.LSTM directly makes torch warn that the RNN
# re-assigned its flat weight list during tracing; the weights are the module's parameters.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The tensor attributes .*_flat_weights.* were assigned during export:UserWarning"
)

F64 = torch.float64
ENTRIES = attnlab.list_mechanisms()
IDS = [e.name for e in ENTRIES]

Case = tuple[nn.Module, tuple[Any, ...], dict[str, Any]]


def _assert_same_outputs(got: object, want: object, where: str = "output") -> None:
    """``got`` has the structure of ``want`` and equal tensors at every leaf."""
    if isinstance(want, Tensor):
        assert isinstance(got, Tensor), f"{where}: expected a tensor, got {type(got).__name__}"
        assert got.shape == want.shape and got.dtype == want.dtype, where
        torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10, msg=where)
        return
    if want is None or isinstance(want, (bool, int, float, str)):
        assert got == want, f"{where}: {got!r} != {want!r}"
        return
    if dataclasses.is_dataclass(want) and not isinstance(want, type):
        assert type(got) is type(want), f"{where}: {type(got).__name__} != {type(want).__name__}"
        for field in dataclasses.fields(want):
            _assert_same_outputs(
                getattr(got, field.name), getattr(want, field.name), f"{where}.{field.name}"
            )
        return
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), where
        if hasattr(want, "_fields"):
            assert type(got) is type(want), f"{where}: {type(got).__name__}"
        names = getattr(want, "_fields", range(len(want)))
        for name, g, w in zip(names, got, want, strict=True):
            _assert_same_outputs(g, w, f"{where}.{name}")
        return
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for key in want:
            _assert_same_outputs(got[key], want[key], f"{where}[{key!r}]")
        return
    raise AssertionError(f"{where}: cannot compare {type(want).__name__}")


def _tensors(x: object) -> list[Tensor]:
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for y in x for t in _tensors(y)]
    if isinstance(x, dict):
        return [t for y in x.values() for t in _tensors(y)]
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return [t for f in dataclasses.fields(x) for t in _tensors(getattr(x, f.name))]
    return []


def _grads(module: nn.Module, inputs: list[Tensor], out: object) -> dict[str, Tensor]:
    """Gradients of a fixed weighted sum of the differentiable outputs with respect to the
    parameters (by name) and the inputs that require them (by position)."""
    outputs = [t for t in _tensors(out) if t.is_floating_point() and t.requires_grad]
    wrt: dict[str, Tensor] = {n: p for n, p in module.named_parameters() if p.requires_grad}
    wrt.update({f"input {i}": x for i, x in enumerate(inputs) if x.requires_grad})
    if not outputs or not wrt:
        return {}
    loss = torch.stack([
        (t * (1.0 + torch.arange(t.numel(), dtype=t.dtype).view_as(t) / t.numel())).sum()
        for t in outputs
    ]).sum()
    grads = torch.autograd.grad(loss, list(wrt.values()), allow_unused=True)
    return {n: g for n, g in zip(wrt, grads, strict=True) if g is not None}


def _assert_export_matches_eager(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Export ``module.eval()``; its program gives the eager outputs and parameter gradients."""
    module.eval()
    want = module(*args, **kwargs)
    assert _tensors(want), "the case must return tensors"
    inputs = _tensors((args, kwargs))
    want_grads = _grads(module, inputs, want)
    program = torch.export.export(module, tuple(args), dict(kwargs))
    exported = program.module()
    got = exported(*args, **kwargs)  # with gradients enabled, as a user would run it
    _assert_same_outputs(got, want)
    got_grads = _grads(exported, inputs, got)
    assert got_grads.keys() == want_grads.keys()
    for name, grad in want_grads.items():
        torch.testing.assert_close(got_grads[name], grad, atol=1e-12, rtol=1e-10, msg=name)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_registered_mechanism_exports(entry: MechanismEntry) -> None:
    torch.manual_seed(0)
    module, args, kwargs = entry.example(dtype=F64)
    _assert_export_matches_eager(module, tuple(args), dict(kwargs))


FUSED = [e for e in ENTRIES if "need_weights" in inspect.signature(e.cls.forward).parameters]


@pytest.mark.parametrize("entry", FUSED, ids=[e.name for e in FUSED])
def test_fused_path_exports(entry: MechanismEntry) -> None:
    """``need_weights=False``, the route to ``F.scaled_dot_product_attention``."""
    torch.manual_seed(0)
    module, args, kwargs = entry.example(dtype=F64)
    _assert_export_matches_eager(module, tuple(args), {**kwargs, "need_weights": False})


# ---------------------------------------------------------------------------------------------
# architectures


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _seq2seq(**options: Any) -> Callable[[], Case]:
    def build() -> Case:
        model = architectures.Seq2Seq(9, 11, embed_dim=4, hidden_dim=5, dtype=F64, **options)
        g = _generator()
        src = torch.randint(3, 9, (2, 6), generator=g)
        lengths = torch.tensor([6, 3])
        tgt_in = torch.randint(3, 11, (2, 4), generator=g)
        return model, (src, lengths, tgt_in), {}

    return build


def _with(build: Callable[[], Case], **extra: Any) -> Callable[[], Case]:
    """``build`` with extra keyword arguments for ``forward``."""

    def with_extra() -> Case:
        module, args, kwargs = build()
        return module, args, {**kwargs, **extra}

    return with_extra


def _transformer_config() -> dict[str, Any]:
    return {"dim": 8, "num_heads": 2, "hidden_dim": 12, "dropout": 0.0, "pad_index": 0}


def _transformer() -> Case:
    model = architectures.Transformer(
        9, 10, num_encoder_layers=1, num_decoder_layers=1, dtype=F64, **_transformer_config()
    )
    g = _generator()
    src = torch.randint(1, 9, (2, 5), generator=g)
    src[1, 3:] = 0
    tgt = torch.randint(1, 10, (2, 4), generator=g)
    return model, (src, tgt), {}


def _encoder_only() -> Case:
    model = architectures.EncoderOnlyTransformer(
        9, num_layers=1, dtype=F64, **_transformer_config()
    )
    tokens = torch.randint(1, 9, (2, 5), generator=_generator())
    tokens[1, 3:] = 0
    return model, (tokens,), {}


def _decoder_only() -> Case:
    model = architectures.DecoderOnlyTransformer(
        9, num_layers=1, dtype=F64, **_transformer_config()
    )
    tokens = torch.randint(1, 9, (2, 5), generator=_generator())
    return model, (tokens,), {}


def _padding_mask(batch: int, length: int) -> Tensor:
    """``(B, L)``: row 0 full, the other rows shorter (True = real token)."""
    lengths = torch.tensor([length] + [max(1, length - 2 - b) for b in range(batch - 1)])
    return torch.arange(length) < lengths[:, None]


def _encoder_stack() -> Case:
    model = architectures.TransformerEncoder(2, 8, 2, 12, dropout=0.0, dtype=F64)
    x = torch.randn(2, 5, 8, dtype=F64, generator=_generator())
    return model, (x,), {"mask": _padding_mask(2, 5)}


def _encoder_layer() -> Case:
    model = architectures.TransformerEncoderLayer(8, 2, 12, dropout=0.0, dtype=F64)
    x = torch.randn(2, 5, 8, dtype=F64, generator=_generator())
    return model, (x,), {"mask": _padding_mask(2, 5)}


def _decoder_stack() -> Case:
    model = architectures.TransformerDecoder(2, 8, 2, 12, dropout=0.0, dtype=F64)
    g = _generator()
    x = torch.randn(2, 4, 8, dtype=F64, generator=g)
    memory = torch.randn(2, 5, 8, dtype=F64, generator=g)
    causal = torch.ones(4, 4, dtype=torch.bool).tril().expand(2, 4, 4)
    return model, (x, memory), {"mask": causal, "memory_mask": _padding_mask(2, 5)}


def _decoder_layer() -> Case:
    model = architectures.TransformerDecoderLayer(8, 2, 12, dropout=0.0, dtype=F64)
    g = _generator()
    x = torch.randn(2, 4, 8, dtype=F64, generator=g)
    memory = torch.randn(2, 5, 8, dtype=F64, generator=g)
    causal = torch.ones(4, 4, dtype=torch.bool).tril().expand(2, 4, 4)
    return model, (x, memory), {"mask": causal, "memory_mask": _padding_mask(2, 5)}


def _gat() -> Case:
    model = architectures.GAT(5, 3, hidden_dim=4, num_heads=2, dtype=F64)
    x = torch.randn(4, 5, dtype=F64, generator=_generator())
    return model, (x, torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])), {}


def _gat_dense() -> Case:
    model = architectures.GAT(5, 3, hidden_dim=4, num_heads=2, dtype=F64)
    x = torch.randn(2, 4, 5, dtype=F64, generator=_generator())
    adjacency = torch.rand(2, 4, 4, generator=_generator()) < 0.5
    return model, (x,), {"adjacency": adjacency}


def _han_tokens() -> Tensor:
    tokens = torch.randint(2, 30, (2, 3, 4), generator=_generator())
    tokens[1, 2] = 0  # an empty sentence
    tokens[0, 1, 2:] = 0  # a short one
    return tokens


def _han() -> Case:
    model = architectures.HierarchicalAttentionNetwork(
        30, 4, embed_dim=6, hidden_dim=5, attention_dim=4, dtype=F64
    )
    return model, (_han_tokens(),), {}


def _flat() -> Case:
    model = architectures.FlatAttentionNetwork(
        30, 4, embed_dim=6, hidden_dim=5, attention_dim=4, dtype=F64
    )
    return model, (_han_tokens(),), {}


def _memn2n() -> Case:
    model = architectures.MemN2N(10, dim=6, num_hops=2, memory_size=4, dtype=F64)
    g = _generator()
    story = torch.randint(1, 10, (2, 4, 5), generator=g)
    query = torch.randint(1, 10, (2, 3), generator=g)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    return model, (story * mask[:, :, None], query), {"mask": mask}


def _pointer() -> Case:
    model = architectures.PointerNetwork(2, 6, embedding_dim=4, end_token=True, dtype=F64)
    points = torch.rand(2, 5, 2, dtype=F64, generator=_generator())
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    targets = torch.tensor([[1, 2, 3, 0], [2, 1, 0, -100]])  # 1-based inputs, 0 = stop
    return model, (points, targets), {"mask": mask}


VQA_SMALL: dict[str, Any] = {
    "channels": (4, 6), "embed_dim": 5, "question_dim": 6, "attention_dim": 4, "hidden_dim": 8,
}


def _question_bits(batch: int) -> Tensor:
    bits = torch.zeros(batch, 11, dtype=F64)
    for b in range(batch):
        bits[b, b % 6] = bits[b, 6 + b % 2] = bits[b, 8 + b % 3] = 1
    return bits


def _vqa(**options: Any) -> Callable[[], Case]:
    def build() -> Case:
        model = architectures.CoAttentionVQA(10, dtype=F64, **VQA_SMALL, **options)
        image = torch.rand(2, 3, 16, 16, dtype=F64, generator=_generator())
        return model, (image, _question_bits(2)), {}

    return build


def _vqa_tokens(**options: Any) -> Callable[[], Case]:
    def build() -> Case:
        model = architectures.CoAttentionVQA(
            10, vocab_size=20, question_format="tokens", dtype=F64, **VQA_SMALL, **options
        )
        g = _generator()
        image = torch.rand(2, 3, 16, 16, dtype=F64, generator=g)
        tokens = torch.randint(1, 20, (2, 5), generator=g)
        return model, (image, tokens), {"question_mask": _padding_mask(2, 5)}

    return build


def _no_attention_vqa() -> Case:
    model = architectures.NoAttentionVQA(
        10, image_size=(16, 16), channels=(4, 6), hidden_dims=(8, 8), dtype=F64
    )
    image = torch.rand(2, 3, 16, 16, dtype=F64, generator=_generator())
    return model, (image, _question_bits(2)), {}


def _stn_classifier(name: str, num_transformers: int = 1) -> Callable[[], Case]:
    def build() -> Case:
        model = build_model(
            name, input_size=(28, 28), num_transformers=num_transformers, param_budget=60_000,
            mlp_localisation_dims=(8,), dtype=F64,
        )
        image = torch.rand(2, 1, 28, 28, dtype=F64, generator=_generator())
        return model, (image,), {}

    return build


def _image(channels: int = 3, size: int = 16) -> Tensor:
    return torch.randn(2, channels, size, size, dtype=F64, generator=_generator())


def _resnet() -> Case:
    model = vision.ResNet((1, 1, 1, 1), num_classes=5, reduction=16, dtype=F64)
    return model, (_image(size=32),), {}


def _preact_resnet(bottleneck: bool) -> Callable[[], Case]:
    def build() -> Case:
        depth = 11 if bottleneck else 8
        model = vision.PreActResNet(depth, bottleneck=bottleneck, num_classes=5, reduction=4,
                                    dtype=F64)
        return model, (_image(),), {}

    return build


def _bn_inception() -> Case:
    model = vision.BNInception(num_classes=5, reduction=16, dtype=F64)
    return model, (_image(size=64)[:1],), {}


def _bottleneck() -> Case:
    model = vision.Bottleneck(16, 4, stride=2, reduction=4, dtype=F64)
    return model, (_image(16, 8),), {}


def _preact_basic() -> Case:
    model = vision.PreActBasicBlock(8, 16, stride=2, reduction=4, dtype=F64)
    return model, (_image(8, 8),), {}


def _preact_bottleneck() -> Case:
    model = vision.PreActBottleneck(16, 4, stride=2, reduction=4, dtype=F64)
    return model, (_image(16, 8),), {}


def _inception_module() -> Case:
    model = vision.InceptionModule(8, 4, 4, 6, 4, 6, pool="avg", pool_proj=4, reduction=4,
                                   dtype=F64)
    return model, (_image(8, 8),), {}


def _context_only() -> Case:
    model = vision.ContextOnly(vision.SqueezeExcitation(8, 4, dtype=F64))
    return model, (_image(8, 6),), {}


def _conv_localisation() -> Case:
    model = vision.ConvLocalisation(1, 6, input_size=(12, 12), channels=(4, 4), kernel_size=3,
                                    hidden_dim=8, downsample=1, dtype=F64)
    return model, (_image(1, 12),), {}


def _mlp_localisation() -> Case:
    model = vision.MLPLocalisation(12, 6, hidden_dims=(8,), dtype=F64)
    return model, (torch.randn(2, 12, dtype=F64, generator=_generator()),), {}


def _spatial_transformer(grid: str) -> vision.SpatialTransformer:
    torch.manual_seed(0)
    localisation = vision.MLPLocalisation(36, 6 if grid == "affine" else 3, hidden_dims=(8,),
                                          dtype=F64)
    st = vision.SpatialTransformer(localisation, grid=grid, dtype=F64)
    # Identity-initialised transformers warp nothing: perturb the regression layer.
    with torch.no_grad():
        for p in vision.find_regression_layer(localisation).parameters():
            p.add_(0.1 * torch.randn_like(p))
    return st


def _sequential_transformers() -> Case:
    model = vision.SequentialSpatialTransformers(
        [_spatial_transformer("affine"), _spatial_transformer("attention")]
    )
    return model, (_image(1, 6),), {}


def _parallel_transformers() -> Case:
    model = vision.ParallelSpatialTransformers(
        [_spatial_transformer("affine"), _spatial_transformer("attention")]
    )
    return model, (_image(1, 6),), {}


def _grid(cls: type[vision.GridGenerator]) -> Callable[[], Case]:
    def build() -> Case:
        model = cls(dtype=F64) if cls is vision.ThinPlateSplineGrid else cls()
        identity = model.identity(dtype=F64)
        theta = identity + 0.1 * torch.randn(2, *identity.shape, dtype=F64, generator=_generator())
        return model, (theta, torch.Size((2, 1, 5, 4))), {}

    return build


ARCHITECTURES: dict[str, Callable[[], Case]] = {
    # attnlab.architectures
    "Seq2Seq-bahdanau": _seq2seq(bidirectional=True),
    "Seq2Seq-luong-lstm": _seq2seq(rnn="lstm", attention="general", num_layers=2),
    "Seq2Seq-luong-dot": _seq2seq(attention="dot", input_feeding=False),
    "Seq2Seq-local-p": _seq2seq(rnn="lstm", attention="local-p", window_size=3),
    "Seq2Seq-local-m": _seq2seq(rnn="lstm", attention="local-m", window_size=3),
    "Seq2Seq-no-attention": _seq2seq(attention=None),
    "PointerNetwork": _pointer,
    "MemN2N": _memn2n,
    "Transformer": _transformer,
    "Transformer-fused": _with(_transformer, need_weights=False),
    "EncoderOnlyTransformer": _encoder_only,
    "DecoderOnlyTransformer": _decoder_only,
    "TransformerEncoder": _encoder_stack,
    "TransformerEncoderLayer": _encoder_layer,
    "TransformerDecoder": _decoder_stack,
    "TransformerDecoderLayer": _decoder_layer,
    "GAT-edges": _gat,
    "GAT-dense": _gat_dense,
    "HierarchicalAttentionNetwork": _han,
    "FlatAttentionNetwork": _flat,
    "CoAttentionVQA-parallel": _vqa(),
    "CoAttentionVQA-alternating": _vqa(coattention="alternating", num_hops=2),
    "CoAttentionVQA-tokens-gru": _vqa_tokens(rnn="gru"),
    "NoAttentionVQA": _no_attention_vqa,
    "SpatialTransformerClassifier-fcn-aff": _stn_classifier("st_fcn_aff"),
    "SpatialTransformerClassifier-cnn-tps": _stn_classifier("st_cnn_tps"),
    "SpatialTransformerClassifier-parallel": _stn_classifier("st_cnn_aff", 2),
    # attnlab.vision
    "ResNet": _resnet,
    "PreActResNet": _preact_resnet(False),
    "PreActResNet-bottleneck": _preact_resnet(True),
    "BNInception": _bn_inception,
    "Bottleneck": _bottleneck,
    "PreActBasicBlock": _preact_basic,
    "PreActBottleneck": _preact_bottleneck,
    "InceptionModule": _inception_module,
    "ContextOnly": _context_only,
    "ConvLocalisation": _conv_localisation,
    "MLPLocalisation": _mlp_localisation,
    "SequentialSpatialTransformers": _sequential_transformers,
    "ParallelSpatialTransformers": _parallel_transformers,
    "AffineGrid": _grid(vision.AffineGrid),
    "TranslationGrid": _grid(vision.TranslationGrid),
    "AttentionGrid": _grid(vision.AttentionGrid),
    "SimilarityGrid": _grid(vision.SimilarityGrid),
    "ProjectiveGrid": _grid(vision.ProjectiveGrid),
    "ThinPlateSplineGrid": _grid(vision.ThinPlateSplineGrid),
}

NOT_MODELS = {
    vision.GridGenerator: "abstract base class of the grid generators, each exported above",
}
"""Public module classes with no case, each with the reason."""


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_architecture_exports(name: str) -> None:
    torch.manual_seed(0)
    module, args, kwargs = ARCHITECTURES[name]()
    _assert_export_matches_eager(module, args, kwargs)


def test_every_architecture_has_a_case() -> None:
    registered = {e.cls for e in ENTRIES}
    covered = {name.split("-")[0] for name in ARCHITECTURES}
    missing = []
    for package in (architectures, vision):
        for name in package.__all__:
            obj = getattr(package, name)
            if not (inspect.isclass(obj) and issubclass(obj, nn.Module)):
                continue
            if obj in registered or obj in NOT_MODELS or obj.__name__ in covered:
                continue
            missing.append(f"{package.__name__}.{name}")
    assert not missing, f"add an export case for: {missing}"



def test_bits_question_width_follows_the_data() -> None:
    """Eager ``CoAttentionVQA`` cuts a bits question to its most set bits; the exported program
    reads that width from the data at run time instead of fixing the example's."""
    torch.manual_seed(0)
    model, (image, bits), _ = _vqa()()
    program = torch.export.export(model.eval(), (image, bits))
    fewer = bits.clone()
    fewer[:, 8:] = 0  # two set bits per question instead of three
    with torch.no_grad():
        for question, width in ((bits, 3), (fewer, 2)):
            want = model(image, question)
            got = program.module()(image, question)
            assert want.question_weights.shape[-1] == width
            _assert_same_outputs(got, want)


@pytest.mark.parametrize("rnn_cls", [nn.GRU, nn.LSTM])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_masked_rnn_equals_packed_sequences(
    rnn_cls: type[nn.GRU] | type[nn.LSTM], num_layers: int, bidirectional: bool
) -> None:
    """The RNN path exports take equals PyTorch's packed sequences, state included; a row of
    length 0 (which packing refuses) gives zero outputs and a zero state."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from attnlab.core._recurrent import masked_rnn

    torch.manual_seed(0)
    rnn = rnn_cls(3, 4, num_layers=num_layers, bidirectional=bidirectional, batch_first=True,
                  dtype=F64)
    x = torch.randn(4, 6, 3, dtype=F64)
    lengths = torch.tensor([6, 2, 1, 0])
    out, state = masked_rnn(rnn, x, lengths)
    packed, ref_state = rnn(pack_padded_sequence(x[:3], lengths[:3], batch_first=True))
    ref, _ = pad_packed_sequence(packed, batch_first=True, total_length=6)
    states = state if isinstance(state, tuple) else (state,)
    ref_states = ref_state if isinstance(ref_state, tuple) else (ref_state,)
    torch.testing.assert_close(out[:3], ref, atol=1e-12, rtol=1e-10)
    assert torch.all(out[3] == 0)
    for got, want in zip(states, ref_states, strict=True):
        torch.testing.assert_close(got[:, :3], want, atol=1e-12, rtol=1e-10)
        assert torch.all(got[:, 3] == 0)
