"""Deletion and insertion curves: how faithful is a ranking of the inputs to the model?

Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box Models",
https://arxiv.org/abs/1806.07421, section 4.1 ("deletion" and "insertion" metrics), applied to
any inputs with a position axis (tokens, pixels, nodes):

* **deletion**: starting from the input, replace the positions by a baseline in the order the
  ranking gives (most important first) and follow the probability of the target; a faithful
  ranking makes it fall fast, so a *low* area under the curve is good;
* **insertion**: starting from the baseline, put the positions back in the same order; a
  faithful ranking makes the probability rise fast, so a *high* area is good.

The curve has ``steps + 1`` points, at the fractions ``0, 1/steps, ..., 1`` of the (valid)
positions, and the area under it is the trapezoid rule over ``[0, 1]``: with probabilities in
``[0, 1]`` the area is in ``[0, 1]`` too, whatever the number of positions or steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["FAITHFULNESS_MODES", "FaithfulnessCurve", "faithfulness"]

FAITHFULNESS_MODES: tuple[str, ...] = ("deletion", "insertion")


class FaithfulnessCurve(NamedTuple):
    """Result of :func:`faithfulness`.

    Attributes:
        auc: ``(B,)`` area under each curve, over fractions ``[0, 1]``.
        curve: ``(B, steps + 1)`` target probability after deleting / inserting each fraction.
        fractions: ``(steps + 1,)`` the fractions ``k / steps``.
    """

    auc: Tensor
    curve: Tensor
    fractions: Tensor


def faithfulness(
    predict: Callable[[Tensor], Tensor],
    inputs: Tensor,
    ranking: Tensor,
    *,
    steps: int,
    mode: str = "deletion",
    baseline: float | Tensor = 0.0,
    mask: Tensor | None = None,
) -> FaithfulnessCurve:
    """The deletion or insertion curve of ``ranking`` and the area under it.

    Args:
        predict: maps inputs shaped like ``inputs`` to the probability of the explained target,
            ``(B,)`` in ``[0, 1]`` (e.g. ``lambda x: model(x).softmax(-1)[rows, label]``); it is
            called ``steps + 1`` times, on the whole batch each time, under ``torch.no_grad``.
        inputs: ``(B, L, ...)``; dimension 1 holds the ``L`` positions that are removed or
            inserted (token ids, embeddings, flattened pixels ...).
        ranking: ``(B, L)`` scores, higher = more important: positions go in decreasing score
            order, ties broken by position.
        steps: number of steps (``>= 1``): step ``k`` deletes or inserts the first
            ``round(k * n / steps)`` positions of the ranking (``n``: valid positions).
        mode: ``"deletion"`` or ``"insertion"``.
        baseline: what a removed position holds: a scalar (a padding id, 0.0) or a tensor
            broadcastable to ``inputs`` (e.g. a mean embedding ``(D,)``).
        mask: ``(B, L)`` boolean, ``True`` = a real position; padding is never changed and not
            counted (default: every position is real).

    Returns:
        :class:`FaithfulnessCurve` ``(auc (B,), curve (B, steps + 1), fractions)``.

    Raises:
        ValueError: on shapes that do not fit, or when ``predict`` returns values outside
            ``[0, 1]`` or of the wrong shape.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
        >>> predict = lambda x: torch.sigmoid(8 * x[:, 3] - 4)  # only position 3 matters
        >>> right = faithfulness(predict, x, torch.tensor([[0.0, 0, 0, 1]]), steps=4)
        >>> wrong = faithfulness(predict, x, torch.tensor([[1.0, 0, 0, 0]]), steps=4)
        >>> bool(right.auc < wrong.auc), right.curve.shape
        (True, torch.Size([1, 5]))
    """
    if mode not in FAITHFULNESS_MODES:
        raise ValueError(f"mode must be one of {FAITHFULNESS_MODES}, got {mode!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if not isinstance(inputs, Tensor) or inputs.dim() < 2:
        raise ValueError("inputs must be a tensor (B, L, ...) with the positions on dimension 1")
    batch, length = inputs.shape[0], inputs.shape[1]
    if not isinstance(ranking, Tensor) or tuple(ranking.shape) != (batch, length):
        got = tuple(ranking.shape) if isinstance(ranking, Tensor) else type(ranking).__name__
        raise ValueError(f"ranking must have shape (B, L) = {(batch, length)}, got {got}")
    if mask is None:
        valid = torch.ones(batch, length, dtype=torch.bool, device=inputs.device)
    elif mask.dtype != torch.bool or tuple(mask.shape) != (batch, length):
        raise ValueError(f"mask must be a boolean (B, L) = {(batch, length)} tensor")
    else:
        valid = mask.to(inputs.device)
    scores = torch.where(valid, ranking.to(inputs.device).double(), float("-inf"))
    order = scores.argsort(dim=1, descending=True, stable=True)  # (b, l): rank -> position
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(length, device=inputs.device).expand(batch, length)
    )  # (b, l): position -> rank
    counts = valid.sum(1)  # (b,)
    fill = torch.as_tensor(baseline, dtype=inputs.dtype, device=inputs.device)
    extra = (1,) * (inputs.dim() - 2)
    curve = []
    with torch.no_grad():
        for k in range(steps + 1):
            taken = (k * counts + steps // 2) // steps  # round(k n / steps), halves up
            chosen = (rank < taken[:, None]) & valid  # the first `taken` positions of the ranking
            replace = chosen if mode == "deletion" else valid & ~chosen
            x = torch.where(replace.view(batch, length, *extra), fill, inputs)
            p = predict(x)
            if not isinstance(p, Tensor) or tuple(p.shape) != (batch,):
                got = tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__
                raise ValueError(f"predict must return (B,) = ({batch},) probabilities, got {got}")
            if bool(((p < 0) | (p > 1)).any()) or bool(p.isnan().any()):
                raise ValueError(
                    "predict must return probabilities in [0, 1] (apply a softmax or sigmoid "
                    "to logits)"
                )
            curve.append(p.double())
    values = torch.stack(curve, dim=1)  # (b, k)
    fractions = torch.arange(steps + 1, dtype=torch.float64, device=values.device) / steps
    auc = ((values[:, 1:] + values[:, :-1]) / 2).sum(1) / steps  # trapezoid rule on [0, 1]
    return FaithfulnessCurve(auc, values, fractions)
