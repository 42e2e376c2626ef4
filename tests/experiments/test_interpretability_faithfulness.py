"""interpretability_faithfulness: the rankings against literal references, the graph surgery of
the GAT deletion, the end points of the curves, and the smoke run's table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from attnlab.architectures.gat import GAT
from attnlab.architectures.han import HierarchicalAttentionNetwork
from attnlab.architectures.transformer import Transformer
from attnlab.cli import main as cli_main
from attnlab.experiments.interpretability_faithfulness.config import FaithfulnessConfig
from attnlab.experiments.interpretability_faithfulness.rankings import (
    drop_neighbour_edges,
    embedding_gradient_x_input,
    gat_rollout_scores,
    neighbour_subgraphs,
    sampling_mass,
)
from attnlab.experiments.interpretability_faithfulness.run import (
    METHODS,
    explained_nodes,
    faithfulness_table,
    logits_at,
)
from attnlab.experiments.registry import get_experiment
from attnlab.interpret import faithfulness, rollout
from helpers import require_smoke_data

# --- spatial transformer: sampling mass -------------------------------------------------------


def _slow_mass(grid: torch.Tensor, height: int, width: int, align_corners: bool) -> torch.Tensor:
    """Eq. 5 of the STN paper, literally: every grid point adds its bilinear kernel weights
    max(0, 1 - |x - m|) max(0, 1 - |y - n|) to the in-image pixels (m, n)."""
    mass = torch.zeros(grid.shape[0], height, width, dtype=torch.float64)
    for b in range(grid.shape[0]):
        for i in range(grid.shape[1]):
            for j in range(grid.shape[2]):
                gx, gy = float(grid[b, i, j, 0]), float(grid[b, i, j, 1])
                if align_corners:
                    x, y = (gx + 1) / 2 * (width - 1), (gy + 1) / 2 * (height - 1)
                else:
                    x, y = ((gx + 1) * width - 1) / 2, ((gy + 1) * height - 1) / 2
                for n in range(height):
                    for m in range(width):
                        mass[b, n, m] += max(0.0, 1 - abs(x - m)) * max(0.0, 1 - abs(y - n))
    return mass


@pytest.mark.parametrize("align_corners", [False, True])
def test_sampling_mass_equals_a_slow_loop_over_the_bilinear_weights(align_corners: bool) -> None:
    torch.manual_seed(0)
    theta = torch.tensor([[[0.6, 0.3, 0.2], [-0.2, 0.7, -0.3]],
                          [[1.3, 0.0, 0.4], [0.1, 1.1, 0.0]]], dtype=torch.float64)
    grid = F.affine_grid(theta, [2, 1, 5, 6], align_corners=align_corners)
    fast = sampling_mass(grid, (7, 8), align_corners=align_corners)
    slow = _slow_mass(grid, 7, 8, align_corners)
    assert fast.shape == (2, 7, 8)
    torch.testing.assert_close(fast, slow)
    # the zoomed-in grid leaves pixels unsampled, and the zoomed-out one loses points outside
    assert bool((fast[0] == 0).any()) and bool((fast[0] > 0).any())
    assert float(fast[1].sum()) < 5 * 6


def test_sampling_mass_rejects_a_bad_grid() -> None:
    with pytest.raises(ValueError, match="grid must be"):
        sampling_mass(torch.zeros(1, 4, 4), (4, 4))


# --- gradient x input -------------------------------------------------------------------------


def test_embedding_gradient_x_input_matches_finite_differences_of_a_linear_model() -> None:
    torch.manual_seed(0)
    emb = torch.nn.Embedding(7, 4)
    head = torch.nn.Linear(4, 3)
    tokens = torch.tensor([[1, 2, 3], [4, 5, 6]])
    target = torch.tensor([2, 0])
    scores = embedding_gradient_x_input(lambda: head(emb(tokens).sum(1)), emb, target)
    # linear in the embeddings: score of token t = e_t . w_target
    expected = torch.stack([(emb(tokens[b]) * head.weight[target[b]]).sum(-1) for b in range(2)])
    torch.testing.assert_close(scores, expected.detach())


# --- GAT: two-hop copies, edge removal, rollout -----------------------------------------------


def _graph(n: int = 14, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    pairs = {(i, j) for i in range(n) for j in range(n)
             if i != j and torch.rand(1, generator=g) < 0.22}
    pairs |= {(j, i) for i, j in pairs}  # undirected, as Cora
    return torch.tensor(sorted(pairs)).T


def test_two_hop_copies_give_each_centre_its_full_graph_output() -> None:
    torch.manual_seed(0)
    edges = _graph()
    x = torch.randn(14, 5)
    model = GAT(5, 3, hidden_dim=4, num_heads=2).eval()
    centres = torch.tensor([0, 3, 7, 11])
    batch = neighbour_subgraphs(edges, centres, 14)
    full = model(x, edges).context[centres]
    copied = model(x[batch.nodes], batch.edge_index).context[batch.centres]
    torch.testing.assert_close(copied, full)
    for b, c in enumerate(centres.tolist()):
        expected = sorted({int(s) for s, t in edges.T.tolist() if t == c and s != c})
        got = sorted(batch.nodes[batch.neighbours[b][batch.valid[b]]].tolist())
        assert got == expected


def test_neighbour_deletion_removes_exactly_those_edges() -> None:
    edges = _graph()
    centres = torch.tensor([2, 5])
    batch = neighbour_subgraphs(edges, centres, 14)
    keep = batch.valid.clone()
    keep[0, 0] = False
    keep[1, :2] = False
    assert bool(batch.valid[1, 1]), "the test needs two neighbours of centre 5"
    removed = {(int(batch.neighbours[b, slot]), int(batch.centres[b]))
               for b, slot in ((0, 0), (1, 0), (1, 1))}
    before = [tuple(e) for e in batch.edge_index.T.tolist()]
    after = [tuple(e) for e in drop_neighbour_edges(batch, keep).T.tolist()]
    assert after == [e for e in before if e not in removed]
    assert len(before) - len(after) == 3  # the graph has no parallel edges
    # everything kept: nothing removed; float flags act like booleans
    assert drop_neighbour_edges(batch, batch.valid.float()).shape == batch.edge_index.shape


def test_deleting_every_neighbour_gives_the_full_graph_without_those_edges() -> None:
    torch.manual_seed(1)
    edges = _graph(seed=1)
    x = torch.randn(14, 5)
    model = GAT(5, 3, hidden_dim=4, num_heads=2).eval().requires_grad_(False)
    centres = explained_nodes(edges, torch.ones(14, dtype=torch.bool), 3, 14)
    batch = neighbour_subgraphs(edges, centres, 14)
    label = torch.zeros(3, dtype=torch.long)
    rows = torch.arange(3)

    def predict(keep: torch.Tensor) -> torch.Tensor:
        out = model(x[batch.nodes], drop_neighbour_edges(batch, keep), need_weights=False)
        return out.context[batch.centres].softmax(-1)[rows, label]

    curve = faithfulness(predict, torch.ones(batch.valid.shape), torch.rand(batch.valid.shape),
                         steps=3, mode="deletion", baseline=0.0, mask=batch.valid)
    for b, c in enumerate(centres.tolist()):
        # the independent route: cut the centre's incoming edges in the full graph
        cut = edges[:, edges[1] != c]
        p = model(x, cut).context[c].softmax(-1)[0]
        assert math.isclose(float(curve.curve[b, -1]), float(p), rel_tol=1e-5)
        assert math.isclose(float(curve.curve[b, 0]), float(model(x, edges).context[c]
                                                           .softmax(-1)[0]), rel_tol=1e-5)


def test_gat_rollout_equals_the_public_rollout_without_residual() -> None:
    torch.manual_seed(2)
    edges = _graph(seed=2)
    x = torch.randn(14, 5)
    model = GAT(5, 3, hidden_dim=4, num_heads=2).eval()
    centres = torch.tensor([1, 6])
    batch = neighbour_subgraphs(edges, centres, 14)
    with torch.no_grad():
        out = model(x[batch.nodes], batch.edge_index)
    assert out.edge_index is not None
    n = batch.nodes.numel()
    dense = []
    for w in out.weights:  # (e, h) -> (1, 1, n, n) heads averaged, row = target, col = source
        a = torch.zeros(n, n)
        for e, (s, t) in enumerate(out.edge_index.T.tolist()):
            a[t, s] += float(w[e].mean())
        dense.append(a[None, None])
    reference = rollout(dense, residual=False)[0]  # (n, n) = A_2 A_1
    scores = gat_rollout_scores(out.edge_index, out.weights[0], out.weights[1], batch)
    for b in range(2):
        want = reference[batch.centres[b], batch.neighbours[b]] * batch.valid[b]
        torch.testing.assert_close(scores[b].float(), want.float())


# --- Transformer: the logits of one position ------------------------------------------------


def test_logits_at_equals_the_full_forward_pass_at_those_positions() -> None:
    torch.manual_seed(0)
    model = Transformer(12, 12, dim=8, num_heads=2, num_layers=2, hidden_dim=16,
                        pad_index=0).eval()
    src = torch.tensor([[4, 5, 6, 2], [7, 8, 2, 0], [9, 2, 0, 0]])
    tgt = torch.tensor([[1, 4, 5], [1, 6, 0], [1, 7, 8]])
    positions = torch.tensor([2, 1, 0])
    full = model(src, tgt).logits[torch.arange(3), positions]
    torch.testing.assert_close(logits_at(model, src, tgt, positions), full)


# --- HAN: all deleted = all <unk> -------------------------------------------------------------


def test_han_deleting_every_word_gives_the_all_unknown_probability() -> None:
    torch.manual_seed(0)
    model = HierarchicalAttentionNetwork(20, 4, embed_dim=6, hidden_dim=5,
                                         attention_dim=6).eval()
    tokens = torch.randint(2, 20, (3, 2, 4))
    mask = torch.ones_like(tokens, dtype=torch.bool)
    mask[0, 1, 2:] = False
    mask[2, 1] = False
    tokens = tokens.masked_fill(~mask, 0)
    rows, label = torch.arange(3), torch.tensor([0, 1, 2])

    def predict(x: torch.Tensor) -> torch.Tensor:
        return model(x.view(3, 2, 4), mask).logits.softmax(-1)[rows, label]

    curve = faithfulness(predict, tokens.flatten(1), torch.rand(3, 8), steps=4,
                         baseline=1.0, mask=mask.flatten(1))
    unknown = torch.where(mask, 1, tokens)
    expected = model(unknown, mask).logits.softmax(-1)[rows, label]
    torch.testing.assert_close(curve.curve[:, -1].float(), expected.detach())
    insertion = faithfulness(predict, tokens.flatten(1), torch.rand(3, 8), steps=4,
                             mode="insertion", baseline=1.0, mask=mask.flatten(1))
    torch.testing.assert_close(insertion.curve[:, 0].float(), expected.detach())


# --- configuration, table, listing, smoke run -------------------------------------------------


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="models"):
        FaithfulnessConfig(models=("bert",))
    with pytest.raises(ValueError, match="seeds"):
        FaithfulnessConfig(seeds=0)
    assert FaithfulnessConfig.quick().seeds >= 3


def test_table_says_not_shown_inside_the_seed_spread() -> None:
    metrics = {}
    for method, deletion, spread in (("sampling_mass", 0.40, 0.01),
                                     ("gradient_x_input", 0.49, 0.03), ("random", 0.5, 0.01)):
        for mode in ("deletion", "insertion"):
            metrics[f"auc/stn/{method}/{mode}"] = deletion
            metrics[f"auc/stn/{method}/{mode}_std"] = spread
    for method, gap, std in (("sampling_mass", 0.10, 0.02), ("gradient_x_input", 0.01, 0.03)):
        metrics[f"gap/stn/deletion/random_minus_{method}"] = gap
        metrics[f"gap/stn/deletion/random_minus_{method}_std"] = std
        metrics[f"gap/stn/insertion/{method}_minus_random"] = -gap
        metrics[f"gap/stn/insertion/{method}_minus_random_std"] = std
    table = faithfulness_table(metrics, FaithfulnessConfig(models=("stn",), seeds=3))
    rows = {line.split(" | ")[1]: line for line in table.splitlines()[2:]}
    assert "beats random (+0.100" in rows["sampling_mass"]
    assert "loses to random (-0.100" in rows["sampling_mass"]
    assert "not shown (+0.010" in rows["gradient_x_input"]


def test_the_experiment_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["experiments"]) == 0
    assert "interpretability_faithfulness" in capsys.readouterr().out


def test_smoke_run_writes_the_table(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    require_smoke_data("interpretability_faithfulness")
    from attnlab.experiments.runner import run_experiment

    result = run_experiment("interpretability_faithfulness", scale="smoke", out=tmp_path / "run",
                            progress=False, quiet=True)
    assert result.status == "finished", result.error
    table = (result.run_dir / "faithfulness_table.md").read_text()
    for subject, methods in METHODS.items():
        for method in methods:
            assert f"| {subject} | {method} |" in table
            for mode in ("deletion", "insertion"):
                auc = result.metrics[f"auc/{subject}/{method}/{mode}"]
                assert 0.0 <= auc <= 1.0
    assert len(table.splitlines()) == 2 + sum(map(len, METHODS.values()))
    curves = json.loads((result.run_dir / "curves.json").read_text())
    assert len(curves["curves"]["stn/random/deletion"]) == curves["steps"] + 1
    examples = json.loads((result.run_dir / "explanations.json").read_text())
    assert set(examples) == {"han", "transformer", "gat", "stn"}
    assert (result.run_dir / "plots" / "faithfulness_curves.png").stat().st_size > 0
    exp = get_experiment("interpretability_faithfulness")
    assert all(t.metric in result.metrics for t in exp.targets)
