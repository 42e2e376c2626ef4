"""PointerNetwork: against a paper-literal loop, masks that mask, decoding, gradcheck, errors."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import Tensor

from attnlab.architectures.pointer import IGNORE_INDEX, PointerNetwork
from helpers import assert_close, gradcheck
from reference.pointer import pointer_reference

F64 = torch.float64


def _net(end_token: bool, *, hidden: int = 6, embedding_dim: int | None = None,
         dtype: torch.dtype = F64, seed: int = 0, input_dim: int = 2) -> PointerNetwork:
    torch.manual_seed(seed)
    net = PointerNetwork(input_dim, hidden, embedding_dim=embedding_dim, end_token=end_token,
                         init_range=0.5, dtype=dtype)
    return net.eval()


def _padded_points(lengths: list[int], width: int, *, dtype: torch.dtype = F64,
                   seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    points = torch.rand(len(lengths), width, 2, generator=g, dtype=dtype)
    mask = torch.arange(width)[None] < torch.tensor(lengths)[:, None]
    points = points.masked_fill(~mask[..., None], 0.0)
    return points, mask


def _targets(lengths: list[int], end_token: bool, *, seed: int = 0, full: bool = True) -> Tensor:
    """Random pointer sequences (a permutation, or a prefix + stop with the end token)."""
    g = torch.Generator().manual_seed(seed)
    shift = 1 if end_token else 0
    rows = []
    for n in lengths:
        perm = (torch.randperm(n, generator=g) + shift).tolist()
        if end_token:
            keep = n if full else int(torch.randint(1, n + 1, (1,), generator=g))
            perm = [*perm[:keep], 0]
        rows.append(perm)
    steps = max(len(r) for r in rows)
    return torch.tensor([r + [IGNORE_INDEX] * (steps - len(r)) for r in rows])


# -- against the paper-literal loop ---------------------------------------------------------


@pytest.mark.parametrize("end_token", [False, True])
@pytest.mark.parametrize("embedding_dim", [None, 5])
def test_teacher_forcing_matches_reference_loop(end_token: bool, embedding_dim: int | None) -> None:
    lengths = [5, 3, 4]
    net = _net(end_token, embedding_dim=embedding_dim)
    points, mask = _padded_points(lengths, 5)
    targets = _targets(lengths, end_token, full=False)
    with torch.no_grad():
        out = net(points, targets, mask=mask)
    for b, n in enumerate(lengths):
        row = [t for t in targets[b].tolist() if t != IGNORE_INDEX]
        ll, dists = pointer_reference(net, points[b, :n], row)
        assert abs(float(out.log_likelihood[b]) - ll) < 1e-9
        k = n + (1 if end_token else 0)
        expected = torch.tensor(dists, dtype=F64)
        assert_close(out.weights[b, : len(row), :k], expected)
        assert bool(out.weights[b, : len(row), k:].eq(0).all())  # padding
        assert bool(out.weights[b, len(row):].eq(0).all())  # steps after the end


def test_log_probs_are_logs_of_weights_and_finite() -> None:
    net = _net(True)
    points, mask = _padded_points([4, 2], 4)
    out = net(points, _targets([4, 2], True), mask=mask)
    assert torch.isfinite(out.log_probs).all()
    positive = out.weights > 0
    assert positive.any() and (~positive).any()
    assert_close(out.log_probs[positive].exp(), out.weights[positive])
    assert bool((out.log_probs[~positive] == torch.finfo(F64).min).all())


# -- masks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("end_token", [False, True])
def test_padded_and_chosen_inputs_get_zero_weight(end_token: bool) -> None:
    lengths = [6, 3, 5]
    net = _net(end_token, dtype=torch.float32)
    points, mask = _padded_points(lengths, 6, dtype=torch.float32)
    assert mask.any() and (~mask).any()
    targets = _targets(lengths, end_token)
    with torch.no_grad():
        out = net(points, targets, mask=mask)
    shift = 1 if end_token else 0
    for b, n in enumerate(lengths):
        chosen: list[int] = []
        for i, t in enumerate(targets[b].tolist()):
            if t == IGNORE_INDEX:
                assert bool(out.weights[b, i].eq(0).all())
                continue
            w = out.weights[b, i]
            assert bool(w[shift + n:].eq(0).all()), "a padded input got weight"
            for j in chosen:
                assert float(w[j]) == 0.0, "an already chosen input got weight"
            assert abs(float(w.sum()) - 1) < 1e-5
            chosen.append(t)
        assert len(chosen) > 1


@pytest.mark.parametrize("end_token", [False, True])
@pytest.mark.parametrize("beam_size", [1, 3])
def test_decoded_pointers_never_repeat_or_hit_padding(end_token: bool, beam_size: int) -> None:
    lengths = [7, 2, 5, 4]
    net = _net(end_token, dtype=torch.float32, seed=3)
    points, mask = _padded_points(lengths, 7, dtype=torch.float32, seed=1)
    out = net.decode(points, mask=mask, beam_size=beam_size)
    shift = 1 if end_token else 0
    for b, n in enumerate(lengths):
        seq = [p for p in out.pointers[b].tolist() if p != IGNORE_INDEX]
        inputs_taken = [p for p in seq if not (end_token and p == 0)]
        assert len(set(inputs_taken)) == len(inputs_taken)
        assert all(shift <= p < shift + n for p in inputs_taken)
        if not end_token:
            assert sorted(inputs_taken) == list(range(n))  # a permutation of the real inputs
        else:
            assert seq[-1] == 0 or len(inputs_taken) == n


# -- decoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("end_token", [False, True])
def test_greedy_equals_teacher_forcing_on_its_own_pointers(end_token: bool) -> None:
    net = _net(end_token)
    points, mask = _padded_points([5, 3], 5)
    greedy = net(points, mask=mask)
    again = net(points, greedy.pointers, mask=mask)
    assert_close(again.weights, greedy.weights)
    assert_close(again.log_likelihood, greedy.log_likelihood)
    steps = greedy.weights.shape[1]
    chosen = greedy.log_probs.argmax(-1)
    valid = greedy.pointers != IGNORE_INDEX
    assert bool((chosen[valid] == greedy.pointers[valid]).all()) and steps >= 3


@pytest.mark.parametrize("end_token", [False, True])
def test_beam_width_one_is_greedy(end_token: bool) -> None:
    net = _net(end_token, seed=5)
    points, mask = _padded_points([6, 4, 5], 6, seed=2)
    greedy = net.decode(points, mask=mask)
    beam = net.decode(points, mask=mask, beam_size=1)
    assert torch.equal(greedy.pointers, beam.pointers)
    assert_close(beam.weights, greedy.weights)


def _all_outputs(n: int, end_token: bool) -> list[list[int]]:
    if not end_token:
        return [list(p) for p in itertools.permutations(range(n))]
    seqs = []
    for k in range(n + 1):
        for p in itertools.permutations(range(1, n + 1), k):
            seqs.append([*p, 0])
    return seqs


@pytest.mark.parametrize(("n", "end_token", "beam_size"), [(4, False, 24), (3, True, 16)])
def test_exhaustive_beam_finds_the_brute_force_best(n: int, end_token: bool,
                                                    beam_size: int) -> None:
    for seed in range(3):
        net = _net(end_token, hidden=4, seed=seed)
        points, mask = _padded_points([n], n, seed=seed)
        candidates = _all_outputs(n, end_token)
        steps = max(len(c) for c in candidates)
        padded = torch.tensor([c + [IGNORE_INDEX] * (steps - len(c)) for c in candidates])
        with torch.no_grad():
            scores = net(points.expand(len(candidates), -1, -1), padded).log_likelihood
        best = candidates[int(scores.argmax())]
        beam = net.decode(points, mask=mask, beam_size=beam_size)
        found = [p for p in beam.pointers[0].tolist() if p != IGNORE_INDEX]
        assert found == best
        assert abs(float(beam.log_likelihood[0]) - float(scores.max())) < 1e-9
        greedy = net.decode(points, mask=mask)
        assert float(beam.log_likelihood[0]) >= float(greedy.log_likelihood[0]) - 1e-12


# -- padding invariance, gradcheck, backward -------------------------------------------------


@pytest.mark.parametrize("end_token", [False, True])
def test_padding_invariance(end_token: bool) -> None:
    net = _net(end_token)
    points, mask = _padded_points([4], 4)
    targets = _targets([4], end_token)
    padded = torch.cat([points, torch.rand(1, 3, 2, dtype=F64)], dim=1)  # junk in padding
    padded_mask = torch.cat([mask, torch.zeros(1, 3, dtype=torch.bool)], dim=1)
    assert padded_mask.any() and (~padded_mask).any()
    small, big = net(points, targets, mask=mask), net(padded, targets, mask=padded_mask)
    k = 4 + (1 if end_token else 0)
    assert_close(big.weights[..., :k], small.weights)
    assert bool(big.weights[..., k:].eq(0).all())
    assert_close(big.log_likelihood, small.log_likelihood)
    assert_close(big.context, small.context)
    d_small, d_big = net.decode(points, mask=mask), net.decode(padded, mask=padded_mask)
    assert torch.equal(d_small.pointers, d_big.pointers)


def test_gradcheck_pointer_step() -> None:
    net = _net(True, hidden=3)
    g = torch.Generator().manual_seed(0)
    states = torch.randn(2, 3, 3, generator=g, dtype=F64, requires_grad=True)
    memory = torch.randn(2, 5, 3, generator=g, dtype=F64, requires_grad=True)
    mask = torch.rand(2, 3, 5, generator=g) < 0.6
    mask[..., 0] = True
    mask[1, 2] = False  # a step with nothing to point at
    assert mask.any() and (~mask).any()

    def step(d: Tensor, e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return net.pointer_distribution(d, net.score.key_proj(e), e, mask)

    assert gradcheck(step, (states, memory))
    weights, log_probs, _ = step(states, memory)
    assert bool(weights[~mask].eq(0).all()) and bool(weights[1, 2].eq(0).all())


def test_backward_reaches_every_parameter() -> None:
    net = PointerNetwork(2, 8, embedding_dim=4, end_token=True)
    points, mask = _padded_points([4, 3], 4, dtype=torch.float32)
    out = net(points, _targets([4, 3], True), mask=mask)
    loss = torch.nn.functional.nll_loss(
        out.log_probs.flatten(0, 1), out.pointers.flatten(), ignore_index=IGNORE_INDEX
    )
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_two_layers_and_sorting_inputs() -> None:
    net = PointerNetwork(1, 8, num_layers=2)
    values = torch.rand(3, 5, 1)
    out = net.decode(values, beam_size=2)
    assert out.weights.shape == (3, 5, 5) and out.context.shape == (3, 5, 8)


# -- bad inputs -----------------------------------------------------------------------------


def test_bad_inputs_name_the_argument() -> None:
    net = PointerNetwork(2, 4, end_token=True)
    points = torch.rand(2, 3, 2)
    with pytest.raises(ValueError, match="inputs"):
        net(torch.rand(3, 2))
    with pytest.raises(ValueError, match="input_dim"):
        net(torch.rand(2, 3, 3))
    with pytest.raises(TypeError, match="mask"):
        net(points, mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="mask"):
        net(points, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        net(points, mask=torch.tensor([[True, False, True], [True, True, True]]))
    with pytest.raises(ValueError, match="targets"):
        net(points, torch.tensor([[1, 2, 9], [1, 0, IGNORE_INDEX]]))
    with pytest.raises(ValueError, match="targets"):
        net(points, torch.tensor([[1, 1, 0], [1, 0, IGNORE_INDEX]]))  # chosen twice
    with pytest.raises(ValueError, match="targets"):
        net(points, torch.tensor([[1, 0, 2], [1, 0, IGNORE_INDEX]]))  # after the stop
    with pytest.raises(TypeError, match="targets"):
        net(points, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="beam_size"):
        net.decode(points, beam_size=0)
    with pytest.raises(ValueError, match="hidden_dim"):
        PointerNetwork(2, 0)
    with pytest.raises(ValueError, match="init_range"):
        PointerNetwork(2, 4, init_range=-1.0)
