"""MemN2N: paper-literal reference, position encoding, weight tying, masks, gradcheck, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attnlab.architectures.memn2n import (
    LinearStart,
    MemN2N,
    position_encoding,
    random_noise_time,
)
from helpers import assert_close
from reference.memn2n import memn2n_reference, pe_weight

V, D, M, J, JQ = 12, 6, 5, 4, 3


def _inputs(batch: int = 3, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    story = torch.randint(1, V, (batch, M, J), generator=g)
    story[:, :, -1] = 0  # padded last word
    story[0, 1, 1:] = 0  # a one-word sentence
    query = torch.randint(1, V, (batch, JQ), generator=g)
    query[1, -1] = 0
    lengths = torch.tensor([M, 3, 1][:batch])
    mask = torch.arange(M)[None] < lengths[:, None]
    story = story * mask[:, :, None]  # empty slots hold only nil words
    time = (lengths[:, None] - 1 - torch.arange(M)[None]).clamp_min(0) * mask
    return story, query, time, mask


def _reference_args(model: MemN2N) -> dict[str, object]:
    e = [emb.weight for emb in model.embeddings]
    t = list(model.times) if model.times is not None else None
    k = model.num_hops
    if model.weight_tying == "adjacent":
        return {"a": e[:k], "c": e[1:], "b": e[0], "w": e[k],
                "t_a": None if t is None else t[:k], "t_c": None if t is None else t[1:]}
    assert model.query_embedding is not None and model.answer is not None
    assert model.hop_map is not None
    return {"a": [e[0]] * k, "c": [e[1]] * k, "b": model.query_embedding.weight,
            "w": model.answer.weight, "t_a": None if t is None else [t[0]] * k,
            "t_c": None if t is None else [t[1]] * k, "h": model.hop_map.weight}


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
@pytest.mark.parametrize("encoding", ["position", "bow"])
@pytest.mark.parametrize("linear", [False, True])
def test_equals_paper_literal_reference(tying: str, encoding: str, linear: bool) -> None:
    torch.manual_seed(0)
    model = MemN2N(V, dim=D, num_hops=3, memory_size=M, weight_tying=tying,  # type: ignore[arg-type]
                   encoding=encoding, linear_start=linear, init_std=0.3,  # type: ignore[arg-type]
                   dtype=torch.float64).eval()
    story, query, time, mask = _inputs()
    assert mask.any() and (~mask).any()
    out = model(story, query, time=time, mask=mask)
    logits, weights, u = memn2n_reference(
        story, query, time, mask, position=encoding == "position", linear=linear,
        **_reference_args(model),  # type: ignore[arg-type]
    )
    assert_close(out.logits, logits, atol=1e-10, rtol=1e-10)
    assert_close(out.weights, weights, atol=1e-10, rtol=1e-10)
    assert_close(out.context, u, atol=1e-10, rtol=1e-10)


def test_position_encoding_formula_exact() -> None:
    lengths = torch.tensor([1, 3, 7, 0])
    enc = position_encoding(lengths, 7, 5, dtype=torch.float64)
    assert enc.shape == (4, 7, 5)
    for n, big_j in enumerate(lengths.tolist()):
        for j in range(1, 8):
            for k in range(1, 6):
                want = pe_weight(j, k, big_j, 5) if j <= big_j else 0.0
                assert enc[n, j - 1, k - 1].item() == pytest.approx(want, abs=1e-15)
    # the module's bag form equals the explicit (J, d) weights
    model = MemN2N(V, dim=5, num_hops=1, memory_size=M, dtype=torch.float64)
    words = torch.tensor([[3, 5, 7, 0], [2, 0, 0, 0]])
    weight = model.embeddings[0].weight
    explicit = (weight[words] * position_encoding((words != 0).sum(1), 4, 5,
                                                  dtype=torch.float64)).sum(1)
    assert_close(model._encode(words, weight), explicit, atol=1e-12, rtol=1e-12)


def test_adjacent_tying_parameters() -> None:
    k, t = 3, MemN2N(V, dim=D, num_hops=3, memory_size=M).num_times
    model = MemN2N(V, dim=D, num_hops=k, memory_size=M, weight_tying="adjacent")
    # K + 1 embeddings (A^1 = B, C^k = A^{k+1}, C^K = W^T) and K + 1 temporal tables
    assert sum(p.numel() for p in model.parameters()) == (k + 1) * V * D + (k + 1) * t * D
    assert len(model.embeddings) == k + 1 and model.answer is None and model.hop_map is None
    story, query, time, mask = _inputs()
    out = model.eval()(story, query, time=time, mask=mask)
    w = model.embeddings[k].weight.detach().clone()
    w[0] = 0.0  # the nil word has no answer score
    assert_close(out.logits, out.context @ w.t())  # W^T = C^K
    # B = A^1: the query embedding gets gradient through u^1 only via embeddings[0]
    model.zero_grad()
    model(story, query, time=time, mask=mask).logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_layerwise_tying_parameters() -> None:
    k = 4
    model = MemN2N(V, dim=D, num_hops=k, memory_size=M, weight_tying="layerwise")
    t = model.num_times
    # A, C (shared by all hops), B, W, H, T_A, T_C: independent of K
    expected = 2 * V * D + V * D + D * V + D * D + 2 * t * D
    assert sum(p.numel() for p in model.parameters()) == expected
    shallow = MemN2N(V, dim=D, num_hops=1, memory_size=M, weight_tying="layerwise")
    assert sum(p.numel() for p in shallow.parameters()) == expected


def test_masked_slots_get_zero_weight_and_change_nothing() -> None:
    torch.manual_seed(1)
    model = MemN2N(V, dim=D, num_hops=2, memory_size=M).eval()
    story, query, time, mask = _inputs()
    assert mask.any() and (~mask).any()
    out = model(story, query, time=time, mask=mask)
    assert (out.weights.masked_select(~mask[:, None, :]) == 0).all()
    assert_close(out.weights.sum(-1), torch.ones(3, 2))
    # garbage in the masked slots changes nothing
    noisy = torch.where(mask[:, :, None], story, torch.randint(1, V, story.shape))
    again = model(noisy, query, time=time, mask=mask)
    assert_close(again.logits, out.logits)
    assert_close(again.weights, out.weights)
    # appending masked slots changes nothing
    padded = torch.cat([story, torch.randint(1, V, (3, 2, J))], dim=1)
    pmask = torch.cat([mask, torch.zeros(3, 2, dtype=torch.bool)], dim=1)
    ptime = torch.cat([time, torch.zeros(3, 2, dtype=torch.long)], dim=1)
    longer = model(padded, query, time=ptime, mask=pmask)
    assert_close(longer.logits, out.logits)
    assert (longer.weights[..., M:] == 0).all()


def test_default_mask_and_time_are_the_nonempty_sentences() -> None:
    model = MemN2N(V, dim=D, num_hops=2, memory_size=M).eval()
    story, query, time, mask = _inputs()
    explicit = model(story, query, time=time, mask=mask)
    implicit = model(story, query)
    assert_close(implicit.logits, explicit.logits)


def test_linear_start_is_the_identity_on_valid_slots() -> None:
    scores = torch.tensor([[1.5, -2.0, 3.0]])
    mask = torch.tensor([[True, True, False]])
    assert torch.equal(LinearStart()(scores, mask), torch.tensor([[1.5, -2.0, 0.0]]))
    model = MemN2N(V, dim=D, num_hops=1, memory_size=M, linear_start=True).eval()
    story, query, time, mask = _inputs()
    w = model(story, query, time=time, mask=mask).weights
    assert not torch.allclose(w.sum(-1)[mask.any(1)], torch.ones(3, 1))  # not normalised
    assert (w.masked_select(~mask[:, None, :]) == 0).all()


@pytest.mark.parametrize("linear", [False, True])
def test_gradcheck_one_hop(linear: bool) -> None:
    model = MemN2N(V, dim=4, num_hops=1, memory_size=M, linear_start=linear,
                   dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    u = torch.randn(2, 4, dtype=torch.float64, generator=g, requires_grad=True)
    m = torch.randn(2, M, 4, dtype=torch.float64, generator=g, requires_grad=True)
    c = torch.randn(2, M, 4, dtype=torch.float64, generator=g, requires_grad=True)
    mask = torch.tensor([[True, True, False, True, False], [False] * M])  # one empty row
    assert mask.any() and (~mask).any()

    def fn(u: torch.Tensor, m: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return model.hop(u, m, c, mask=mask)

    assert torch.autograd.gradcheck(fn, (u, m, c))
    o, p = fn(u, m, c)
    assert (p[1] == 0).all() and (o[1] == 0).all()


def test_forward_backward_every_parameter_gets_gradient() -> None:
    model = MemN2N(V, dim=D, num_hops=3, memory_size=M, random_noise=0.1).train()
    story, query, time, mask = _inputs()
    out = model(story, query, time=time, mask=mask)
    nn.functional.cross_entropy(out.logits, torch.tensor([1, 2, 3])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    for emb in model.embeddings:
        assert (emb.weight.grad[0] == 0).all()  # the nil word never moves


def test_random_noise_inserts_blanks_keeping_order() -> None:
    torch.manual_seed(0)
    mask = torch.arange(20)[None].expand(64, 20) < torch.randint(1, 21, (64, 1))
    count = mask.sum(1, keepdim=True)
    time = ((count - 1 - torch.arange(20)[None]) * mask).clamp_min(0)
    assert torch.equal(random_noise_time(time, mask, 0.0), time)
    noisy = random_noise_time(time, mask, 0.1)
    shifts = []
    for b in range(64):
        t = noisy[b, mask[b]]
        assert (t[:-1] > t[1:]).all()  # still strictly decreasing from oldest to newest
        assert int(t.min()) >= 0
        blanks = int(t.max()) + 1 - int(count[b])
        assert 0 <= blanks <= math.ceil(0.1 * int(count[b]))
        shifts.append(blanks)
    assert max(shifts) > 0
    assert torch.equal(noisy[~mask], time[~mask])


def test_bad_inputs_name_the_argument() -> None:
    model = MemN2N(V, dim=D, num_hops=1, memory_size=M)
    story, query, time, mask = _inputs()
    with pytest.raises((TypeError, ValueError), match="story"):
        model(story.float(), query)
    with pytest.raises(ValueError, match="story"):
        model(story[0], query)
    with pytest.raises(ValueError, match="query"):
        model(story, query[:, :, None])
    with pytest.raises(ValueError, match="story"):
        model(story + V, query)
    with pytest.raises(ValueError, match="mask"):
        model(story, query, mask=mask[:, :2])
    with pytest.raises(TypeError, match="mask"):
        model(story, query, mask=mask.float())
    with pytest.raises(ValueError, match="time"):
        model(story, query, time=time[:, :2])
    with pytest.raises(ValueError, match="weight_tying"):
        MemN2N(V, weight_tying="rnn")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoding"):
        MemN2N(V, encoding="ngram")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_hops"):
        MemN2N(V, num_hops=0)
    with pytest.raises(ValueError, match="random_noise"):
        MemN2N(V, random_noise=1.5)
