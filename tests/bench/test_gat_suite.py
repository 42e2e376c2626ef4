"""The gat benchmark suite: its workloads run, its peer computes the same function, and the suite
produces rows, ratios and its target on tiny sizes (no timing is asserted)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from attnlab.architectures.gat import GAT, to_sparse_features
from attnlab.bench.gat_suite import GAT_SUITE, GAT_VARIANTS, _PygGAT, gat_workload, random_graph
from attnlab.bench.suite import run_suite

TINY = {"nodes": 30, "edges": 120, "features": 12, "words": 3}


def test_random_graph_is_symmetric_without_self_loops() -> None:
    x, edge_index = random_graph(nodes=40, edges=200, features=9, words=4, seed=1)
    assert edge_index.shape == (2, 200) and not (edge_index[0] == edge_index[1]).any()
    pairs = set(map(tuple, edge_index.T.tolist()))
    assert all((j, i) in pairs for i, j in pairs)
    torch.testing.assert_close(x.sum(1), torch.ones(40))
    assert int((x > 0).sum(1).max()) == 4


@pytest.mark.parametrize("variant", GAT_VARIANTS)
@pytest.mark.parametrize("mode", ["inference", "train"])
def test_workloads_run(variant: str, mode: str) -> None:
    if variant == "GATConv":
        pytest.importorskip("torch_geometric")
    run = gat_workload(variant=variant, mode=mode, **TINY)
    out = run()
    if mode == "inference":
        assert isinstance(out, torch.Tensor) and out.shape == (30, 7)


def test_bad_variant_and_mode_are_rejected() -> None:
    with pytest.raises(ValueError, match="variant"):
        gat_workload(variant="dgl", **TINY)
    with pytest.raises(ValueError, match="mode"):
        gat_workload(variant="attnlab", mode="fit", **TINY)


def test_the_peer_computes_the_same_function() -> None:
    pytest.importorskip("torch_geometric")
    x, edge_index = random_graph(nodes=25, edges=100, features=10, words=3)
    theirs = _PygGAT(10, 4).double().eval()
    ours = GAT(10, 4, dtype=torch.float64).eval()
    with torch.no_grad():
        for mine, conv in ((ours.hidden, theirs.conv1), (ours.output, theirs.conv2)):
            mine.linear.weight.copy_(conv.lin.weight)
            mine.att_source.copy_(conv.att_src[0])
            mine.att_target.copy_(conv.att_dst[0])
            conv.bias.normal_()
            mine.output_bias.copy_(conv.bias)
    x = x.double()
    expected = theirs(x, edge_index)
    torch.testing.assert_close(ours(x, edge_index).context, expected)
    torch.testing.assert_close(ours(to_sparse_features(x), edge_index).context, expected)


def test_suite_runs_on_tiny_sizes() -> None:
    pytest.importorskip("torch_geometric")
    tiny = {"graphs": [{"name": "cora", **TINY}, {"name": "large", "nodes": 40, "edges": 160,
                                                    "features": 8, "words": None}],
            "repeats": 1, "min_seconds": 0.0}
    suite = dataclasses.replace(GAT_SUITE, sizes={"quick": tiny, "full": tiny})
    result = run_suite(suite, scale="quick", memory=False)
    assert result.status == "ok", result.notes
    assert len(result.rows) == 3 + 3 + 2 + 2
    assert all(row.ok for row in result.rows), [row.status for row in result.rows]
    ours = [row for row in result.rows if row.peer is None]
    assert all(isinstance(row.ratios["GATConv"], float) for row in ours)
    assert len(result.targets) == 1 and result.targets[0].measured is not None
    assert "cora_train_speedup_sparse" in result.metrics
