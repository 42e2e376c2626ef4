"""Attention rollout and attention flow against literal references, networkx, and properties."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from attnlab.interpret import HEAD_FUSIONS, attention_flow, mix_attention, rollout
from attnlab.interpret._max_flow import layered_max_flow
from helpers import gradcheck
from reference.rollout import attention_flow_loop, mixed_layers_loop, rollout_loop

nx = pytest.importorskip("networkx")


def _attentions(batch: int, layers: int, heads: int, length: int, *, sharp: float = 2.0,
                seed: int = 0) -> list[Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.softmax(sharp * torch.randn(batch, heads, length, length, generator=g,
                                          dtype=torch.float64), -1)
        for _ in range(layers)
    ]


def _padded(attentions: list[Tensor], lengths: list[int]) -> tuple[list[Tensor], Tensor]:
    """Zero the rows and columns of the positions beyond each length (a padded batch)."""
    length = attentions[0].shape[-1]
    mask = torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]
    keep = (mask[:, None, :, None] & mask[:, None, None, :]).double()
    out = []
    for a in attentions:
        a = a * keep
        a = a / a.sum(-1, keepdim=True).where(a.sum(-1, keepdim=True) > 0, torch.ones(()))
        out.append(a)
    assert mask.any() and (~mask).any()
    return out, mask


def _networkx_flow(attentions: list[Tensor], **options: object) -> Tensor:
    mixed = mixed_layers_loop(attentions, **options)  # type: ignore[arg-type]
    length, n = attentions[0].shape[-1], len(attentions)
    out = torch.zeros(len(mixed), length, length, dtype=torch.float64)
    for b, layers in enumerate(mixed):
        graph = nx.DiGraph()
        for l, layer in enumerate(layers, start=1):
            for i in range(length):
                for j in range(length):
                    graph.add_edge((l, i), (l - 1, j), capacity=layer[i][j])
        for i in range(length):
            for j in range(length):
                out[b, i, j] = nx.maximum_flow_value(graph, (n, i), (0, j))
    return out


# ---------------------------------------------------------------------------------------------
# rollout


@pytest.mark.parametrize("head_fusion", HEAD_FUSIONS)
@pytest.mark.parametrize("residual", [True, False])
def test_rollout_matches_the_literal_loop(head_fusion: str, residual: bool) -> None:
    attentions = _attentions(2, 3, 2, 5)
    expected = rollout_loop(attentions, head_fusion=head_fusion, residual=residual)
    got = rollout(attentions, head_fusion=head_fusion, residual=residual)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_rollout_accepts_a_stacked_tensor_like_stack_output() -> None:
    attentions = _attentions(2, 3, 2, 4)
    stacked = torch.stack(attentions, dim=1)  # (B, N, H, L, L): StackOutput.weights
    torch.testing.assert_close(rollout(stacked), rollout(attentions))


def test_rollout_orders_the_layers_last_on_the_left() -> None:
    first, second = _attentions(1, 2, 1, 4)
    mixed = mix_attention([first, second])
    torch.testing.assert_close(rollout([first, second]), mixed[:, 1] @ mixed[:, 0])
    assert not torch.allclose(rollout([first, second]), mixed[:, 0] @ mixed[:, 1])


def test_rollout_rows_are_distributions_and_identity_is_a_fixed_point() -> None:
    attentions = _attentions(2, 4, 3, 6)
    rows = rollout(attentions).sum(-1)
    torch.testing.assert_close(rows, torch.ones_like(rows))
    eye = torch.eye(5, dtype=torch.float64).expand(1, 2, 5, 5)
    torch.testing.assert_close(rollout([eye, eye, eye])[0], torch.eye(5, dtype=torch.float64))


def test_rollout_keeps_padding_exactly_zero_without_nan() -> None:
    attentions, mask = _padded(_attentions(3, 3, 2, 6), [6, 4, 1])
    for head_fusion in HEAD_FUSIONS:
        for kwargs in ({}, {"mask": mask}):
            out = rollout(attentions, head_fusion=head_fusion, **kwargs)
            assert not out.isnan().any()
            pad = ~mask
            assert out.masked_select(pad[:, :, None].expand_as(out)).eq(0).all()
            assert out.masked_select(pad[:, None, :].expand_as(out)).eq(0).all()
            rows = out.sum(-1)[mask]
            torch.testing.assert_close(rows, torch.ones_like(rows))
            expected = rollout_loop(attentions, head_fusion=head_fusion, **kwargs)
            torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_the_mask_cleans_attnlab_style_padding() -> None:
    """attnlab masks padded keys only: padded queries still attend. The mask zeroes them."""
    attentions = _attentions(2, 2, 2, 5)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    attentions = [a * mask[:, None, None, :] for a in attentions]  # zero padded key columns
    attentions = [a / a.sum(-1, keepdim=True) for a in attentions]  # every row still sums to 1
    out = rollout(attentions, mask=mask)
    assert out[1, 3:].eq(0).all() and out[1, :, 3:].eq(0).all()
    torch.testing.assert_close(out, rollout_loop(attentions, mask=mask), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("head_fusion", HEAD_FUSIONS)
def test_rollout_gradcheck(head_fusion: str) -> None:
    attentions = [a.requires_grad_() for a in _attentions(2, 3, 2, 4, seed=1)]
    assert gradcheck(lambda *a: rollout(list(a), head_fusion=head_fusion), attentions)


def test_rollout_gradcheck_through_padding() -> None:
    padded, mask = _padded(_attentions(2, 2, 2, 4, seed=2), [4, 2])
    attentions = [a.detach().requires_grad_() for a in padded]
    assert gradcheck(lambda *a: rollout(list(a), mask=mask), attentions)


@pytest.mark.parametrize(
    ("attentions", "error"),
    [
        ([], ValueError),
        ("layers", TypeError),
        (torch.rand(2, 3, 3, 3), ValueError),  # a 4-D tensor is ambiguous
        ([torch.rand(2, 1, 3, 4)], ValueError),  # not self-attention
        ([torch.rand(2, 1, 3, 3), torch.rand(1, 1, 3, 3)], ValueError),  # batch differs
        ([torch.ones(1, 1, 3, 3, dtype=torch.long)], TypeError),
    ],
)
def test_rollout_rejects_bad_inputs(attentions: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        rollout(attentions)  # type: ignore[arg-type]


def test_bad_options_are_rejected() -> None:
    attentions = _attentions(1, 2, 1, 3)
    with pytest.raises(ValueError, match="head_fusion"):
        rollout(attentions, head_fusion="sum")
    with pytest.raises(ValueError, match="mask"):
        rollout(attentions, mask=torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="tol"):
        attention_flow(attentions, tol=-1.0)
    with pytest.raises(ValueError, match="positions"):
        attention_flow(attentions, positions=[3])


# ---------------------------------------------------------------------------------------------
# attention flow


@pytest.mark.parametrize(
    ("layers", "length", "sharp", "head_fusion", "residual"),
    [
        (1, 4, 2.0, "mean", True),
        (2, 4, 2.0, "mean", True),
        (3, 4, 3.0, "max", True),
        (4, 5, 5.0, "mean", True),
        (4, 4, 5.0, "min", False),
        (6, 5, 8.0, "mean", True),
    ],
)
def test_flow_equals_networkx_max_flow(
    layers: int, length: int, sharp: float, head_fusion: str, residual: bool
) -> None:
    attentions = _attentions(2, layers, 2, length, sharp=sharp, seed=layers)
    got = attention_flow(attentions, head_fusion=head_fusion, residual=residual)
    expected = _networkx_flow(attentions, head_fusion=head_fusion, residual=residual)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_flow_equals_the_literal_edmonds_karp_with_padding() -> None:
    attentions, mask = _padded(_attentions(2, 4, 2, 5, sharp=4.0, seed=7), [5, 3])
    got = attention_flow(attentions, mask=mask)
    torch.testing.assert_close(got, attention_flow_loop(attentions, mask=mask), rtol=0,
                               atol=1e-12)
    assert got[1, 3:].eq(0).all() and got[1, :, 3:].eq(0).all()


def test_flow_reduces_to_the_layer_and_to_min_sums() -> None:
    one = _attentions(2, 1, 3, 5)
    torch.testing.assert_close(attention_flow(one), mix_attention(one)[:, 0])
    two = _attentions(2, 2, 3, 5)
    m = mix_attention(two)
    expected = torch.minimum(m[:, 1, :, :, None], m[:, 0, None, :, :]).sum(2)  # sum_k min
    torch.testing.assert_close(attention_flow(two), expected)


def test_flow_is_bounded_by_rollout_cuts_and_one() -> None:
    attentions = _attentions(2, 4, 2, 6, sharp=4.0, seed=3)
    flow = attention_flow(attentions)
    m = mix_attention(attentions)
    assert flow.ge(0).all() and flow.le(1 + 1e-12).all()
    sink_cut = m[:, 0].sum(1)  # column sums of the first layer: the sink's in-capacity
    assert (flow <= sink_cut[:, None, :] + 1e-12).all()


def test_flow_rows_equal_the_full_matrix_rows() -> None:
    attentions = _attentions(1, 3, 2, 6, sharp=4.0, seed=4)
    full = attention_flow(attentions)
    torch.testing.assert_close(attention_flow(attentions, positions=[4, 0]), full[:, [4, 0]])
    torch.testing.assert_close(attention_flow(attentions, positions=torch.tensor([-1])),
                               full[:, [5]])


def test_flow_columns_select_input_positions() -> None:
    attentions = _attentions(2, 4, 2, 6, sharp=4.0, seed=8)
    full = attention_flow(attentions)
    torch.testing.assert_close(attention_flow(attentions, columns=[5, 1]), full[:, :, [5, 1]])
    both = attention_flow(attentions, positions=[2], columns=torch.tensor([-1, 0, 3]))
    torch.testing.assert_close(both, full[:, [2]][:, :, [5, 0, 3]])
    one = _attentions(1, 1, 2, 4)  # a single layer: the selected block of A~_1 itself
    torch.testing.assert_close(attention_flow(one, positions=[3, 1], columns=[0]),
                               mix_attention(one)[:, 0, [3, 1]][:, :, [0]])
    assert attention_flow(attentions, columns=[]).shape == (2, 6, 0)
    with pytest.raises(ValueError, match="columns"):
        attention_flow(attentions, columns=[6])
    with pytest.raises(TypeError, match="columns"):
        attention_flow(attentions, columns=[0.5])  # type: ignore[list-item]


def _local_attentions(layers: int, heads: int, length: int, *, seed: int) -> list[Tensor]:
    """Attention that decays with distance plus a shared first position: unlike dense random
    maps (whose flows all sit at the source or sink bound), these have interior minimum cuts."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.arange(length, dtype=torch.float64)
    out = []
    for _ in range(layers):
        scores = -0.7 * (pos[:, None] - pos[None, :]).abs() + torch.randn(
            1, heads, length, length, generator=g, dtype=torch.float64)
        scores[..., 0] += 2.0
        out.append(torch.softmax(scores, -1))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["random", "local"])
def test_flow_equals_networkx_on_a_larger_layered_graph(seed: int, kind: str) -> None:
    length, layers = 24, 4
    if kind == "random":
        attentions = _attentions(1, layers, 3, length, sharp=6.0, seed=10 + seed)
    else:
        attentions = _local_attentions(layers, 3, length, seed=seed)
    rows = [0, 7, 23] if seed == 0 else [seed + 2, 12 + seed]
    got = attention_flow(attentions, positions=rows)
    mixed = mixed_layers_loop(attentions)[0]
    graph = nx.DiGraph()
    for l, layer in enumerate(mixed, start=1):
        for i in range(length):
            for j in range(length):
                graph.add_edge((l, i), (l - 1, j), capacity=layer[i][j])
    expected = torch.tensor(
        [[nx.maximum_flow_value(graph, (layers, i), (0, j)) for j in range(length)]
         for i in rows], dtype=torch.float64)
    torch.testing.assert_close(got[0], expected, rtol=0, atol=1e-12)
    if kind == "local":  # the case is hard: some flows lie strictly below both end cuts
        m = mix_attention(attentions)[0]
        ends = torch.minimum(m[-1, rows].sum(-1)[:, None], m[0].sum(0)[None, :])
        assert (expected < ends - 1e-3).any()


def test_flow_with_a_tolerance_is_a_certified_lower_bound() -> None:
    attentions = _attentions(1, 5, 2, 6, sharp=6.0, seed=5)
    exact = attention_flow(attentions)
    approx = attention_flow(attentions, tol=1e-3)
    assert (approx <= exact + 1e-12).all() and (approx >= exact - 1e-3 - 1e-12).all()


def test_flow_does_not_track_gradients_and_keeps_dtype() -> None:
    attentions = [a.float().requires_grad_() for a in _attentions(1, 3, 1, 4)]
    out = attention_flow(attentions)
    assert out.dtype == torch.float32 and not out.requires_grad


def test_max_flow_core_on_a_hand_made_graph() -> None:
    # source -> a, b (caps 0.6, 0.4); a -> c 0.1, a -> d 0.5, b -> c 0.5, b -> d 0.1;
    # c -> sink 1.0, d -> sink 0.2. Min cut: a -> c, d -> sink, source -> b: 0.1 + 0.2 + 0.4.
    source = torch.tensor([[0.6, 0.4]], dtype=torch.float64)
    inner = torch.tensor([[[0.1, 0.5], [0.5, 0.1]]], dtype=torch.float64)
    sink = torch.tensor([[1.0, 0.2]], dtype=torch.float64)
    assert float(layered_max_flow(source, inner, sink)) == pytest.approx(0.7, abs=1e-15)
    graph = nx.DiGraph()
    graph.add_edge("s", (2, 0), capacity=0.6)
    graph.add_edge("s", (2, 1), capacity=0.4)
    for k in range(2):
        for m in range(2):
            graph.add_edge((2, k), (1, m), capacity=float(inner[0, k, m]))
        graph.add_edge((1, k), "t", capacity=float(sink[0, k]))
    assert nx.maximum_flow_value(graph, "s", "t") == pytest.approx(0.7, abs=1e-15)
