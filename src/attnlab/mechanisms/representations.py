"""Multi-representational attention: dynamic meta-embeddings (Kiela et al. 2018).

Kiela, Wang, Cho, "Dynamic Meta-Embeddings for Improved Sentence Representations", EMNLP 2018,
https://arxiv.org/abs/1804.07983, section 2. Each token ``i`` of a sentence has ``n`` embeddings
``w_{i,j}`` from different embedding sets (GloVe, fastText, ...). They are projected to a common
size ``d'`` and mixed with per-token attention weights over the *representations* ``j``:

.. math::

    w'_{i,j} = P_j w_{i,j} + b_j, \\qquad
    \\alpha_{i,j} = \\operatorname{softmax}_j(a^\\top w'_{i,j} + b) \\quad \\text{(DME)}, \\qquad
    w^{DME}_i = \\sum_j \\alpha_{i,j} w'_{i,j}

The contextualised variant (CDME) scores a BiLSTM state instead of the projection:
``alpha_{i,j} = softmax_j(a^T h_{i,j} + b)`` where ``h_{i,j}`` is the state at token ``i`` of a
BiLSTM (hidden size ``m`` per direction, ``m = 2`` in the paper) run over the sentence of
projected embeddings ``w'_{1,j} ... w'_{s,j}`` of set ``j``; the BiLSTM, ``a`` and ``b`` are
shared by the sets.

Convention:
    * The paper indexes embedding sets by ``i`` and tokens by ``j``; this module uses ``i`` for
      tokens and ``j`` for sets, like the rest of the library (``i`` queries, ``j`` what is
      attended to).
    * The scalar ``b`` is the same for every set, so it cancels in the softmax over sets; it is
      omitted (it would only be a parameter without gradient).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnlab.core._recurrent import masked_rnn
from attnlab.core._tracing import is_exporting
from attnlab.core.checks import check_device, check_dim, check_size, check_tensor
from attnlab.core.init_args import AttnModule
from attnlab.core.masks import masked_softmax
from attnlab.core.registry import Paper, register_mechanism

__all__ = ["MetaEmbedding", "MetaEmbeddingOutput"]

KIELA_PAPER = Paper(
    title="Dynamic Meta-Embeddings for Improved Sentence Representations",
    authors="Kiela, Wang, Cho",
    year=2018,
    url="https://arxiv.org/abs/1804.07983",
)


class MetaEmbeddingOutput(NamedTuple):
    """Result of :class:`MetaEmbedding`.

    Attributes:
        context: ``(B, L, d')``, the meta-embedding ``w^DME_i`` of each token; zero at padded
            tokens.
        weights: ``(B, L, n)``, ``alpha_{i,j}``, the weight of embedding set ``j`` at token ``i``;
            rows sum to 1, all-zero rows at padded tokens.
        projected: ``(B, L, n, d')``, the projected embeddings ``w'_{i,j}`` (zero at padded
            tokens).
    """

    context: Tensor
    weights: Tensor
    projected: Tensor



def _dme_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    module = MetaEmbedding([5, 3, 4], 6)
    embeddings = (torch.randn(2, 4, 5), torch.randn(2, 4, 3), torch.randn(2, 4, 4))
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    return module, embeddings, {"mask": mask}


def _cdme_example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    module = MetaEmbedding([5, 3], 6, contextual=True)
    embeddings = (torch.randn(2, 4, 5), torch.randn(2, 4, 3))
    mask = torch.tensor([[True] * 4, [True, True, True, False]])
    return module, embeddings, {"mask": mask}


@register_mechanism(
    "contextual_meta_embedding",
    sequences="self",
    levels="single",
    positions="soft",
    representations="multi-representational",
    paper=KIELA_PAPER,
    example=_cdme_example,
)
@register_mechanism(
    "meta_embedding",
    sequences="self",
    levels="single",
    positions="soft",
    representations="multi-representational",
    paper=KIELA_PAPER,
    example=_dme_example,
)
class MetaEmbedding(AttnModule):
    """Dynamic meta-embeddings: attention over embedding sets, per token (DME and CDME).

    Kiela, Wang, Cho, "Dynamic Meta-Embeddings for Improved Sentence Representations",
    https://arxiv.org/abs/1804.07983, section 2.1 (DME) and 2.2 (CDME):

    .. math::

        w'_{i,j} = P_j w_{i,j} + b_j, \\qquad
        \\alpha_{i,j} = \\frac{\\exp(a^\\top u_{i,j})}{\\sum_{k=1}^{n} \\exp(a^\\top u_{i,k})},
        \\qquad w^{DME}_i = \\sum_{j=1}^{n} \\alpha_{i,j} w'_{i,j}

    with ``u_{i,j} = w'_{i,j}`` (DME) or ``u_{i,j} = h_{i,j}``, the BiLSTM state at token ``i``
    of the sequence ``w'_{.,j}`` (CDME).

    Args:
        embedding_dims: ``(d_1, ..., d_n)``, the size of each embedding set (``n >= 1``).
        dim: ``d'``, the common projection size (256 in the paper's experiments).
        contextual: CDME instead of DME.
        hidden_dim: ``m``, the BiLSTM hidden size per direction of CDME (2 in the paper);
            ignored by DME.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        projections: ``P_j, b_j``, one ``nn.Linear(d_j, d')`` per set.
        lstm: the shared BiLSTM of CDME (``None`` for DME).
        attention: ``a``, ``nn.Linear(d' or 2m, 1, bias=False)`` (the scalar ``b`` cancels in
            the softmax).

    Shape:
        embeddings ``(B, L, d_j)`` each, mask ``(B, L)`` (``True`` = real token; for CDME a
        padding mask: the valid tokens of a sentence come first).

    Returns:
        :class:`MetaEmbeddingOutput` with ``context (B, L, d')`` and ``weights (B, L, n)``.

    Example:
        >>> import torch
        >>> dme = MetaEmbedding([300, 100], 16)
        >>> glove, char = torch.randn(2, 7, 300), torch.randn(2, 7, 100)
        >>> mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
        >>> out = dme(glove, char, mask=mask)
        >>> out.context.shape, out.weights.shape
        (torch.Size([2, 7, 16]), torch.Size([2, 7, 2]))
        >>> torch.allclose(out.weights.sum(-1), mask.float())  # 1 per token, 0 at padding
        True
    """

    def __init__(
        self,
        embedding_dims: Sequence[int],
        dim: int,
        *,
        contextual: bool = False,
        hidden_dim: int = 2,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if isinstance(embedding_dims, (str, bytes)) or not isinstance(embedding_dims, Sequence):
            raise TypeError(
                "embedding_dims must be a sequence of ints (one size per embedding set), "
                f"got {type(embedding_dims).__name__}"
            )
        if len(embedding_dims) == 0:
            raise ValueError("embedding_dims must name at least one embedding set")
        self.embedding_dims = tuple(
            check_size(d, f"embedding_dims[{n}]") for n, d in enumerate(embedding_dims)
        )
        self.dim = check_size(dim, "dim")
        if not isinstance(contextual, bool):
            raise TypeError(f"contextual must be a bool, got {type(contextual).__name__}")
        self.contextual = contextual
        self.hidden_dim = check_size(hidden_dim, "hidden_dim")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.projections = nn.ModuleList(
            nn.Linear(d, self.dim, **factory) for d in self.embedding_dims
        )
        self.lstm: nn.LSTM | None = None
        if contextual:
            self.lstm = nn.LSTM(
                self.dim, self.hidden_dim, batch_first=True, bidirectional=True, **factory
            )
        score_dim = 2 * self.hidden_dim if contextual else self.dim
        self.attention = nn.Linear(score_dim, 1, bias=False, **factory)

    def _check_inputs(
        self, embeddings: tuple[Tensor, ...], mask: Tensor | None
    ) -> Tensor | None:
        if len(embeddings) != len(self.embedding_dims):
            raise ValueError(
                f"expected {len(self.embedding_dims)} embedding tensors (one per embedding set), "
                f"got {len(embeddings)}"
            )
        for n, (x, d) in enumerate(zip(embeddings, self.embedding_dims, strict=True)):
            like = ("", self) if n == 0 else ("embeddings[0]", embeddings[0])
            check_tensor(x, f"embeddings[{n}]", ndim=3, layout="(B, L, d_j)", like=like)
            check_dim(x, -1, d, f"embeddings[{n}]", f"embedding_dims[{n}]")
        batch, length = embeddings[0].shape[:2]
        for n, x in enumerate(embeddings):
            if tuple(x.shape[:2]) != (batch, length):
                raise ValueError(
                    f"embeddings[{n}] has (B, L) = {tuple(x.shape[:2])}, but embeddings[0] has "
                    f"{(batch, length)}: every set must embed the same tokens"
                )
        if mask is None:
            return None
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise TypeError("mask must be a boolean tensor of shape (B, L), True = real token")
        if tuple(mask.shape) != (batch, length):
            raise ValueError(
                f"mask must have shape (B, L) = ({batch}, {length}), got {tuple(mask.shape)}"
            )
        check_device(mask, "mask", ("embeddings[0]", embeddings[0]))
        # A value check, skipped while tracing (torch.compile, torch.export).
        if self.contextual and not torch.compiler.is_compiling():
            lengths = mask.sum(dim=-1, keepdim=True)
            prefix = torch.arange(length, device=mask.device) < lengths
            if not bool((prefix == mask).all()):
                raise ValueError(
                    "mask must be a padding mask (the real tokens of each sentence first) for "
                    "contextual=True: the BiLSTM reads each sentence up to its length"
                )
        return mask

    def _contextualise(self, projected: Tensor, mask: Tensor | None) -> Tensor:
        """BiLSTM states ``h_{i,j}`` of each set's sequence: ``(B, L, n, d') -> (B, L, n, 2m)``."""
        assert self.lstm is not None
        batch, length, n_sets, dim = projected.shape
        if batch == 0 or length == 0:  # nothing to read: the LSTM rejects empty sequences
            return projected.new_zeros(batch, length, n_sets, 2 * self.lstm.hidden_size)
        sequences = projected.transpose(1, 2).reshape(batch * n_sets, length, dim)  # (b n, i, d)
        if mask is None:
            states, _ = self.lstm(sequences)
        else:
            lengths = mask.sum(dim=-1).repeat_interleave(n_sets)  # (b n,)
            # pack_padded_sequence rejects empty sequences: run those on one token and drop it.
            if is_exporting():  # packed sizes are data: the same result, stepwise
                states, _ = masked_rnn(self.lstm, sequences, lengths.clamp_min(1))
                return states.reshape(batch, n_sets, length, -1).transpose(1, 2)
            packed = pack_padded_sequence(
                sequences, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False
            )
            out, _ = self.lstm(packed)
            states, _ = pad_packed_sequence(out, batch_first=True, total_length=length)
        return states.reshape(batch, n_sets, length, -1).transpose(1, 2)  # (b, i, n, 2m)

    def forward(self, *embeddings: Tensor, mask: Tensor | None = None) -> MetaEmbeddingOutput:
        """Mix the embedding sets of every token.

        Args:
            *embeddings: ``n`` tensors ``(B, L, d_j)``, the embeddings of the same tokens by each
                set, in the order of ``embedding_dims``.
            mask: ``(B, L)`` boolean, ``True`` at real tokens.
        """
        mask = self._check_inputs(embeddings, mask)
        projected = torch.stack(
            [proj(x) for proj, x in zip(self.projections, embeddings, strict=True)], dim=2
        )  # w'_{i,j}: (b, i, n, d')
        if mask is not None:
            projected = projected * mask[:, :, None, None].to(projected.dtype)
        features = self._contextualise(projected, mask) if self.contextual else projected
        scores = self.attention(features).squeeze(-1)  # a^T u_{i,j}: (b, i, n)
        token_mask = None if mask is None else mask.unsqueeze(-1)  # (b, i, 1)
        weights = masked_softmax(scores, token_mask)  # alpha_{i,j}
        context = torch.einsum("bin,bind->bid", weights, projected)  # sum_j alpha_{i,j} w'_{i,j}
        return MetaEmbeddingOutput(context, weights, projected)

    def extra_repr(self) -> str:
        return (
            f"embedding_dims={self.embedding_dims}, dim={self.dim}, "
            f"contextual={self.contextual}"
        )
