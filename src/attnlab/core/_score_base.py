"""The base class of the alignment (score) functions, and the argument helpers they share.

Chaudhari et al., "An Attentive Survey of Attention Models" (arXiv:1904.02874, section 3, eq. 1):
a score is ``e_ij = a(q_i, k_j)``. :class:`Score` is defined here so that the score families
(:mod:`attnlab.core.scores`, :mod:`attnlab.core.additive_scores`) build on one base without
importing each other; :mod:`attnlab.core.scores` re-exports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

from attnlab.core.checks import check_dim, check_same_batch, check_size, check_tensor
from attnlab.core.init_args import AttnModule

__all__ = ["Activation", "Score"]

Activation = Callable[[Tensor], Tensor]


class Score(AttnModule):
    """Base class of alignment functions: ``forward(query, key) -> (B, Lq, Lk)`` scores.

    Subclasses whose score factorises as ``scale * f(q) . g(k)`` override :meth:`factorize` so that
    :func:`attnlab.attend` can compute weights with one matmul, or dispatch to
    ``F.scaled_dot_product_attention`` when weights are not requested.

    Attributes:
        query_dim: the feature size ``Dq`` the score was built for (``None``: any).
        key_dim: the feature size ``Dk`` the score was built for (``None``: any).
        requires_equal_dims: ``True`` when the score needs ``Dq == Dk`` (dot products, cosine).
    """

    requires_equal_dims: ClassVar[bool] = False
    query_dim: int | None = None
    key_dim: int | None = None

    def forward(self, query: Tensor, key: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Scores ``(B, Lq, Lk)`` of queries ``(B, Lq, Dq)`` against keys ``(B, Lk, Dk)``."""
        raise NotImplementedError

    def factorize(self, query: Tensor, key: Tensor) -> tuple[Tensor, Tensor, float] | None:
        """``(f(q), g(k), scale)`` with ``score = scale * f(q) @ g(k)^T``, or ``None``."""
        return None

    def _check_inputs(self, query: Tensor, key: Tensor) -> None:
        """Validate ``query (B, Lq, Dq)`` and ``key (B, Lk, Dk)`` against this score."""
        check_tensor(query, "query", ndim=3, layout="(B, Lq, Dq)", like=("", self))
        check_tensor(key, "key", ndim=3, layout="(B, Lk, Dk)", like=("query", query))
        check_same_batch(query=query, key=key)
        if self.query_dim is not None:
            check_dim(query, -1, self.query_dim, "query", "query_dim")
        if self.key_dim is not None:
            check_dim(key, -1, self.key_dim, "key", "key_dim")
        if self.requires_equal_dims and query.shape[-1] != key.shape[-1]:
            raise ValueError(
                f"{type(self).__name__} needs query and key of the same feature size, got "
                f"query (..., {query.shape[-1]}) and key (..., {key.shape[-1]})"
            )


def factory_kwargs(device: torch.device | str | None, dtype: torch.dtype | None) -> dict[str, Any]:
    return {"device": device, "dtype": dtype}


def checked_dims(query_dim: int, key_dim: int | None) -> tuple[int, int]:
    """Checked ``(query_dim, key_dim)``; ``key_dim`` defaults to ``query_dim``."""
    query_dim = check_size(query_dim, "query_dim")
    return query_dim, query_dim if key_dim is None else check_size(key_dim, "key_dim")
