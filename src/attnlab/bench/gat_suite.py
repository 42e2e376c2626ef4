"""The ``gat`` suite of ``attnlab bench``: the GAT of :mod:`attnlab.architectures.gat` against a
torch_geometric ``GATConv`` model with equal sizes.

Both models are the two-layer network of Velickovic et al. 2018 (https://arxiv.org/abs/1710.10903,
section 3.3): 8 heads x 8 features, ELU, one output head, dropout 0.6 on inputs and coefficients
in training mode. Graphs are random with fixed sizes so that no data set is needed:

* ``cora``: Cora's sizes: 2708 nodes, 10556 directed edges (5278 undirected, symmetric),
  1433 bag-of-words features with 18 words per node (Cora averages 18.2), row-normalised,
  7 classes, 140 training nodes;
* ``large``: a bigger random graph (dense features) where the edge work dominates.

Variants: ``attnlab`` (dense features, as the peer gets them), ``attnlab-sparse`` (the same
features as a CSR tensor, the route the library documents for bag-of-words inputs) and
``GATConv``. Modes: ``inference`` (forward under ``torch.inference_mode``, ``eval()``) and
``train`` (forward, cross-entropy on the training nodes, backward: one epoch without the
optimiser step, which costs both the same).

The suite is listed among the built-in suites in :data:`attnlab.bench.suites.BUILTIN_SUITES`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.bench.base import Case, Peer, Suite, SuiteRun, Variant
from attnlab.core.init_args import AttnModule

__all__ = ["GAT_SUITE", "GAT_VARIANTS", "PYG", "gat_workload", "random_graph"]

GAT_VARIANTS: tuple[str, ...] = ("attnlab", "attnlab-sparse", "GATConv")
"""Values of ``variant`` in :func:`gat_workload`."""

PYG = Peer("GATConv", "torch_geometric.nn.GATConv two-layer model with equal sizes",
           "torch_geometric")

Run = Callable[[], object]


def random_graph(
    *, nodes: int, edges: int, features: int, words: int | None, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """``(x, edge_index)``: ``edges // 2`` random undirected edges stored both ways (no
    self-loops, duplicates kept only if drawn twice) and features.

    ``words``: that many random ones per row, row-normalised (bag of words); ``None``: dense
    normal features.

    Example:
        >>> x, edge_index = random_graph(nodes=10, edges=20, features=5, words=2)
        >>> tuple(x.shape), tuple(edge_index.shape), float(x.sum())
        ((10, 5), (2, 20), 10.0)
    """
    g = torch.Generator().manual_seed(seed)
    half = edges // 2
    src = torch.randint(0, nodes, (half,), generator=g)
    dst = (src + torch.randint(1, nodes, (half,), generator=g)) % nodes  # never a self-loop
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    if words is None:
        x = torch.randn(nodes, features, generator=g)
    else:
        x = torch.zeros(nodes, features)
        cols = torch.rand(nodes, features, generator=g).argsort(dim=1)[:, :words]
        x.scatter_(1, cols, 1.0 / words)
    return x, edge_index


class _PygGAT(AttnModule):
    """The peer: the paper's two-layer GAT from torch_geometric's GATConv."""

    def __init__(self, in_dim: int, classes: int, dropout: float = 0.6) -> None:
        super().__init__()
        from torch_geometric.nn import GATConv

        self.dropout = dropout
        self.conv1 = GATConv(in_dim, 8, heads=8, dropout=dropout)
        self.conv2 = GATConv(64, classes, heads=1, concat=False, dropout=dropout)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = F.dropout(x, self.dropout, self.training)
        x = F.elu(self.conv1(x, edge_index))
        x = F.dropout(x, self.dropout, self.training)
        out: Tensor = self.conv2(x, edge_index)
        return out


def gat_workload(
    *,
    variant: str,
    nodes: int,
    edges: int,
    features: int,
    classes: int = 7,
    words: int | None = None,
    train_nodes: int = 140,
    mode: str = "train",
    seed: int = 0,
) -> Run:
    """One GAT forward (``inference``) or forward + loss + backward (``train``) on a random graph.

    Example:
        >>> run = gat_workload(variant="attnlab", nodes=20, edges=60, features=8, mode="train")
        >>> run()
    """
    from attnlab.architectures.gat import GAT, to_sparse_features

    if variant not in GAT_VARIANTS:
        raise ValueError(f"variant must be one of {GAT_VARIANTS}, got {variant!r}")
    if mode not in ("inference", "train"):
        raise ValueError(f"mode must be 'inference' or 'train', got {mode!r}")
    x, edge_index = random_graph(nodes=nodes, edges=edges, features=features, words=words,
                                 seed=seed)
    labels = torch.randint(0, classes, (nodes,), generator=torch.Generator().manual_seed(seed))
    train = torch.zeros(nodes, dtype=torch.bool)
    train[: min(train_nodes, nodes)] = True
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model: nn.Module = _PygGAT(features, classes) if variant == "GATConv" else GAT(
            features, classes
        )
    inputs: Any = to_sparse_features(x) if variant == "attnlab-sparse" else x

    def forward() -> Tensor:
        if variant == "GATConv":
            logits: Tensor = model(inputs, edge_index)
            return logits
        context: Tensor = model(inputs, edge_index, need_weights=False).context
        return context

    if mode == "inference":
        model.eval()

        def infer() -> object:
            with torch.inference_mode():
                return forward()

        return infer
    model.train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(forward()[train], labels[train]).backward()

    return step


def _gat(ctx: SuiteRun) -> None:
    s = ctx.sizes
    for graph in s["graphs"]:
        sizes = {k: graph[k] for k in ("nodes", "edges", "features", "words")}
        for mode in ("inference", "train"):
            variants = tuple(
                Variant(
                    name,
                    gat_workload,
                    {"variant": name, "mode": mode, **sizes},
                    PYG.name if name == "GATConv" else None,
                    memory=True,
                    warmup_kwargs={"variant": name, "mode": mode, "nodes": 50, "edges": 200,
                                   "features": 16, "words": None},
                )
                for name in GAT_VARIANTS
                if name != "attnlab-sparse" or graph["words"] is not None
            )
            result = ctx.run_case(
                Case(
                    f"{graph['name']} {mode} N{graph['nodes']} E{graph['edges']} "
                    f"F{graph['features']}",
                    variants,
                    repeats=s["repeats"],
                    warmup=2,
                    params={"graph": graph["name"], "mode": mode, **sizes},
                    min_seconds=s["min_seconds"],
                )
            )
            if graph["name"] == "cora" and mode == "train":
                ctx.target(
                    "GAT epoch (fwd+bwd) on Cora sizes, dense features: attnlab >= 1.00x GATConv",
                    result.speedup("attnlab", "GATConv"),
                    1.0,
                    any_size=True,
                )
                sparse = result.speedup("attnlab-sparse", "GATConv")
                ctx.metric("cora_train_speedup_sparse", sparse)
                if sparse is not None:
                    ctx.note(f"Cora sizes, sparse (CSR) features: {sparse:.2f}x GATConv (train)")
    ctx.note("attnlab: O(E) edge-list path (scatter softmax), no N x N tensor")


GAT_SUITE = Suite(
    name="gat",
    description="GAT (2 layers, 8x8 heads) vs torch_geometric GATConv model: Cora sizes and a "
    "larger random graph, inference and train step (target <= 1.0x time)",
    run=_gat,
    peers=(PYG,),
    sizes={
        "quick": {
            "graphs": [
                {"name": "cora", "nodes": 2708, "edges": 10556, "features": 1433, "words": 18},
                {"name": "large", "nodes": 10000, "edges": 100000, "features": 128,
                 "words": None},
            ],
            "repeats": 5,
            "min_seconds": 0.3,
        },
        "full": {
            "graphs": [
                {"name": "cora", "nodes": 2708, "edges": 10556, "features": 1433, "words": 18},
                {"name": "large", "nodes": 50000, "edges": 1000000, "features": 128,
                 "words": None},
            ],
            "repeats": 10,
            "min_seconds": 1.0,
        },
    },
)
"""The ``gat`` suite (one of :data:`attnlab.bench.suites.BUILTIN_SUITES`)."""
