"""The typed container every attention module returns."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

__all__ = ["AttentionOutput"]


class AttentionOutput(NamedTuple):
    """Result of an attention step: the context vectors and the attention weights.

    This is the survey's general model (Chaudhari et al., "An Attentive Survey of Attention
    Models", arXiv:1904.02874, section 3): the context ``c_i = sum_j a_ij v_j`` and the weights
    ``a_ij`` that produced it. Every module of the library returns a ``NamedTuple`` whose first
    two fields are ``context`` and ``weights``; family-specific extras follow by name.

    Attributes:
        context: ``(B, Lq, Dv)`` (``(B, Lq, D)`` after an output projection).
        weights: ``(B, Lq, Lk)`` for single-head modules, ``(B, H, Lq, Lk)`` for multi-head ones,
            never averaged over heads; ``None`` only when ``need_weights=False`` was asked for.
            Weights are ``>= 0``, sum to 1 over the valid keys of a query, are exactly 0 at masked
            keys, and a query with no valid key has an all-zero row (and a zero context).

    Example:
        >>> import torch
        >>> out = AttentionOutput(torch.zeros(1, 2, 3), torch.full((1, 2, 4), 0.25))
        >>> context, weights = out
        >>> tuple(weights.shape)
        (1, 2, 4)
    """

    context: Tensor
    weights: Tensor | None
