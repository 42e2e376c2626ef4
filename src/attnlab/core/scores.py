"""Alignment (score) functions of the survey's Table 2 (Chaudhari et al., arXiv:1904.02874).

A score maps a query ``(B, Lq, Dq)`` and keys ``(B, Lk, Dk)`` to scores ``(B, Lq, Lk)``.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["Score"]


class Score(nn.Module):
    """Base class of alignment functions: ``forward(query, key) -> (B, Lq, Lk)`` scores.

    Subclasses whose score factorises as ``scale * f(q) . g(k)`` override :meth:`factorize` so that
    :func:`attnlab.attend` can compute weights with one matmul, or dispatch to
    ``F.scaled_dot_product_attention`` when weights are not requested.
    """

    def forward(self, query: Tensor, key: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def factorize(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor, float] | None:
        """``(f(q), g(k), scale)`` with ``score = scale * f(q) @ g(k)^T``, or ``None``."""
        return None
