"""The Transformer token models: encoder-decoder, decoder-only and encoder-only.

Vaswani et al., "Attention Is All You Need", https://arxiv.org/abs/1706.03762: shared embeddings
scaled by ``sqrt(d_model)`` and tied with the pre-softmax projection (section 3.4), sinusoidal or
learned positions (section 3.5), and the encoder and decoder stacks of
:mod:`attnlab.architectures.transformer_layers` (re-exported here). The three models share one
set of hyper-parameters, :class:`TransformerConfig`.

The decoder decodes incrementally with a key/value cache (:class:`DecoderCache`) whose results
equal a full recomputation; :meth:`Transformer.greedy_decode` and :meth:`Transformer.beam_search`
use it, through the searches of :mod:`attnlab.architectures.decoding`.

Shape letters: ``b`` batch, ``h`` heads, ``i`` queries, ``j`` keys, ``d`` per-head feature,
``n`` layers.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Unpack

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.architectures._compat import UNSET, renamed
from attnlab.architectures.decoding import (
    DecodeOutput,
    beam_search,
    check_search_args,
    greedy_search,
)
from attnlab.architectures.transformer_config import (
    TransformerConfig,
    caller_mask,
    configure,
    position_encoding,
)
from attnlab.architectures.transformer_config import TransformerOptions as _Options
from attnlab.architectures.transformer_embeddings import (
    PositionalEncoding,
    TokenEmbedding,
    check_token_index,
    check_tokens,
    sinusoidal_positions,
)
from attnlab.architectures.transformer_layers import (
    DecoderCache,
    DecoderLayerOutput,
    EncoderLayerOutput,
    LayerCache,
    StackOutput,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from attnlab.core.checks import (
    check_bool,
    check_device,
    check_mask,
    check_size,
    check_tensor,
)
from attnlab.core.init_args import AttnModule

__all__ = [
    "DecoderCache",
    "DecoderLayerOutput",
    "DecoderOnlyTransformer",
    "EncoderLayerOutput",
    "EncoderOnlyTransformer",
    "LayerCache",
    "PositionalEncoding",
    "StackOutput",
    "Transformer",
    "TransformerConfig",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "TransformerOutput",
    "sinusoidal_positions",
]

_MAX_LENGTH = 50  # the searches' default output length


# ----------------------------------------------------------------------------------------------
# output and configuration


class TransformerOutput(NamedTuple):
    """Result of :class:`Transformer` and :class:`DecoderOnlyTransformer`.

    Attributes:
        context: ``(B, Lt, dim)`` decoder output before the pre-softmax projection.
        weights: ``(B, N, H, Lt, Lk)`` decoder self-attention weights of every layer and head.
        cross_weights: ``(B, N, H, Lt, Ls)`` encoder-decoder attention weights (``None`` for a
            decoder-only model).
        encoder_weights: ``(B, N_enc, H, Ls, Ls)`` encoder self-attention weights (``None`` for
            a decoder-only model or a decoding step that reuses the encoder output).
        logits: ``(B, Lt, V)`` next-token scores (eq. of section 3.4, before the softmax).

    Every weight field is ``None`` with ``need_weights=False``.
    """

    context: Tensor
    weights: Tensor | None
    cross_weights: Tensor | None
    encoder_weights: Tensor | None
    logits: Tensor


def _renamed_max_length(max_length: int, max_len: int | None) -> int:
    """``max_length``, or the deprecated spelling ``max_len`` when that was given."""
    alias = UNSET if max_len is None else max_len
    # stacklevel: the caller of the (no_grad-wrapped) decoding method
    return int(renamed(max_length, alias, new="max_length", old="max_len", default=_MAX_LENGTH,
                       stacklevel=5))


class Transformer(AttnModule):
    """The encoder-decoder Transformer of Vaswani et al. (2017), for token sequences.

    "Attention Is All You Need", https://arxiv.org/abs/1706.03762, Figure 1: source and target
    embeddings (times ``sqrt(d_model)``, section 3.4) plus positions (section 3.5) with dropout,
    an encoder stack, a decoder stack, and a linear pre-softmax projection.

    Args:
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size.
        config: the shared hyper-parameters (:class:`TransformerConfig`: ``dim``,
            ``num_heads``, ``hidden_dim``, ``dropout``, ``activation``, ``norm_first``,
            ``positions``, ``max_length``, ``pad_index``, ``layer_norm_eps``, ``num_layers``);
            each may also be given as a keyword argument, which overrides ``config``.
        num_encoder_layers: ``N`` of the encoder (default ``config.num_layers``, 6).
        num_decoder_layers: ``N`` of the decoder (default ``config.num_layers``, 6).
        share_embeddings: one embedding matrix for source and target (the paper's shared BPE
            vocabulary; needs ``src_vocab_size == tgt_vocab_size``).
        tie_output: the pre-softmax projection uses the target embedding matrix (section 3.4),
            so it has no weights (and no bias) of its own.

    Shape:
        - src: ``(B, Ls)`` long; tgt: ``(B, Lt)`` long (the decoder input, shifted right).
        - src_mask: ``(B, Ls)`` bool (default ``src != pad_index``); tgt_mask: ``(B, Lt)`` or
          ``(B|1, Lt, Lt)`` (default ``tgt != pad_index``), combined with the causal mask.
        - logits ``(B, Lt, V_tgt)``; see :class:`TransformerOutput` for the weights.

    Note:
        The output projection has a bias when untied (``nn.Linear``) and none when tied; the
        paper states neither. Initialisation is not specified in the paper: projections are
        Xavier-uniform (``MultiHeadAttention``) or torch's ``nn.Linear`` default, embeddings
        ``N(0, dim^-1)``.

    Example:
        >>> model = Transformer(11, 11, dim=16, num_heads=2, num_encoder_layers=1,
        ...                     num_decoder_layers=1, hidden_dim=32, dropout=0.0,
        ...                     share_embeddings=True, tie_output=True, pad_index=0)
        >>> src = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 0]])
        >>> tgt = torch.tensor([[1, 3, 4], [1, 5, 0]])
        >>> out = model(src, tgt)
        >>> out.logits.shape, out.cross_weights.shape
        (torch.Size([2, 3, 11]), torch.Size([2, 1, 2, 3, 4]))
        >>> bool(out.cross_weights[1, ..., 3].eq(0).all())  # source padding gets no weight
        True
        >>> model(src, tgt, need_weights=False).weights is None
        True
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        config: TransformerConfig | None = None,
        num_encoder_layers: int | None = None,
        num_decoder_layers: int | None = None,
        share_embeddings: bool = False,
        tie_output: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: Unpack[_Options],
    ) -> None:
        super().__init__()
        config = configure("Transformer", config, options)
        check_size(src_vocab_size, "src_vocab_size")
        check_size(tgt_vocab_size, "tgt_vocab_size")
        check_bool(share_embeddings, "share_embeddings")
        check_bool(tie_output, "tie_output")
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                "share_embeddings needs one vocabulary: src_vocab_size="
                f"{src_vocab_size} != tgt_vocab_size={tgt_vocab_size}"
            )
        pad_index, dim = config.pad_index, config.dim
        check_token_index(pad_index, "pad_index", min(src_vocab_size, tgt_vocab_size))
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.config = config
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        self.dim = dim
        self.pad_index = pad_index
        self.share_embeddings, self.tie_output = share_embeddings, tie_output
        self.encoder = TransformerEncoder(
            config.num_layers if num_encoder_layers is None else num_encoder_layers,
            dim, config.num_heads, config.hidden_dim, **config.layer_options(), **factory,
        )
        self.decoder = TransformerDecoder(
            config.num_layers if num_decoder_layers is None else num_decoder_layers,
            dim, config.num_heads, config.hidden_dim, **config.layer_options(), **factory,
        )
        self.src_embedding = TokenEmbedding(src_vocab_size, dim, pad_index=pad_index, **factory)
        self.tgt_embedding = (
            self.src_embedding
            if share_embeddings
            else TokenEmbedding(tgt_vocab_size, dim, pad_index=pad_index, **factory)
        )
        self.positions = position_encoding(config, factory)
        self.output: nn.Linear | None = (
            None if tie_output else nn.Linear(dim, tgt_vocab_size, **factory)
        )


    # -- pieces --------------------------------------------------------------------------------

    def _default_mask(self, tokens: Tensor, mask: Tensor | None) -> Tensor | None:
        if mask is not None or self.pad_index is None:
            return mask
        return tokens != self.pad_index

    def project(self, context: Tensor) -> Tensor:
        """The pre-softmax projection: ``(B, L, dim) -> (B, L, V_tgt)`` logits."""
        if self.output is None:
            return F.linear(context, self.tgt_embedding.weight)
        return self.output(context)

    def encode(
        self, src: Tensor, *, src_mask: Tensor | None = None, need_weights: bool = True
    ) -> StackOutput:
        """Run the encoder on source tokens: ``context (B, Ls, dim)`` and its weights."""
        check_tokens(src, "src", self.src_vocab_size, self)
        src_mask = caller_mask(self._default_mask(src, src_mask), "src_mask", src, "src")
        x = self.positions(self.src_embedding(src))
        return self.encoder(x, mask=src_mask, need_weights=need_weights)

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor,
        *,
        memory_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        cache: DecoderCache | None = None,
        need_weights: bool = True,
    ) -> TransformerOutput:
        """Run the decoder on target tokens over the encoder output ``memory``.

        With a ``cache`` (from :meth:`new_cache`), ``tgt`` holds only the new tokens; they are
        placed at positions ``cache.length ...`` and see every cached token.
        """
        check_tokens(tgt, "tgt", self.tgt_vocab_size, self)
        check_tensor(memory, "memory", ndim=3, layout="(B, Ls, dim)", like=("tgt", tgt))
        if memory.shape[0] != tgt.shape[0]:
            raise ValueError(
                f"memory (the encoded src) must have the batch size of tgt ({tgt.shape[0]}), "
                f"got {memory.shape[0]}"
            )
        offset = 0 if cache is None else cache.length
        if cache is None:
            tgt_mask = self._default_mask(tgt, tgt_mask)
        tgt_mask = caller_mask(tgt_mask, "tgt_mask", tgt, "tgt", k_len=offset + tgt.shape[1])
        if memory_mask is not None:
            check_mask(memory_mask, batch=tgt.shape[0], q_len=tgt.shape[1],
                       k_len=memory.shape[1], name="memory_mask", like=("tgt", tgt))
        x = self.positions(self.tgt_embedding(tgt), offset=offset)
        out = self.decoder(
            x,
            memory,
            mask=tgt_mask,
            memory_mask=memory_mask,
            cache=cache,
            need_weights=need_weights,
        )
        return TransformerOutput(
            out.context, out.weights, out.cross_weights, None, self.project(out.context)
        )

    def new_cache(self) -> DecoderCache:
        """An empty key/value cache for incremental decoding."""
        return self.decoder.new_cache()

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        *,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        need_weights: bool = True,
    ) -> TransformerOutput:
        """Teacher-forced forward pass: logits of every target position.

        Args:
            src: ``(B, Ls)`` source tokens.
            tgt: ``(B, Lt)`` decoder inputs (the target shifted right, starting with BOS).
            src_mask: ``(B, Ls)`` source key mask (``True`` = real token).
            tgt_mask: target key mask, ``(B, Lt)`` or ``(B|1, Lt, Lt)``.
            need_weights: return every layer's per-head weights (else every weight field is
                ``None`` and the fused attention kernel runs).
        """
        check_bool(need_weights, "need_weights")
        check_tokens(src, "src", self.src_vocab_size, self)
        check_tokens(tgt, "tgt", self.tgt_vocab_size, self)
        check_device(tgt, "tgt", ("src", src))
        if tgt.shape[0] != src.shape[0]:
            raise ValueError(
                f"tgt must have the batch size of src ({src.shape[0]}), got {tgt.shape[0]}"
            )
        src_mask = caller_mask(self._default_mask(src, src_mask), "src_mask", src, "src")
        tgt_mask = caller_mask(tgt_mask, "tgt_mask", tgt, "tgt")
        encoded = self.encode(src, src_mask=src_mask, need_weights=need_weights)
        out = self.decode(
            tgt,
            encoded.context,
            memory_mask=src_mask,
            tgt_mask=tgt_mask,
            need_weights=need_weights,
        )
        return out._replace(encoder_weights=encoded.weights)

    # -- decoding ------------------------------------------------------------------------------

    def _search(
        self, src: Tensor, src_mask: Tensor | None, bos_index: int, eos_index: int
    ) -> tuple[_TransformerDecoder, dict[str, Any]]:
        """The encoded source as a decoder for the searches, and their common arguments."""
        check_token_index(bos_index, "bos_index", self.tgt_vocab_size)
        check_token_index(eos_index, "eos_index", self.tgt_vocab_size)
        check_tokens(src, "src", self.src_vocab_size, self)
        src_mask = self._default_mask(src, src_mask)
        memory = self.encode(src, src_mask=src_mask, need_weights=False).context
        fill = eos_index if self.pad_index is None else self.pad_index
        common = {
            "batch_size": src.shape[0], "bos_index": bos_index, "eos_index": eos_index,
            "pad_index": fill, "device": src.device,
        }
        return _TransformerDecoder(self, memory, src_mask), common

    @torch.no_grad()
    def greedy_decode(
        self,
        src: Tensor,
        *,
        bos_index: int,
        eos_index: int,
        max_length: int = _MAX_LENGTH,
        src_mask: Tensor | None = None,
        max_len: int | None = None,
    ) -> DecodeOutput:
        """Greedy decoding with the key/value cache.

        Args:
            src: ``(B, Ls)`` source tokens.
            bos_index: the first decoder input.
            eos_index: the token that ends an output.
            max_length: most output tokens (EOS included).
            src_mask: ``(B, Ls)`` source key mask (default ``src != pad_index``).
            max_len: deprecated spelling of ``max_length`` (removed in the next release).

        Returns:
            :class:`~attnlab.architectures.decoding.DecodeOutput`: ``tokens (B, T)`` without
            the BOS, each row ending at its first EOS, after which positions hold ``pad_index``
            (EOS when there is none); ``lengths``; ``weights=None``; the log-probabilities as
            ``scores``.
        """
        max_length = _renamed_max_length(max_length, max_len)
        check_search_args(max_length=max_length)
        decoder, common = self._search(src, src_mask, bos_index, eos_index)
        return greedy_search(decoder, max_length=max_length, **common)

    @torch.no_grad()
    def beam_search(
        self,
        src: Tensor,
        *,
        bos_index: int,
        eos_index: int,
        beam_size: int = 4,
        max_length: int = _MAX_LENGTH,
        length_penalty: float = 0.6,
        src_mask: Tensor | None = None,
        max_len: int | None = None,
    ) -> DecodeOutput:
        """Beam search with the key/value cache (section 6.1: beam 4, length penalty 0.6).

        The search of :func:`attnlab.architectures.decoding.beam_search`: finished hypotheses
        leave the beam, and the answer has the highest ``log p / lp`` with
        ``lp = ((5 + |Y|) / 6) ** length_penalty`` (Wu et al. 2016,
        https://arxiv.org/abs/1609.08144, eq. 14, which the paper's ``alpha`` refers to),
        ``|Y|`` counting the tokens up to and including EOS.

        Args:
            src, bos_index, eos_index, max_length, src_mask, max_len: as
                :meth:`greedy_decode`.
            beam_size: ``k``; ``1`` gives greedy decoding.
            length_penalty: ``alpha`` (``0``: plain log-probability).

        Returns:
            :class:`~attnlab.architectures.decoding.DecodeOutput` as :meth:`greedy_decode`,
            with ``scores = log p / lp``.
        """
        max_length = _renamed_max_length(max_length, max_len)
        check_search_args(
            max_length=max_length, beam_size=beam_size, length_penalty=length_penalty
        )
        decoder, common = self._search(src, src_mask, bos_index, eos_index)
        return beam_search(
            decoder, beam_size=beam_size, max_length=max_length, length_penalty=length_penalty,
            **common,
        )


class _TransformerDecoder:
    """:class:`~attnlab.architectures.decoding.IncrementalDecoder` of a :class:`Transformer`:
    the encoder output, its mask and the decoder's key/value cache, one row per hypothesis."""

    def __init__(self, model: Transformer, memory: Tensor, memory_mask: Tensor | None) -> None:
        self.model, self.memory, self.memory_mask = model, memory, memory_mask
        self.cache = model.new_cache()

    def step(self, tokens: Tensor, position: int) -> tuple[Tensor, Tensor | None]:
        out = self.model.decode(
            tokens[:, None], self.memory, memory_mask=self.memory_mask, cache=self.cache,
            need_weights=False,
        )
        return out.logits[:, -1].to(self.memory.dtype), None

    def select(self, index: Tensor) -> None:
        self.memory = self.memory.index_select(0, index)
        if self.memory_mask is not None:
            self.memory_mask = self.memory_mask.index_select(0, index)
        self.cache.reorder(index)


class _TokenStack(AttnModule):
    """What the decoder-only and encoder-only models share: the resolved config, the token
    embedding with positions, and the default padding mask."""

    def _embedding_setup(
        self, vocab_size: int, config: TransformerConfig, factory: dict[str, Any]
    ) -> None:
        check_size(vocab_size, "vocab_size")
        check_token_index(config.pad_index, "pad_index", vocab_size)
        self.config = config
        self.vocab_size, self.dim, self.pad_index = vocab_size, config.dim, config.pad_index
        self.embedding = TokenEmbedding(
            vocab_size, config.dim, pad_index=config.pad_index, **factory
        )
        self.positions = position_encoding(config, factory)

    def _embed(
        self, tokens: Tensor, mask: Tensor | None, cache: DecoderCache | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Embedded ``tokens`` with positions (after the cached ones) and the checked mask
        (default ``tokens != pad_index`` without a cache)."""
        check_tokens(tokens, "tokens", self.vocab_size, self)
        offset = 0 if cache is None else cache.length
        if mask is None and cache is None and self.pad_index is not None:
            mask = tokens != self.pad_index
        mask = caller_mask(mask, "mask", tokens, "tokens", k_len=offset + tokens.shape[1])
        return self.positions(self.embedding(tokens), offset=offset), mask


class DecoderOnlyTransformer(_TokenStack):
    """A decoder-only (causal language model) Transformer: decoder layers without
    cross-attention over token embeddings, with a tied or untied output projection.

    Args:
        vocab_size: vocabulary size.
        config: the shared hyper-parameters (:class:`TransformerConfig`, ``num_layers`` is
            ``N``); every field may also be given as a keyword argument, which overrides it.
        tie_output: the output projection reuses the embedding matrix (section 3.4).

    Shape:
        - tokens ``(B, L)``; mask ``(B, L)`` (default ``tokens != pad_index``).
        - logits ``(B, L, V)``; weights ``(B, N, H, L, L)``.

    Example:
        >>> lm = DecoderOnlyTransformer(10, dim=16, num_heads=2, num_layers=2, hidden_dim=32,
        ...                             dropout=0.0)
        >>> out = lm(torch.tensor([[1, 2, 3, 4]]))
        >>> out.logits.shape, bool(out.weights[0, :, :, 0, 1:].eq(0).all())
        (torch.Size([1, 4, 10]), True)
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        config: TransformerConfig | None = None,
        tie_output: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: Unpack[_Options],
    ) -> None:
        super().__init__()
        check_bool(tie_output, "tie_output")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        config = configure("DecoderOnlyTransformer", config, options)
        self._embedding_setup(vocab_size, config, factory)
        self.decoder = TransformerDecoder(
            config.num_layers, config.dim, config.num_heads, config.hidden_dim,
            **config.layer_options(), cross_attention=False, **factory,
        )
        self.output: nn.Linear | None = (
            None if tie_output else nn.Linear(config.dim, vocab_size, **factory)
        )

    def new_cache(self) -> DecoderCache:
        """An empty key/value cache for incremental decoding."""
        return self.decoder.new_cache()

    def forward(
        self,
        tokens: Tensor,
        *,
        mask: Tensor | None = None,
        cache: DecoderCache | None = None,
        need_weights: bool = True,
    ) -> TransformerOutput:
        """Next-token logits of every position (of the new positions when ``cache`` is given).

        Args:
            tokens: ``(B, L)`` token indices.
            mask: key mask ``(B, Lk)`` or ``(B|1, L, Lk)``, combined with the causal mask
                (``Lk = L`` plus the cached length).
            cache: a :class:`DecoderCache` from :meth:`new_cache`, updated in place.
            need_weights: return every layer's per-head weights.
        """
        x, mask = self._embed(tokens, mask, cache)
        out = self.decoder(x, mask=mask, cache=cache, need_weights=need_weights)
        logits = (
            F.linear(out.context, self.embedding.weight)
            if self.output is None
            else self.output(out.context)
        )
        return TransformerOutput(out.context, out.weights, None, None, logits)


class EncoderOnlyTransformer(_TokenStack):
    """An encoder-only Transformer: token embeddings, positions and an encoder stack
    (bidirectional self-attention), returning contextual token representations.

    Args:
        vocab_size: vocabulary size.
        config: the shared hyper-parameters (:class:`TransformerConfig`, ``num_layers`` is
            ``N``); every field may also be given as a keyword argument, which overrides it.

    Shape:
        - tokens ``(B, L)``; mask ``(B, L)`` (default ``tokens != pad_index``).
        - context ``(B, L, dim)``; weights ``(B, N, H, L, L)``.

    Example:
        >>> enc = EncoderOnlyTransformer(10, dim=16, num_heads=2, num_layers=1, hidden_dim=32,
        ...                              pad_index=0)
        >>> out = enc(torch.tensor([[4, 5, 0]]))
        >>> out.context.shape, bool(out.weights[..., 2].eq(0).all())
        (torch.Size([1, 3, 16]), True)
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        config: TransformerConfig | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: Unpack[_Options],
    ) -> None:
        super().__init__()
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        config = configure("EncoderOnlyTransformer", config, options)
        self._embedding_setup(vocab_size, config, factory)
        self.encoder = TransformerEncoder(
            config.num_layers, config.dim, config.num_heads, config.hidden_dim,
            **config.layer_options(), **factory,
        )

    def forward(
        self, tokens: Tensor, *, mask: Tensor | None = None, need_weights: bool = True
    ) -> StackOutput:
        """Contextual representations of ``tokens`` ``(B, L)``; padded keys are masked."""
        x, mask = self._embed(tokens, mask)
        return self.encoder(x, mask=mask, need_weights=need_weights)
