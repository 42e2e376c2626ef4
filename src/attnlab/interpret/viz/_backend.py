"""The one gate to matplotlib, figure saving, and the argument checks shared by every view.

Matplotlib is optional (``pip install 'attnlab[plot]'``). It is imported only when a figure is
drawn, always through :func:`_pyplot`, which raises :class:`PlottingUnavailableError` when it
cannot be imported (an experiment's ``ctx.plotting(name)`` block turns that into a skipped figure).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["PlottingUnavailableError", "close_figure", "save_figure"]


class PlottingUnavailableError(ImportError):
    """Matplotlib (the optional ``plot`` extra) cannot be imported, so no figure can be drawn.

    A subclass of ``ImportError``: code that caught ``ImportError`` around plotting still works.
    The message names the fix, ``pip install 'attnlab[plot]'``; the import error that caused it
    is chained as ``__cause__``.
    """


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on a non-interactive backend: the one gate to matplotlib.

    Every figure of the package is drawn in :mod:`attnlab.interpret.viz`, which gets pyplot here
    rather than importing matplotlib itself, so a missing matplotlib always surfaces as one error
    type.

    Raises:
        PlottingUnavailableError: matplotlib (or its pyplot) cannot be imported.
    """
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "png"):
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise PlottingUnavailableError(
            f"plotting needs matplotlib, which cannot be imported ({error}): "
            "pip install 'attnlab[plot]'"
        ) from error
    return plt


def close_figure(fig_or_ax: Any) -> None:
    """Close a figure (or the figure of an axes) so that pyplot releases its memory.

    Example:
        >>> import torch
        >>> from attnlab.interpret.viz import plot_alignment
        >>> close_figure(plot_alignment(torch.eye(2), source=["a", "b"], target=["x", "y"]))
    """
    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    _pyplot().close(fig)


def save_figure(fig_or_ax: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Save a figure (or the figure of an axes) to ``path``, creating folders; close it.

    Example:
        >>> import tempfile, torch
        >>> from attnlab.interpret.viz import plot_alignment
        >>> fig = plot_alignment(torch.eye(2), source=["a", "b"], target=["x", "y"])
        >>> save_figure(fig, tempfile.mkdtemp() + "/align.png").name
        'align.png'
    """
    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# argument checks shared by the views


def _as_tensor(
    values: Any, name: str, *, ndim: int | Sequence[int], layout: str, allow_nan: bool = False
) -> Tensor:
    """``values`` as a float CPU tensor of one of the ranks ``ndim`` (without NaN unless
    ``allow_nan``)."""
    try:
        t = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{name} must be a tensor or array of shape {layout}: {error}") from error
    t = t.detach().float().cpu()
    ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if t.dim() not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"{name} must be a {want} map of shape {layout}, got shape "
                         f"{tuple(t.shape)}")
    if not allow_nan and t.isnan().any():
        raise ValueError(f"{name} must not contain NaN")
    return t


def _as_matrix(weights: Any, name: str = "weights") -> Tensor:
    """A 2-D ``(Lq, Lk)`` map as a float CPU tensor."""
    return _as_tensor(weights, name, ndim=2, layout="(Lq, Lk)", allow_nan=True)


def _check_labels(labels: Sequence[str] | None, name: str, size: int, what: str) -> list[str]:
    """``labels`` as a list of strings, one per ``what`` (``size`` of them); empty when ``None``."""
    if labels is None:
        return []
    if isinstance(labels, str):
        raise TypeError(f"{name} must be a sequence of labels, not one string")
    out = [str(x) for x in labels]
    if len(out) != size:
        raise ValueError(f"{name} must hold one label per {what} ({size}), got {len(out)}")
    return out


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value
