r"""Hierarchical Attention Network for document classification (Yang et al. 2016), and a flat
attention baseline.

Zichao Yang, Diyi Yang, Chris Dyer, Xiaodong He, Alex Smola, Eduard Hovy, "Hierarchical Attention
Networks for Document Classification", NAACL-HLT 2016,
https://www.cs.cmu.edu/~./hovy/papers/16HLT-hierarchical-attention-networks.pdf, section 2.

* :class:`HierarchicalAttentionNetwork`: word embedding, word bi-GRU (eqs. 1-4), word attention
  with context vector :math:`u_w` (eqs. 5-7), sentence bi-GRU (eqs. 8-9), sentence attention
  with :math:`u_s` (eq. 10), softmax classifier (eq. 11). The two attention levels and the
  sentence encoder slot are :class:`attnlab.mechanisms.hierarchical.HierarchicalAttention`.
* :class:`FlatAttentionNetwork`: the same embedding, one bi-GRU over all the words of the
  document (sentence boundaries ignored) and one attention layer of the same form as HAN's word
  attention, :math:`\alpha_t \propto \exp(u_w^\top \tanh(W h_t + b))`, built from
  :class:`attnlab.mechanisms.attention.Attention` with a dot score. It isolates what the
  hierarchy adds.

Padding, at both levels: ``mask[b, i, t]`` marks real words; the real words of a sentence must
come first, and the non-empty sentences of a document must come first (what
:func:`attnlab.data.reuters.encode_documents` produces). The GRUs run on packed sequences, so
padding never enters a recurrent state; padded words and empty sentences get weight exactly 0,
and changing the token ids at padded positions, or appending padded words or sentences, does not
change any output.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from attnlab.architectures._compat import UNSET, renamed
from attnlab.architectures._packing import run_packed
from attnlab.core._recurrent import masked_rnn
from attnlab.core._tracing import is_exporting
from attnlab.core.checks import check_device, check_probability
from attnlab.core.init_args import AttnModule
from attnlab.mechanisms.attention import Attention
from attnlab.mechanisms.hierarchical import HierarchicalAttention

__all__ = [
    "BiGRUEncoder",
    "FlatAttentionNetwork",
    "FlatAttentionOutput",
    "HANOutput",
    "HierarchicalAttentionNetwork",
]


class HANOutput(NamedTuple):
    """Result of :class:`HierarchicalAttentionNetwork`.

    The logits come first so that :func:`attnlab.train.fit` can train the model directly.

    Attributes:
        logits: ``(B, C)`` class scores (eq. 11 before the softmax).
        weights: ``(B, S)`` sentence weights :math:`\\alpha_i` (eq. 10): sum to 1 over the
            non-empty sentences, exactly 0 at empty (padded) sentences.
        word_weights: ``(B, S, W)`` word weights :math:`\\alpha_{it}` (eq. 6): sum to 1 over
            the real words of each sentence, exactly 0 at padded words (a zero row for a padded
            sentence).
        document: ``(B, 2 hidden_dim)`` the document vector :math:`v`.
    """

    logits: Tensor
    weights: Tensor
    word_weights: Tensor
    document: Tensor


class FlatAttentionOutput(NamedTuple):
    """Result of :class:`FlatAttentionNetwork`.

    Attributes:
        logits: ``(B, C)`` class scores.
        weights: ``(B, S, W)`` word weights over the whole document, in the input's layout:
            sum to 1 over the document's real words, exactly 0 at padding.
        document: ``(B, 2 hidden_dim)`` the document vector.
    """

    logits: Tensor
    weights: Tensor
    document: Tensor


class BiGRUEncoder(AttnModule):
    """Bidirectional GRU over padded sequences whose valid steps are a prefix (eqs. 1-4, 8-9).

    Runs on packed sequences, so padded steps never enter a hidden state; sequences with no
    valid step give zeros. Called as ``encoder(x, mask)``: the ``sentence_encoder`` protocol of
    :class:`~attnlab.mechanisms.hierarchical.HierarchicalAttention`.

    Args:
        input_dim: size of the inputs.
        hidden_dim: GRU size per direction (annotations are ``2 * hidden_dim``).

    Shape:
        x ``(N, L, input_dim)``, mask ``(N, L)`` bool (a prefix of ``True``) ->
        ``(N, L, 2 hidden_dim)``, zero at padded steps.

    Example:
        >>> enc = BiGRUEncoder(3, 4)
        >>> out = enc(torch.randn(2, 5, 3), torch.arange(5) < torch.tensor([[5], [2]]))
        >>> out.shape, bool(out[1, 2:].eq(0).all())
        (torch.Size([2, 5, 8]), True)
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_dim, self.hidden_dim = input_dim, hidden_dim
        self.gru = nn.GRU(
            input_dim, hidden_dim, batch_first=True, bidirectional=True, device=device,
            dtype=dtype,
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Encode the valid prefix of every sequence; see the class docstring."""
        n, length, _ = x.shape
        lengths = mask.sum(dim=-1)
        if is_exporting():
            # No selection of the non-empty rows (its size is data): every row, stepwise; rows of
            # length 0 come out as zeros, as below.
            return masked_rnn(self.gru, x, lengths)[0]
        out = x.new_zeros(n, length, 2 * self.hidden_dim)
        rows = (lengths > 0).nonzero().squeeze(1)
        if rows.numel() == 0:
            return out
        encoded, _ = run_packed(self.gru, x[rows], lengths[rows])
        return out.index_copy(0, rows, encoded)


def _check_tokens(tokens: Tensor, mask: Tensor | None, vocab_size: int, pad_index: int,
                  module: nn.Module | None = None) -> Tensor:
    """Validate ``tokens (B, S, W)`` and ``mask`` (devices: ``tokens`` on ``module``'s
    parameters, ``mask`` on ``tokens``'); return the mask (derived when ``None``)."""
    if not isinstance(tokens, Tensor) or tokens.dtype != torch.long:
        kind = tokens.dtype if isinstance(tokens, Tensor) else type(tokens).__name__
        raise TypeError(f"tokens must be an int64 tensor of word indices, got {kind}")
    if tokens.dim() != 3:
        raise ValueError(
            f"tokens must have layout (B, S, W) (documents, sentences, words), got "
            f"{tokens.dim()} dims {tuple(tokens.shape)}"
        )
    check_device(tokens, "tokens", ("", module))
    if mask is not None and isinstance(mask, Tensor):
        check_device(mask, "mask", ("tokens", tokens))
    if (
        tokens.numel()
        and not torch.compiler.is_compiling()  # a value check: skipped while tracing
        and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size)
    ):
        raise ValueError(
            f"tokens must lie in [0, vocab_size={vocab_size}), got "
            f"[{int(tokens.min())}, {int(tokens.max())}]"
        )
    if mask is None:
        mask = tokens != pad_index
    elif not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        kind = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"mask must be a boolean tensor (True = real word), got {kind}")
    if mask.shape != tokens.shape:
        raise ValueError(
            f"mask must have the shape of tokens {tuple(tokens.shape)}, got {tuple(mask.shape)}"
        )
    if torch.compiler.is_compiling():  # the layout checks below read the data: not traced
        return mask
    lengths = mask.sum(dim=-1, keepdim=True)  # (b, s, 1)
    if not torch.equal(mask, torch.arange(mask.shape[-1], device=mask.device) < lengths):
        raise ValueError("mask must mark a prefix of each sentence (real words first)")
    sentences = mask.any(dim=-1)  # (b, s)
    count = sentences.sum(dim=-1, keepdim=True)
    if not torch.equal(sentences, torch.arange(sentences.shape[-1], device=mask.device) < count):
        raise ValueError("mask must mark a prefix of sentences (non-empty sentences first)")
    return mask


class _DocumentClassifier(AttnModule):
    """What both document classifiers check and own first: sizes, padding and word embedding."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        *,
        embed_dim: int,
        hidden_dim: int,
        attention_dim: int,
        pad_index: int,
        padding_idx: int,
        dropout: float,
        factory: dict[str, Any],
    ) -> None:
        super().__init__()
        sizes = {"vocab_size": vocab_size, "num_classes": num_classes, "embed_dim": embed_dim,
                 "hidden_dim": hidden_dim, "attention_dim": attention_dim}
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        pad_index = renamed(pad_index, padding_idx, new="pad_index", old="padding_idx", default=0)
        if not 0 <= pad_index < vocab_size:
            raise ValueError(f"pad_index must lie in [0, vocab_size), got {pad_index}")
        check_probability(dropout, "dropout")
        self.vocab_size, self.num_classes, self.pad_index = vocab_size, num_classes, pad_index
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_index, **factory)

    padding_idx = property(lambda self: self.pad_index)  # deprecated spelling (one release)


class HierarchicalAttentionNetwork(_DocumentClassifier):
    r"""HAN: word bi-GRU + word attention, sentence bi-GRU + sentence attention, classifier.

    Yang et al. 2016, https://www.cs.cmu.edu/~./hovy/papers/16HLT-hierarchical-attention-networks.pdf,
    section 2, eqs. 1-11:

    .. math::

        x_{it} &= W_e w_{it}, \quad h_{it} = [\overrightarrow{GRU}(x_{it});
                 \overleftarrow{GRU}(x_{it})] \\
        u_{it} &= \tanh(W_w h_{it} + b_w), \quad
        \alpha_{it} = \mathrm{softmax}_t(u_{it}^\top u_w), \quad s_i = \sum_t \alpha_{it} h_{it} \\
        h_i &= [\overrightarrow{GRU}(s_i); \overleftarrow{GRU}(s_i)], \quad
        \alpha_i = \mathrm{softmax}_i(\tanh(W_s h_i + b_s)^\top u_s), \quad
        v = \sum_i \alpha_i h_i \\
        p &= \mathrm{softmax}(W_c v + b_c)

    Args:
        vocab_size: number of word indices (:math:`W_e` rows).
        num_classes: ``C``.
        embed_dim: word embedding size (200 in the paper, section 3.3).
        hidden_dim: GRU size per direction at both levels (50 in the paper), so annotations
            are ``2 * hidden_dim``.
        attention_dim: size of :math:`u_{it}, u_w, u_i, u_s` (100 in the paper).
        pad_index: index of the padding word (its embedding is zero and not trained);
            ``padding_idx`` is its deprecated spelling (one release).
        dropout: dropout on the embeddings and on the document vector (0: the paper uses none).
        device, dtype: factory arguments.

    Attributes (paper symbol -> attribute): :math:`W_e` -> ``embedding``; word GRU ->
    ``word_encoder``; :math:`W_w, b_w, u_w, W_s, b_s, u_s` and the sentence GRU ->
    ``attention`` (:class:`HierarchicalAttention` with ``sentence_encoder``);
    :math:`W_c, b_c` -> ``classifier``.

    Shape:
        - tokens: ``(B, S, W)`` int64 word indices (S sentences of up to W words).
        - mask: ``(B, S, W)`` bool, ``True`` = real word (a prefix of each sentence, non-empty
          sentences first); ``None`` derives it as ``tokens != pad_index``.
        - output: :class:`HANOutput`.

    Note:
        The paper initialises :math:`W_e` with word2vec vectors trained on the training and
        validation text; here it is trained from scratch (assign ``embedding.weight`` to start
        from pretrained vectors).

    Example:
        >>> han = HierarchicalAttentionNetwork(50, 4, embed_dim=8, hidden_dim=5, attention_dim=6)
        >>> tokens = torch.randint(2, 50, (2, 3, 4))
        >>> tokens[1, 2] = 0; tokens[0, 1, 2:] = 0       # padding
        >>> out = han(tokens)
        >>> out.logits.shape, out.weights.shape, out.word_weights.shape
        (torch.Size([2, 4]), torch.Size([2, 3]), torch.Size([2, 3, 4]))
        >>> out.weights[1, 2].item(), out.word_weights[0, 1, 2:].tolist()
        (0.0, [0.0, 0.0])
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        *,
        embed_dim: int = 200,
        hidden_dim: int = 50,
        attention_dim: int = 100,
        pad_index: int = 0,
        padding_idx: int = UNSET,
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        super().__init__(
            vocab_size, num_classes, embed_dim=embed_dim, hidden_dim=hidden_dim,
            attention_dim=attention_dim, pad_index=pad_index, padding_idx=padding_idx,
            dropout=dropout, factory=factory,
        )
        self.word_encoder = BiGRUEncoder(embed_dim, hidden_dim, **factory)
        annotation = 2 * hidden_dim
        self.attention = HierarchicalAttention(
            annotation,
            hidden_dim=attention_dim,
            sentence_encoder=BiGRUEncoder(annotation, hidden_dim, **factory),
            sentence_dim=annotation,
            **factory,
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(annotation, num_classes, **factory)

    def forward(self, tokens: Tensor, mask: Tensor | None = None) -> HANOutput:
        """Classify documents; see the class docstring.

        ``mask`` may be passed positionally, so that ``(tokens, mask, label)`` dataset items
        train with :func:`attnlab.train.fit`.
        """
        mask = _check_tokens(tokens, mask, self.vocab_size, self.pad_index, self)
        batch, n_sent, n_words = tokens.shape
        x = self.dropout(self.embedding(tokens))  # (b, s, w, e)
        words = self.word_encoder(
            x.reshape(batch * n_sent, n_words, x.shape[-1]), mask.reshape(batch * n_sent, n_words)
        )  # (b * s, w, 2h)
        words = words.reshape(batch, n_sent, n_words, words.shape[-1])  # (b, s, w, 2h)
        out = self.attention(words, mask=mask)
        logits = self.classifier(self.dropout(out.context))
        return HANOutput(logits, out.weights, out.word_weights, out.context)


class FlatAttentionNetwork(_DocumentClassifier):
    r"""Flat baseline: one bi-GRU over all words of the document and one attention layer.

    The document's real words, in order, form one sequence (sentence boundaries ignored);
    annotations :math:`h_t` come from a bidirectional GRU and

    .. math:: \alpha_t = \mathrm{softmax}_t\big(u_w^\top \tanh(W h_t + b)\big), \qquad
              v = \sum_t \alpha_t h_t, \qquad p = \mathrm{softmax}(W_c v + b_c),

    the form of HAN's word attention (Yang et al. 2016, eqs. 5-7) applied once to the whole
    document, computed by :class:`~attnlab.mechanisms.attention.Attention` with a dot score
    (query :math:`u_w`, keys :math:`\tanh(W h_t + b)`, values :math:`h_t`). Compare with
    :class:`HierarchicalAttentionNetwork` at equal sizes (its extra parameters are the
    sentence GRU and the sentence attention).

    Args:
        vocab_size, num_classes, embed_dim, hidden_dim, attention_dim, pad_index, dropout,
        device, dtype: as for :class:`HierarchicalAttentionNetwork`.

    Shape:
        tokens and mask as for :class:`HierarchicalAttentionNetwork`; output
        :class:`FlatAttentionOutput`.

    Example:
        >>> flat = FlatAttentionNetwork(50, 4, embed_dim=8, hidden_dim=5, attention_dim=6)
        >>> tokens = torch.randint(2, 50, (2, 3, 4)); tokens[1, 1:] = 0
        >>> out = flat(tokens)
        >>> out.logits.shape, out.weights.shape, round(out.weights[1].sum().item(), 6)
        (torch.Size([2, 4]), torch.Size([2, 3, 4]), 1.0)
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        *,
        embed_dim: int = 200,
        hidden_dim: int = 50,
        attention_dim: int = 100,
        pad_index: int = 0,
        padding_idx: int = UNSET,
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        super().__init__(
            vocab_size, num_classes, embed_dim=embed_dim, hidden_dim=hidden_dim,
            attention_dim=attention_dim, pad_index=pad_index, padding_idx=padding_idx,
            dropout=dropout, factory=factory,
        )
        annotation = 2 * hidden_dim
        self.encoder = BiGRUEncoder(embed_dim, hidden_dim, **factory)
        self.proj = nn.Linear(annotation, attention_dim, **factory)  # W, b
        self.context = nn.Parameter(torch.empty(attention_dim, **factory))  # u_w
        self.attention = Attention(
            attention_dim, attention_dim, value_dim=annotation, score="dot", **factory
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(annotation, num_classes, **factory)
        bound = 1.0 / math.sqrt(attention_dim)  # as HierarchicalAttention's u_w
        nn.init.uniform_(self.context, -bound, bound)

    def forward(self, tokens: Tensor, mask: Tensor | None = None) -> FlatAttentionOutput:
        """Classify documents; see the class docstring."""
        mask = _check_tokens(tokens, mask, self.vocab_size, self.pad_index, self)
        batch, n_sent, n_words = tokens.shape
        flat_mask = mask.reshape(batch, n_sent * n_words)
        # move every document's real words to the front, in order (stable sort of ~mask)
        order = torch.sort((~flat_mask).to(torch.int8), dim=1, stable=True).indices
        lengths = flat_mask.sum(dim=1)
        if is_exporting():
            # Keep every position (the longest document's length is data): the extra ones are
            # padding, masked below, and their zero weights are scattered back as padding.
            length = max(n_sent * n_words, 1)
        else:
            length = max(int(lengths.max()), 1) if lengths.numel() else 1
        order = order[:, :length]  # (b, l)
        seq_tokens = tokens.reshape(batch, n_sent * n_words).gather(1, order)
        seq_mask = torch.arange(length, device=tokens.device) < lengths.unsqueeze(1)  # (b, l)
        h = self.encoder(self.dropout(self.embedding(seq_tokens)), seq_mask)  # (b, l, 2h)
        keys = torch.tanh(self.proj(h))  # (b, l, a)
        query = self.context.expand(batch, 1, -1)  # (b, 1, a)
        out = self.attention(query, keys, h, mask=seq_mask)
        document = out.context.squeeze(1)  # (b, 2h)
        weights = out.weights.squeeze(1)  # (b, l)
        placed = weights.new_zeros(batch, n_sent * n_words).scatter(
            1, order, weights * seq_mask
        )  # back to document layout; padding stays 0
        logits = self.classifier(self.dropout(document))
        return FlatAttentionOutput(logits, placed.reshape(batch, n_sent, n_words), document)
