"""Multi-dimensional attention: a weight per feature (DiSAN) and several hops (Lin et al.).

Two ways of giving one sequence more than one attention distribution:

* :class:`FeatureWiseAttention`, the *multi-dimensional* (feature-wise) attention of Shen, Zhou,
  Long, Jiang, Pan, Zhang, "DiSAN: Directional Self-Attention Network for RNN/CNN-Free Language
  Understanding", AAAI 2018, https://arxiv.org/abs/1709.04696, section 3.1: the score of a token
  is a *vector* with one entry per feature, and the softmax over the tokens runs separately for
  every feature ``k``:

  .. math::

      f(x_i, q) = W^\\top \\sigma(W^{(1)} x_i + W^{(2)} q + b^{(1)}) + b, \\qquad
      P_{k i} = \\frac{\\exp f(x_i, q)_k}{\\sum_{i'} \\exp f(x_{i'}, q)_k}, \\qquad
      s_k = \\sum_i P_{k i} x_{i k}

  with the *source2token* form ``f(x_i) = W^T sigma(W1 x_i + b1) + b`` (no query: a sentence
  encoding) and the *token2token* form (query ``q = x_j``, each token attends to the sequence).

* :class:`StructuredSelfAttention`, Lin, Feng, Santos, Yu, Xiang, Zhou, Bengio, "A Structured
  Self-attentive Sentence Embedding", ICLR 2017, https://arxiv.org/abs/1703.03130, section 2:
  ``r`` attention hops over the states ``H (n x 2u)``,

  .. math::

      A = \\operatorname{softmax}(W_{s2} \\tanh(W_{s1} H^\\top)), \\qquad M = A H, \\qquad
      P = \\lVert A A^\\top - I \\rVert_F^2

  with the softmax along the tokens and ``P`` the penalty that pushes the hops apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.checks import (
    check_dim,
    check_mask,
    check_same_batch,
    check_size,
    check_tensor,
)
from attnlab.core.init_args import AttnModule
from attnlab.core.masks import masked_softmax
from attnlab.core.registry import Paper, register_mechanism

__all__ = [
    "FeatureWiseAttention",
    "FeatureWiseAttentionOutput",
    "StructuredSelfAttention",
    "StructuredSelfAttentionOutput",
    "structured_penalty",
]

Activation = Callable[[Tensor], Tensor]

DISAN_PAPER = Paper(
    title="DiSAN: Directional Self-Attention Network for RNN/CNN-Free Language Understanding",
    authors="Shen, Zhou, Long, Jiang, Pan, Zhang",
    year=2018,
    url="https://arxiv.org/abs/1709.04696",
)

LIN_PAPER = Paper(
    title="A Structured Self-attentive Sentence Embedding",
    authors="Lin, Feng, Santos, Yu, Xiang, Zhou, Bengio",
    year=2017,
    url="https://arxiv.org/abs/1703.03130",
)



# ---------------------------------------------------------------------------------------------
# DiSAN multi-dimensional (feature-wise) attention


class FeatureWiseAttentionOutput(NamedTuple):
    """Result of :class:`FeatureWiseAttention`.

    Attributes:
        context: ``(B, D)`` for source2token (one vector per sequence), ``(B, Lq, D)`` with a
            query; ``s_k = sum_i P_{ki} x_{ik}``. Zero where no token is valid.
        weights: ``(B, L, D)`` for source2token, ``(B, Lq, L, D)`` with a query: the weight of
            token ``i`` for feature ``k``. For every feature (and query) the weights sum to 1
            over the valid tokens (axis ``-2``) and are exactly 0 at masked tokens.
    """

    context: Tensor
    weights: Tensor


def _feature_wise_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    module = FeatureWiseAttention(5, hidden_dim=6)
    x = torch.randn(2, 4, 5)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    return module, (x,), {"mask": mask}


@register_mechanism(
    "feature_wise",
    sequences="self",
    levels="single",
    positions="soft",
    representations="multi-dimensional",
    paper=DISAN_PAPER,
    example=_feature_wise_example,
)
class FeatureWiseAttention(AttnModule):
    """DiSAN's multi-dimensional (feature-wise) attention: a softmax over tokens per feature.

    Shen et al., "DiSAN", https://arxiv.org/abs/1709.04696, section 3.1 (multi-dimensional
    attention and its token2token and source2token forms):

    .. math::

        f(x_i, q) = W^\\top \\sigma(W^{(1)} x_i + W^{(2)} q + b^{(1)}), \\qquad
        P_{ki} = \\operatorname{softmax}_i\\, f(x_i, q)_k, \\qquad
        s = \\sum_i P_{\\cdot i} \\odot x_i

    * without a query (``query_dim=None``): *source2token*, ``f(x_i) = W^T sigma(W1 x_i + b1)``,
      one vector per sequence;
    * with a query ``q (B, Lq, Dq)``: one distribution per query and feature; *token2token*
      self-attention is ``module(x, x)``.

    Note:
        The paper's output bias ``b`` is the same for every token, so it cancels in the softmax
        over tokens; it is omitted. The tokens themselves are the values, as in the paper.

    Args:
        dim: ``d_e``, the size of the tokens ``x_i`` (and of the score vector).
        query_dim: the size of the query; ``None`` for source2token only.
        hidden_dim: the output size of ``W^(1)`` (defaults to ``dim``: square in the paper).
        activation: ``sigma`` (default ELU, the paper's choice).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        token_proj: ``W^(1), b^(1)``, ``nn.Linear(dim, hidden_dim)``.
        query_proj: ``W^(2)``, ``nn.Linear(query_dim, hidden_dim, bias=False)`` or ``None``.
        out_proj: ``W^T``, ``nn.Linear(hidden_dim, dim, bias=False)``.

    Shape:
        x ``(B, L, D)``; query ``(B, Lq, Dq)``; mask ``(B, L)`` (source2token) or ``(B, L)`` /
        ``(B, Lq, L)`` (with a query).

    Returns:
        :class:`FeatureWiseAttentionOutput`: ``context (B, D)`` and ``weights (B, L, D)``
        (source2token), or ``context (B, Lq, D)`` and ``weights (B, Lq, L, D)``.

    Example:
        >>> import torch
        >>> attn = FeatureWiseAttention(4)
        >>> x = torch.randn(2, 5, 4)
        >>> mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
        >>> out = attn(x, mask=mask)
        >>> out.context.shape, out.weights.shape
        (torch.Size([2, 4]), torch.Size([2, 5, 4]))
        >>> torch.allclose(out.weights.sum(1), torch.ones(2, 4))
        True
    """

    def __init__(
        self,
        dim: int,
        *,
        query_dim: int | None = None,
        hidden_dim: int | None = None,
        activation: Activation = F.elu,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_size(dim, "dim")
        self.query_dim = None if query_dim is None else check_size(query_dim, "query_dim")
        self.hidden_dim = self.dim if hidden_dim is None else check_size(hidden_dim, "hidden_dim")
        if not callable(activation):
            raise TypeError(f"activation must be callable, got {type(activation).__name__}")
        self.activation = activation
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.token_proj = nn.Linear(self.dim, self.hidden_dim, **factory)
        self.query_proj = (
            None
            if self.query_dim is None
            else nn.Linear(self.query_dim, self.hidden_dim, bias=False, **factory)
        )
        self.out_proj = nn.Linear(self.hidden_dim, self.dim, bias=False, **factory)

    def forward(
        self, x: Tensor, query: Tensor | None = None, *, mask: Tensor | None = None
    ) -> FeatureWiseAttentionOutput:
        """Feature-wise attention over the tokens of ``x``.

        Args:
            x: ``(B, L, D)`` the tokens (keys and values).
            query: ``(B, Lq, Dq)``; ``None`` for source2token. Needs ``query_dim``.
            mask: boolean, ``True`` = may attend: ``(B, L)``, or ``(B, Lq, L)`` with a query.
        """
        check_tensor(x, "x", ndim=3, layout="(B, L, D)", like=("", self))
        check_dim(x, -1, self.dim, "x", "dim")
        batch, length = x.shape[0], x.shape[1]
        hidden = self.token_proj(x)  # W1 x_i + b1: (b, j, h)
        if query is None:
            if mask is not None:
                # (b, 1, j)
                mask = check_mask(mask, batch=batch, q_len=1, k_len=length, like=("x", x))
                if mask.shape[1] != 1:
                    raise ValueError(
                        f"mask must have shape (B, L) = ({batch}, {length}) without a query, "
                        f"got {tuple(mask.shape)}"
                    )
                mask = mask.transpose(1, 2)  # (b, j, 1): one mask for every feature
            scores = self.out_proj(self.activation(hidden))  # f(x_j): (b, j, d)
            weights = masked_softmax(scores, mask, dim=1)  # softmax over tokens, per feature
            context = (weights * x).sum(dim=1)  # s = sum_j P_.j * x_j: (b, d)
            return FeatureWiseAttentionOutput(context, weights)

        if self.query_proj is None:
            raise ValueError(
                "query was given but the module was built without query_dim (source2token only)"
            )
        check_tensor(query, "query", ndim=3, layout="(B, Lq, Dq)", like=("x", x))
        check_dim(query, -1, self.query_dim or 0, "query", "query_dim")
        check_same_batch(x=x, query=query)
        q_len = query.shape[1]
        if mask is not None:
            mask = check_mask(
                mask, batch=batch, q_len=q_len, k_len=length, like=("x", x)
            ).unsqueeze(-1)
        pre = hidden.unsqueeze(1) + self.query_proj(query).unsqueeze(2)  # (b, i, j, h)
        scores = self.out_proj(self.activation(pre))  # f(x_j, q_i): (b, i, j, d)
        weights = masked_softmax(scores, mask, dim=2)  # over tokens j, per query and feature
        context = torch.einsum("bijd,bjd->bid", weights, x)
        return FeatureWiseAttentionOutput(context, weights)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, query_dim={self.query_dim}, hidden_dim={self.hidden_dim}"


# ---------------------------------------------------------------------------------------------
# Lin et al. structured self-attention


class StructuredSelfAttentionOutput(NamedTuple):
    """Result of :class:`StructuredSelfAttention`.

    Attributes:
        context: ``(B, r, D)``, the sentence embedding matrix ``M = A H``.
        weights: ``(B, r, L)``, the annotation matrix ``A``: one distribution over the tokens
            per hop, exactly 0 at padded tokens; a zero row when the sentence has no valid token.
    """

    context: Tensor
    weights: Tensor


def structured_penalty(weights: Tensor, mask: Tensor | None = None) -> Tensor:
    """Per-example penalty ``||A A^T - I||_F^2`` of Lin et al. (2017, section 2.2).

    "A Structured Self-attentive Sentence Embedding", https://arxiv.org/abs/1703.03130.

    Padding: padded tokens are columns of ``A`` with zero weight, so they add nothing to
    ``A A^T`` and the penalty is unchanged by padding. A hop with *no* valid token (a sentence
    that is entirely padding) has a zero row; comparing it with the identity would add a
    constant 1 per hop with no gradient, so the identity is restricted to the hops whose row has
    weight: ``I' = diag(row_i has weight)``. An empty sentence therefore has penalty 0.

    Args:
        weights: ``(B, r, L)`` annotation matrices ``A``.
        mask: optional ``(B, L)`` token mask, used to find the empty sentences (otherwise they
            are found from the all-zero rows of ``weights``).

    Returns:
        ``(B,)`` penalties (not averaged).

    Example:
        >>> import torch
        >>> A = torch.eye(3)[None, :2]  # two orthogonal one-hot hops
        >>> structured_penalty(A)
        tensor([0.])
        >>> structured_penalty(torch.full((1, 2, 3), 1 / 3))
        tensor([1.1111])
    """
    check_tensor(weights, "weights", ndim=3, layout="(B, r, L)")
    batch, hops, length = weights.shape
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise TypeError("mask must be a boolean tensor of shape (B, L), True = real token")
        if tuple(mask.shape) != (batch, length):
            raise ValueError(
                f"mask must have shape (B, L) = ({batch}, {length}), got {tuple(mask.shape)}"
            )
        has_row = mask.any(dim=-1, keepdim=True).expand(batch, hops)  # (b, r)
    else:
        has_row = weights.detach().sum(dim=-1) > 0  # (b, r)
    gram = torch.bmm(weights, weights.transpose(1, 2))  # A A^T: (b, r, r)
    identity = torch.diag_embed(has_row.to(weights.dtype))  # I restricted to the valid hops
    return (gram - identity).pow(2).sum(dim=(1, 2))


def _structured_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    module = StructuredSelfAttention(6, hidden_dim=5, num_hops=3)
    states = torch.randn(2, 4, 6)
    mask = torch.tensor([[True] * 4, [True, True, True, False]])
    return module, (states,), {"mask": mask}


@register_mechanism(
    "structured_self_attention",
    sequences="self",
    levels="single",
    positions="soft",
    representations="multi-dimensional",
    paper=LIN_PAPER,
    example=_structured_example,
)
class StructuredSelfAttention(AttnModule):
    """Lin et al.'s structured self-attention: ``r`` hops over a sequence, with a penalty.

    "A Structured Self-attentive Sentence Embedding", https://arxiv.org/abs/1703.03130,
    section 2.1 (the annotation matrix) and 2.2 (the penalization term):

    .. math::

        A = \\operatorname{softmax}\\big(W_{s2} \\tanh(W_{s1} H^\\top)\\big), \\qquad
        M = A H, \\qquad P = \\lVert A A^\\top - I \\rVert_F^2

    The softmax runs along the tokens (the paper's "second dimension"), separately for each
    of the ``r`` hops. Neither ``W_s1`` nor ``W_s2`` has a bias, as in the paper.

    Args:
        dim: ``2u``, the size of the states ``h_t`` (a BiLSTM's output in the paper).
        hidden_dim: ``d_a`` (350 in the paper's Yelp and Age experiments).
        num_hops: ``r`` (30 in the same experiments).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        ws1: ``W_s1``, ``nn.Linear(dim, hidden_dim, bias=False)``.
        ws2: ``W_s2``, ``nn.Linear(hidden_dim, num_hops, bias=False)``.

    Shape:
        H ``(B, L, 2u)``, mask ``(B, L)`` or ``(B, r, L)``.

    Returns:
        :class:`StructuredSelfAttentionOutput` with ``context M (B, r, 2u)`` and
        ``weights A (B, r, L)``.

    Example:
        >>> import torch
        >>> attn = StructuredSelfAttention(8, hidden_dim=16, num_hops=4)
        >>> H = torch.randn(2, 6, 8)
        >>> mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
        >>> out = attn(H, mask=mask)
        >>> out.context.shape, out.weights.shape
        (torch.Size([2, 4, 8]), torch.Size([2, 4, 6]))
        >>> attn.penalty(out.weights, mask).shape  # the batch mean
        torch.Size([])
    """

    def __init__(
        self,
        dim: int,
        *,
        hidden_dim: int = 350,
        num_hops: int = 30,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_size(dim, "dim")
        self.hidden_dim = check_size(hidden_dim, "hidden_dim")
        self.num_hops = check_size(num_hops, "num_hops")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.ws1 = nn.Linear(self.dim, self.hidden_dim, bias=False, **factory)
        self.ws2 = nn.Linear(self.hidden_dim, self.num_hops, bias=False, **factory)

    def forward(self, H: Tensor, *, mask: Tensor | None = None) -> StructuredSelfAttentionOutput:
        """``A = softmax(W_s2 tanh(W_s1 H^T))`` over the tokens, ``M = A H``.

        Args:
            H: ``(B, L, 2u)`` token states.
            mask: boolean, ``True`` = real token; ``(B, L)`` or per hop ``(B, r, L)``.
        """
        check_tensor(H, "H", ndim=3, layout="(B, L, 2u)", like=("", self))
        check_dim(H, -1, self.dim, "H", "dim")
        batch, length = H.shape[0], H.shape[1]
        if mask is not None:
            mask = check_mask(mask, batch=batch, q_len=self.num_hops, k_len=length, like=("H", H))
        scores = self.ws2(torch.tanh(self.ws1(H))).transpose(1, 2)  # W_s2 tanh(W_s1 H^T): (b, r, j)
        weights = masked_softmax(scores, mask)  # A, softmax over the tokens
        context = torch.bmm(weights, H)  # M = A H: (b, r, 2u)
        return StructuredSelfAttentionOutput(context, weights)

    def penalty(self, weights: Tensor, mask: Tensor | None = None) -> Tensor:
        """The penalization term ``P = ||A A^T - I||_F^2`` averaged over the sentences.

        Normalisation: the paper adds ``P`` (times a coefficient) to the loss of each sentence,
        so over a batch the loss term is the *mean* of the per-sentence ``P``; it is not divided
        by ``r^2``. Sentences with no valid token are left out of the mean (they have no
        attention to regularise; see :func:`structured_penalty` for the padding rule), and a
        batch of only empty sentences gives 0. Multiply by the paper's coefficient (e.g. 1.0)
        yourself.

        Note:
            A sentence of ``n < r`` tokens cannot reach 0: at most ``n`` hops can be orthogonal.

        Args:
            weights: ``(B, r, L)`` the ``weights`` of the output.
            mask: optional ``(B, L)`` token mask.

        Returns:
            A scalar.
        """
        per_sentence = structured_penalty(weights, mask)
        if mask is not None:
            non_empty = mask.any(dim=-1)
        else:
            non_empty = weights.detach().sum(dim=(1, 2)) > 0
        count = non_empty.sum().clamp_min(1).to(per_sentence.dtype)
        return (per_sentence * non_empty.to(per_sentence.dtype)).sum() / count

    def extra_repr(self) -> str:
        return f"dim={self.dim}, hidden_dim={self.hidden_dim}, num_hops={self.num_hops}"
