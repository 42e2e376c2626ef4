"""Attention-via-attention (Zhao & Zhang 2018): word-level attention guides character attention.

Shenjian Zhao, Zhihua Zhang, "Attention-via-Attention Neural Machine Translation", AAAI 2018,
https://www.semanticscholar.org/paper/b0a274852b09cd888ac46a4ff3833a990db92466.

In the survey's taxonomy (Chaudhari et al., arXiv:1904.02874, section 4.2) this is *multi-level*
attention in the top-down direction: the coarse level (words) is attended first and steers the
fine level (characters), the reverse of the bottom-up hierarchy of HAN. A decoder state attends
the source, so over sequences it is *distinctive* attention.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnlab.core.checks import check_dim, check_mask, check_same_batch, check_tensor
from attnlab.core.distributions import Distribution, resolve_distribution
from attnlab.core.init_args import AttnModule
from attnlab.core.registry import Paper, register_mechanism
from attnlab.core.scores import AdditiveScore

__all__ = ["AttentionViaAttention", "AttentionViaAttentionOutput"]


class AttentionViaAttentionOutput(NamedTuple):
    """Result of :class:`AttentionViaAttention`.

    Attributes:
        context: ``(B, Lq, Dw + Dc)``, ``[c^w ; c^c]``: word-level and character-level contexts
            concatenated.
        weights: ``(B, Lq, Lc)``, the character-level weights (the attention obtained *via* the
            word-level one): sum to 1 over the valid characters, exactly 0 at masked ones, a zero
            row for a query with no valid character.
        word_weights: ``(B, Lq, Lw)``, the word-level weights (same guarantees over words).
        word_context: ``(B, Lq, Dw)``, ``c^w``.
        char_context: ``(B, Lq, Dc)``, ``c^c``.
    """

    context: Tensor
    weights: Tensor
    word_weights: Tensor
    word_context: Tensor
    char_context: Tensor


def _example() -> tuple[nn.Module, tuple[Tensor, ...], dict[str, Tensor]]:
    word_mask = torch.tensor([[True] * 4, [True, True, True, False]])
    char_mask = torch.tensor([[True] * 9, [True] * 6 + [False] * 3])
    args = (torch.randn(2, 3, 6), torch.randn(2, 4, 5), torch.randn(2, 9, 4))
    module = AttentionViaAttention(6, 5, 4, 7)
    return module, args, {"word_mask": word_mask, "char_mask": char_mask}


@register_mechanism(
    "attention_via_attention",
    sequences="distinctive",
    levels="multi",
    positions="soft",
    representations="single",
    paper=Paper(
        title="Attention-via-Attention Neural Machine Translation",
        authors="Zhao, Zhang",
        year=2018,
        url="https://www.semanticscholar.org/paper/b0a274852b09cd888ac46a4ff3833a990db92466",
    ),
    example=_example,
)
class AttentionViaAttention(AttnModule):
    r"""Top-down two-level attention: the word-level attention steers the character-level one.

    Zhao & Zhang 2018, "Attention-via-Attention Neural Machine Translation", AAAI,
    https://www.semanticscholar.org/paper/b0a274852b09cd888ac46a4ff3833a990db92466. For a decoder
    state :math:`q_i`, source word annotations :math:`h^w_j` and source character annotations
    :math:`h^c_k`:

    .. math::

        e^w_{ij} &= v_w^\top \tanh(W_w q_i + U_w h^w_j), \quad
        \alpha_{ij} = \mathrm{softmax}_j(e^w_{ij}), \quad
        c^w_i = \textstyle\sum_j \alpha_{ij} h^w_j \\
        e^c_{ik} &= v_c^\top \tanh(W_c [q_i ; c^w_i] + U_c h^c_k), \quad
        \beta_{ik} = \mathrm{softmax}_k(e^c_{ik}), \quad
        c^c_i = \textstyle\sum_k \beta_{ik} h^c_k

    and the context is :math:`[c^w_i ; c^c_i]`. The word level decides *which source word* is
    being translated; through :math:`c^w_i` in its query the character level can learn to look at
    the characters of that word, which lets similar words (English "system", Czech "systém") pass
    their spelling to a character-level decoder.

    Note:
        The formulation above was not checked against the equations in the body of the AAAI
        paper. It implements the principle the paper states (source-side character information
        reaches the target through an attention computed via the word-level attention, top-down)
        with two choices of this library: the word-level context is appended to the
        character-level query, and both levels use additive (Bahdanau) scores. Treat it as a
        reading of the mechanism, not a transcription of the paper.

    Masks: ``word_mask`` and ``char_mask`` mark valid source words and characters (``(B, L)`` or
    per query ``(B, Lq, L)``). A query with no valid word gets ``c^w = 0`` (its character
    attention then runs on the bare query); one with no valid character gets a zero ``c^c``
    and a zero weight row. Never NaN.

    Args:
        query_dim: ``Dq``, size of the decoder state :math:`q_i`.
        word_dim: ``Dw``, size of the word annotations :math:`h^w_j`.
        char_dim: ``Dc``, size of the character annotations :math:`h^c_k`.
        hidden_dim: size of the additive-score hidden layer at both levels.
        distribution: maps scores to weights at both levels (default softmax).
        device, dtype: factory arguments of the parameters.

    Parameters (symbol -> attribute): :math:`W_w, U_w, v_w` -> ``word_score.query_proj``,
    ``word_score.key_proj``, ``word_score.v``; :math:`W_c` ``(hidden, Dq + Dw)``, :math:`U_c`,
    :math:`v_c` -> ``char_score.query_proj``, ``char_score.key_proj``, ``char_score.v``: two
    :class:`~attnlab.core.scores.AdditiveScore` modules (Bahdanau et al., arXiv:1409.0473,
    appendix A.1.2, no bias inside the ``tanh``).

    Shape:
        - query: ``(B, Lq, Dq)``; words: ``(B, Lw, Dw)``; chars: ``(B, Lc, Dc)`` (all the
          characters of the source sentence, in order).
        - word_mask: ``(B, Lw)`` or ``(B, Lq, Lw)``; char_mask: ``(B, Lc)`` or ``(B, Lq, Lc)``.
        - output: see :class:`AttentionViaAttentionOutput`.

    Example:
        >>> import torch
        >>> ava = AttentionViaAttention(6, 5, 4, 8)
        >>> q, words, chars = torch.randn(2, 3, 6), torch.randn(2, 4, 5), torch.randn(2, 11, 4)
        >>> char_mask = torch.arange(11) < torch.tensor([[11], [7]])
        >>> out = ava(q, words, chars, char_mask=char_mask)
        >>> out.context.shape, out.weights.shape, out.word_weights.shape
        (torch.Size([2, 3, 9]), torch.Size([2, 3, 11]), torch.Size([2, 3, 4]))
        >>> bool((out.weights[1, :, 7:] == 0).all())
        True
    """

    def __init__(
        self,
        query_dim: int,
        word_dim: int,
        char_dim: int,
        hidden_dim: int,
        *,
        distribution: str | Distribution = "softmax",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.query_dim = query_dim
        self.word_dim = word_dim
        self.char_dim = char_dim
        self.hidden_dim = hidden_dim
        self.distribution = resolve_distribution(distribution)
        self.word_score = AdditiveScore(
            query_dim, word_dim, hidden_dim=hidden_dim, device=device, dtype=dtype
        )
        self.char_score = AdditiveScore(
            query_dim + word_dim, char_dim, hidden_dim=hidden_dim, device=device, dtype=dtype
        )

    def forward(
        self,
        query: Tensor,
        words: Tensor,
        chars: Tensor,
        *,
        word_mask: Tensor | None = None,
        char_mask: Tensor | None = None,
    ) -> AttentionViaAttentionOutput:
        """Word-level then character-level attention; see the class docstring."""
        check_tensor(query, "query", ndim=3, layout="(B, Lq, Dq)", like=("", self))
        check_tensor(words, "words", ndim=3, layout="(B, Lw, Dw)", like=("query", query))
        check_tensor(chars, "chars", ndim=3, layout="(B, Lc, Dc)", like=("query", query))
        check_dim(query, -1, self.query_dim, "query", "query_dim")
        check_dim(words, -1, self.word_dim, "words", "word_dim")
        check_dim(chars, -1, self.char_dim, "chars", "char_dim")
        batch = check_same_batch(query=query, words=words, chars=chars)
        q_len = query.shape[1]
        if word_mask is not None:
            word_mask = check_mask(
                word_mask, batch=batch, q_len=q_len, k_len=words.shape[1], name="word_mask",
                like=("query", query),
            )
        if char_mask is not None:
            char_mask = check_mask(
                char_mask, batch=batch, q_len=q_len, k_len=chars.shape[1], name="char_mask",
                like=("query", query),
            )
        # coarse level: alpha_ij over source words, c^w_i
        word_weights = self.distribution(self.word_score(query, words), word_mask)  # (b, i, j)
        word_context = torch.bmm(word_weights, words)  # (b, i, dw)
        # fine level, guided top-down: the query carries the word-level context
        char_query = torch.cat([query, word_context], dim=-1)  # (b, i, dq + dw)
        char_weights = self.distribution(self.char_score(char_query, chars), char_mask)
        char_context = torch.bmm(char_weights, chars)  # (b, i, dc)
        return AttentionViaAttentionOutput(
            context=torch.cat([word_context, char_context], dim=-1),
            weights=char_weights,
            word_weights=word_weights,
            word_context=word_context,
            char_context=char_context,
        )
