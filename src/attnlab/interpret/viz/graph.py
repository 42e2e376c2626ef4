"""Graph attention: a node's neighbourhood drawn as a graph whose edge widths are the attention
coefficients (Velickovic et al. 2018), and entropy histograms of the per-node attention."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from attnlab.interpret.viz._backend import _as_tensor, _check_labels, _check_positive_int, _pyplot

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["neighbourhood_layout", "plot_entropy_histograms", "plot_neighbourhood_graph"]


def _edges(source: Tensor, target: Tensor) -> tuple[list[int], list[int]]:
    for name, t in (("source", source), ("target", target)):
        if not isinstance(t, Tensor) or t.dim() != 1 or t.is_floating_point():
            raise ValueError(f"{name} must be a 1-D integer tensor (E,) of node ids, got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
    if source.shape != target.shape:
        raise ValueError(f"source and target must both be (E,), got {tuple(source.shape)} and "
                         f"{tuple(target.shape)}")
    return source.tolist(), target.tolist()


def neighbourhood_layout(
    source: Tensor, target: Tensor, centre: int, *, hops: int = 2
) -> dict[int, tuple[float, float]]:
    """Positions of the nodes within ``hops`` edges of ``centre``: the centre at the origin, the
    nodes ``r`` hops away evenly spaced on the circle of radius ``r``.

    Edges count in both directions; self-loops are ignored. Ring 1 is sorted by node id and
    starts at the top, going counter-clockwise; each later ring is sorted by the position of a
    node's first neighbour on the ring inside it, then by node id, so that nodes sit near the
    node they are reached through. The layout depends on the edges only (no random state).

    Args:
        source: the source node of each edge.
        target: the target node of each edge.
        centre: the node in the middle.
        hops: how many rings to lay out.

    Shape:
        - source, target: ``(E,)``

    Returns:
        Node id -> ``(x, y)``.

    Example:
        >>> import torch
        >>> pos = neighbourhood_layout(torch.tensor([1, 2, 3]), torch.tensor([0, 0, 1]), 0)
        >>> pos[0], [round(v, 6) for v in pos[1]], len(pos)
        ((0.0, 0.0), [0.0, 1.0], 4)
    """
    src, dst = _edges(source, target)
    hops = _check_positive_int(hops, "hops")
    if isinstance(centre, bool) or not isinstance(centre, int):
        raise ValueError(f"centre must be a node id (int), got {centre!r}")
    adjacency: dict[int, set[int]] = {}
    for s, t in zip(src, dst, strict=True):
        if s != t:
            adjacency.setdefault(s, set()).add(t)
            adjacency.setdefault(t, set()).add(s)
    positions: dict[int, tuple[float, float]] = {centre: (0.0, 0.0)}
    ring = [centre]
    for radius in range(1, hops + 1):
        order = {node: k for k, node in enumerate(ring)}
        parent: dict[int, int] = {}
        for node in ring:
            for neighbour in adjacency.get(node, ()):
                # ring is walked in order: the first node to reach a neighbour is its parent
                if neighbour not in positions and neighbour not in parent:
                    parent[neighbour] = node
        ring = sorted(parent, key=lambda n: (order[parent[n]], n))
        for k, node in enumerate(ring):
            angle = math.pi / 2 + 2 * math.pi * k / len(ring)
            positions[node] = (radius * math.cos(angle), radius * math.sin(angle))
        if not ring:
            break
    return positions


def plot_neighbourhood_graph(
    source: Tensor,
    target: Tensor,
    weights: Tensor,
    centre: int,
    *,
    hops: int = 2,
    node_labels: Sequence[str] | None = None,
    title: str | None = None,
    max_width: float = 6.0,
    max_cols: int = 4,
) -> Figure:
    """A node's neighbourhood as a graph, each edge as wide as its attention coefficient.

    Velickovic et al., "Graph Attention Networks", https://arxiv.org/abs/1710.10903, eq. 3: the
    coefficient ``alpha_ij`` of edge ``j -> i`` is how much node ``i`` attends to its neighbour
    ``j``. Nodes are placed by :func:`neighbourhood_layout`. The edges drawn are those that
    carry features towards the centre in ``hops`` layers: ``j -> i`` with both nodes placed,
    ``i`` fewer than ``hops`` hops from the centre and no farther than ``j`` (inwards or along a
    ring; outward edges and self-loops are not drawn). Each has line width
    ``max_width * alpha / max(alpha)`` (the maximum over the drawn edges of the panel); edges
    into ``centre`` are red, the others blue. One panel per head.

    Args:
        source: the source node ``j`` of each edge.
        target: the target node ``i`` of each edge (the node whose attention it is).
        weights: the attention coefficient of each edge, per head.
        centre: the node in the middle.
        hops: how many rings of neighbours to draw.
        node_labels: a label per node of the graph (indexed by node id), e.g. its class.
        title: figure title.
        max_width: the line width of the strongest edge.
        max_cols: panels per row.

    Shape:
        - source, target: ``(E,)``
        - weights: ``(E,)`` or ``(E, H)``

    Returns:
        The matplotlib ``Figure``; ``fig.axes[h]`` is head ``h``'s panel. Each panel holds one
        ``LineCollection`` of the drawn edges, in the order of the edge list, whose
        ``get_linewidths()`` are the widths above.

    Example:
        >>> import torch
        >>> fig = plot_neighbourhood_graph(torch.tensor([1, 2, 0]), torch.tensor([0, 0, 0]),
        ...                                torch.tensor([0.6, 0.3, 0.1]), 0)
        >>> [float(w) for w in fig.axes[0].collections[0].get_linewidths()]
        [6.0, 3.0]
    """
    src, dst = _edges(source, target)
    w = _as_tensor(weights, "weights", ndim=(1, 2), layout="(E,) or (E, H)")
    if w.shape[0] != len(src):
        raise ValueError(f"weights must hold one coefficient per edge ({len(src)}), got shape "
                         f"{tuple(w.shape)}")
    if (w < 0).any():
        raise ValueError("weights must be non-negative attention coefficients")
    if not (isinstance(max_width, (int, float)) and math.isfinite(max_width) and max_width > 0):
        raise ValueError(f"max_width must be a positive number, got {max_width!r}")
    w = w if w.dim() == 2 else w.unsqueeze(1)
    positions = neighbourhood_layout(source, target, centre, hops=hops)
    if node_labels is not None and (isinstance(node_labels, str)
                                    or len(node_labels) <= max(positions)):
        raise ValueError(f"node_labels must hold a label per node id (at least "
                         f"{max(positions) + 1}), got {len(node_labels)}")
    ring = {n: round(math.hypot(*p)) for n, p in positions.items()}
    # the edges along which attention carries features towards the centre within ``hops``
    # layers: into the inner rings, inwards or along a ring (the reverse of an inward edge would
    # be drawn over it)
    drawn = [e for e, (s, t) in enumerate(zip(src, dst, strict=True))
             if s != t and s in positions and t in positions and ring[t] < hops
             and ring[t] <= ring[s]]
    plt = _pyplot()
    from matplotlib.collections import LineCollection

    heads = w.shape[1]
    cols = min(heads, _check_positive_int(max_cols, "max_cols"))
    rows = (heads + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.4 * rows), squeeze=False)
    for extra in range(heads, rows * cols):
        axes[extra // cols][extra % cols].remove()
    nodes = sorted(positions, key=lambda n: (math.hypot(*positions[n]), n))
    xy = torch.tensor([positions[n] for n in nodes])
    for h in range(heads):
        ax = axes[h // cols][h % cols]
        values = w[drawn, h]
        top = float(values.max()) if values.numel() else 0.0
        widths = (max_width * values / top if top > 0 else values * 0.0).tolist()
        segments = [[positions[src[e]], positions[dst[e]]] for e in drawn]
        colours = ["tab:red" if dst[e] == centre else "tab:blue" for e in drawn]
        ax.add_collection(LineCollection(segments, linewidths=widths, colors=colours,
                                         alpha=0.7, zorder=1))
        ax.scatter(xy[:, 0].tolist(), xy[:, 1].tolist(), s=90, zorder=2,
                   c=["tab:red" if n == centre else "white" for n in nodes], edgecolors="black")
        for n in nodes:
            text = str(n) if node_labels is None else f"{n}\n{node_labels[n]}"
            ax.annotate(text, positions[n], xytext=(0, 7), textcoords="offset points",
                        ha="center", va="bottom", fontsize=6)
        ax.set_aspect("equal")
        ax.axis("off")
        radius = max((math.hypot(*p) for p in positions.values()), default=0.0) + 0.4
        ax.set_xlim(-radius, radius)
        ax.set_ylim(-radius, radius)
        if heads > 1:
            ax.set_title(f"head {h}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_entropy_histograms(
    entropy: Tensor,
    uniform: Tensor,
    *,
    panel_titles: Sequence[str] | None = None,
    bins: int = 30,
    max_cols: int = 4,
    label: str = "attention",
) -> Figure:
    """Histograms of each node's attention entropy, one panel per head, against the entropy of
    uniform attention over the same neighbourhood (``log(degree)``, grey outline).

    Args:
        entropy: per node and head, the entropy (nats) of its attention over its neighbours.
        uniform: per node, the entropy of uniform attention.
        panel_titles: a title per head (default ``"head h"``).
        bins: histogram bins.
        max_cols: panels per row.
        label: the legend entry of the attention histogram (e.g. the model's name).

    Shape:
        - entropy: ``(N, H)``
        - uniform: ``(N,)``

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> import torch
        >>> fig = plot_entropy_histograms(torch.rand(10, 2), torch.rand(10) + 1)
        >>> [ax.get_title() for ax in fig.axes if ax.axison]
        ['head 0', 'head 1']
    """
    e = _as_tensor(entropy, "entropy", ndim=2, layout="(N, H)")
    u = _as_tensor(uniform, "uniform", ndim=1, layout="(N,)")
    if u.shape[0] != e.shape[0]:
        raise ValueError(f"uniform must hold one value per node ({e.shape[0]}), got "
                         f"{u.shape[0]}")
    heads = e.shape[1]
    names = (_check_labels(panel_titles, "panel_titles", heads, "head") if panel_titles
             is not None else [f"head {h}" for h in range(heads)])
    bins = _check_positive_int(bins, "bins")
    cols = min(_check_positive_int(max_cols, "max_cols"), heads)
    rows = (heads + cols - 1) // cols
    fig, axes = _pyplot().subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    top = max(float(u.max()), float(e.max())) if u.numel() else 1.0
    edges = torch.linspace(0, top + 0.1, bins).tolist()
    for h in range(rows * cols):
        ax = axes[h // cols][h % cols]
        if h >= heads:
            ax.axis("off")
            continue
        ax.hist(u.tolist(), bins=edges, histtype="step", color="grey", label="uniform")
        ax.hist(e[:, h].tolist(), bins=edges, alpha=0.7, label=label)
        ax.set_title(names[h])
        ax.set_xlabel("entropy (nats)")
        if h == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
