"""Categorical sampling: one key per query, drawn from attention weights (hard attention).

Xu et al., "Show, Attend and Tell: Neural Image Caption Generation with Visual Attention",
ICML 2015, arXiv:1502.03044, section 4.1: stochastic hard attention draws the attended location
from the weights and learns from its log-probability. :func:`sample_categorical` draws,
:func:`argmax_categorical` takes the most likely key; both follow the no-valid-key and
non-finite conventions of :mod:`attnlab.core.distributions`, which re-exports them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from attnlab.core.checks import check_scores, check_scores_mask

__all__ = ["CategoricalSample", "argmax_categorical", "sample_categorical"]



class CategoricalSample(NamedTuple):
    """One key per row, drawn from attention weights.

    Attributes:
        indices: ``(...,)`` int64, the chosen key of each row (0 for a row with no valid key).
        one_hot: ``(..., K)`` in the weights' dtype, the one-hot vector of ``indices`` (all zero
            for a row with no valid key); carries no gradient.
        log_prob: ``(...,)``, ``log p(indices)`` under the weights renormalised over the valid
            keys (0 for a row with no valid key); differentiable with respect to the weights,
            the term of the REINFORCE gradient of stochastic hard attention.
    """

    indices: Tensor
    one_hot: Tensor
    log_prob: Tensor


def _categorical_probs(weights: object, mask: object) -> tuple[Tensor, Tensor, Tensor]:
    """Validated weights (masked keys and non-finite rows zeroed), valid rows, finite rows."""
    weights = check_scores(weights, "weights")
    checked = check_scores_mask(mask, weights)
    probs = weights if checked is None else weights.masked_fill(~checked, 0.0)
    finite = torch.isfinite(probs)
    # A value check: it reads the data, so it is skipped while tracing (torch.compile and
    # torch.export), like the non-finite check of ``check_attn_bias``.
    if not torch.compiler.is_compiling() and bool(((probs < 0) & finite).any()):
        raise ValueError("weights must be >= 0 (probabilities, e.g. a softmax output)")
    # A row holding NaN or inf draws nothing: its outputs become NaN (the non-finite rule of
    # every module: a bad value spoils its own row, never the batch).
    finite_rows = finite.all(dim=-1)
    probs = torch.where(finite_rows.unsqueeze(-1), probs, torch.zeros_like(probs))
    valid = (probs.detach().sum(dim=-1) > 0) & finite_rows
    return probs, valid, finite_rows


def _no_key_sample(probs: Tensor) -> CategoricalSample:
    """The sample of rows with no key at all (``K = 0``): the no-valid-key convention."""
    indices = torch.zeros(probs.shape[:-1], dtype=torch.long, device=probs.device)
    return CategoricalSample(indices, probs.detach().clone(), probs.sum(dim=-1))


def _categorical_result(
    probs: Tensor, valid: Tensor, finite_rows: Tensor, indices: Tensor
) -> CategoricalSample:
    indices = indices.masked_fill(~valid, 0)
    one_hot = F.one_hot(indices, probs.shape[-1]).to(probs.dtype)
    one_hot = one_hot * valid.unsqueeze(-1).to(probs.dtype)
    chosen = probs.gather(-1, indices.unsqueeze(-1)).squeeze(-1)
    total = probs.sum(dim=-1)
    # Rows with no valid key take log(1) - log(1) = 0; torch.where keeps log(0) (and its
    # infinite derivative) out of both the forward and the backward pass.
    ones = torch.ones_like(total)
    log_prob = torch.where(valid, chosen, ones).log() - torch.where(valid, total, ones).log()
    nan = torch.full_like(log_prob, float("nan"))
    one_hot = torch.where(finite_rows.unsqueeze(-1), one_hot, nan.unsqueeze(-1))
    log_prob = torch.where(finite_rows, log_prob, nan)
    return CategoricalSample(indices, one_hot, log_prob)


def sample_categorical(
    weights: Tensor,
    *,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> CategoricalSample:
    """Draw one key per row from attention weights: stochastic hard attention.

    Xu et al., "Show, Attend and Tell: Neural Image Caption Generation with Visual Attention",
    ICML 2015, arXiv:1502.03044 (section 4.1, eq. 8-9):
    :math:`s_t \\sim \\operatorname{Multinoulli}_L(\\{\\alpha_i\\})` and the context is the
    chosen annotation; the learning rule (eq. 10-12) needs :math:`\\log p(s_t \\mid a)`, returned
    as ``log_prob``.

    Args:
        weights: ``(..., K)`` non-negative weights, e.g. the output of ``masked_softmax``; each
            row is renormalised over its valid keys (as ``torch.distributions.Categorical(probs=)``
            does).
        mask: boolean, ``True`` = may attend, broadcastable to ``weights``; masked keys are
            never selected.
        generator: a ``torch.Generator`` on the weights' device, for reproducible draws.

    Shape:
        weights: ``(..., K)``; indices and log_prob: ``(...,)``; one_hot: ``(..., K)``.

    Returns:
        :class:`CategoricalSample`. Convention for a row with no valid key (all masked, all
        weights 0, or no key at all, ``K = 0``): ``indices = 0``, an all-zero ``one_hot`` and
        ``log_prob = 0`` with a zero gradient, so such rows contribute nothing (never NaN).

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> w = torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
        >>> m = torch.tensor([[True, True, True], [False, False, False]])
        >>> s = sample_categorical(w, mask=m, generator=g)
        >>> s.indices, s.one_hot, s.log_prob
        (tensor([1, 0]), tensor([[0., 1., 0.],
                [0., 0., 0.]]), tensor([0., 0.]))
    """
    probs, valid, finite_rows = _categorical_probs(weights, mask)
    if probs.shape[-1] == 0:
        return _no_key_sample(probs)
    rows = probs.detach().reshape(-1, probs.shape[-1])
    rows = rows.to(torch.float64 if rows.dtype == torch.float64 else torch.float32)
    # multinomial rejects all-zero rows: give them a uniform row, discarded below
    rows = torch.where(valid.reshape(-1, 1), rows, torch.ones_like(rows))
    indices = torch.multinomial(rows, 1, generator=generator).reshape(valid.shape)
    return _categorical_result(probs, valid, finite_rows, indices)


def argmax_categorical(weights: Tensor, *, mask: Tensor | None = None) -> CategoricalSample:
    """The deterministic counterpart of :func:`sample_categorical`: the most likely key per row.

    Used at evaluation time for stochastic hard attention (Xu et al. 2015, arXiv:1502.03044);
    ties go to the first key. Same conventions and outputs as :func:`sample_categorical`.

    Example:
        >>> import torch
        >>> argmax_categorical(torch.tensor([[0.2, 0.7, 0.1]])).indices
        tensor([1])
    """
    probs, valid, finite_rows = _categorical_probs(weights, mask)
    if probs.shape[-1] == 0:
        return _no_key_sample(probs)
    return _categorical_result(probs, valid, finite_rows, probs.detach().argmax(dim=-1))
