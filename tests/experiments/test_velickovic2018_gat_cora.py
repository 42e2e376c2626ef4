"""velickovic2018_gat_cora: the full-batch loop learns, entropies are right, plots are written."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch

from attnlab.architectures.gat import GAT
from attnlab.data.planetoid import PlanetoidGraph
from attnlab.experiments.context import RunContext
from attnlab.experiments.velickovic2018_gat_cora.config import (
    GATCoraConfig,
    ModelConfig,
    OptimConfig,
)
from attnlab.experiments.velickovic2018_gat_cora.run import (
    _attention_plots,
    attention_entropy,
    first_seed_attention,
    train_one_seed,
)


def _toy_graph(n: int = 60, classes: int = 3, seed: int = 0) -> PlanetoidGraph:
    """Communities by class (homophilous edges) and noisy class-indicating sparse features."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    features = (torch.rand(n, 20, generator=g) < 0.1).float()
    features[torch.arange(n), labels] = 1.0
    features = features / features.sum(1, keepdim=True)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)
             if labels[i] == labels[j] and torch.rand(1, generator=g) < 0.15]
    edges = torch.tensor(pairs).T
    both = torch.cat([edges, edges.flip(0)], dim=1)
    order = torch.argsort(both[1] * n + both[0])
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][:12], masks[1][12:30], masks[2][30:] = True, True, True
    return PlanetoidGraph("toy", features, labels, *masks, both[:, order], classes)


def test_the_loop_learns_and_keeps_the_early_stopped_model() -> None:
    graph = _toy_graph()
    config = GATCoraConfig(seeds=1, max_epochs=25, patience=25,
                           model=ModelConfig(hidden_dim=4, num_heads=2, dropout=0.1),
                           optim=OptimConfig(lr=0.05))
    curves: dict[str, list[float]] = {}
    result = train_one_seed(graph, config, seed=0, device=torch.device("cpu"),
                            log=lambda name, value, step: curves.setdefault(name, []).append(value))
    assert result.epochs == 25 and 1 <= result.best_epoch <= 25
    assert result.test_accuracy > 80.0 and result.val_accuracy > 80.0
    assert len(curves["val_loss"]) == 25 and curves["train_loss"][-1] < curves["train_loss"][0]
    assert set(result.state) == set(GAT(20, 3, hidden_dim=4, num_heads=2).state_dict())
    # same seed, same run
    again = train_one_seed(graph, config, seed=0, device=torch.device("cpu"))
    assert again.test_accuracy == result.test_accuracy


def test_patience_stops_a_run_without_improvement() -> None:
    graph = _toy_graph()
    # dropout 0 and a step too small to move float32 weights: validation never changes, and
    # ties count as improvements (as in the reference code), so only max_epochs stops it
    config = GATCoraConfig(seeds=1, max_epochs=7, patience=2,
                           model=ModelConfig(hidden_dim=2, num_heads=1, dropout=0.0))
    assert train_one_seed(graph, config, seed=1, device=torch.device("cpu")).epochs == 7


def test_attention_entropy_matches_a_direct_computation() -> None:
    target = torch.tensor([0, 0, 0, 1, 2, 2])
    weights = torch.tensor([[0.2, 1 / 3], [0.3, 1 / 3], [0.5, 1 / 3], [1.0, 1.0], [0.0, 0.5],
                            [1.0, 0.5]])
    entropy = attention_entropy(weights, target, 4)
    expected0 = -sum(p * math.log(p) for p in (0.2, 0.3, 0.5))
    torch.testing.assert_close(entropy[:, 0], torch.tensor([expected0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(entropy[:, 1], torch.tensor([math.log(3), 0.0, math.log(2), 0.0]))


def test_attention_plots_are_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    graph = _toy_graph()
    config = GATCoraConfig(shown_nodes=2, model=ModelConfig(hidden_dim=4, num_heads=2))
    state = GAT(20, 3, hidden_dim=4, num_heads=2).state_dict()
    (tmp_path / "plots").mkdir()
    ctx = RunContext("velickovic2018_gat_cora", "smoke", tmp_path, 0, None, torch.device("cpu"),
                     False, logging.getLogger("test"))
    attention = first_seed_attention(graph, config, state)
    _attention_plots(ctx, graph, config, attention)
    stats = attention.stats
    assert (tmp_path / "plots" / "attention_entropy.png").exists()
    assert (tmp_path / "plots" / "neighbourhood_attention.png").exists()
    assert 0 < stats["entropy_layer1_mean"] <= stats["entropy_uniform_mean"] + 1e-6


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="seeds"):
        GATCoraConfig(seeds=0)
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(dropout=1.0)
    assert GATCoraConfig().model.num_heads == 8 and GATCoraConfig().optim.lr == 0.005
