"""Hierarchical attention: words -> sentences -> document (Yang et al. 2016, HAN).

Zichao Yang, Diyi Yang, Chris Dyer, Xiaodong He, Alex Smola, Eduard Hovy, "Hierarchical Attention
Networks for Document Classification", NAACL-HLT 2016,
https://www.cs.cmu.edu/~./hovy/papers/16HLT-hierarchical-attention-networks.pdf, section 2.2.

In the survey's taxonomy (Chaudhari et al., arXiv:1904.02874, section 4.2) this is *multi-level*
attention (bottom-up: word weights build sentence vectors, sentence weights build the document
vector) over a single sequence with learned context vectors, i.e. *self* attention.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnlab.core.checks import check_device, check_dim, check_tensor
from attnlab.core.distributions import Distribution, resolve_distribution
from attnlab.core.init_args import AttnModule
from attnlab.core.registry import Paper, register_mechanism

__all__ = ["HierarchicalAttention", "HierarchicalAttentionOutput"]


class HierarchicalAttentionOutput(NamedTuple):
    """Result of :class:`HierarchicalAttention`.

    Attributes:
        context: ``(B, Ds)``, the document vector ``v = sum_i alpha_i h_i`` (eq. 10).
        weights: ``(B, S)``, sentence weights ``alpha_i``: sum to 1 over the non-empty sentences
            of a document, exactly 0 at sentences without a valid word (all 0 for an empty
            document).
        word_weights: ``(B, S, W)``, word weights ``alpha_it``: sum to 1 over the valid words of
            each sentence, exactly 0 at padded words, an all-zero row for an empty sentence.
        sentences: ``(B, S, D)``, the sentence vectors ``s_i = sum_t alpha_it h_it`` (eq. 7),
            before the optional sentence encoder (zero for an empty sentence).
    """

    context: Tensor
    weights: Tensor
    word_weights: Tensor
    sentences: Tensor


def _example() -> tuple[nn.Module, tuple[Tensor, ...], dict[str, Tensor]]:
    lengths = torch.tensor([[4, 2, 3], [3, 1, 0]])  # document 1: its last sentence is padding
    mask = torch.arange(4) < lengths.unsqueeze(-1)  # (b, s, w)
    return HierarchicalAttention(6, hidden_dim=5), (torch.randn(2, 3, 4, 6),), {"mask": mask}


@register_mechanism(
    "hierarchical",
    sequences="self",
    levels="multi",
    positions="soft",
    representations="single",
    paper=Paper(
        title="Hierarchical Attention Networks for Document Classification",
        authors="Yang, Yang, Dyer, He, Smola, Hovy",
        year=2016,
        url="https://www.cs.cmu.edu/~./hovy/papers/16HLT-hierarchical-attention-networks.pdf",
    ),
    example=_example,
)
class HierarchicalAttention(AttnModule):
    r"""Word-level then sentence-level attention with learned context vectors (HAN).

    Yang et al. 2016, "Hierarchical Attention Networks for Document Classification", NAACL,
    https://www.cs.cmu.edu/~./hovy/papers/16HLT-hierarchical-attention-networks.pdf, section 2.2,
    eqs. 5-7 (word attention) and 8-10 (sentence attention). Given word annotations
    :math:`h_{it}` (word ``t`` of sentence ``i``),

    .. math::

        u_{it} &= \tanh(W_w h_{it} + b_w), \quad
        \alpha_{it} = \frac{\exp(u_{it}^\top u_w)}{\sum_t \exp(u_{it}^\top u_w)}, \quad
        s_i = \sum_t \alpha_{it} h_{it} \\
        h_i &= \mathrm{encoder}(s)_i \ \text{(optional)}, \quad
        u_i = \tanh(W_s h_i + b_s), \quad
        \alpha_i = \frac{\exp(u_i^\top u_s)}{\sum_i \exp(u_i^\top u_s)}, \quad
        v = \sum_i \alpha_i h_i

    The word encoder (the paper's bidirectional GRU over words) is not part of this module: pass
    its annotations. The sentence encoder between the levels (the paper's bidirectional GRU over
    sentence vectors) is optional; without it :math:`h_i = s_i`.

    Padding: ``mask[b, i, t]`` marks valid words. Padded words get word weight exactly 0; a
    sentence with no valid word gets ``s_i = 0``, an all-zero word-weight row and sentence weight
    exactly 0, so appending padded words or padded sentences changes nothing (without an encoder,
    or with an encoder that honours its mask). An empty document gives a zero vector, never NaN.

    Args:
        dim: ``D``, size of the word annotations :math:`h_{it}` (``2 x`` GRU size in the paper).
        hidden_dim: size of :math:`u_{it}, u_w` and :math:`u_i, u_s`; by default the size of the
            annotations of each level (the paper uses 100 for 100-dimensional annotations).
        sentence_encoder: optional module called as ``sentence_encoder(s, sentence_mask)`` with
            ``s (B, S, D)`` and ``sentence_mask (B, S)`` (``True`` = sentence has a valid word),
            returning ``(B, S, sentence_dim)`` sentence annotations.
        sentence_dim: ``Ds``, size of the sentence annotations :math:`h_i`; defaults to ``dim``
            (must be given when the encoder changes the size).
        distribution: maps scores to weights at both levels (default softmax, as in the paper).
        device, dtype: factory arguments of the parameters.

    Parameters (paper symbol -> attribute): :math:`W_w, b_w` -> ``word_proj``; :math:`u_w` ->
    ``word_context``; :math:`W_s, b_s` -> ``sentence_proj``; :math:`u_s` -> ``sentence_context``.
    The context vectors are initialised uniformly in :math:`\pm 1/\sqrt{\text{hidden\_dim}}`
    (the paper: "randomly initialized and jointly learned").

    Shape:
        - words: ``(B, S, W, D)`` word annotations (S sentences of up to W words).
        - mask: ``(B, S, W)`` boolean, ``True`` = valid word; ``None`` = all valid.
        - output: see :class:`HierarchicalAttentionOutput`.

    Example:
        >>> import torch
        >>> han = HierarchicalAttention(6)
        >>> words = torch.randn(2, 3, 4, 6)
        >>> mask = torch.arange(4) < torch.tensor([[4, 2, 1], [3, 0, 0]]).unsqueeze(-1)
        >>> out = han(words, mask=mask)
        >>> out.context.shape, out.weights.shape, out.word_weights.shape
        (torch.Size([2, 6]), torch.Size([2, 3]), torch.Size([2, 3, 4]))
        >>> out.weights[1, 1:].tolist()
        [0.0, 0.0]
    """

    def __init__(
        self,
        dim: int,
        *,
        hidden_dim: int | None = None,
        sentence_encoder: nn.Module | None = None,
        sentence_dim: int | None = None,
        distribution: str | Distribution = "softmax",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.sentence_dim = dim if sentence_dim is None else sentence_dim
        if sentence_encoder is None and self.sentence_dim != dim:
            raise ValueError(
                f"sentence_dim ({self.sentence_dim}) differs from dim ({dim}) but no "
                "sentence_encoder maps one to the other"
            )
        word_hidden = dim if hidden_dim is None else hidden_dim
        sentence_hidden = self.sentence_dim if hidden_dim is None else hidden_dim
        self.distribution = resolve_distribution(distribution)
        self.word_proj = nn.Linear(dim, word_hidden, device=device, dtype=dtype)
        self.word_context = nn.Parameter(torch.empty(word_hidden, device=device, dtype=dtype))
        self.sentence_encoder = sentence_encoder
        self.sentence_proj = nn.Linear(
            self.sentence_dim, sentence_hidden, device=device, dtype=dtype
        )
        self.sentence_context = nn.Parameter(
            torch.empty(sentence_hidden, device=device, dtype=dtype)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the context vectors ``u_w``, ``u_s`` (and the projections)."""
        self.word_proj.reset_parameters()
        self.sentence_proj.reset_parameters()
        for u in (self.word_context, self.sentence_context):
            bound = 1.0 / math.sqrt(u.numel())
            nn.init.uniform_(u, -bound, bound)

    def forward(self, words: Tensor, *, mask: Tensor | None = None) -> HierarchicalAttentionOutput:
        """Attend words within sentences, then sentences; see the class docstring."""
        check_tensor(words, "words", ndim=4, layout="(B, S, W, D)", like=("", self))
        check_dim(words, -1, self.dim, "words", "dim")
        batch, n_sent, n_words = words.shape[:3]
        if mask is not None:
            if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
                kind = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
                raise TypeError(
                    f"mask must be a boolean tensor of shape (B, S, W) (True = valid word), "
                    f"got {kind}"
                )
            if tuple(mask.shape) != (batch, n_sent, n_words):
                raise ValueError(
                    f"mask must have shape (B, S, W) = ({batch}, {n_sent}, {n_words}), "
                    f"got {tuple(mask.shape)}"
                )
            check_device(mask, "mask", ("words", words))
        # eqs. 5-7: word attention inside each sentence
        u_words = torch.tanh(self.word_proj(words))  # (b, s, w, h)
        word_scores = u_words @ self.word_context  # (b, s, w)
        word_weights = self.distribution(word_scores, mask)
        sentences = torch.einsum("bsw,bswd->bsd", word_weights, words)
        sentence_mask = None if mask is None else mask.any(dim=-1)  # (b, s)
        annotations = sentences
        if self.sentence_encoder is not None:
            if sentence_mask is None:
                sentence_mask = torch.ones(
                    batch, n_sent, dtype=torch.bool, device=words.device
                )
            annotations = self.sentence_encoder(sentences, sentence_mask)
            if not isinstance(annotations, Tensor) or tuple(annotations.shape) != (
                batch,
                n_sent,
                self.sentence_dim,
            ):
                got = (
                    tuple(annotations.shape)
                    if isinstance(annotations, Tensor)
                    else type(annotations).__name__
                )
                raise ValueError(
                    f"sentence_encoder must return (B, S, sentence_dim) = "
                    f"({batch}, {n_sent}, {self.sentence_dim}), got {got}"
                )
        # eqs. 8-10: sentence attention
        u_sentences = torch.tanh(self.sentence_proj(annotations))  # (b, s, h)
        sentence_scores = u_sentences @ self.sentence_context  # (b, s)
        weights = self.distribution(sentence_scores, sentence_mask)
        document = torch.bmm(weights.unsqueeze(1), annotations).squeeze(1)  # (b, ds)
        return HierarchicalAttentionOutput(document, weights, word_weights, sentences)
