"""GraphAttention and GAT: PyG GATConv oracle, paper-literal reference, edge list == dense."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import attnlab.architectures
from attnlab.architectures.gat import GAT, GATOutput
from attnlab.mechanisms.graph import (
    GraphAttention,
    GraphAttentionOutput,
    add_self_loops,
    check_edge_index,
    to_sparse_features,
)
from helpers import assert_close, gradcheck
from reference.gat import graph_attention_reference

F64 = torch.float64


def _graph(n: int = 7, seed: int = 0, isolated: int | None = None) -> tuple[Tensor, Tensor]:
    """Random unique directed edges, no self-loops; ``isolated`` receives no edge."""
    g = torch.Generator().manual_seed(seed)
    adj = torch.rand(n, n, generator=g) < 0.4
    adj.fill_diagonal_(False)
    if isolated is not None:
        adj[isolated] = False
    assert adj.any() and (~adj).any()
    target, source = adj.nonzero().T
    return torch.stack([source, target]), adj


def _to_dense(weights: Tensor, edge_index: Tensor, n: int) -> Tensor:
    dense = torch.zeros(weights.shape[1], n, n, dtype=weights.dtype)
    dense[:, edge_index[1], edge_index[0]] = weights.T
    return dense


@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("loops", [True, False])
def test_matches_torch_geometric_gatconv(concat: bool, loops: bool) -> None:
    gatconv = pytest.importorskip("torch_geometric.nn").GATConv
    n, f, d, h = 9, 5, 3, 4
    edge_index, _ = _graph(n, seed=1)
    x = torch.randn(n, f, dtype=F64)
    ours = GraphAttention(f, d, num_heads=h, concat=concat, add_self_loops=loops, dtype=F64)
    theirs = gatconv(f, d, heads=h, concat=concat, add_self_loops=loops).double()
    with torch.no_grad():
        assert ours.output_bias is not None
        ours.output_bias.normal_()
        theirs.lin.weight.copy_(ours.linear.weight)
        theirs.att_src.copy_(ours.att_source.unsqueeze(0))
        theirs.att_dst.copy_(ours.att_target.unsqueeze(0))
        theirs.bias.copy_(ours.output_bias)
    out = ours(x, edge_index)
    expected, (their_edges, their_alpha) = theirs(x, edge_index, return_attention_weights=True)
    assert_close(out.context, expected)
    assert out.weights is not None and out.edge_index is not None
    assert_close(_to_dense(out.weights, out.edge_index, n),
                 _to_dense(their_alpha, their_edges, n))
    # gradients agree too
    grad = torch.randn_like(expected)
    (out.context * grad).sum().backward()
    (expected * grad).sum().backward()
    assert_close(ours.att_source.grad, theirs.att_src.grad[0])
    assert_close(ours.linear.weight.grad, theirs.lin.weight.grad)


@pytest.mark.parametrize("concat", [True, False])
def test_matches_the_paper_literal_reference(concat: bool) -> None:
    n, f, d, h = 6, 4, 3, 2
    edge_index, adj = _graph(n, seed=2, isolated=4)
    x = torch.randn(n, f, dtype=F64)
    layer = GraphAttention(f, d, num_heads=h, concat=concat, add_self_loops=False, bias=False,
                           dtype=F64)
    a = torch.cat([layer.att_target, layer.att_source], dim=1).detach()  # a = [a_i ; a_j]
    context, alpha = graph_attention_reference(x, adj, layer.linear.weight.detach(), a,
                                               num_heads=h, concat=concat)
    dense = layer(x, adjacency=adj)
    edges = layer(x, edge_index)
    assert_close(dense.context, context)
    assert_close(dense.weights, alpha)
    assert_close(edges.context, context)
    assert_close(_to_dense(edges.weights, edges.edge_index, n), alpha)


def test_edge_list_equals_dense_and_batched_dense() -> None:
    n = 8
    layer = GraphAttention(5, 4, num_heads=3, dtype=F64).eval()
    graphs = [_graph(n, seed=s) for s in range(2)]
    xs = torch.randn(2, n, 5, dtype=F64)
    batched = layer(xs, adjacency=torch.stack([adj for _, adj in graphs]))
    assert batched.weights is not None and batched.weights.shape == (2, 3, n, n)
    for b, (edge_index, adj) in enumerate(graphs):
        edge = layer(xs[b], edge_index)
        dense = layer(xs[b], adjacency=adj)
        assert_close(edge.context, dense.context)
        assert_close(_to_dense(edge.weights, edge.edge_index, n), dense.weights)
        assert_close(batched.context[b], dense.context)
        assert_close(batched.weights[b], dense.weights)


def test_weights_are_a_distribution_over_neighbours_and_exactly_zero_elsewhere() -> None:
    n = 9
    edge_index, adj = _graph(n, seed=3)
    layer = GraphAttention(4, 2, num_heads=2, add_self_loops=False)
    x = torch.randn(n, 4)
    out = layer(x, edge_index)
    sums = torch.zeros(n, 2).index_add_(0, out.edge_index[1], out.weights)
    has = adj.any(1)
    assert has.any()
    assert_close(sums[has], torch.ones(int(has.sum()), 2))
    dense = layer(x, adjacency=adj).weights
    assert (dense[:, ~adj] == 0).all() and (dense[:, adj] > 0).all()


def test_isolated_nodes_get_zero_attention_and_no_nan() -> None:
    n = 6
    edge_index, adj = _graph(n, seed=4, isolated=2)
    edge_index = edge_index[:, edge_index[0] != 2]  # node 2 is isolated both ways
    adj[:, 2] = False
    x = torch.randn(n, 4, dtype=F64, requires_grad=True)
    layer = GraphAttention(4, 3, num_heads=2, add_self_loops=False, dtype=F64)
    with torch.no_grad():
        assert layer.output_bias is not None
        layer.output_bias.normal_()
    for out in (layer(x, edge_index), layer(x, adjacency=adj)):
        assert torch.isfinite(out.context).all()
        assert_close(out.context[2], layer.output_bias.detach())  # zero aggregate + bias
        out.context.sum().backward()
        assert torch.isfinite(x.grad).all()
        assert all(torch.isfinite(p.grad).all() for p in layer.parameters())
        x.grad = None
        layer.zero_grad()
    dense = layer(x, adjacency=adj).weights
    assert (dense[:, 2] == 0).all()


def test_gradcheck_edge_and_dense_paths() -> None:
    n = 5
    edge_index, adj = _graph(n, seed=5, isolated=1)
    layer = GraphAttention(3, 2, num_heads=2, dtype=F64)
    x = torch.randn(n, 3, dtype=F64, requires_grad=True)
    a_src = layer.att_source.detach().clone().requires_grad_()
    a_dst = layer.att_target.detach().clone().requires_grad_()

    def run(x: Tensor, a_src: Tensor, a_dst: Tensor, dense: bool) -> tuple[Tensor, Tensor]:
        params = {"att_source": a_src, "att_target": a_dst}
        graph = {"adjacency": adj} if dense else {"edge_index": edge_index}
        out = torch.func.functional_call(layer, params, (x,), graph)
        assert out.weights is not None
        return out.context, out.weights

    assert gradcheck(lambda *t: run(*t, dense=False), (x, a_src, a_dst))
    assert gradcheck(lambda *t: run(*t, dense=True), (x, a_src, a_dst))


def test_sparse_features_take_the_same_function() -> None:
    n = 8
    edge_index, _ = _graph(n, seed=6)
    x = torch.randn(n, 10, dtype=F64) * (torch.rand(n, 10) < 0.2)
    model = GAT(10, 3, hidden_dim=4, num_heads=2, dtype=F64).eval()
    dense = model(x, edge_index)
    for sparse in (x.to_sparse(), to_sparse_features(x)):
        assert_close(model(sparse, edge_index).context, dense.context)
    model.train()
    torch.manual_seed(0)
    for sparse in (x.to_sparse(), to_sparse_features(x)):
        model.zero_grad()
        model(sparse, edge_index).context.sum().backward()
        assert all(p.grad is not None for p in model.parameters())


def test_dropout_acts_on_inputs_and_coefficients_only_in_training() -> None:
    n = 8
    edge_index, _ = _graph(n, seed=7)
    x = torch.randn(n, 4)
    layer = GraphAttention(4, 3, num_heads=2, dropout=0.5)
    train = layer(x, edge_index)
    layer.eval()
    evaluation = layer(x, edge_index)
    # weights are the normalised coefficients (before dropout) in both modes
    assert_close(train.weights, evaluation.weights)
    assert not torch.allclose(train.context, evaluation.context)
    only_inputs = GraphAttention(4, 3, num_heads=2, input_dropout=0.5)
    assert not torch.allclose(only_inputs(x, edge_index).context,
                              only_inputs.eval()(x, edge_index).context)


def test_gat_model_paths_agree_and_train() -> None:
    n = 10
    edge_index, adj = _graph(n, seed=8)
    model = GAT(6, 3, hidden_dim=4, num_heads=2, num_output_heads=2)
    x = torch.randn(n, 6)
    model.eval()
    edge, dense = model(x, edge_index), model(x, adjacency=adj)
    assert isinstance(edge, GATOutput) and edge._fields[:2] == ("context", "weights")
    assert edge.context.shape == (n, 3) and len(edge.weights) == 2
    assert edge.weights[0].shape == (edge_index.shape[1] + n, 2)
    assert dense.weights[1].shape == (2, n, n)
    assert_close(edge.context, dense.context)
    assert model(x, edge_index, need_weights=False).weights == ()
    model.train()
    out = model(x, edge_index)
    torch.nn.functional.cross_entropy(out.context, torch.randint(0, 3, (n,))).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_permutation_equivariance() -> None:
    n = 7
    edge_index, _ = _graph(n, seed=9)
    layer = GraphAttention(4, 3, num_heads=2, dtype=F64)
    x = torch.randn(n, 4, dtype=F64)
    perm = torch.randperm(n)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(n)
    out = layer(x, edge_index).context
    permuted = layer(x[perm], inverse[edge_index]).context
    assert_close(permuted, out[perm])


def test_need_weights_false_and_output_type() -> None:
    edge_index, _ = _graph(5, seed=10)
    layer = GraphAttention(3, 2).eval()
    x = torch.randn(5, 3)
    full, fast = layer(x, edge_index), layer(x, edge_index, need_weights=False)
    assert isinstance(full, GraphAttentionOutput) and fast.weights is None
    assert_close(full.context, fast.context)


def test_helpers() -> None:
    looped = add_self_loops(torch.tensor([[0, 2, 1], [0, 1, 2]]), 3)
    assert looped.tolist() == [[2, 1, 0, 1, 2], [1, 2, 0, 1, 2]]
    assert check_edge_index(torch.tensor([[0], [1]], dtype=torch.int32), 2).dtype == torch.long


def test_bad_inputs_name_the_argument() -> None:
    layer = GraphAttention(3, 2)
    x = torch.randn(4, 3)
    good = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="edge_index holds node ids outside"):
        layer(x, torch.tensor([[0, 4], [1, 2]]))
    with pytest.raises(ValueError, match="edge_index holds node ids outside"):
        layer(x, torch.tensor([[0, -1], [1, 2]]))
    with pytest.raises(TypeError, match="edge_index must be an integer tensor"):
        layer(x, good.float())
    with pytest.raises(ValueError, match="edge_index must have shape"):
        layer(x, torch.tensor([[0, 1, 2]]))
    with pytest.raises(TypeError, match="adjacency must be a boolean"):
        layer(x, adjacency=torch.ones(4, 4))
    with pytest.raises(ValueError, match="adjacency must have shape"):
        layer(x, adjacency=torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="exactly one of edge_index"):
        layer(x)
    with pytest.raises(ValueError, match="x must be"):
        layer(torch.randn(4), good)
    with pytest.raises(ValueError, match="in_dim"):
        layer(torch.randn(4, 5), good)
    with pytest.raises(TypeError, match="x must be a floating-point"):
        layer(torch.ones(4, 3, dtype=torch.long), good)
    with pytest.raises(ValueError, match="num_heads"):
        GraphAttention(3, 2, num_heads=0)
    with pytest.raises(ValueError, match="dropout"):
        GraphAttention(3, 2, dropout=1.0)
    with pytest.raises(TypeError):
        layer(x, good, not_an_argument=True)  # type: ignore[call-arg]


def test_the_layer_lives_in_mechanisms_and_is_re_exported_by_architectures() -> None:
    assert GraphAttention.__module__ == "attnlab.mechanisms.graph"
    assert attnlab.architectures.GraphAttention is GraphAttention
    assert attnlab.architectures.gat.to_sparse_features is to_sparse_features
