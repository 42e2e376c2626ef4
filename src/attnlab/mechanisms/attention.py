"""Single-head attention modules: one score function, one distribution, no projections.

Every class here is a thin ``nn.Module`` over :func:`attnlab.core.attend.attend`:

.. math:: e_{ij} = a(q_i, k_j), \\qquad \\alpha_i = p(e_i), \\qquad c_i = \\sum_j \\alpha_{ij} v_j

(Chaudhari et al., "An Attentive Survey of Attention Models", https://arxiv.org/abs/1904.02874,
section 3). :class:`Attention` takes any score and distribution; the named classes fix the score
of one paper. The score's parameters (``W``, ``U``, ``v``, ...) are the module's only parameters:
queries, keys and values are used as given, the way the encoder-decoder papers use them.

Convention:
    * batch first: ``query (B, Lq, Dq)``, ``key (B, Lk, Dk)``, ``value (B, Lk, Dv)``;
      ``key`` defaults to ``query`` (self-attention) and ``value`` to ``key``;
    * ``mask`` is boolean, ``True`` = may attend, ``(B, Lk)``, ``(B, Lq, Lk)`` or ``(1, Lq, Lk)``;
      ``attn_bias`` is a separate additive float bias ``(Lq, Lk)`` or ``(B, Lq, Lk)``;
    * ``weights`` are ``(B, Lq, Lk)``, ``>= 0``, sum to 1 over each query's valid keys, exactly 0
      at masked keys; a query with no valid key gets a zero row and a zero context.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from attnlab.core.attend import attend
from attnlab.core.checks import check_probability, check_query_key_value, check_size
from attnlab.core.distributions import Distribution, resolve_distribution
from attnlab.core.init_args import AttnModule
from attnlab.core.output import AttentionOutput
from attnlab.core.registry import Paper, register_mechanism
from attnlab.core.scores import (
    AdditiveScore,
    ConcatScore,
    CosineScore,
    DotScore,
    GeneralScore,
    LocationScore,
    ScaledDotScore,
    Score,
    resolve_score,
)

__all__ = [
    "AdditiveAttention",
    "Attention",
    "BahdanauAttention",
    "ConcatAttention",
    "CosineAttention",
    "DotAttention",
    "GeneralAttention",
    "LocationAttention",
    "LuongAttention",
    "ScaledDotAttention",
]

_TAGS: dict[str, Any] = {
    "sequences": ("distinctive", "self"),
    "levels": "single",
    "positions": "soft",
    "representations": "single",
}

SURVEY = Paper(
    "An Attentive Survey of Attention Models",
    "Chaudhari, Mithal, Polatkan, Ramanath",
    2021,
    "https://arxiv.org/abs/1904.02874",
)
BAHDANAU = Paper(
    "Neural Machine Translation by Jointly Learning to Align and Translate",
    "Bahdanau, Cho, Bengio",
    2015,
    "https://arxiv.org/abs/1409.0473",
)
LUONG = Paper(
    "Effective Approaches to Attention-based Neural Machine Translation",
    "Luong, Pham, Manning",
    2015,
    "https://arxiv.org/abs/1508.04025",
)
VASWANI = Paper(
    "Attention Is All You Need",
    "Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin",
    2017,
    "https://arxiv.org/abs/1706.03762",
)
GRAVES = Paper(
    "Neural Turing Machines",
    "Graves, Wayne, Danihelka",
    2014,
    "https://arxiv.org/abs/1410.5401",
)



class Attention(AttnModule):
    """Generic single-head attention: any score, any distribution.

    .. math:: \\alpha_i = p\\big(a(q_i, k_1), \\dots, a(q_i, k_{L_k})\\big), \\qquad
              c_i = \\sum_j \\alpha_{ij} v_j

    The general model of Chaudhari et al., https://arxiv.org/abs/1904.02874 (section 3, eqs. 1-3).

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        value_dim: ``Dv`` (defaults to ``key_dim``).
        score: a name from :data:`attnlab.core.scores.SCORE_NAMES` (``"scaled_dot"``, ``"dot"``,
            ``"general"``, ``"additive"``, ...) or a :class:`~attnlab.core.scores.Score`
            instance (``a``).
        hidden_dim: ``H`` of ``"additive"``, ``"concat"`` and ``"deep"`` scores built by name.
        distribution: ``p``: a name (``"softmax"``, ``"sparsemax"``, ...) or a callable
            ``(scores, mask) -> weights``.
        dropout: dropout on the weights during training (the returned weights are pre-dropout).

    Shape:
        query ``(B, Lq, Dq)``, key ``(B, Lk, Dk)``, value ``(B, Lk, Dv)`` ->
        context ``(B, Lq, Dv)``, weights ``(B, Lq, Lk)``.

    Returns:
        :class:`~attnlab.core.output.AttentionOutput` ``(context, weights)``; ``weights`` is
        ``None`` when ``need_weights=False``, which also lets dot-product-like scores under a
        plain softmax run the fused ``F.scaled_dot_product_attention`` kernel.

    Example:
        >>> import torch
        >>> attn = Attention(4, 6, score="general")
        >>> q, kv = torch.randn(2, 3, 4), torch.randn(2, 5, 6)
        >>> mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
        >>> out = attn(q, kv, mask=mask)
        >>> out.context.shape, out.weights.shape, bool(out.weights[1, :, 2:].eq(0).all())
        (torch.Size([2, 3, 6]), torch.Size([2, 3, 5]), True)
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        value_dim: int | None = None,
        score: str | Score = "scaled_dot",
        hidden_dim: int | None = None,
        distribution: str | Distribution = "softmax",
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.query_dim = check_size(query_dim, "query_dim")
        self.key_dim = self.query_dim if key_dim is None else check_size(key_dim, "key_dim")
        self.value_dim = self.key_dim if value_dim is None else check_size(value_dim, "value_dim")
        check_probability(dropout, "dropout")
        self.dropout = float(dropout)
        if isinstance(score, Score):
            self._check_score_dims(score)
        self.score = resolve_score(
            score,
            query_dim=self.query_dim,
            key_dim=self.key_dim,
            hidden_dim=hidden_dim,
            device=device,
            dtype=dtype,
        )
        self.distribution = resolve_distribution(distribution)

    def _check_score_dims(self, score: Score) -> None:
        for what, mine, theirs in (
            ("query_dim", self.query_dim, score.query_dim),
            ("key_dim", self.key_dim, score.key_dim),
        ):
            if theirs is not None and theirs != mine:
                raise ValueError(
                    f"score {type(score).__name__} was built for {what}={theirs} but this "
                    f"attention has {what}={mine}"
                )
        if score.requires_equal_dims and self.query_dim != self.key_dim:
            raise ValueError(
                f"score {type(score).__name__} needs query_dim == key_dim, got "
                f"{self.query_dim} and {self.key_dim}"
            )

    def _inputs(
        self, query: Tensor, key: Tensor | None, value: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Apply the defaults (``key = query``, ``value = key``) and check ranks and sizes."""
        return check_query_key_value(
            query,
            key,
            value,
            query_dim=self.query_dim,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            module=self,
        )

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        attn_bias: Tensor | None = None,
        need_weights: bool = True,
    ) -> AttentionOutput:
        """Attend from ``query`` over ``key``/``value``.

        Args:
            query: ``(B, Lq, Dq)``.
            key: ``(B, Lk, Dk)``; ``None`` for self-attention (``key = query``).
            value: ``(B, Lk, Dv)``; ``None`` to use ``key``.
            mask: boolean, ``True`` = may attend: ``(B, Lk)``, ``(B, Lq, Lk)`` or
                ``(1, Lq, Lk)``.
            attn_bias: additive float bias on the scores, ``(Lq, Lk)`` or ``(B, Lq, Lk)``.
            need_weights: return the ``(B, Lq, Lk)`` weights (default); ``False`` returns
                ``weights=None`` and allows the fused kernel.
        """
        query, key, value = self._inputs(query, key, value)
        out = attend(
            query,
            key,
            value,
            score=self.score,
            distribution=self.distribution,
            mask=mask,
            attn_bias=attn_bias,
            dropout=self.dropout if self.training else 0.0,
            need_weights=need_weights,
        )
        if not need_weights and out.weights is not None:
            out = AttentionOutput(out.context, None)
        return out

    def extra_repr(self) -> str:
        return (
            f"query_dim={self.query_dim}, key_dim={self.key_dim}, value_dim={self.value_dim}, "
            f"distribution={self.distribution!r}, dropout={self.dropout}"
        )


class _FixedScoreAttention(Attention):
    """Base of the named mechanisms below: :class:`Attention` whose score is ``score_cls``.

    ``score_args`` names the arguments of the constructor that the score takes as well (its
    feature sizes; ``device`` and ``dtype`` when it has parameters). A subclass whose score has
    options of its own spells them in its signature and passes them on through
    :meth:`_init_score`.
    """

    score_cls: ClassVar[type[Score]]
    score_args: ClassVar[tuple[str, ...]] = ("query_dim", "key_dim", "device", "dtype")

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        value_dim: int | None = None,
        distribution: str | Distribution = "softmax",
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self._init_score(query_dim, key_dim, value_dim, distribution, dropout, device, dtype)

    def _init_score(
        self,
        query_dim: int,
        key_dim: int | None,
        value_dim: int | None,
        distribution: str | Distribution,
        dropout: float,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
        **options: Any,
    ) -> None:
        """Build ``score_cls`` from ``score_args`` and ``options``, then :class:`Attention`."""
        shared = {"query_dim": query_dim, "key_dim": key_dim, "device": device, "dtype": dtype}
        score = self.score_cls(**{name: shared[name] for name in self.score_args}, **options)
        super().__init__(
            query_dim,
            key_dim,
            value_dim=value_dim,
            score=score,
            distribution=distribution,
            dropout=dropout,
        )


class _HiddenLayerAttention(_FixedScoreAttention):
    """Base of the attentions whose score has a hidden layer computed in tiles (additive, concat):
    the score's ``hidden_dim``, ``hidden_bias`` and ``chunk_bytes`` join the constructor."""

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        value_dim: int | None = None,
        hidden_dim: int | None = None,
        hidden_bias: bool = False,
        chunk_bytes: int | None = None,
        distribution: str | Distribution = "softmax",
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self._init_score(
            query_dim, key_dim, value_dim, distribution, dropout, device, dtype,
            hidden_dim=hidden_dim, hidden_bias=hidden_bias, chunk_bytes=chunk_bytes,
        )


# --------------------------------------------------------------------------------------------
# Registry examples: small, fast, with a mask that masks something
# --------------------------------------------------------------------------------------------


def _example_inputs(
    query_dim: int, key_dim: int, *, q_len: int = 3, k_len: int = 5
) -> tuple[tuple[Tensor, Tensor], dict[str, Any]]:
    g = torch.Generator().manual_seed(0)
    # Inputs require grad so that backward runs even through modules without parameters.
    query = torch.randn(2, q_len, query_dim, generator=g).requires_grad_()
    key = torch.randn(2, k_len, key_dim, generator=g).requires_grad_()
    mask = torch.ones(2, k_len, dtype=torch.bool)
    mask[1, k_len - 2 :] = False  # the second sequence is padded
    return (query, key), {"mask": mask}


def _example_generic() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    args, kwargs = _example_inputs(4, 6)
    return Attention(4, 6, score="biased_general"), args, kwargs


def _example_additive() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    args, kwargs = _example_inputs(4, 6)
    return AdditiveAttention(4, 6, hidden_dim=8), args, kwargs


def _example_dot() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    args, kwargs = _example_inputs(4, 4)
    return DotAttention(4), args, kwargs


def _example_scaled_dot() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    args, kwargs = _example_inputs(4, 4)
    return ScaledDotAttention(4), args, kwargs


def _example_general() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    args, kwargs = _example_inputs(4, 6)
    return GeneralAttention(4, 6), args, kwargs


def _example_concat() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    args, kwargs = _example_inputs(4, 6)
    return ConcatAttention(4, 6, hidden_dim=8), args, kwargs


def _example_location() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    args, kwargs = _example_inputs(4, 6)
    return LocationAttention(4, 6, max_length=8), args, kwargs


def _example_cosine() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    args, kwargs = _example_inputs(4, 4)
    return CosineAttention(4, learnable_sharpening=True), args, kwargs


# --------------------------------------------------------------------------------------------
# Named mechanisms
# --------------------------------------------------------------------------------------------

register_mechanism("attention", paper=SURVEY, example=_example_generic, **_TAGS)(Attention)


@register_mechanism("additive", paper=BAHDANAU, example=_example_additive, **_TAGS)
class AdditiveAttention(_HiddenLayerAttention):
    """Additive attention of Bahdanau et al. (2015); alias :data:`BahdanauAttention`.

    .. math:: e_{ij} = v^\\top \\tanh(W q_i + U k_j), \\qquad
              \\alpha_{ij} = \\mathrm{softmax}_j(e_{ij}), \\qquad c_i = \\sum_j \\alpha_{ij} v_j

    Paper: Bahdanau, Cho, Bengio, "Neural Machine Translation by Jointly Learning to Align and
    Translate", https://arxiv.org/abs/1409.0473 (eqs. 5-6 and appendix A.1.2; the query is the
    decoder state ``s_{i-1}``, keys and values the annotations ``h_j``).

    The scores are computed by :func:`attnlab.core.scores.additive_scores` in bounded memory:
    no ``(B, Lq, Lk, H)`` tensor is built in the forward or the backward pass.

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        value_dim: ``Dv`` (defaults to ``key_dim``).
        distribution: ``p`` (default ``"softmax"``, as in the paper).
        dropout: dropout on the weights during training.
        hidden_dim: ``H`` (defaults to ``query_dim``).
        hidden_bias: add a bias inside the ``tanh`` (not in the paper).
        chunk_bytes: tile budget of the chunked score (``None``: per-device default).

    Example:
        >>> import torch
        >>> attn = AdditiveAttention(4, 6, hidden_dim=8)
        >>> q, kv = torch.randn(2, 3, 4), torch.randn(2, 5, 6)
        >>> mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
        >>> out = attn(q, kv, mask=mask)
        >>> out.context.shape, torch.allclose(out.weights.sum(-1), torch.ones(2, 3))
        (torch.Size([2, 3, 6]), True)
    """

    score_cls = AdditiveScore


BahdanauAttention = AdditiveAttention
"""Author alias of :class:`AdditiveAttention` (Bahdanau et al. 2015)."""


@register_mechanism("dot", paper=LUONG, example=_example_dot, **_TAGS)
class DotAttention(_FixedScoreAttention):
    """Dot-product attention (Luong et al. 2015, eq. 8 "dot").

    .. math:: e_{ij} = q_i^\\top k_j, \\qquad \\alpha_{ij} = \\mathrm{softmax}_j(e_{ij})

    Paper: Luong, Pham, Manning, "Effective Approaches to Attention-based Neural Machine
    Translation", https://arxiv.org/abs/1508.04025. Needs ``query_dim == key_dim``. With
    ``need_weights=False`` and a softmax it runs ``F.scaled_dot_product_attention``.

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        value_dim: ``Dv`` (defaults to ``key_dim``).
        distribution: ``p`` (default ``"softmax"``, as in the paper).
        dropout: dropout on the weights during training.

    Example:
        >>> import torch
        >>> out = DotAttention(4)(torch.randn(1, 2, 4), torch.randn(1, 3, 4))
        >>> out.weights.shape
        torch.Size([1, 2, 3])
    """

    score_cls = DotScore
    score_args = ()


@register_mechanism("scaled_dot", paper=VASWANI, example=_example_scaled_dot, **_TAGS)
class ScaledDotAttention(_FixedScoreAttention):
    """Scaled dot-product attention (Vaswani et al. 2017, eq. 1), single head.

    .. math:: \\mathrm{Attention}(Q, K, V) = \\mathrm{softmax}(Q K^\\top / \\sqrt{d_k}) V

    Paper: Vaswani et al., "Attention Is All You Need", https://arxiv.org/abs/1706.03762.
    Needs ``query_dim == key_dim``. With ``need_weights=False`` and a softmax it runs
    ``F.scaled_dot_product_attention``.

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        value_dim: ``Dv`` (defaults to ``key_dim``).
        distribution: ``p`` (default ``"softmax"``, as in the paper).
        dropout: dropout on the weights during training.
        scale: the factor on ``q . k`` (default ``1 / sqrt(d_k)``).

    Example:
        >>> import torch
        >>> x = torch.randn(2, 5, 8)
        >>> causal = torch.ones(5, 5, dtype=torch.bool).tril()[None]
        >>> out = ScaledDotAttention(8)(x, mask=causal)
        >>> bool(out.weights[0].triu(1).eq(0).all())
        True
    """

    score_cls = ScaledDotScore
    score_args = ()

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        value_dim: int | None = None,
        scale: float | None = None,
        distribution: str | Distribution = "softmax",
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self._init_score(
            query_dim, key_dim, value_dim, distribution, dropout, device, dtype,
            scale=scale,
        )


@register_mechanism("general", paper=LUONG, example=_example_general, **_TAGS)
class GeneralAttention(_FixedScoreAttention):
    """Bilinear ("general") attention of Luong et al. (2015, eq. 8); alias
    :data:`LuongAttention`.

    .. math:: e_{ij} = q_i^\\top W k_j, \\qquad \\alpha_{ij} = \\mathrm{softmax}_j(e_{ij})

    Paper: Luong, Pham, Manning, "Effective Approaches to Attention-based Neural Machine
    Translation", https://arxiv.org/abs/1508.04025 (``W = W_a``; the query is the target state
    ``h_t``, keys and values the source states ``h_s``).

    Note:
        Luong et al.'s attentional hidden state ``tanh(W_c [c_t; h_t])`` (eq. 5) belongs to the
        decoder and is not part of this module, which returns the context ``c_t``.

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        value_dim: ``Dv`` (defaults to ``key_dim``).
        distribution: ``p`` (default ``"softmax"``, as in the paper).
        dropout: dropout on the weights during training.

    Example:
        >>> import torch
        >>> attn = GeneralAttention(4, 6)
        >>> out = attn(torch.randn(2, 1, 4), torch.randn(2, 7, 6))
        >>> out.context.shape
        torch.Size([2, 1, 6])
    """

    score_cls = GeneralScore


LuongAttention = GeneralAttention
"""Author alias of :class:`GeneralAttention` (Luong et al. 2015, "general" score)."""


@register_mechanism("concat", paper=LUONG, example=_example_concat, **_TAGS)
class ConcatAttention(_HiddenLayerAttention):
    """Concat attention of Luong et al. (2015, eq. 8 "concat").

    .. math:: e_{ij} = v^\\top \\tanh(W [q_i; k_j]), \\qquad
              \\alpha_{ij} = \\mathrm{softmax}_j(e_{ij})

    Paper: Luong, Pham, Manning, "Effective Approaches to Attention-based Neural Machine
    Translation", https://arxiv.org/abs/1508.04025 (``W = W_a``, ``v = v_a``). Scores are
    computed in bounded memory (see :class:`AdditiveAttention`).

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        value_dim: ``Dv`` (defaults to ``key_dim``).
        distribution: ``p`` (default ``"softmax"``, as in the paper).
        dropout: dropout on the weights during training.
        hidden_dim: ``H`` (defaults to ``query_dim``).
        hidden_bias: add a bias inside the ``tanh`` (not in the paper).
        chunk_bytes: tile budget of the chunked score (``None``: per-device default).

    Example:
        >>> import torch
        >>> out = ConcatAttention(4, 6, hidden_dim=8)(torch.randn(2, 3, 4), torch.randn(2, 5, 6))
        >>> out.weights.shape
        torch.Size([2, 3, 5])
    """

    score_cls = ConcatScore


@register_mechanism("location", paper=LUONG, example=_example_location, **_TAGS)
class LocationAttention(_FixedScoreAttention):
    """Location-based attention of Luong et al. (2015, eq. 9): weights from the query alone.

    .. math:: \\alpha_i = \\mathrm{softmax}(W q_i)_{1..L_k}, \\qquad c_i = \\sum_j \\alpha_{ij} v_j

    Paper: Luong, Pham, Manning, "Effective Approaches to Attention-based Neural Machine
    Translation", https://arxiv.org/abs/1508.04025 (``a_t = softmax(W_a h_t)``). The keys only
    set the number of positions ``Lk <= max_length``; the values are what is averaged.

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        value_dim: ``Dv`` (defaults to ``key_dim``).
        distribution: ``p`` (default ``"softmax"``, as in the paper).
        dropout: dropout on the weights during training.
        max_length: the longest key sequence (rows of ``W``).

    Example:
        >>> import torch
        >>> attn = LocationAttention(4, 6, max_length=10)
        >>> q, kv = torch.randn(2, 3, 4), torch.randn(2, 5, 6)
        >>> mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
        >>> attn(q, kv, mask=mask).weights.shape
        torch.Size([2, 3, 5])
    """

    score_cls = LocationScore
    score_args = ("query_dim", "device", "dtype")

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        max_length: int,
        value_dim: int | None = None,
        distribution: str | Distribution = "softmax",
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self._init_score(
            query_dim, key_dim, value_dim, distribution, dropout, device, dtype,
            max_length=max_length,
        )


@register_mechanism("cosine", paper=GRAVES, example=_example_cosine, **_TAGS)
class CosineAttention(_FixedScoreAttention):
    """Content-based (cosine) attention of the Neural Turing Machine (Graves et al. 2014).

    .. math:: \\alpha_{ij} = \\mathrm{softmax}_j\\big(\\beta \\cos(q_i, k_j)\\big)

    Paper: Graves, Wayne, Danihelka, "Neural Turing Machines", https://arxiv.org/abs/1410.5401
    (content addressing, eqs. 5-6: the query is the key vector ``k_t``, the keys and values the
    memory rows ``M_t(i)``, ``beta`` the key strength). Needs ``query_dim == key_dim``.

    Args:
        query_dim: ``Dq``.
        key_dim: ``Dk`` (defaults to ``query_dim``).
        value_dim: ``Dv`` (defaults to ``key_dim``).
        distribution: ``p`` (default ``"softmax"``, as in the paper).
        dropout: dropout on the weights during training.
        sharpening: ``beta > 0`` (default 1).
        learnable_sharpening: learn ``beta``.

    Example:
        >>> import torch
        >>> memory = torch.randn(1, 6, 4)
        >>> out = CosineAttention(4, sharpening=50.0)(memory[:, 2:3], memory)
        >>> int(out.weights.argmax())
        2
    """

    score_cls = CosineScore
    score_args = ("device", "dtype")

    def __init__(
        self,
        query_dim: int,
        key_dim: int | None = None,
        *,
        value_dim: int | None = None,
        sharpening: float = 1.0,
        learnable_sharpening: bool = False,
        distribution: str | Distribution = "softmax",
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self._init_score(
            query_dim, key_dim, value_dim, distribution, dropout, device, dtype,
            sharpening=sharpening, learnable_sharpening=learnable_sharpening,
        )
