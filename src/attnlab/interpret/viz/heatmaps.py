"""Heat maps of attention weights: one map, an alignment with tokens, heads, a layer x head grid,
rollout / flow maps, per-token bars, memory-hop maps, and a terminal view."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from attnlab.interpret.viz._backend import (
    _as_matrix,
    _as_tensor,
    _check_labels,
    _check_positive_int,
    _pyplot,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "ascii_heatmap",
    "plot_alignment",
    "plot_attention",
    "plot_attention_maps",
    "plot_head_layer_grid",
    "plot_heads",
    "plot_heads_with_tokens",
    "plot_hop_attention",
    "plot_rollout",
    "plot_token_scores",
]

_SHADES = " .:-=+*#%@"


def ascii_heatmap(
    weights: Tensor,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    highlight: Sequence[int] | None = None,
) -> str:
    """Render a ``(Lq, Lk)`` weight map as text, one character per weight (darker = larger).

    Each row is scaled to its own maximum so that where a query looks is visible even when its
    weights are spread out. ``highlight[i]`` marks the expected key of row ``i`` with ``^`` below.

    Example:
        >>> import torch
        >>> print(ascii_heatmap(torch.tensor([[0.0, 1.0], [0.5, 0.5]])))
         @
        @@
    """
    w = _as_matrix(weights)
    width = max((len(s) for s in row_labels), default=0) if row_labels else 0
    lines = []
    if col_labels is not None:
        pad = " " * (width + 1) if row_labels else ""
        lines.append(pad + "".join(str(c)[:1] for c in col_labels))
    for i, row in enumerate(w):
        top = float(row.max())
        levels = (row / top * (len(_SHADES) - 1)).round().long() if top > 0 else row.long() * 0
        prefix = (row_labels[i].rjust(width) + " ") if row_labels else ""
        lines.append(prefix + "".join(_SHADES[int(v)] for v in levels))
        if highlight is not None:
            lines.append(" " * len(prefix) + " " * int(highlight[i]) + "^")
    return "\n".join(lines)


def plot_attention(
    weights: Tensor,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    mask: Tensor | None = None,
    ax: Axes | None = None,
    cmap: str = "viridis",
) -> Axes:
    """Heat map of one ``(Lq, Lk)`` attention map, queries down, keys across, with a colour bar.

    Args:
        weights: ``(Lq, Lk)``.
        row_labels: a label per query (row), e.g. its token.
        col_labels: a label per key (column).
        title: axes title.
        mask: optional boolean ``(Lq, Lk)`` or ``(Lk,)`` (``True`` = may attend); masked cells are
            drawn in light grey so padding is not mistaken for zero attention.
        ax: the axes to draw on (a new figure when ``None``).
        cmap: a matplotlib colour map name.

    Returns:
        The matplotlib ``Axes`` drawn on (``ax.figure`` is its figure).

    Example:
        >>> import torch
        >>> ax = plot_attention(torch.eye(3), row_labels=["a", "b", "c"])
        >>> ax.images[0].get_array().shape
        (3, 3)
    """
    w = _as_matrix(weights)
    rows = _check_labels(row_labels, "row_labels", w.shape[0], "row of weights")
    cols = _check_labels(col_labels, "col_labels", w.shape[1], "column of weights")
    plt = _pyplot()
    import numpy as np

    data = w.numpy()
    if mask is not None:
        m = torch.as_tensor(mask).detach().cpu().bool()
        try:
            keep = m.expand(w.shape).numpy()
        except RuntimeError as error:
            raise ValueError(
                f"mask must be (Lq, Lk) or (Lk,) = {tuple(w.shape)}, got {tuple(m.shape)}"
            ) from error
        data = np.ma.masked_where(~keep, data)
    colormap = plt.get_cmap(cmap).with_extremes(bad="#d9d9d9")
    if ax is None:
        height = max(2.5, 0.28 * w.shape[0] + 1.2)
        width = max(3.0, 0.28 * w.shape[1] + 1.8)
        _, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(data, cmap=colormap, vmin=0.0, aspect="auto", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if col_labels is not None:
        ax.set_xticks(range(len(cols)), labels=cols, rotation=90)
    if row_labels is not None:
        ax.set_yticks(range(len(rows)), labels=rows)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    if title:
        ax.set_title(title)
    return ax


def plot_alignment(
    weights: Tensor,
    *,
    source: Sequence[str],
    target: Sequence[str],
    title: str | None = None,
    cmap: str = "viridis",
) -> Figure:
    """An alignment matrix with its tokens: source tokens across, target (output) tokens down.

    Row ``t`` is the attention of output step ``t`` over the source, as in Bahdanau et al.'s
    Figure 3 ("Neural Machine Translation by Jointly Learning to Align and Translate",
    https://arxiv.org/abs/1409.0473).

    Args:
        weights: the alignment, rows over the target, columns over the source.
        source: a token per column.
        target: a token per row.
        title: axes title.
        cmap: a matplotlib colour map name.

    Shape:
        - weights: ``(T, S)``

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> import torch
        >>> fig = plot_alignment(torch.eye(2), source=["le", "chat"], target=["the", "cat"])
        >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
        ['le', 'chat']
    """
    w = _as_tensor(weights, "weights", ndim=2, layout="(T, S)")
    _check_labels(source, "source", w.shape[1], "column (source position) of weights")
    _check_labels(target, "target", w.shape[0], "row (target position) of weights")
    ax = plot_attention(w, row_labels=target, col_labels=source, title=title, cmap=cmap)
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    fig: Figure = ax.figure  # type: ignore[assignment]
    return fig


def plot_heads(
    weights: Tensor,
    *,
    title: str | None = None,
    max_cols: int = 4,
    cmap: str = "viridis",
) -> Figure:
    """A grid of heat maps, one per head, for ``(H, Lq, Lk)`` weights (one example).

    Every head shares one colour scale, so heads can be compared at a glance.

    Example:
        >>> import torch
        >>> fig = plot_heads(torch.rand(3, 4, 4).softmax(-1))
        >>> [ax.get_title() for ax in fig.axes if ax.images]
        ['head 0', 'head 1', 'head 2']
    """
    w = torch.as_tensor(weights).detach().float().cpu()
    if w.dim() != 3:
        raise ValueError(f"weights must be (H, Lq, Lk) for one example, got {tuple(w.shape)}")
    _check_positive_int(max_cols, "max_cols")
    plt = _pyplot()
    heads = w.shape[0]
    cols = min(max_cols, heads)
    rows = (heads + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    top = float(w.max()) or 1.0
    for h in range(rows * cols):
        ax = axes[h // cols][h % cols]
        if h >= heads:
            ax.axis("off")
            continue
        ax.imshow(w[h].numpy(), cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest")
        ax.set_title(f"head {h}")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_heads_with_tokens(
    weights: Tensor,
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    title: str,
    max_cols: int = 4,
) -> Figure:
    """One heat map per head of ``(H, Lq, Lk)`` weights (colour scale 0 to 1), tokens on the axes.

    Args:
        weights: one example's weights.
        rows: a token per query.
        cols: a token per key.
        title: figure title.
        max_cols: panels per row.

    Shape:
        - weights: ``(H, Lq, Lk)``

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> import torch
        >>> fig = plot_heads_with_tokens(torch.rand(2, 2, 3).softmax(-1), ["a", "b"],
        ...                              ["x", "y", "z"], title="heads")
        >>> [ax.get_title() for ax in fig.axes]
        ['head 0', 'head 1']
    """
    w = _as_tensor(weights, "weights", ndim=3, layout="(H, Lq, Lk)")
    row_names = _check_labels(rows, "rows", w.shape[1], "query of weights")
    col_names = _check_labels(cols, "cols", w.shape[2], "key of weights")
    _check_positive_int(max_cols, "max_cols")
    plt = _pyplot()
    heads = w.shape[0]
    cols_n = min(max_cols, heads)
    rows_n = math.ceil(heads / cols_n)
    fig, axes = plt.subplots(
        rows_n, cols_n,
        figsize=(0.35 * len(col_names) * cols_n + 2, 0.35 * len(row_names) * rows_n + 1.5),
        squeeze=False,
    )
    for h in range(rows_n * cols_n):
        ax = axes[h // cols_n][h % cols_n]
        if h >= heads:
            ax.axis("off")
            continue
        ax.imshow(w[h].numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto",
                  interpolation="nearest")
        ax.set_title(f"head {h}", fontsize=9)
        ax.set_xticks(range(len(col_names)), labels=col_names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(row_names)), labels=row_names, fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_head_layer_grid(
    weights: Tensor | Sequence[Tensor],
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    cmap: str = "viridis",
) -> Figure:
    """A grid of heat maps, one row per layer and one column per head, on one colour scale.

    Args:
        weights: one example's weights of every layer, stacked or as a list of ``(H, Lq, Lk)``
            maps (e.g. ``[r.weights[0] for r in recording]``).
        row_labels: a token per query, shown on the first column.
        col_labels: a token per key, shown on the last row.
        title: figure title.
        cmap: a matplotlib colour map name.

    Shape:
        - weights: ``(num_layers, H, Lq, Lk)``

    Returns:
        The matplotlib ``Figure``; the axes of layer ``l``, head ``h`` is ``fig.axes[l * H + h]``.

    Example:
        >>> import torch
        >>> fig = plot_head_layer_grid(torch.rand(2, 3, 4, 4).softmax(-1))
        >>> len(fig.axes), fig.axes[4].get_title()
        (6, 'layer 1, head 1')
    """
    if isinstance(weights, (list, tuple)):
        if not weights:
            raise ValueError("weights must hold at least one layer")
        maps = [_as_tensor(w, f"weights[{i}]", ndim=3, layout="(H, Lq, Lk)")
                for i, w in enumerate(weights)]
        if len({tuple(m.shape) for m in maps}) != 1:
            raise ValueError(f"weights must have one shape (H, Lq, Lk) in every layer, got "
                             f"{[tuple(m.shape) for m in maps]}")
        w = torch.stack(maps)
    else:
        w = _as_tensor(weights, "weights", ndim=4, layout="(num_layers, H, Lq, Lk)")
    layers, heads, lq, lk = w.shape
    if 0 in w.shape:
        raise ValueError(f"weights must not be empty, got shape {tuple(w.shape)}")
    rows = _check_labels(row_labels, "row_labels", lq, "query of weights")
    cols = _check_labels(col_labels, "col_labels", lk, "key of weights")
    plt = _pyplot()
    fig, axes = plt.subplots(layers, heads, figsize=(2.2 * heads + 0.8, 2.2 * layers + 0.6),
                             squeeze=False)
    top = float(w.max()) or 1.0
    for layer in range(layers):
        for h in range(heads):
            ax = axes[layer][h]
            ax.imshow(w[layer, h].numpy(), cmap=cmap, vmin=0.0, vmax=top,
                      interpolation="nearest")
            ax.set_title(f"layer {layer}, head {h}", fontsize=8)
            ax.set_xticks(range(lk), labels=cols if layer == layers - 1 and cols else [""] * lk,
                          rotation=90, fontsize=6)
            ax.set_yticks(range(lq), labels=rows if h == 0 and rows else [""] * lq, fontsize=6)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_token_scores(
    scores: Tensor,
    tokens: Sequence[str],
    *,
    title: str | None = None,
    ylabel: str = "score",
    ax: Axes | None = None,
) -> Figure:
    """One bar per token: a relevance, rollout row or attention row over a sequence.

    Args:
        scores: a score per token.
        tokens: the token of each position.
        title: axes title.
        ylabel: y axis label.
        ax: the axes to draw on (a new figure when ``None``).

    Shape:
        - scores: ``(L,)``

    Returns:
        The matplotlib ``Figure``; bar ``i`` has height ``scores[i]``.

    Example:
        >>> import torch
        >>> fig = plot_token_scores(torch.tensor([0.2, 0.8]), ["a", "b"])
        >>> [round(float(p.get_height()), 6) for p in fig.axes[0].patches]
        [0.2, 0.8]
    """
    s = _as_tensor(scores, "scores", ndim=1, layout="(L,)")
    names = _check_labels(tokens, "tokens", s.shape[0], "score")
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(max(3.0, 0.32 * len(names) + 1.2), 2.8))
    ax.bar(range(len(names)), s.tolist(), color="tab:blue")
    ax.set_xticks(range(len(names)), labels=names, rotation=90)
    ax.set_ylabel(ylabel)
    ax.axhline(0.0, color="black", lw=0.6)
    if title:
        ax.set_title(title)
    fig: Figure = ax.figure  # type: ignore[assignment]
    fig.tight_layout()
    return fig


def plot_rollout(
    weights: Tensor,
    *,
    tokens: Sequence[str] | None = None,
    query: int | None = None,
    title: str | None = None,
) -> Figure:
    """A rollout or attention-flow map (Abnar & Zuidema 2020): the ``(L, L)`` map, or one row of
    it as bars.

    "Quantifying Attention Flow in Transformers", https://arxiv.org/abs/2005.00928. Row ``i``
    of :func:`attnlab.interpret.rollout` (or :func:`attnlab.interpret.attention_flow`) is how much
    output position ``i`` draws on each input token through every layer.

    Args:
        weights: the rollout (or flow) of one example.
        tokens: the token of each position.
        query: when given, draw only row ``query`` as one bar per token (e.g. the ``[CLS]`` row).
        title: figure title.

    Shape:
        - weights: ``(L, L)``

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> import torch
        >>> fig = plot_rollout(torch.eye(3), tokens=["[CLS]", "a", "b"], query=0)
        >>> [float(p.get_height()) for p in fig.axes[0].patches]
        [1.0, 0.0, 0.0]
    """
    w = _as_tensor(weights, "weights", ndim=2, layout="(L, L)")
    if w.shape[0] != w.shape[1]:
        raise ValueError(f"weights must be a square (L, L) map, got shape {tuple(w.shape)}")
    names = _check_labels(tokens, "tokens", w.shape[0], "position of weights")
    if query is not None:
        if isinstance(query, bool) or not isinstance(query, int) or not 0 <= query < w.shape[0]:
            raise ValueError(f"query must be a position in [0, {w.shape[0]}), got {query!r}")
        labels = names or [str(i) for i in range(w.shape[0])]
        return plot_token_scores(
            w[query], labels, ylabel="rollout weight",
            title=title or f"rollout of position {query} ({labels[query]})",
        )
    ax = plot_attention(w, row_labels=names or None, col_labels=names or None, title=title)
    ax.set_xlabel("input token")
    ax.set_ylabel("output position")
    fig: Figure = ax.figure  # type: ignore[assignment]
    return fig


def plot_hop_attention(
    maps: Sequence[Tensor],
    sentence_labels: Sequence[Sequence[str]],
    *,
    titles: Sequence[str] | None = None,
) -> Figure:
    """Memory-network hop maps: per question, the attention of each hop over the memories.

    Sukhbaatar et al., "End-To-End Memory Networks", https://arxiv.org/abs/1503.08895, Figure 2:
    the probabilities ``p_i`` (eq. 1) of every hop over the story sentences.

    Args:
        maps: per question, the ``(K, S)`` weights of its ``K`` hops over ``S`` sentences.
        sentence_labels: per question, the ``S`` sentences (shown under the columns).
        titles: per question, a panel title (the question and answer).

    Returns:
        The matplotlib ``Figure``, one panel per question, rows labelled ``hop 1`` ... ``hop K``.

    Example:
        >>> import torch
        >>> fig = plot_hop_attention([torch.tensor([[0.9, 0.1], [0.2, 0.8]])],
        ...                          [["mary went home", "john left"]])
        >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
        ['hop 1', 'hop 2']
    """
    if not maps:
        raise ValueError("maps must hold at least one (K, S) map")
    checked = [_as_tensor(m, f"maps[{i}]", ndim=2, layout="(K, S)") for i, m in enumerate(maps)]
    if len(sentence_labels) != len(checked):
        raise ValueError(f"sentence_labels must hold one list per map ({len(checked)}), got "
                         f"{len(sentence_labels)}")
    names = [_check_labels(s, f"sentence_labels[{i}]", m.shape[1], "sentence (column)")
             for i, (m, s) in enumerate(zip(checked, sentence_labels, strict=True))]
    heads = _check_labels(titles, "titles", len(checked), "map") if titles is not None else None
    plt = _pyplot()
    fig, axes = plt.subplots(len(checked), 1, figsize=(7.5, 2.4 * len(checked)), squeeze=False)
    for i, (ax, w) in enumerate(zip(axes[:, 0], checked, strict=True)):
        ax.imshow(w.numpy(), aspect="auto", cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(w.shape[1]), names[i], rotation=35, ha="right", fontsize=6)
        ax.set_yticks(range(w.shape[0]), [f"hop {k + 1}" for k in range(w.shape[0])])
        if heads is not None:
            ax.set_title(heads[i], fontsize=7)
    fig.tight_layout()
    return fig




def plot_attention_maps(
    maps: Sequence[Tensor],
    *,
    row_labels: Sequence[Sequence[str]] | None = None,
    col_labels: Sequence[Sequence[str]] | None = None,
    titles: Sequence[str] | None = None,
    xlabel: str = "key",
    ylabel: str = "query",
) -> Figure:
    """Several attention maps side by side (e.g. a few nodes' or sentences' maps), one panel
    each, drawn as :func:`plot_attention` with its colour bar.

    Args:
        maps: ``(Lq_p, Lk_p)`` maps, one per panel (sizes may differ).
        row_labels: per panel, a label per row.
        col_labels: per panel, a label per column.
        titles: per panel, a title.
        xlabel: x axis label of every panel.
        ylabel: y axis label of every panel.

    Returns:
        The matplotlib ``Figure``; panel ``p`` is ``fig.axes[p]`` (the colour bars follow).

    Example:
        >>> import torch
        >>> fig = plot_attention_maps([torch.eye(2), torch.ones(1, 3) / 3], titles=["a", "b"])
        >>> [ax.get_title() for ax in fig.axes[:2]]
        ['a', 'b']
    """
    if not maps:
        raise ValueError("maps must hold at least one (Lq, Lk) map")
    checked = [_as_tensor(m, f"maps[{p}]", ndim=2, layout="(Lq, Lk)") for p, m in enumerate(maps)]
    count = len(checked)
    for name, labels in (("row_labels", row_labels), ("col_labels", col_labels)):
        if labels is not None and len(labels) != count:
            raise ValueError(f"{name} must hold one list per map ({count}), got {len(labels)}")
    heads = _check_labels(titles, "titles", count, "map") if titles is not None else None
    widths = [0.28 * m.shape[1] + 1.8 for m in checked]
    height = max(3.0, max(0.28 * m.shape[0] + 1.6 for m in checked))
    fig, axes = _pyplot().subplots(1, count, figsize=(sum(widths) + 0.4, height), squeeze=False,
                                   gridspec_kw={"width_ratios": widths})
    for p, (ax, m) in enumerate(zip(axes[0], checked, strict=True)):
        plot_attention(
            m,
            row_labels=None if row_labels is None else row_labels[p],
            col_labels=None if col_labels is None else col_labels[p],
            title=None if heads is None else heads[p],
            ax=ax,
        )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig
