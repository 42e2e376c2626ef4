"""Pointer networks: the pointer distribution of every decoding step next to the points it
points at (Vinyals et al. 2015)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import Tensor

from attnlab.interpret.viz._backend import _as_tensor, _check_labels, _pyplot
from attnlab.interpret.viz.heatmaps import plot_attention

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_pointer_distributions"]


def _check_cycle(indices: Sequence[int] | None, name: str, n: int) -> list[int]:
    if indices is None:
        return []
    out = [int(i) for i in indices]
    if any(not 0 <= i < n for i in out):
        raise ValueError(f"{name} must hold indices of points in [0, {n}), got {out}")
    return out


def plot_pointer_distributions(
    weights: Tensor,
    *,
    input_labels: Sequence[str],
    step_labels: Sequence[str] | None = None,
    points: Tensor | None = None,
    target: Sequence[int] | None = None,
    predicted: Sequence[int] | None = None,
    title: str = "pointer distributions",
    points_title: str | None = None,
    target_label: str = "true",
    predicted_label: str = "predicted",
) -> Figure:
    """The pointer distribution of each decoding step (rows) over the inputs (columns), and,
    for 2-D point sets, the points with the true and the predicted polygon.

    Vinyals, Fortunato, Jaitly, "Pointer Networks", https://arxiv.org/abs/1506.03134, eq. 3:
    ``p(C_i | C_1, ..., C_{i-1}, P) = softmax(u^i)`` over the input positions.

    Args:
        weights: step ``i``'s distribution over the inputs (an end-of-output position included
            where the model has one).
        input_labels: a label per input (column), e.g. ``["stop", "0", "1", ...]``.
        step_labels: a label per decoding step (row), e.g. the input it chose.
        points: the input points, drawn in a left panel (2-D only).
        target: indices into ``points`` of the true cycle (drawn closed, green).
        predicted: indices into ``points`` of the predicted cycle (drawn closed, red).
        title: title of the distribution panel.
        points_title: title of the points panel.
        target_label: legend entry of the true cycle.
        predicted_label: legend entry of the predicted cycle.

    Shape:
        - weights: ``(T, n_in)``
        - points: ``(n, 2)``

    Returns:
        The matplotlib ``Figure``; the heat map is the last image of the last panel but one
        (the colour bar takes the last axes).

    Example:
        >>> import torch
        >>> fig = plot_pointer_distributions(torch.eye(3), input_labels=["stop", "0", "1"])
        >>> fig.axes[0].images[0].get_array().shape
        (3, 3)
    """
    w = _as_tensor(weights, "weights", ndim=2, layout="(T, n_in)")
    cols = _check_labels(input_labels, "input_labels", w.shape[1], "input (column) of weights")
    rows = (_check_labels(step_labels, "step_labels", w.shape[0], "step (row) of weights")
            if step_labels is not None else None)
    xy = None
    if points is not None:
        xy = _as_tensor(points, "points", ndim=2, layout="(n, 2)")
        if xy.shape[1] != 2:
            raise ValueError(f"points must be (n, 2), got shape {tuple(xy.shape)}")
    true_cycle = _check_cycle(target, "target", xy.shape[0] if xy is not None else 0)
    pred_cycle = _check_cycle(predicted, "predicted", xy.shape[0] if xy is not None else 0)
    plt = _pyplot()
    heat_width = 0.28 * w.shape[1] + 1.8
    heat_height = max(2.8, 0.28 * w.shape[0] + 1.4)
    if xy is None:
        fig, right = plt.subplots(figsize=(heat_width, heat_height))
    else:
        fig, (left, right) = plt.subplots(
            1, 2, figsize=(4.0 + heat_width, max(4.2, heat_height)),
            gridspec_kw={"width_ratios": [4.0, heat_width]},
        )
        left.scatter(xy[:, 0].tolist(), xy[:, 1].tolist(), s=14, color="0.3")
        for j, (x, y) in enumerate(xy.tolist()):
            left.annotate(str(j), (x, y), fontsize=7, xytext=(2, 2), textcoords="offset points")
        for cycle, style in ((true_cycle, {"color": "tab:green", "lw": 3, "alpha": 0.4,
                                           "label": target_label}),
                             (pred_cycle, {"color": "tab:red", "lw": 1, "marker": "x",
                                           "label": predicted_label})):
            if cycle:
                closed = [*cycle, cycle[0]]
                left.plot(xy[closed, 0].tolist(), xy[closed, 1].tolist(), **style)
        left.set_aspect("equal")
        if points_title:
            left.set_title(points_title)
        if true_cycle or pred_cycle:
            left.legend(fontsize=7, loc="lower right")
    plot_attention(w, row_labels=rows, col_labels=cols, title=title, ax=right)
    right.set_xlabel("input (pointer target)")
    right.set_ylabel("output step")
    fig.tight_layout()
    return fig
