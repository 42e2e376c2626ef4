"""Kernel (linear-time) attention with positive random features: Performer's FAVOR+.

Choromanski et al., "Rethinking Attention with Performers", https://arxiv.org/abs/2009.14794:
with a feature map ``phi`` such that ``E[phi(q) . phi(k)] = exp(q . k / sqrt(d))``,

.. math::

    c_i = \\frac{\\sum_j \\phi(q_i)^\\top \\phi(k_j) \\, v_j}{\\sum_j \\phi(q_i)^\\top \\phi(k_j)}
        = \\frac{\\phi(q_i)^\\top \\big(\\sum_j \\phi(k_j) v_j^\\top\\big)}
                {\\phi(q_i)^\\top \\sum_j \\phi(k_j)}

approximates softmax attention, and the right-hand form costs ``O((Lq + Lk) m Dv)`` instead of
``O(Lq Lk)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from attnlab.core.attend import attend
from attnlab.core.checks import check_bool, check_mask, check_query_key_value, check_size
from attnlab.core.distributions import LinearNormalization
from attnlab.core.init_args import AttnModule
from attnlab.core.output import AttentionOutput
from attnlab.core.registry import Paper, register_mechanism
from attnlab.core.scores import KernelScore

__all__ = ["KernelAttention"]

PERFORMER = Paper(
    "Rethinking Attention with Performers",
    "Choromanski, Likhosherstov, Dohan, Song, Gane, Sarlos, Hawkins, Davis, Mohiuddin, Kaiser, "
    "Belanger, Colwell, Weller",
    2021,
    "https://arxiv.org/abs/2009.14794",
)


def _example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    g = torch.Generator().manual_seed(0)
    # Inputs require grad so that backward runs: the module has no parameters.
    query = torch.randn(2, 3, 4, generator=g).requires_grad_()
    key = torch.randn(2, 5, 4, generator=g).requires_grad_()
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    return KernelAttention(4, num_features=16), (query, key), {"mask": mask}


_LINEAR = LinearNormalization()



@register_mechanism(
    "kernel",
    sequences=("distinctive", "self"),
    levels="single",
    positions="soft",
    representations="single",
    paper=PERFORMER,
    example=_example,
)
class KernelAttention(AttnModule):
    """Kernel attention with positive (orthogonal) random features: Performer's FAVOR+.

    .. math::

        e_{ij} = \\phi(q_i)^\\top \\phi(k_j) \\ge 0, \\qquad
        \\alpha_{ij} = \\frac{e_{ij}}{\\sum_{j'} e_{ij'}}, \\qquad c_i = \\sum_j \\alpha_{ij} v_j

    with :class:`~attnlab.core.scores.KernelScore`'s ``phi``, so that ``alpha`` approximates
    ``softmax(q k^T / sqrt(d))`` and the approximation tightens as ``num_features`` grows.

    Paper: Choromanski et al., "Rethinking Attention with Performers",
    https://arxiv.org/abs/2009.14794 (FAVOR+: the positive random features of Lemma 1, orthogonal
    random features, and the linear-time evaluation).

    Two paths give the same result up to rounding:

    * **linear time** when ``need_weights=False`` and ``mask`` is ``None`` or ``(B, Lk)``:
      ``c_i = phi(q_i)^T (sum_j phi(k_j) v_j^T) / (phi(q_i)^T sum_j phi(k_j))``; masked keys'
      features are zeroed, and a query with no valid key gets a zero context (never NaN).
      Nothing of size ``Lq x Lk`` is built.
    * **materialised** otherwise (weights requested, or a ``(B, Lq, Lk)`` mask): the scores go
      through :func:`~attnlab.core.attend.attend` with
      :class:`~attnlab.core.distributions.LinearNormalization` (linear normalisation of the
      positive scores).

    Both use stabilised features: ``log phi`` is shifted by a per-query maximum and a per-batch
    maximum over valid keys (the paper's numerical stabiliser); the shifts cancel in the ratio.

    Args:
        query_dim: ``d``, the feature size of queries and keys.
        key_dim: must equal ``query_dim`` (accepted for a uniform signature).
        value_dim: ``Dv`` (defaults to ``key_dim``).
        num_features: ``m`` (default ``round(d ln d)``, see :class:`KernelScore`).
        orthogonal: orthogonal random features (FAVOR+, default) or i.i.d. Gaussian ones.
        feature_redraw_interval: in training mode, draw new features every this many forward
            calls (the paper redraws periodically); ``None`` keeps them fixed.
        seed: seed of the features' own generator.

    Shape:
        query ``(B, Lq, d)``, key ``(B, Lk, d)``, value ``(B, Lk, Dv)`` ->
        context ``(B, Lq, Dv)``, weights ``(B, Lq, Lk)``.

    Returns:
        :class:`~attnlab.core.output.AttentionOutput` ``(context, weights)``; ``weights`` is
        ``None`` when ``need_weights=False``.

    Note:
        No dropout and no ``attn_bias``: an additive bias has no meaning for positive kernel
        scores that are normalised by their sum, and the paper uses neither.

    Example:
        >>> import torch
        >>> attn = KernelAttention(8, num_features=64)
        >>> q, kv = torch.randn(2, 3, 8), torch.randn(2, 100, 8)
        >>> mask = torch.arange(100) < torch.tensor([[100], [40]])
        >>> fast = attn(q, kv, mask=mask, need_weights=False)  # linear in Lk
        >>> full = attn(q, kv, mask=mask)
        >>> fast.weights is None, torch.allclose(fast.context, full.context, atol=1e-5)
        (True, True)
        >>> bool(full.weights[1, :, 40:].eq(0).all())
        True
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        value_dim: int | None = None,
        num_features: int | None = None,
        orthogonal: bool = True,
        feature_redraw_interval: int | None = None,
        seed: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.query_dim = check_size(query_dim, "query_dim")
        self.key_dim = self.query_dim if key_dim is None else check_size(key_dim, "key_dim")
        if self.key_dim != self.query_dim:
            raise ValueError(
                f"kernel attention needs query_dim == key_dim, got {self.query_dim} and "
                f"{self.key_dim}"
            )
        self.value_dim = self.key_dim if value_dim is None else check_size(value_dim, "value_dim")
        self.feature_redraw_interval = (
            None
            if feature_redraw_interval is None
            else check_size(feature_redraw_interval, "feature_redraw_interval")
        )
        self.score = KernelScore(
            self.query_dim,
            num_features=num_features,
            orthogonal=orthogonal,
            seed=seed,
            device=device,
            dtype=dtype,
        )
        self._calls_since_redraw = 0

    def _maybe_redraw(self) -> None:
        if self.feature_redraw_interval is None or not self.training:
            return
        if self._calls_since_redraw >= self.feature_redraw_interval:
            self.score.redraw_features()
            self._calls_since_redraw = 0
        self._calls_since_redraw += 1

    def _features(self, query: Tensor, key: Tensor, key_valid: Tensor) -> tuple[Tensor, Tensor]:
        """Stabilised ``phi(q) (B, Lq, m)`` and ``phi(k) (B, Lk, m)``, zero at invalid keys."""
        log_q = self.score.log_features(query)  # (b, i, r)
        log_k = self.score.log_features(key)  # (b, j, r)
        # A per-query shift of log phi(q) and a per-batch shift of log phi(k) scale every score
        # of a row by the same factor, which the normalisation cancels.
        phi_q = (log_q - log_q.amax(dim=-1, keepdim=True).detach()).exp()
        valid = key_valid.unsqueeze(-1)  # (b, j, 1)
        lowest = torch.finfo(log_k.dtype).min
        if log_k.shape[1] == 0:  # no key at all (Lk = 0): nothing to shift
            shift = log_k.new_zeros(log_k.shape[0], 1, 1)
        else:
            shift = torch.where(valid, log_k, lowest).amax(dim=(1, 2), keepdim=True)  # (b, 1, 1)
            shift = torch.where(shift > lowest, shift, 0.0).detach()  # batch with no valid key
        # Select before exp: masked (possibly huge) entries never reach exp or its gradient.
        phi_k = torch.where(valid, log_k - shift, lowest).exp()
        return phi_q, phi_k

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        need_weights: bool = True,
    ) -> AttentionOutput:
        """Attend from ``query`` over ``key``/``value`` (``key = query``, ``value = key`` by
        default); ``mask`` is boolean, ``True`` = may attend, ``(B, Lk)`` or ``(B, Lq, Lk)``."""
        query, key, value = check_query_key_value(
            query,
            key,
            value,
            query_dim=self.query_dim,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            module=self,
        )
        check_bool(need_weights, "need_weights")
        batch, q_len, k_len = query.shape[0], query.shape[1], key.shape[1]
        checked = None
        if mask is not None:
            checked = check_mask(mask, batch=batch, q_len=q_len, k_len=k_len,
                                 like=("query", query))  # (b|1, i|1, j)
        self._maybe_redraw()

        # Keys valid for at least one query (all of them without a mask): (b, j).
        if checked is None:
            key_valid = torch.ones(batch, k_len, dtype=torch.bool, device=key.device)
        else:
            key_valid = checked.any(dim=1).expand(batch, k_len)
        phi_q, phi_k = self._features(query, key, key_valid)

        if not need_weights and (checked is None or checked.shape[1] == 1):
            # Linear time: the sums over keys are taken first.
            kv = torch.matmul(phi_k.transpose(1, 2), value)  # sum_j phi(k_j) v_j^T: (b, r, d)
            k_sum = phi_k.sum(dim=1).unsqueeze(-1)  # sum_j phi(k_j): (b, r, 1)
            numerator = torch.matmul(phi_q, kv)  # (b, i, d)
            denominator = torch.matmul(phi_q, k_sum)  # (b, i, 1)
            # A query with no valid key has numerator 0 and denominator 0: divide by 1 instead.
            safe = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
            return AttentionOutput(numerator / safe, None)

        out = attend(
            query,
            key,
            value,
            score=lambda q, k: torch.matmul(phi_q, phi_k.transpose(1, 2)),  # (b, i, j)
            distribution=_LINEAR,
            mask=mask,
        )
        return out if need_weights else AttentionOutput(out.context, None)

    def extra_repr(self) -> str:
        return (
            f"query_dim={self.query_dim}, value_dim={self.value_dim}, "
            f"feature_redraw_interval={self.feature_redraw_interval}"
        )
