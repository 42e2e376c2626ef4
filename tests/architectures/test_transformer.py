"""Tests of the Transformer family: torch oracles, KV-cache parity, masks, decoding, errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from attnlab.architectures.transformer import (
    DecoderOnlyTransformer,
    EncoderOnlyTransformer,
    LayerCache,
    PositionalEncoding,
    Transformer,
    TransformerConfig,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    sinusoidal_positions,
)
from attnlab.core.masks import causal_mask, lengths_to_mask
from helpers import assert_close, gradcheck

F64 = torch.float64


def small_model(**kwargs: object) -> Transformer:
    args: dict[str, object] = {
        "dim": 12, "num_heads": 3, "num_encoder_layers": 2, "num_decoder_layers": 2,
        "hidden_dim": 20, "dropout": 0.0, "pad_index": 0, "dtype": F64,
    }
    args.update(kwargs)
    return Transformer(9, 9, **args)  # type: ignore[arg-type]


def tokens(batch: int, length: int, *, vocab: int = 9, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab, (batch, length), generator=g)


# ---------------------------------------------------------------------------------------------
# oracles: torch.nn.TransformerEncoderLayer / TransformerDecoderLayer with copied weights


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_equals_torch(norm_first: bool) -> None:
    ours = TransformerEncoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first, dtype=F64)
    ref = nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.0, activation="relu", batch_first=True, norm_first=norm_first,
        dtype=F64,
    )
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 5, 8, dtype=F64)
    mask = lengths_to_mask([5, 3, 2], 5)
    assert mask.any() and (~mask).any()
    # train mode with dropout 0: torch's eval-mode fast path (nested tensors) stays off
    ours.train(), ref.train()
    expected = ref(x, src_key_padding_mask=~mask)
    out = ours(x, mask=mask)
    assert_close(out.context, expected, atol=1e-12, rtol=1e-12)
    assert out.weights is not None and out.weights.shape == (3, 2, 5, 5)
    assert bool(out.weights[2, :, :, 2:].eq(0).all())
    assert_close(out.weights.sum(-1), torch.ones(3, 2, 5, dtype=F64))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_equals_torch(norm_first: bool) -> None:
    ours = TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first, dtype=F64)
    ref = nn.TransformerDecoderLayer(
        8, 2, 16, dropout=0.0, activation="relu", batch_first=True, norm_first=norm_first,
        dtype=F64,
    )
    ours.load_state_dict(ref.state_dict())
    x, memory = torch.randn(2, 4, 8, dtype=F64), torch.randn(2, 6, 8, dtype=F64)
    tgt_mask = lengths_to_mask([4, 3], 4)
    src_mask = lengths_to_mask([6, 4], 6)
    expected = ref(
        x, memory, tgt_mask=~causal_mask(4), tgt_key_padding_mask=~tgt_mask,
        memory_key_padding_mask=~src_mask,
    )
    out = ours(x, memory, mask=tgt_mask, memory_mask=src_mask)
    assert_close(out.context, expected, atol=1e-12, rtol=1e-12)
    assert out.weights is not None and out.cross_weights is not None
    assert bool(out.weights[:, :, 0, 1:].eq(0).all())  # causal
    assert bool(out.cross_weights[1, ..., 4:].eq(0).all())  # source padding


def test_gradcheck_encoder_layer_float64() -> None:
    layer = TransformerEncoderLayer(4, 2, 6, dropout=0.0, dtype=F64)
    x = torch.randn(2, 3, 4, dtype=F64, requires_grad=True)
    mask = lengths_to_mask([3, 2], 3)
    assert gradcheck(lambda t: layer(t, mask=mask).context, (x,))


def test_gradcheck_cached_decoder_step_float64() -> None:
    layer = TransformerDecoderLayer(4, 2, 6, dropout=0.0, norm_first=True, dtype=F64)
    x = torch.randn(1, 3, 4, dtype=F64)
    memory = torch.randn(1, 2, 4, dtype=F64, requires_grad=True)

    def step(mem: torch.Tensor) -> torch.Tensor:
        cache = LayerCache()
        layer(x[:, :2], mem, cache=cache)
        return layer(x[:, 2:], mem, cache=cache).context

    assert gradcheck(step, (memory,))


# ---------------------------------------------------------------------------------------------
# incremental decoding == full recomputation (float64, 1e-6)


@pytest.mark.parametrize(
    ("norm_first", "positions", "tie"),
    [(False, "sinusoidal", True), (True, "learned", False)],
)
def test_cache_equals_full_forward(norm_first: bool, positions: str, tie: bool) -> None:
    model = small_model(
        norm_first=norm_first, positions=positions, share_embeddings=tie, tie_output=tie
    ).eval()
    src = tokens(2, 5)
    src[1, 3:] = 0  # padding
    tgt = tokens(2, 6, seed=1)
    full = model(src, tgt)
    memory = model.encode(src).context
    cache = model.new_cache()
    logits, cross = [], []
    for t in range(tgt.shape[1]):
        step = model.decode(tgt[:, t : t + 1], memory, memory_mask=src != 0, cache=cache)
        logits.append(step.logits)
        assert step.cross_weights is not None
        cross.append(step.cross_weights)
    assert cache.length == tgt.shape[1]
    assert_close(torch.cat(logits, 1), full.logits, atol=1e-6, rtol=0)
    assert full.cross_weights is not None
    assert_close(torch.cat(cross, 3), full.cross_weights, atol=1e-6, rtol=0)
    # two tokens at once after a cached prefix also agree
    cache = model.new_cache()
    model.decode(tgt[:, :3], memory, memory_mask=src != 0, cache=cache)
    rest = model.decode(tgt[:, 3:], memory, memory_mask=src != 0, cache=cache)
    assert_close(rest.logits, full.logits[:, 3:], atol=1e-6, rtol=0)


def test_decoder_only_cache_equals_full_forward() -> None:
    lm = DecoderOnlyTransformer(
        7, dim=8, num_heads=2, num_layers=2, hidden_dim=16, dropout=0.0, dtype=F64
    ).eval()
    x = tokens(2, 5, vocab=7)
    full = lm(x).logits
    cache = lm.new_cache()
    steps = [lm(x[:, t : t + 1], cache=cache).logits for t in range(5)]
    assert_close(torch.cat(steps, 1), full, atol=1e-6, rtol=0)
    # left padding: the cached steps take the growing key mask
    padded = DecoderOnlyTransformer(
        7, dim=8, num_heads=2, num_layers=2, hidden_dim=16, dropout=0.0, pad_index=0, dtype=F64
    ).eval()
    x[0, :2] = 0
    mask = x != 0
    assert mask.any() and (~mask).any()
    full = padded(x).logits
    cache = padded.new_cache()
    steps = [padded(x[:, t : t + 1], mask=mask[:, : t + 1], cache=cache).logits for t in range(5)]
    assert_close(torch.cat(steps, 1)[:, 2:], full[:, 2:], atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------
# masks that provably mask


def test_source_padding_invariance() -> None:
    model = small_model().eval()
    src, tgt = tokens(2, 4), tokens(2, 3, seed=2)
    padded = torch.cat([src, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    mask = padded != 0
    assert mask.any() and (~mask).any()
    a, b = model(src, tgt), model(padded, tgt)
    assert_close(b.logits, a.logits, atol=1e-10, rtol=0)
    assert b.cross_weights is not None and b.encoder_weights is not None
    assert bool(b.cross_weights[..., 4:].eq(0).all())
    assert bool(b.encoder_weights[..., 4:].eq(0).all())


def test_decoder_is_causal() -> None:
    model = small_model().eval()
    src, tgt = tokens(1, 4), tokens(1, 5, seed=3)
    changed = tgt.clone()
    changed[0, 3:] = 1 + (changed[0, 3:] % 8)
    assert not torch.equal(changed, tgt)
    a, b = model(src, tgt).logits, model(src, changed).logits
    assert_close(b[:, :3], a[:, :3], atol=1e-12, rtol=0)
    assert not torch.allclose(b[:, 3:], a[:, 3:])


def test_need_weights_false_returns_no_weights_and_same_logits() -> None:
    model = small_model().eval()
    src, tgt = tokens(2, 4), tokens(2, 3, seed=4)
    src[0, 2:] = 0
    a, b = model(src, tgt), model(src, tgt, need_weights=False)
    assert b.weights is None and b.cross_weights is None and b.encoder_weights is None
    assert_close(b.logits, a.logits, atol=1e-10, rtol=0)
    assert a.weights is not None and a.weights.shape == (2, 2, 3, 3, 3)
    assert a.encoder_weights is not None and a.encoder_weights.shape == (2, 2, 3, 4, 4)


def test_encoder_only_and_stacks() -> None:
    enc = EncoderOnlyTransformer(9, dim=8, num_heads=2, num_layers=2, hidden_dim=16, pad_index=0)
    x = torch.tensor([[3, 4, 5, 0]])
    out = enc(x)
    assert out.weights is not None and bool(out.weights[..., 3].eq(0).all())
    assert out.context.shape == (1, 4, 8)
    pre = TransformerEncoder(2, 8, 2, 16, norm_first=True)
    assert pre.norm is not None and pre(torch.randn(2, 3, 8)).weights.shape == (2, 2, 2, 3, 3)
    dec = TransformerDecoder(1, 8, 2, 16, cross_attention=False)
    assert dec(torch.randn(1, 2, 8)).cross_weights is None


# ---------------------------------------------------------------------------------------------
# embeddings, positions, gradients


def test_tied_and_shared_embeddings() -> None:
    untied = Transformer(9, 9, dim=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1,
                         hidden_dim=16)
    tied = Transformer(9, 9, dim=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1,
                       hidden_dim=16, share_embeddings=True, tie_output=True)
    assert tied.src_embedding is tied.tgt_embedding and tied.output is None
    n_untied = sum(p.numel() for p in untied.parameters())
    n_tied = sum(p.numel() for p in tied.parameters())
    assert n_untied - n_tied == 9 * 8 + (9 * 8 + 9)  # one embedding, and the output W + b
    out = tied(tokens(1, 3), tokens(1, 2))
    context = out.context
    assert_close(out.logits, context @ tied.src_embedding.weight.T)


def test_every_parameter_gets_a_gradient() -> None:
    model = small_model(positions="learned", dtype=None)
    model.train()
    out = model(tokens(2, 4), tokens(2, 3, seed=5))
    out.logits.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_sinusoidal_positions_formula() -> None:
    pe = sinusoidal_positions(7, 6, dtype=F64)
    pos, i = 5, 1
    assert math.isclose(float(pe[pos, 2 * i]), math.sin(pos / 10000 ** (2 * i / 6)))
    assert math.isclose(float(pe[pos, 2 * i + 1]), math.cos(pos / 10000 ** (2 * i / 6)))
    enc = PositionalEncoding(6, max_length=7, dtype=F64)
    assert_close(enc(torch.zeros(1, 3, 6, dtype=F64), offset=2)[0], pe[2:5])


# ---------------------------------------------------------------------------------------------
# decoding


@torch.no_grad()
def _sequence_log_prob(model: Transformer, src: torch.Tensor, seq: list[int]) -> float:
    tgt = torch.tensor([[1, *seq[:-1]]])
    every = torch.ones_like(tgt, dtype=torch.bool)  # a decoded pad_index is a token like any
    logits = model(src, tgt, tgt_mask=every, need_weights=False).logits
    log_probs = torch.log_softmax(logits, -1)[0]
    return float(sum(log_probs[t, s] for t, s in enumerate(seq)))


def test_greedy_decode_matches_recomputed_argmax() -> None:
    model = small_model().eval()
    src = tokens(2, 4)
    out = model.greedy_decode(src, bos_index=1, eos_index=2, max_length=5).tokens
    for b in range(2):
        prefix = [1]
        for t in range(out.shape[1]):
            logits = model(src[b : b + 1], torch.tensor([prefix])).logits[0, -1]
            nxt = int(logits.argmax())
            assert int(out[b, t]) == nxt
            if nxt == 2:
                break
            prefix.append(nxt)
    assert torch.equal(model.beam_search(src, bos_index=1, eos_index=2, max_length=5,
                                         beam_size=1, length_penalty=0.0).tokens, out)


def test_beam_search_with_full_beam_is_exact_search() -> None:
    torch.manual_seed(3)
    model = Transformer(4, 4, dim=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1,
                        hidden_dim=8, dropout=0.0, dtype=F64).eval()
    src = torch.tensor([[3, 2, 3]])
    max_len, alpha, eos = 3, 0.6, 2
    best, best_seq = -math.inf, None
    for length in range(1, max_len + 1):
        for seq in itertools.product(range(4), repeat=length):
            if eos in seq[:-1] or (length < max_len and seq[-1] != eos):
                continue
            score = _sequence_log_prob(model, src, list(seq)) / ((5 + length) / 6) ** alpha
            if score > best:
                best, best_seq = score, list(seq)
    assert best_seq is not None
    found = model.beam_search(src, bos_index=1, eos_index=eos, beam_size=64, max_length=max_len,
                              length_penalty=alpha).tokens[0].tolist()
    assert found[: len(best_seq)] == best_seq


def test_decode_outputs_score_and_length_the_tokens() -> None:
    model = small_model().eval()
    src = tokens(3, 4)
    greedy = model.greedy_decode(src, bos_index=1, eos_index=2, max_length=6)
    beam = model.beam_search(src, bos_index=1, eos_index=2, beam_size=3, max_length=6)
    assert greedy.weights is None and beam.weights is None
    for out, alpha in ((greedy, 0.0), (beam, 0.6)):
        assert out.tokens.shape == (3, int(out.lengths.max()))
        for b in range(3):
            n = int(out.lengths[b])
            seq = out.tokens[b, :n].tolist()
            assert seq[-1] == 2 or n == 6
            assert bool(out.tokens[b, n:].eq(0).all())  # pad_index after the end
            expected = _sequence_log_prob(model, src[b : b + 1], seq) / ((5 + n) / 6) ** alpha
            assert math.isclose(float(out.scores[b]), expected, rel_tol=0, abs_tol=1e-9)


def test_max_len_is_a_deprecated_alias_of_max_length() -> None:
    model = small_model().eval()
    src = tokens(2, 4)
    expected = model.greedy_decode(src, bos_index=1, eos_index=2, max_length=3)
    with pytest.warns(DeprecationWarning, match="max_length") as record:
        got = model.greedy_decode(src, bos_index=1, eos_index=2, max_len=3)
    assert record[0].filename == __file__  # the warning points at the caller
    assert torch.equal(got.tokens, expected.tokens)
    with pytest.warns(DeprecationWarning, match="max_length"):
        beam = model.beam_search(src, bos_index=1, eos_index=2, beam_size=2, max_len=3)
    assert beam.tokens.shape[1] <= 3
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="max_len"):
        model.beam_search(src, bos_index=1, eos_index=2, max_length=4, max_len=3)


# ---------------------------------------------------------------------------------------------
# one configuration for the three models


def test_config_and_keyword_arguments_build_the_same_models() -> None:
    config = TransformerConfig(dim=8, num_heads=2, num_layers=1, hidden_dim=12, dropout=0.0,
                               positions="learned", pad_index=0)
    for build in (
        lambda **kw: Transformer(9, 9, **kw),
        lambda **kw: DecoderOnlyTransformer(9, **kw),
        lambda **kw: EncoderOnlyTransformer(9, **kw),
    ):
        torch.manual_seed(0)
        from_config = build(config=config)
        torch.manual_seed(0)
        from_keywords = build(dim=8, num_heads=2, num_layers=1, hidden_dim=12, dropout=0.0,
                              positions="learned", pad_index=0)
        assert from_config.config == from_keywords.config == config
        a, b = from_config.state_dict(), from_keywords.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # keywords override the config; the stacks of the encoder-decoder can differ
    model = Transformer(9, 9, config=config, dropout=0.2, num_decoder_layers=2)
    assert model.config.dropout == 0.2 and model.config.dim == 8
    assert len(model.encoder.layers) == 1 and len(model.decoder.layers) == 2
    assert TransformerConfig() == Transformer(5, 5, device="meta").config  # the paper's base


def test_keyword_options_are_the_config_fields() -> None:
    import dataclasses

    from attnlab.architectures.transformer import _Options

    fields = {f.name for f in dataclasses.fields(TransformerConfig)}
    assert set(_Options.__annotations__) - {"max_len"} == fields  # max_len: deprecated alias
    with pytest.warns(DeprecationWarning, match="max_len= is deprecated"):
        assert DecoderOnlyTransformer(9, max_len=12, dim=8, num_heads=2, hidden_dim=8,
                                      num_layers=1).config.max_length == 12


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(TypeError, match="num_layer"):
        DecoderOnlyTransformer(9, num_layer=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="config"):
        EncoderOnlyTransformer(9, config={"dim": 8})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hidden_dim"):
        TransformerConfig(hidden_dim=0)
    with pytest.raises(ValueError, match="dim"):  # heads must divide dim: checked at the build
        Transformer(5, 5, config=TransformerConfig(dim=10, num_heads=3), device="meta")
    with pytest.raises(ValueError, match="positions"):
        TransformerConfig(positions="rotary")
    with pytest.raises(ValueError, match="num_layers"):
        TransformerConfig(num_layers=0)
    with pytest.raises(ValueError, match="activation"):
        Transformer(5, 5, activation="tanh")


def test_layer_cache_holds_one_kv_cache_per_attention() -> None:
    layer = TransformerDecoderLayer(8, 2, 8, dropout=0.0, dtype=F64).eval()
    cache = LayerCache()
    x, memory = torch.randn(2, 3, 8, dtype=F64), torch.randn(2, 5, 8, dtype=F64)
    layer(x[:, :2], memory, cache=cache)
    layer(x[:, 2:], memory, cache=cache)
    assert cache.key is cache.self_attn.key and cache.memory_key is cache.cross_attn.key
    assert cache.self_attn.length == 3 and cache.cross_attn.length == 5
    assert cache.value is not None and cache.memory_value is not None
    cache.reorder(torch.tensor([1, 1, 0]))
    assert cache.self_attn.length == 3 and cache.key is not None and cache.key.shape[0] == 3


# ---------------------------------------------------------------------------------------------
# bad inputs name the argument


def test_bad_inputs_name_the_argument() -> None:
    model = small_model()
    src, tgt = tokens(2, 4), tokens(2, 3)
    with pytest.raises(TypeError, match="src"):
        model(src.double(), tgt)
    with pytest.raises(ValueError, match="tgt"):
        model(src, tgt + 20)
    with pytest.raises(ValueError, match="src"):
        model(src[0], tgt)
    with pytest.raises(ValueError, match="mask"):
        model(src, tgt, src_mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="share_embeddings"):
        Transformer(5, 6, share_embeddings=True)
    with pytest.raises(ValueError, match="dim"):
        TransformerEncoderLayer(10, 3, 8)
    with pytest.raises(ValueError, match="activation"):
        TransformerEncoderLayer(8, 2, 8, activation="tanh")
    with pytest.raises(ValueError, match="memory"):
        TransformerDecoderLayer(8, 2, 8)(torch.randn(1, 2, 8))
    with pytest.raises(ValueError, match="max_length=3"):
        PositionalEncoding(4, max_length=3)(torch.zeros(1, 4, 4))
    with pytest.warns(DeprecationWarning, match="max_len= is deprecated"):
        assert PositionalEncoding(4, max_len=3).max_length == 3
    with pytest.raises(ValueError, match="kind"):
        PositionalEncoding(4, kind="rotary")
    with pytest.raises(ValueError, match="pad_index"):
        Transformer(5, 5, pad_index=7)
    with pytest.raises(ValueError, match="bos_index"):
        model.greedy_decode(src, bos_index=99, eos_index=2)
    with pytest.raises(ValueError, match="beam_size"):
        model.beam_search(src, bos_index=1, eos_index=2, beam_size=0)
