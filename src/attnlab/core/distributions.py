"""Distribution functions: map alignment scores to attention weights.

Every distribution here is a callable ``(scores, mask=None) -> weights`` over the last dimension
and goes through :func:`attnlab.core.masks.masked_normalize`, so masked keys get exactly 0 and
rows with no valid key get zeros (never NaN).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from attnlab.core.masks import masked_normalize, masked_softmax

__all__ = [
    "Distribution",
    "LinearNormalization",
    "Softmax",
    "resolve_distribution",
]


@runtime_checkable
class Distribution(Protocol):
    """Protocol of a distribution function: ``(scores, mask=None) -> weights`` over ``dim=-1``."""

    def __call__(self, scores: Tensor, mask: Tensor | None = None) -> Tensor: ...


class Softmax:
    """Softmax with temperature ``T``: ``a = softmax(s / T)`` (Bahdanau et al. 2015, eq. 6).

    Args:
        temperature: ``T > 0``; lower is sharper.

    Example:
        >>> import torch
        >>> Softmax(temperature=0.5)(torch.tensor([[0.0, 1.0]]))
        tensor([[0.1192, 0.8808]])
    """

    def __init__(self, temperature: float = 1.0) -> None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise TypeError(f"temperature must be a float, got {type(temperature).__name__}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def __call__(self, scores: Tensor, mask: Tensor | None = None) -> Tensor:
        return masked_softmax(scores, mask, temperature=self.temperature)

    def __repr__(self) -> str:
        return f"Softmax(temperature={self.temperature})"


class LinearNormalization:
    """Normalise non-negative scores by their sum: ``a_ij = s_ij / sum_k s_ik``.

    The distribution of kernel attention (Choromanski et al. 2021, "Rethinking Attention with
    Performers", arXiv:2009.14794, eq. 5), whose scores ``phi(q)^T phi(k)`` are already positive.
    A row whose valid scores sum to zero gets a zero row.
    """

    def __init__(self, eps: float = 1e-12) -> None:
        self.eps = eps

    def _normalize(self, scores: Tensor) -> Tensor:
        total = scores.sum(dim=-1, keepdim=True)
        return scores / total.clamp_min(self.eps)

    def __call__(self, scores: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is not None:
            # Non-negative scores: masked entries must contribute 0 to the sum, not finfo.min.
            scores = scores * mask.to(scores.dtype)
            return masked_normalize(scores, mask, self._normalize)
        return self._normalize(scores)

    def __repr__(self) -> str:
        return "LinearNormalization()"


_BY_NAME: dict[str, type] = {
    "softmax": Softmax,
    "linear": LinearNormalization,
}


def register_distribution_name(name: str, cls: type) -> None:
    """Make ``cls()`` available to :func:`resolve_distribution` under ``name``."""
    if name in _BY_NAME:
        raise ValueError(f"distribution name {name!r} is already taken by {_BY_NAME[name]}")
    _BY_NAME[name] = cls


def resolve_distribution(distribution: str | Distribution) -> Distribution:
    """Turn a name (``"softmax"``, ``"sparsemax"``, ``"entmax15"``, ...) or a callable into one.

    Example:
        >>> resolve_distribution("softmax")
        Softmax(temperature=1.0)
    """
    if isinstance(distribution, str):
        try:
            return _BY_NAME[distribution]()  # type: ignore[no-any-return]
        except KeyError:
            raise ValueError(
                f"unknown distribution {distribution!r}; expected one of {sorted(_BY_NAME)} "
                "or a callable (scores, mask) -> weights"
            ) from None
    if not callable(distribution):
        raise TypeError(
            f"distribution must be a name or a callable (scores, mask) -> weights, "
            f"got {type(distribution).__name__}"
        )
    return distribution


def is_plain_softmax(distribution: Distribution) -> float | None:
    """The temperature if ``distribution`` is a :class:`Softmax` (fusable), else ``None``."""
    if type(distribution) is Softmax:
        return distribution.temperature
    return None


_ = torch  # torch is used by the distributions added below this line
