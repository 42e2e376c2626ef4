"""Attention-over-attention (Cui et al. 2017): attention weighted by another attention.

Yiming Cui, Zhipeng Chen, Si Wei, Shijin Wang, Ting Liu, Guoping Hu, "Attention-over-Attention
Neural Networks for Reading Comprehension", ACL 2017, https://arxiv.org/abs/1607.04423, section 3.

Not to be confused with the *Attention on Attention* (AoA) gate of Huang et al. 2019 ("Attention on
Attention for Image Captioning", https://arxiv.org/abs/1908.06954), which multiplies an attention
result by a sigmoid gate (x-transformers' ``attn_on_attn``). That is a different mechanism.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnlab.core.checks import check_mask, check_tensor
from attnlab.core.distributions import Distribution, resolve_distribution
from attnlab.core.init_args import AttnModule
from attnlab.core.registry import Paper, register_mechanism

__all__ = ["AttentionOverAttention", "AttentionOverAttentionOutput"]


class AttentionOverAttentionOutput(NamedTuple):
    """Result of :class:`AttentionOverAttention`.

    Attributes:
        context: ``(B, D)``, ``sum_i s_i h_doc(i)``: the document summarised by the final
            attention. The paper does not use it (it sums ``s`` over the occurrences of each
            candidate word, the final step of section 3); it gives the module the library's
            contract.
        weights: ``(B, n)``, the final attention ``s = alpha . beta_avg`` over the document:
            sums to 1 over the valid document words, exactly 0 at padding, all 0 when the document
            or the query has no valid word.
        query_to_document: ``(B, n, m)``, ``alpha``: column ``j`` is a distribution over the
            document for query word ``j`` (the column-wise softmax); zero columns at padded query
            words.
        document_to_query: ``(B, n, m)``, ``beta``: row ``i`` is a distribution over the query for
            document word ``i`` (the row-wise softmax); zero rows at padded document words.
        query_weights: ``(B, m)``, ``beta_avg``: ``beta`` averaged over the valid document words,
            the "attention over attention" weights of the query words (sum to 1 over the valid
            query words).
    """

    context: Tensor
    weights: Tensor
    query_to_document: Tensor
    document_to_query: Tensor
    query_weights: Tensor


def _example() -> tuple[nn.Module, tuple[Tensor, ...], dict[str, Tensor]]:
    document_mask = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    query_mask = torch.tensor([[True, True, False, False], [True] * 4])
    # The module has no parameters: inputs that require grad give the backward pass something.
    args = (torch.randn(2, 7, 6, requires_grad=True), torch.randn(2, 4, 6, requires_grad=True))
    return (
        AttentionOverAttention(),
        args,
        {"document_mask": document_mask, "query_mask": query_mask},
    )


@register_mechanism(
    "attention_over_attention",
    sequences="co",
    levels="multi",
    positions="soft",
    representations="single",
    paper=Paper(
        title="Attention-over-Attention Neural Networks for Reading Comprehension",
        authors="Cui, Chen, Wei, Wang, Liu, Hu",
        year=2017,
        url="https://arxiv.org/abs/1607.04423",
    ),
    example=_example,
)
class AttentionOverAttention(AttnModule):
    r"""Attention-over-attention (Cui et al. 2017): query-level attention over document attentions.

    Cui et al. 2017, "Attention-over-Attention Neural Networks for Reading Comprehension",
    https://arxiv.org/abs/1607.04423, section 3. With contextual document annotations
    :math:`h_{doc}(i)`, ``i = 1..n``, and query annotations :math:`h_{query}(j)`, ``j = 1..m``:

    .. math::

        M(i, j) &= h_{doc}(i)^\top h_{query}(j) \\
        \alpha(j) &= \mathrm{softmax}_i\, M(i, j) \quad \text{(column-wise: query-to-document)} \\
        \beta(i) &= \mathrm{softmax}_j\, M(i, j) \quad \text{(row-wise: document-to-query)} \\
        \bar\beta &= \tfrac{1}{n} \textstyle\sum_i \beta(i), \qquad s = \alpha \bar\beta

    so ``s`` is a weighted average of the per-query-word document attentions, the weights being
    themselves an (averaged) attention: attention over attention. The answer layer of the paper
    (``P(w) = sum of s_i over the positions of w``, the final step) belongs to the architecture.

    Masks: :math:`M(i, j)` takes part in a softmax only when document word ``i`` and query word
    ``j`` are both valid; :math:`\bar\beta` averages over the *valid* document words only, so that
    padding the document changes nothing. ``s`` then sums to 1 over the valid document words.

    Warning:
        This is **not** the "Attention on Attention" (AoA) module of Huang et al. 2019
        (https://arxiv.org/abs/1908.06954), an information/gate pair applied to an attention
        result, which some libraries call ``attn_on_attn``. The names collide; the mechanisms do
        not.

    Args:
        distribution: maps scores to weights for both softmaxes (default softmax, as in the
            paper); a name or a callable ``(scores, mask) -> weights``.
        device, dtype: accepted for a uniform constructor; the module has no parameters (in the
            paper all parameters live in the embeddings and the GRU encoders).

    Shape:
        - document: ``(B, n, D)``; query: ``(B, m, D)`` (same feature size ``D``).
        - document_mask: ``(B, n)``; query_mask: ``(B, m)``; boolean, ``True`` = valid word.
        - output: see :class:`AttentionOverAttentionOutput`.

    Example:
        >>> import torch
        >>> aoa = AttentionOverAttention()
        >>> doc, query = torch.randn(2, 7, 6), torch.randn(2, 3, 6)
        >>> document_mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
        >>> out = aoa(doc, query, document_mask=document_mask)
        >>> out.weights.shape, out.query_weights.shape
        (torch.Size([2, 7]), torch.Size([2, 3]))
        >>> [round(float(t), 6) for t in out.weights.sum(-1)]
        [1.0, 1.0]
    """

    def __init__(
        self,
        *,
        distribution: str | Distribution = "softmax",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        del device, dtype  # no parameters
        self.distribution = resolve_distribution(distribution)

    def forward(
        self,
        document: Tensor,
        query: Tensor,
        *,
        document_mask: Tensor | None = None,
        query_mask: Tensor | None = None,
    ) -> AttentionOverAttentionOutput:
        """Attention over ``document (B, n, D)`` guided by ``query (B, m, D)``."""
        check_tensor(document, "document", ndim=3, layout="(B, n, D)", like=("", self))
        check_tensor(query, "query", ndim=3, layout="(B, m, D)", like=("document", document))
        batch, n, dim = document.shape
        m = query.shape[1]
        if query.shape[0] != batch:
            raise ValueError(
                f"document and query must have the same batch size, got {batch} and "
                f"{query.shape[0]}"
            )
        if query.shape[-1] != dim:
            raise ValueError(
                f"query must have the document's feature size D = {dim} (M = h_doc^T h_query), "
                f"got shape {tuple(query.shape)}"
            )
        masks: list[Tensor] = []
        for mask, name, length in (
            (document_mask, "document_mask", n),
            (query_mask, "query_mask", m),
        ):
            if mask is None:
                masks.append(torch.ones(batch, length, dtype=torch.bool, device=document.device))
                continue
            if isinstance(mask, Tensor) and mask.dim() != 2:
                raise ValueError(
                    f"{name} must be a (B, L) boolean padding mask, got shape {tuple(mask.shape)}"
                )
            masks.append(check_mask(mask, batch=batch, q_len=1, k_len=length, name=name,
                                    like=("document", document))[:, 0])
        doc_valid, query_valid = masks
        pair = doc_valid.unsqueeze(2) & query_valid.unsqueeze(1)  # (b, i, j)

        matching = torch.bmm(document, query.transpose(1, 2))  # M: (b, i, j)
        # alpha(j) = softmax over the document i of column j
        alpha = self.distribution(matching.transpose(1, 2), pair.transpose(1, 2)).transpose(1, 2)
        # beta(i) = softmax over the query j of row i
        beta = self.distribution(matching, pair)  # (b, i, j)
        n_valid = doc_valid.sum(dim=1, keepdim=True).to(beta.dtype)  # (b, 1)
        beta_avg = beta.sum(dim=1) / n_valid.clamp_min(1.0)  # (b, j); rows at padding are 0
        s = torch.bmm(alpha, beta_avg.unsqueeze(2)).squeeze(2)  # (b, i)
        context = torch.bmm(s.unsqueeze(1), document).squeeze(1)  # (b, d)
        return AttentionOverAttentionOutput(context, s, alpha, beta, beta_avg)
