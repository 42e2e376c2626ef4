"""Seq2Seq: teacher forcing vs step-by-step and greedy, beam search vs brute force, masks,
a paper-literal Bahdanau step, local-m against LocalAttention, float64 gradcheck, bad inputs."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import Tensor

from attnlab.architectures.seq2seq import (
    ATTENTION_NAMES,
    Seq2Seq,
    gnmt_length_penalty,
    sequence_cross_entropy,
)
from attnlab.mechanisms.local import LocalAttention
from helpers import assert_close, gradcheck
from reference.seq2seq import bahdanau_step_reference

F64 = torch.float64
SRC_V, TGT_V = 9, 7
VARIANTS = [
    *[(name, "gru", False) for name in ATTENTION_NAMES],
    ("additive", "lstm", True),
    ("general", "lstm", False),
    (None, "gru", True),
    (None, "lstm", False),
]


def _model(
    attention: str | None = "additive",
    rnn: str = "gru",
    bidirectional: bool = False,
    *,
    dtype: torch.dtype = F64,
    seed: int = 0,
    **kwargs: object,
) -> Seq2Seq:
    torch.manual_seed(seed)
    model = Seq2Seq(
        SRC_V,
        TGT_V,
        embed_dim=5,
        hidden_dim=6,
        rnn=rnn,
        bidirectional=bidirectional,
        attention=attention,
        window_size=3,
        dtype=dtype,
        **kwargs,
    )  # type: ignore[arg-type]
    return model.eval()


def _batch(seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 2, 4])
    src = torch.randint(4, SRC_V, (3, 5), generator=g)
    src = src.masked_fill(torch.arange(5)[None] >= lengths[:, None], 0)
    tgt_in = torch.randint(3, TGT_V, (3, 4), generator=g)
    tgt_in[:, 0] = 1
    return src, lengths, tgt_in


@pytest.mark.parametrize(("attention", "rnn", "bidirectional"), VARIANTS)
def test_forward_backward_shapes_and_every_parameter_learns(
    attention: str | None, rnn: str, bidirectional: bool
) -> None:
    model = _model(attention, rnn, bidirectional).train()
    src, lengths, tgt_in = _batch()
    out = model(src, lengths, tgt_in)
    assert out.logits.shape == (3, 4, TGT_V)
    if attention is None:
        assert out.weights is None
    else:
        assert out.weights is not None and out.weights.shape == (3, 4, 5)
        assert bool((out.weights >= 0).all())
        assert bool(out.weights[1, :, 2:].eq(0).all())  # padding of example 1
        if attention not in ("local-m", "local-p"):
            assert_close(out.weights.sum(-1), torch.ones(3, 4, dtype=F64))
    target = torch.randint(3, TGT_V, (3, 4))
    target[1, 3] = -100
    sequence_cross_entropy(out.logits, target).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


@pytest.mark.parametrize(("attention", "rnn", "bidirectional"), VARIANTS)
def test_teacher_forcing_equals_step_by_step_and_greedy(
    attention: str | None, rnn: str, bidirectional: bool
) -> None:
    model = _model(attention, rnn, bidirectional)
    src, lengths, tgt_in = _batch()
    out = model(src, lengths, tgt_in)
    encoded = model.encode(src, lengths)
    state = encoded.state
    for t in range(tgt_in.shape[1]):
        step = model.decode_step(tgt_in[:, t], state, encoded, t)
        state = step.state
        assert_close(step.logits, out.logits[:, t])
        if out.weights is not None:
            assert step.weights is not None
            assert_close(step.weights, out.weights[:, t])
    # greedy = argmax of the teacher-forced logits of its own output
    greedy = model.greedy_decode(src, lengths, max_length=6)
    forced_in = torch.cat([torch.ones(3, 1, dtype=torch.long), greedy.tokens[:, :-1]], dim=1)
    forced = model(src, lengths, forced_in)
    for b in range(3):
        n = int(greedy.lengths[b])
        assert torch.equal(forced.logits[b, :n].argmax(-1), greedy.tokens[b, :n])
        assert bool((greedy.tokens[b, n:] == 0).all())
        log_p = forced.logits[b, :n].log_softmax(-1).gather(1, greedy.tokens[b, :n, None]).sum()
        assert_close(greedy.scores[b], log_p)
        if greedy.weights is not None and forced.weights is not None:
            assert_close(greedy.weights[b, :n], forced.weights[b, :n])


def test_bahdanau_step_matches_paper_literal_reference() -> None:
    model = _model("additive", "gru", True)
    src, lengths, _ = _batch()
    encoded = model.encode(src, lengths)
    prev = torch.tensor([1, 5, 6])
    step = model.decode_step(prev, encoded.state, encoded, 0)
    for b in range(3):
        with torch.no_grad():
            logits, weights, s_new = bahdanau_step_reference(
                model, int(prev[b]), encoded.state.hidden[0, b], encoded.memory[b], int(lengths[b])
            )
        assert_close(step.logits[b], logits)
        assert step.weights is not None
        assert_close(step.weights[b], weights)
        assert_close(step.state.hidden[0, b], s_new)


def test_local_m_equals_local_attention_on_the_whole_sequence() -> None:
    model = _model("local-m", "gru", False)
    attention = model.attention
    assert isinstance(attention, LocalAttention) and attention.mode == "monotonic"
    g = torch.Generator().manual_seed(1)
    queries = torch.randn(2, 6, 6, generator=g, dtype=F64)
    memory = torch.randn(2, 5, 6, generator=g, dtype=F64)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    assert mask.any() and (~mask).any()
    full = attention(queries, memory, mask=mask)
    dense = full.dense_weights(5)
    for t in range(6):
        context, weights = model._attend(queries[:, t], memory, mask, t)
        assert_close(weights, dense[:, t])
        assert_close(context, full.context[:, t])


@pytest.mark.parametrize(("attention", "rnn", "bidirectional"), VARIANTS)
def test_padding_is_provably_ignored(attention: str | None, rnn: str, bidirectional: bool) -> None:
    model = _model(attention, rnn, bidirectional)
    src, lengths, tgt_in = _batch()
    padding = torch.arange(5)[None] >= lengths[:, None]
    assert padding.any() and (~padding).any()
    out = model(src, lengths, tgt_in)
    # other ids at the padded positions
    noisy = torch.where(padding, torch.randint(0, SRC_V, src.shape), src)
    assert not torch.equal(noisy, src)
    out2 = model(noisy, lengths, tgt_in)
    assert_close(out2.logits, out.logits)
    # three more padded columns
    wider = torch.cat([src, torch.randint(0, SRC_V, (3, 3))], dim=1)
    out3 = model(wider, lengths, tgt_in)
    assert_close(out3.logits, out.logits)
    if out.weights is not None:
        assert out2.weights is not None and out3.weights is not None
        assert_close(out2.weights, out.weights)
        assert_close(out3.weights[..., :5], out.weights)
        assert bool(out3.weights[..., 5:].eq(0).all())
        assert bool(out.weights.masked_select(padding[:, None, :]).eq(0).all())


@pytest.mark.parametrize("attention", ["additive", "general", None])
def test_beam_width_one_is_greedy(attention: str | None) -> None:
    model = _model(attention, seed=3)
    src, lengths, _ = _batch(1)
    greedy = model.greedy_decode(src, lengths, max_length=6)
    beam = model.beam_search(src, lengths, max_length=6, beam_size=1)
    n = greedy.tokens.shape[1]
    assert torch.equal(beam.tokens[:, :n], greedy.tokens)
    assert torch.equal(beam.lengths, greedy.lengths)
    assert_close(beam.scores, greedy.scores)
    if greedy.weights is not None and beam.weights is not None:
        assert_close(beam.weights[:, :n], greedy.weights)


@pytest.mark.parametrize(("attention", "rnn"), [("additive", "gru"), ("general", "lstm")])
def test_batched_beam_search_equals_one_example_at_a_time(attention: str, rnn: str) -> None:
    model = _model(attention, rnn, seed=4)
    src, lengths, _ = _batch(1)
    batched = model.beam_search(src, lengths, beam_size=3, max_length=6, length_penalty=0.6)
    assert batched.weights is not None
    for b in range(src.shape[0]):
        one = model.beam_search(src[b : b + 1], lengths[b : b + 1], beam_size=3, max_length=6,
                                length_penalty=0.6)
        assert one.weights is not None
        n = int(one.lengths[0])
        assert int(batched.lengths[b]) == n
        assert torch.equal(batched.tokens[b, :n], one.tokens[0, :n])
        assert_close(batched.scores[b], one.scores[0])
        assert_close(batched.weights[b, :n], one.weights[0, :n])
        assert bool(batched.weights[b, n:].eq(0).all())


@torch.no_grad()
def _sequence_log_probs(
    model: Seq2Seq, src: Tensor, lengths: Tensor, seqs: list[list[int]]
) -> list[float]:
    """Teacher-forced log P of every sequence, in one batch (later steps never change earlier)."""
    width = max(len(s) for s in seqs)
    padded = torch.tensor([s + [0] * (width - len(s)) for s in seqs])
    tgt_in = torch.cat([torch.ones(len(seqs), 1, dtype=torch.long), padded[:, :-1]], dim=1)
    n = len(seqs)
    logits = model(src.expand(n, -1), lengths.expand(n), tgt_in).logits.log_softmax(-1)
    token_lp = logits.gather(2, padded[..., None])[..., 0]  # (n, width)
    return [float(token_lp[i, : len(s)].sum()) for i, s in enumerate(seqs)]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_search_finds_the_best_sequence_by_brute_force(alpha: float) -> None:
    model = _model("general", "gru", False, seed=5)
    # a sharper model, so that the best sequence is not always the one-token [EOS]
    with torch.no_grad():
        model.output.weight.mul_(4.0)
        model.output.bias[2] -= 2.0
    src, lengths, _ = _batch(2)
    src, lengths = src[:1], lengths[:1]
    max_length = 3
    candidates: list[list[int]] = []
    for n in range(1, max_length + 1):
        for seq in itertools.product(range(TGT_V), repeat=n):
            if 2 in seq[:-1] or (seq[-1] != 2 and n < max_length):
                continue
            candidates.append(list(seq))
    log_probs = _sequence_log_probs(model, src, lengths, candidates)
    scored = [
        (lp / gnmt_length_penalty(len(s), alpha), s)
        for lp, s in zip(log_probs, candidates, strict=True)
    ]
    best_score, best = max(scored, key=lambda item: item[0])
    assert len(best) > 1  # the search is not trivial
    wide = model.beam_search(
        src, lengths, max_length=max_length, beam_size=TGT_V**max_length, length_penalty=alpha
    )
    assert wide.tokens[0, : int(wide.lengths[0])].tolist() == best
    assert abs(float(wide.scores[0]) - best_score) < 1e-9
    narrow = model.beam_search(
        src, lengths, max_length=max_length, beam_size=2, length_penalty=alpha
    )
    assert float(narrow.scores[0]) <= best_score + 1e-12


@pytest.mark.parametrize(
    ("attention", "rnn"),
    [("additive", "gru"), ("general", "lstm"), ("local-p", "gru"), ("concat", "gru")],
)
def test_gradcheck_decoder_step(attention: str, rnn: str) -> None:
    model = _model(attention, rnn, False)
    src, lengths, _ = _batch()
    encoded = model.encode(src, lengths)
    memory = encoded.memory.detach().clone().requires_grad_()
    hidden = encoded.state.hidden.detach().clone().requires_grad_()
    prev = torch.tensor([1, 5, 6])

    def step(memory: Tensor, hidden: Tensor) -> tuple[Tensor, ...]:
        state = encoded.state._replace(hidden=hidden)
        enc = encoded._replace(memory=memory, state=state)
        out = model.decode_step(prev, state, enc, 1)
        assert out.weights is not None
        return out.logits, out.weights

    assert gradcheck(step, (memory, hidden))


def test_fits_with_the_training_loop() -> None:
    from attnlab.data.sequences import make_sequence_task
    from attnlab.data.translation import PairDataset
    from attnlab.train import TrainConfig, fit

    pairs = make_sequence_task("reverse", 32, min_length=2, max_length=4, vocab_size=5, seed=0)
    data = PairDataset(pairs)
    torch.manual_seed(0)
    model = Seq2Seq(9, 9, embed_dim=8, hidden_dim=8, attention="dot")
    config = TrainConfig(epochs=2, batch_size=16, optimizer="adam", lr=1e-2, device="cpu")
    result = fit(model, data, data, config=config, loss_fn=sequence_cross_entropy, progress=False)
    assert len(result.history) >= 2


def test_bad_inputs() -> None:
    model = _model("additive")
    src, lengths, tgt_in = _batch()
    with pytest.raises(TypeError, match="src"):
        model(src.double(), lengths, tgt_in)
    with pytest.raises(ValueError, match="src"):
        model(src[0], lengths, tgt_in)
    with pytest.raises(ValueError, match="src_lengths"):
        model(src, lengths[:2], tgt_in)
    with pytest.raises(ValueError, match="src_lengths"):
        model(src, torch.tensor([5, 0, 4]), tgt_in)
    with pytest.raises(ValueError, match="src_lengths"):
        model(src, torch.tensor([6, 2, 4]), tgt_in)
    with pytest.raises(ValueError, match="src ids"):
        model(src + 100, lengths, tgt_in)
    with pytest.raises(ValueError, match="tgt_in"):
        model(src, lengths, tgt_in[:2])
    with pytest.raises(ValueError, match="tgt_in"):
        model(src, lengths, tgt_in + 100)
    with pytest.raises(ValueError, match="max_length"):
        model.greedy_decode(src, lengths, max_length=0)
    with pytest.raises(ValueError, match="beam_size"):
        model.beam_search(src, lengths, max_length=3, beam_size=0)
    with pytest.raises(ValueError, match="length_penalty"):
        model.beam_search(src, lengths, max_length=3, length_penalty=-1.0)
    with pytest.raises(ValueError, match="attention"):
        Seq2Seq(5, 5, attention="bilinear")
    with pytest.raises(ValueError, match="attention"):
        Seq2Seq(5, 5, attention="dot", bidirectional=True)
    with pytest.raises(ValueError, match="attention_style"):
        Seq2Seq(5, 5, attention_style="vaswani")
    with pytest.raises(ValueError, match="rnn"):
        Seq2Seq(5, 5, rnn="transformer")
    with pytest.raises(ValueError, match="eos_index"):
        Seq2Seq(5, 5, eos_index=7)
    with pytest.warns(DeprecationWarning, match="eos_id= is deprecated"):
        assert Seq2Seq(5, 5, eos_id=3).eos_index == 3
    with pytest.raises(ValueError, match="target"):
        sequence_cross_entropy(torch.zeros(2, 3, 4), torch.zeros(2, 2, dtype=torch.long))
