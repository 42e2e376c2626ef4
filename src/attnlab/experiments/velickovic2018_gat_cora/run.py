"""Run ``velickovic2018_gat_cora``: the GAT on Cora from several seeds, plus attention plots.

The graph is one full batch, so each epoch is one gradient step on the 140 training nodes;
this module holds that short full-batch loop (the library's ``fit`` iterates over a dataset of
examples, which a single transductive graph is not) and reuses the training package's seeding
and checkpoint writer. Early stopping follows section 3.3 of the paper and its reference code:
an epoch that improves the validation loss *or* accuracy resets the patience counter; the model
kept for testing is the last one that improved *both*.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from attnlab.architectures.gat import GAT, to_sparse_features
from attnlab.data.planetoid import PlanetoidGraph, load_cora
from attnlab.experiments.context import RunContext
from attnlab.experiments.velickovic2018_gat_cora.config import GATCoraConfig
from attnlab.train.checkpoint import save_checkpoint
from attnlab.train.seeding import derive_seed, seed_everything

__all__ = [
    "AttentionSummary",
    "SeedResult",
    "attention_entropy",
    "first_seed_attention",
    "main",
    "train_one_seed",
]


@dataclass(frozen=True)
class SeedResult:
    """One run: test/validation accuracy (percent) of the early-stopped model, epochs, time."""

    test_accuracy: float
    val_accuracy: float
    val_loss: float
    epochs: int
    best_epoch: int
    seconds: float
    state: dict[str, Tensor]


def _accuracy(logits: Tensor, labels: Tensor) -> float:
    return 100.0 * float((logits.argmax(-1) == labels).float().mean())


def train_one_seed(
    graph: PlanetoidGraph,
    config: GATCoraConfig,
    *,
    seed: int,
    device: torch.device,
    log: Any = None,
) -> SeedResult:
    """Train one GAT from ``seed`` with early stopping; return the kept model's results.

    Args:
        graph: the data set.
        config: the experiment's configuration.
        seed: seeds Python, NumPy and torch (parameters, dropout).
        device: where to train.
        log: optional ``log(name, value, step)`` for learning curves.
    """
    seed_everything(seed)
    start = time.perf_counter()
    m = config.model
    model = GAT(
        graph.num_features,
        graph.num_classes,
        hidden_dim=m.hidden_dim,
        num_heads=m.num_heads,
        num_output_heads=m.num_output_heads,
        dropout=m.dropout,
        negative_slope=m.negative_slope,
    ).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay
    )
    x = graph.features.to(device)
    if config.sparse_features:
        x = to_sparse_features(x)
    edge_index, labels = graph.edge_index.to(device), graph.labels.to(device)
    train, val, test = (mask.to(device) for mask in (graph.train_mask, graph.val_mask,
                                                     graph.test_mask))
    best_acc, best_loss = -math.inf, math.inf
    kept: dict[str, Tensor] = copy.deepcopy(model.state_dict())
    kept_acc, kept_loss, kept_epoch, waited, epoch = 0.0, math.inf, 0, 0, 0
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        optimizer.zero_grad(set_to_none=True)
        logits = model(x, edge_index, need_weights=False).context
        loss = F.cross_entropy(logits[train], labels[train])
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(x, edge_index, need_weights=False).context
            val_loss = float(F.cross_entropy(logits[val], labels[val]))
            val_acc = _accuracy(logits[val], labels[val])
        if log is not None:
            log("train_loss", loss.item(), epoch)
            log("val_loss", val_loss, epoch)
            log("val_accuracy", val_acc, epoch)
        if val_acc >= best_acc or val_loss <= best_loss:
            if val_acc >= best_acc and val_loss <= best_loss:
                kept = copy.deepcopy(model.state_dict())
                kept_acc, kept_loss, kept_epoch = val_acc, val_loss, epoch
            best_acc, best_loss = max(best_acc, val_acc), min(best_loss, val_loss)
            waited = 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    model.load_state_dict(kept)
    model.eval()
    with torch.no_grad():
        logits = model(x, edge_index, need_weights=False).context
    return SeedResult(
        test_accuracy=_accuracy(logits[test], labels[test]),
        val_accuracy=kept_acc,
        val_loss=kept_loss,
        epochs=epoch,
        best_epoch=kept_epoch,
        seconds=time.perf_counter() - start,
        state=kept,
    )


def attention_entropy(weights: Tensor, target: Tensor, num_nodes: int) -> Tensor:
    """Entropy (nats) of each node's attention over its incoming edges, per head.

    Args:
        weights: ``(E, H)`` coefficients, summing to 1 over the edges of each target.
        target: ``(E,)`` target node of each edge.
        num_nodes: ``N``.

    Returns:
        ``(N, H)`` entropies; ``log(degree)`` is the uniform-attention maximum.

    Example:
        >>> import torch
        >>> w = torch.tensor([[0.5], [0.5], [1.0]])
        >>> attention_entropy(w, torch.tensor([0, 0, 1]), 2).flatten()
        tensor([0.6931, 0.0000])
    """
    terms = -torch.where(weights > 0, weights * weights.clamp_min(1e-30).log(), 0.0)
    return weights.new_zeros(num_nodes, weights.shape[1]).index_add_(0, target, terms)


def main(config: GATCoraConfig, ctx: RunContext) -> dict[str, float]:
    """Train ``config.seeds`` GATs on Cora; return the mean and spread of test accuracy.

    Returns:
        ``test_accuracy_mean`` and ``test_accuracy_std`` (percent, population std over seeds
        as ``numpy.std``), ``seeds``, ``val_accuracy_mean``, ``epochs_mean``,
        ``seconds_per_seed``, per-seed ``test_accuracy/seed<k>``, and attention statistics of
        the first seed's model (``entropy_layer1_mean``, ``entropy_uniform_mean``).
    """
    graph = load_cora(data_dir=ctx.data_dir)
    ctx.logger.info(
        "Cora: %d nodes, %d features, %d classes, %d undirected edges, split %d/%d/%d",
        graph.num_nodes, graph.num_features, graph.num_classes, graph.num_undirected_edges,
        int(graph.train_mask.sum()), int(graph.val_mask.sum()), int(graph.test_mask.sum()),
    )
    results: list[SeedResult] = []
    for k in range(config.seeds):
        seed = derive_seed(ctx.seed, k)

        def log(name: str, value: float, step: int, k: int = k) -> None:
            if k == 0:
                ctx.log(f"seed0/{name}", value, step=step)

        result = train_one_seed(graph, config, seed=seed, device=ctx.device, log=log)
        results.append(result)
        ctx.logger.info(
            "seed %d/%d: test %.1f%%  val %.1f%%  epochs %d (kept %d)  %.1f s",
            k + 1, config.seeds, result.test_accuracy, result.val_accuracy, result.epochs,
            result.best_epoch, result.seconds,
        )
    accuracies = [r.test_accuracy for r in results]
    metrics: dict[str, float] = {
        "test_accuracy_mean": statistics.fmean(accuracies),
        "test_accuracy_std": statistics.pstdev(accuracies),
        "seeds": float(config.seeds),
        "val_accuracy_mean": statistics.fmean(r.val_accuracy for r in results),
        "epochs_mean": statistics.fmean(r.epochs for r in results),
        "seconds_per_seed": statistics.fmean(r.seconds for r in results),
    }
    for k, accuracy in enumerate(accuracies):
        metrics[f"test_accuracy/seed{k}"] = accuracy
    if ctx.is_main:
        save_checkpoint(ctx.checkpoint_dir / "seed0_best.pt", {"model": results[0].state})
    attention = first_seed_attention(graph, config, results[0].state)
    metrics.update(attention.stats)
    _attention_plots(ctx, graph, config, attention)
    return metrics


@dataclass(frozen=True)
class AttentionSummary:
    """The attention of one trained GAT on the whole graph, and its statistics.

    Attributes:
        source: ``(E,)`` source node of every edge (self-loops included).
        target: ``(E,)`` target node of every edge.
        first: ``(E, heads)`` first-layer weights.
        second: ``(E, output_heads)`` output-layer weights.
        entropy: ``(n, heads)`` entropy (nats) of each node's first-layer attention.
        degree: ``(n,)`` in-degree of each node, self-loop included.
        stats: ``entropy_layer1_mean``, ``entropy_output_mean`` and ``entropy_uniform_mean``
            (the mean of ``log(degree)``, the entropy of uniform attention).
    """

    source: Tensor
    target: Tensor
    first: Tensor
    second: Tensor
    entropy: Tensor
    degree: Tensor
    stats: dict[str, float]


def first_seed_attention(
    graph: PlanetoidGraph, config: GATCoraConfig, state: dict[str, Tensor]
) -> AttentionSummary:
    """Load ``state`` into a GAT shaped by ``config``; its attention on ``graph`` (eval mode)."""
    m = config.model
    model = GAT(graph.num_features, graph.num_classes, hidden_dim=m.hidden_dim,
                num_heads=m.num_heads, num_output_heads=m.num_output_heads)
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        out = model(graph.features, graph.edge_index)
    assert out.edge_index is not None
    source, target = out.edge_index
    n = graph.num_nodes
    first, second = out.weights
    entropy = attention_entropy(first, target, n)  # (n, h)
    degree = torch.zeros(n).index_add_(0, target, torch.ones(target.shape[0]))
    stats = {
        "entropy_layer1_mean": float(entropy.mean()),
        "entropy_output_mean": float(attention_entropy(second, target, n).mean()),
        "entropy_uniform_mean": float(degree.log().mean()),
    }
    return AttentionSummary(source, target, first, second, entropy, degree, stats)


def _smallest_two_hop(source: Tensor, target: Tensor, nodes: list[int]) -> int:
    """The node of ``nodes`` with the fewest other nodes within two hops (ties: lowest id)."""
    adjacency: dict[int, set[int]] = {}
    for s, t in zip(source.tolist(), target.tolist(), strict=True):
        adjacency.setdefault(s, set()).add(t)
        adjacency.setdefault(t, set()).add(s)

    def size(node: int) -> int:
        near = set(adjacency.get(node, ()))
        for neighbour in list(near):
            near |= adjacency.get(neighbour, set())
        return len(near - {node})

    return min(nodes, key=lambda n: (size(n), n))


def _attention_plots(
    ctx: RunContext, graph: PlanetoidGraph, config: GATCoraConfig, attention: AttentionSummary
) -> None:
    """Save ``attention_entropy``, ``neighbourhood_attention`` and ``neighbourhood_graph``
    (skipped without matplotlib)."""
    from attnlab.interpret.viz import (
        plot_attention_maps,
        plot_entropy_histograms,
        plot_neighbourhood_graph,
    )

    source, target, first, second = (
        attention.source, attention.target, attention.first, attention.second
    )
    entropy, degree, stats = attention.entropy, attention.degree, attention.stats
    heads = entropy.shape[1]
    with ctx.plotting("attention_entropy"):
        fig = plot_entropy_histograms(
            entropy, degree.log(), panel_titles=[f"layer 1, head {h}" for h in range(heads)],
            label="GAT",
        )
        ctx.save_plot(
            fig,
            "attention_entropy",
            caption=(
                "Entropy of each node's attention over its neighbourhood (self included), one "
                "panel per first-layer head, against the entropy of uniform attention log(degree) "
                f"(grey). Mean entropy {stats['entropy_layer1_mean']:.3f} nats vs uniform "
                f"{stats['entropy_uniform_mean']:.3f}: close to uniform means the heads spread "
                "their weight evenly (Cora's neighbourhoods mostly share one class)."
            ),
        )
    # a few test nodes with mid-sized neighbourhoods: per-head weights over their neighbours
    candidates = [int(i) for i in torch.nonzero(graph.test_mask & (degree >= 5) & (degree <= 9))]
    shown = candidates[: config.shown_nodes]
    if not shown:
        return
    labels = graph.labels
    maps, col_labels, titles = [], [], []
    for node in shown:
        incoming = torch.nonzero(target == node).flatten()
        maps.append(torch.cat([first[incoming].T, second[incoming].T]))  # (heads + out, deg)
        col_labels.append([f"{int(j)}{'*' if int(j) == node else ''} c{int(labels[j])}"
                           for j in source[incoming]])
        titles.append(f"node {node} (class {int(labels[node])})")
    row_labels = [f"L1 h{h}" for h in range(heads)] + [f"out h{h}" for h in range(second.shape[1])]
    with ctx.plotting("neighbourhood_attention"):
        fig = plot_attention_maps(
            maps, row_labels=[row_labels] * len(maps), col_labels=col_labels, titles=titles,
            xlabel="neighbour (id, class; * = itself)", ylabel="head",
        )
        ctx.save_plot(
            fig,
            "neighbourhood_attention",
            caption=(
                "Attention of a few test nodes over their neighbours (columns, labelled with "
                "node id and class), one row per head of layer 1 and of the output layer."
            ),
        )
    node = _smallest_two_hop(source, target, candidates)
    with ctx.plotting("neighbourhood_graph"):
        fig = plot_neighbourhood_graph(
            source, target, first, node, hops=2,
            node_labels=[f"c{int(c)}" for c in labels],
            title=f"node {node} (class {int(labels[node])}): layer-1 attention, two hops",
        )
        ctx.save_plot(
            fig,
            "neighbourhood_graph",
            caption=(
                f"The two-hop neighbourhood of test node {node} (red, centre; the test node of "
                "degree 5-9 with the fewest nodes within two hops; ring 1: its neighbours, "
                "ring 2: theirs; labels give node id and class), one panel per first-layer "
                "head. Each edge j -> i pointing inwards (or along ring 1) is as wide as the "
                "coefficient alpha_ij with which node i attends to j (eq. 3), relative to the "
                "widest edge of the panel; red edges lead into the centre node. Outward edges "
                "and self-loops are not drawn."
            ),
        )
