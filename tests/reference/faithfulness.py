"""Paper-literal deletion and insertion curves: one example, one step at a time.

Petsiuk, Das & Saenko, "RISE" (arXiv:1806.07421), section 4.1: remove (deletion) or add
(insertion) the inputs in the order of their importance, follow the probability of the class,
and take the area under the curve. Here step ``k`` of ``K`` changes the ``round(k n / K)`` most
important real positions (halves round up), and the area is the trapezoid rule over the fractions
``0, 1/K, ..., 1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


def faithfulness_loop(
    predict: Callable[[Tensor], Tensor],
    inputs: Tensor,
    ranking: Tensor,
    *,
    steps: int,
    mode: str,
    baseline: float,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``(auc (B,), curve (B, steps + 1))``; ``predict`` is called one example at a time."""
    batch, length = ranking.shape
    aucs, curves = [], []
    for b in range(batch):
        real = [i for i in range(length) if mask is None or bool(mask[b, i])]
        # most important first; equal scores keep the position order
        order = sorted(real, key=lambda i: (-float(ranking[b, i]), i))
        curve = []
        for k in range(steps + 1):
            count = math.floor(k * len(real) / steps + 0.5)
            chosen = set(order[:count])
            x = inputs[b : b + 1].clone()
            for i in real:
                removed = (i in chosen) if mode == "deletion" else (i not in chosen)
                if removed:
                    x[0, i] = baseline
            curve.append(float(predict(x)[0]))
        area = sum((curve[k] + curve[k + 1]) / 2 for k in range(steps)) / steps
        aucs.append(area)
        curves.append(curve)
    return torch.tensor(aucs, dtype=torch.float64), torch.tensor(curves, dtype=torch.float64)
