"""RNN encoder-decoder with a plug-in attention: Bahdanau and Luong styles, greedy and beam search.

Papers:

* Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
  Translation", https://arxiv.org/abs/1406.1078 (the encoder-decoder without attention: one
  summary vector ``c`` fed to every decoder step and to the output layer, eqs. in section 2.2).
* Bahdanau, Cho, Bengio, "Neural Machine Translation by Jointly Learning to Align and
  Translate", https://arxiv.org/abs/1409.0473 (RNNsearch: attention *before* the recurrent step,
  query ``s_{i-1}``, eqs. 4-6; bidirectional encoder, section 3.2; deep output, appendix A.2.2).
* Luong, Pham, Manning, "Effective Approaches to Attention-based Neural Machine Translation",
  https://arxiv.org/abs/1508.04025 (attention *after* the step, query ``h_t``; attentional state
  ``h~_t = tanh(W_c [c_t; h_t])`` eq. 5, output ``softmax(W_s h~_t)`` eq. 6; scores dot /
  general / concat eq. 8; local-m / local-p section 3.2; input feeding section 3.3).
* Wu et al., "Google's Neural Machine Translation System", https://arxiv.org/abs/1609.08144
  (beam-search length penalty ``lp(Y) = (5 + |Y|)^alpha / 6^alpha``, section 7).

The decoder step, for the three styles (``e`` = embedding of the previous target token):

* ``"bahdanau"``: ``c_i = attend(s_{i-1}, H)``; ``s_i = RNN([e; c_i], s_{i-1})``;
  ``logits = W_o tanh(W_r [s_i; c_i; e])`` (a tanh deep output instead of the paper's maxout).
* ``"luong"``: ``h_t = RNN([e; h~_{t-1}], h_{t-1})`` (input feeding; ``[e]`` without it);
  ``c_t = attend(h_t, H)``; ``h~_t = tanh(W_c [c_t; h_t])``; ``logits = W_s h~_t``.
* ``attention=None`` (the no-attention baseline, RNNencdec): the Bahdanau step with a fixed
  ``c`` = the encoder's final states (both directions) for every ``i``.

The decoder's initial state is ``tanh(W_init c)`` (Bahdanau appendix A.2.2 uses the backward
state only; here the final states of both directions).

Attention plug-ins: a name of :data:`ATTENTION_NAMES` (``"additive"`` -> :class:`~attnlab.
mechanisms.attention.AdditiveAttention`; ``"dot"``, ``"general"``, ``"concat"`` -> the Luong
scores of :mod:`attnlab.mechanisms.attention`; ``"local-m"``, ``"local-p"`` ->
:class:`~attnlab.mechanisms.local.LocalAttention` with the ``local_score``), or any module called
as ``module(query (B, 1, Dq), key (B, S, E), value (B, S, E), mask=(B, S))`` returning a
NamedTuple ``(context, weights, ...)``, or a :class:`~attnlab.mechanisms.local.LocalAttention`.
Local-m (``p_t = t``) is computed per decoding step with the local module's score over the
window ``|s - t| <= D`` (a band mask through :func:`~attnlab.core.masks.masked_softmax`, equal
to ``LocalAttention(mode="monotonic")`` on the whole target sequence, see the tests);
local-p calls the module directly (its window depends on the query only).

Convention:
    * batch first; ``src (B, S)`` ids, ``src_lengths (B,)`` (every position ``>= length`` is
      padding and provably ignored: the encoder runs on packed sequences and the attention is
      masked); ``tgt_in (B, T)`` the teacher-forced decoder inputs ``[BOS, y_1, ..., y_{T-1}]``;
    * ``weights`` are the dense alignments ``(B, T, S)``: 0 at padded source positions (and
      outside the window of local attention); ``None`` without attention;
    * items of :class:`~attnlab.data.translation.PairDataset` are ``(src, src_lengths, tgt_in,
      tgt_out)``: the model is called as ``model(src, src_lengths, tgt_in)`` by
      :func:`attnlab.train.fit`, with ``loss_fn=sequence_cross_entropy``.

Decoding (:meth:`Seq2Seq.greedy_decode`, :meth:`Seq2Seq.beam_search`) runs the searches of
:mod:`attnlab.architectures.decoding`, shared with the Transformer: finished hypotheses leave the
beam, ``beam_size=1`` is greedy decoding exactly, and the answer has the best ``log P(Y) / lp(Y)``,
``lp`` the GNMT penalty with ``alpha = length_penalty`` (``0``, the default: plain
log-probability, as in Bahdanau et al. and Luong et al.).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.architectures._compat import UNSET, renamed
from attnlab.architectures._packing import run_packed
from attnlab.architectures.decoding import (
    DecodeOutput,
    beam_search,
    check_search_args,
    gnmt_length_penalty,
    greedy_search,
)
from attnlab.core.checks import check_device, check_probability, check_size, check_tensor
from attnlab.core.init_args import AttnModule
from attnlab.core.masks import lengths_to_mask, masked_softmax
from attnlab.mechanisms.attention import (
    AdditiveAttention,
    ConcatAttention,
    DotAttention,
    GeneralAttention,
)
from attnlab.mechanisms.local import LocalAttention

__all__ = [
    "ATTENTION_NAMES",
    "ATTENTION_STYLES",
    "IGNORE_INDEX",
    "RNN_TYPES",
    "DecodeOutput",
    "DecoderState",
    "EncoderOutput",
    "Seq2Seq",
    "Seq2SeqOutput",
    "StepOutput",
    "gnmt_length_penalty",
    "sequence_cross_entropy",
]

ATTENTION_NAMES: tuple[str, ...] = ("additive", "dot", "general", "concat", "local-m", "local-p")
ATTENTION_STYLES: tuple[str, ...] = ("bahdanau", "luong")
RNN_TYPES: tuple[str, ...] = ("gru", "lstm")
IGNORE_INDEX = -100
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2  # the ids of attnlab.data.translation


class DecoderState(NamedTuple):
    """Recurrent state of the decoder.

    Attributes:
        hidden: ``(num_layers, B, H)``.
        cell: ``(num_layers, B, H)`` LSTM cell, ``None`` for a GRU.
        feed: ``(B, H)`` previous attentional state ``h~_{t-1}`` (Luong input feeding), else
            ``None``.
    """

    hidden: Tensor
    cell: Tensor | None
    feed: Tensor | None

    def select(self, index: Tensor) -> DecoderState:
        """Reorder / repeat the batch entries (beam search)."""
        return DecoderState(
            self.hidden.index_select(1, index),
            None if self.cell is None else self.cell.index_select(1, index),
            None if self.feed is None else self.feed.index_select(0, index),
        )


class EncoderOutput(NamedTuple):
    """Result of :meth:`Seq2Seq.encode`.

    Attributes:
        memory: ``(B, S, E)`` annotations ``h_j`` (0 at padding), ``E = H`` or ``2H``
            (bidirectional).
        mask: ``(B, S)`` bool, ``True`` at valid source positions.
        summary: ``(B, E)`` final encoder states (last layer, both directions).
        state: the decoder's initial :class:`DecoderState`.
    """

    memory: Tensor
    mask: Tensor
    summary: Tensor
    state: DecoderState


class StepOutput(NamedTuple):
    """One decoder step: ``logits (B, V)``, dense ``weights (B, S)`` (or ``None``), new state."""

    logits: Tensor
    weights: Tensor | None
    state: DecoderState


class Seq2SeqOutput(NamedTuple):
    """Teacher-forced output: ``logits (B, T, V)``, alignments ``weights (B, T, S)`` or ``None``."""

    logits: Tensor
    weights: Tensor | None


def sequence_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Mean token cross-entropy of ``logits (B, T, V)`` against ``target (B, T)``, ignoring
    :data:`IGNORE_INDEX` (padding).

    Example:
        >>> logits = torch.zeros(1, 2, 4)
        >>> round(float(sequence_cross_entropy(logits, torch.tensor([[1, -100]]))), 4)
        1.3863
    """
    check_tensor(logits, "logits", ndim=3, layout="(B, T, V)")
    if target.shape != logits.shape[:2]:
        raise ValueError(
            f"target must have shape {tuple(logits.shape[:2])}, got {tuple(target.shape)}"
        )
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE_INDEX
    )


def _attention_style(attention: str | nn.Module | None, style: str | None) -> str:
    """The checked ``attention_style``: by default ``"bahdanau"`` for ``"additive"`` and for
    no attention, ``"luong"`` otherwise; always ``"bahdanau"`` without attention."""
    if style is None:
        style = "bahdanau" if attention is None or attention == "additive" else "luong"
    if style not in ATTENTION_STYLES:
        raise ValueError(f"attention_style must be one of {ATTENTION_STYLES}, got {style!r}")
    return "bahdanau" if attention is None else style


class Seq2Seq(AttnModule):
    """GRU/LSTM encoder-decoder with a plug-in attention (see the module docstring).

    Args:
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size ``V``.
        embed_dim: ``m``, embedding size (source and target).
        hidden_dim: ``n``/``H``, recurrent size of the encoder (per direction) and the decoder.
        num_layers: stacked layers of the encoder and the decoder.
        rnn: ``"gru"`` (Bahdanau) or ``"lstm"`` (Luong).
        bidirectional: bidirectional encoder (annotations ``E = 2H``, Bahdanau section 3.2).
        attention: a name of :data:`ATTENTION_NAMES`, an attention module, or ``None`` (no
            attention: the RNNencdec baseline).
        attention_style: ``"bahdanau"`` (attend before the step) or ``"luong"`` (after);
            default ``"bahdanau"`` for ``"additive"`` and ``None``, ``"luong"`` otherwise.
        input_feeding: feed ``h~_{t-1}`` to the next step (Luong style only; paper default).
        attention_hidden_dim: ``n'`` of the additive / concat scores (default ``H``).
        local_score: the score of local-m / local-p (``"general"``: the paper's best local).
        window_size: ``2D + 1`` of local attention (default 21: ``D = 10``, Luong section 4.1).
        dropout: dropout on embeddings and on the state before the output layer.
        bos_index: first decoder input; eos_index: end of output; pad_index: padding id
            (``bos_id``/``eos_id``/``pad_id``: deprecated spellings, one release).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        src ``(B, S)``, src_lengths ``(B,)``, tgt_in ``(B, T)`` -> logits ``(B, T, V)``,
        weights ``(B, T, S)``.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> model = Seq2Seq(10, 12, embed_dim=8, hidden_dim=16, attention="general")
        >>> src = torch.tensor([[4, 5, 6, 2], [7, 2, 0, 0]])
        >>> out = model(src, torch.tensor([4, 2]), torch.tensor([[1, 5, 6], [1, 8, 0]]))
        >>> out.logits.shape, out.weights.shape, bool(out.weights[1, :, 2:].eq(0).all())
        (torch.Size([2, 3, 12]), torch.Size([2, 3, 4]), True)
        >>> model.greedy_decode(src, torch.tensor([4, 2]), max_length=5).tokens.shape[0]
        2
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        embed_dim: int = 64,
        hidden_dim: int = 128,
        num_layers: int = 1,
        rnn: str = "gru",
        bidirectional: bool = False,
        attention: str | nn.Module | None = "additive",
        attention_style: str | None = None,
        input_feeding: bool = True,
        attention_hidden_dim: int | None = None,
        local_score: str = "general",
        window_size: int = 21,
        dropout: float = 0.0,
        bos_index: int = BOS_ID,
        eos_index: int = EOS_ID,
        pad_index: int = PAD_ID,
        bos_id: int = UNSET,
        eos_id: int = UNSET,
        pad_id: int = UNSET,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        fk: dict[str, Any] = {"device": device, "dtype": dtype}
        self.src_vocab_size = check_size(src_vocab_size, "src_vocab_size")
        self.tgt_vocab_size = check_size(tgt_vocab_size, "tgt_vocab_size")
        self.embed_dim = check_size(embed_dim, "embed_dim")
        self.hidden_dim = H = check_size(hidden_dim, "hidden_dim")
        self.num_layers = check_size(num_layers, "num_layers")
        if rnn not in RNN_TYPES:
            raise ValueError(f"rnn must be one of {RNN_TYPES}, got {rnn!r}")
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be a bool, got {type(bidirectional).__name__}")
        check_probability(dropout, "dropout")
        self.bos_index, self.eos_index, self.pad_index = (
            renamed(bos_index, bos_id, new="bos_index", old="bos_id", default=BOS_ID),
            renamed(eos_index, eos_id, new="eos_index", old="eos_id", default=EOS_ID),
            renamed(pad_index, pad_id, new="pad_index", old="pad_id", default=PAD_ID),
        )
        for name in ("bos_index", "eos_index", "pad_index"):
            if not 0 <= getattr(self, name) < tgt_vocab_size:
                raise ValueError(
                    f"{name} must be in [0, tgt_vocab_size), got {getattr(self, name)}"
                )
        self.rnn_type = rnn
        self.bidirectional = bidirectional
        self.memory_dim = H * (2 if bidirectional else 1)
        self.attention_style = _attention_style(attention, attention_style)
        self.input_feeding = bool(input_feeding) and self.attention_style == "luong"
        self.attention = self._build_attention(
            attention, attention_hidden_dim, local_score, window_size, fk
        )
        self._build_recurrent(fk)
        self.dropout = nn.Dropout(dropout)

    def _build_recurrent(self, fk: dict[str, Any]) -> None:
        """Embeddings, encoder, initial-state layers, decoder and output layers."""
        recurrent = nn.GRU if self.rnn_type == "gru" else nn.LSTM
        m, H, E, layers = self.embed_dim, self.hidden_dim, self.memory_dim, self.num_layers
        self.src_embed = nn.Embedding(self.src_vocab_size, m, padding_idx=self.pad_index, **fk)
        self.tgt_embed = nn.Embedding(self.tgt_vocab_size, m, padding_idx=self.pad_index, **fk)
        self.encoder = recurrent(
            m, H, num_layers=layers, batch_first=True, bidirectional=self.bidirectional, **fk
        )
        # Initial decoder state tanh(W_init c) for every layer (Bahdanau appendix A.2.2).
        self.init_hidden = nn.Linear(E, layers * H, **fk)
        self.init_cell = nn.Linear(E, layers * H, **fk) if self.rnn_type == "lstm" else None
        self.readout: nn.Linear | None = None
        self.combine: nn.Linear | None = None
        if self.attention_style == "bahdanau":
            self.decoder = recurrent(m + E, H, num_layers=layers, batch_first=True, **fk)
            self.readout = nn.Linear(H + E + m, H, **fk)  # deep output W_r
        else:
            feed = H if self.input_feeding else 0
            self.decoder = recurrent(m + feed, H, num_layers=layers, batch_first=True, **fk)
            self.combine = nn.Linear(E + H, H, bias=False, **fk)  # W_c of eq. 5
        self.output = nn.Linear(H, self.tgt_vocab_size, **fk)  # W_o / W_s

    def _build_attention(
        self,
        attention: str | nn.Module | None,
        hidden_dim: int | None,
        local_score: str,
        window_size: int,
        fk: dict[str, Any],
    ) -> nn.Module | None:
        H, E = self.hidden_dim, self.memory_dim
        if attention is None or isinstance(attention, nn.Module):
            return attention
        if not isinstance(attention, str) or attention not in ATTENTION_NAMES:
            raise ValueError(
                f"attention must be one of {ATTENTION_NAMES}, an nn.Module or None, "
                f"got {attention!r}"
            )
        needs_equal = attention == "dot" or (attention.startswith("local") and local_score == "dot")
        if needs_equal and E != H:
            raise ValueError(
                f"attention {attention!r} (dot score) needs the decoder size {H} to equal the "
                f"annotation size {E}: use bidirectional=False or another score"
            )
        if attention == "additive":
            return AdditiveAttention(H, E, hidden_dim=hidden_dim or H, **fk)
        if attention == "dot":
            return DotAttention(H, E)
        if attention == "general":
            return GeneralAttention(H, E, **fk)
        if attention == "concat":
            return ConcatAttention(H, E, hidden_dim=hidden_dim or H, **fk)
        mode = "monotonic" if attention == "local-m" else "predictive"
        return LocalAttention(
            H, E, mode=mode, window_size=window_size, score=local_score, hidden_dim=hidden_dim, **fk
        )

    # ------------------------------------------------------------------------------------
    # checks

    def _check_src(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        check_tensor(src, "src", ndim=2, layout="(B, S)", floating=False, like=("", self))
        check_tensor(src_lengths, "src_lengths", ndim=1, layout="(B,)", floating=False)
        check_device(src_lengths, "src_lengths", ("src", src), allow_cpu=True)
        for name, x in (("src", src), ("src_lengths", src_lengths)):
            if x.is_floating_point() or x.dtype == torch.bool:
                raise TypeError(f"{name} must be an integer tensor, got dtype {x.dtype}")
        if src_lengths.shape[0] != src.shape[0]:
            raise ValueError(
                f"src_lengths must have {src.shape[0]} entries (the batch of src), "
                f"got {src_lengths.shape[0]}"
            )
        # The value checks read the data: skipped while tracing (torch.compile, torch.export).
        checking = not torch.compiler.is_compiling()
        if src.shape[1] == 0 or (
            checking
            and (bool((src_lengths < 1).any()) or bool((src_lengths > src.shape[1]).any()))
        ):
            raise ValueError(
                f"src_lengths must be in [1, {src.shape[1]}], got {src_lengths.tolist()}"
            )
        valid = lengths_to_mask(src_lengths, src.shape[1], device=src.device)
        bad = valid & ((src < 0) | (src >= self.src_vocab_size))
        if checking and bool(bad.any()):
            raise ValueError(f"src ids must be in [0, {self.src_vocab_size}) at valid positions")
        return src.masked_fill(~valid, self.pad_index), valid

    def _check_tgt(self, tgt_in: Tensor, batch: int) -> None:
        check_tensor(tgt_in, "tgt_in", ndim=2, layout="(B, T)", floating=False,
                     like=("", self))
        if tgt_in.is_floating_point() or tgt_in.dtype == torch.bool:
            raise TypeError("tgt_in must be an integer tensor")
        if tgt_in.shape[0] != batch:
            raise ValueError(f"tgt_in must have batch size {batch}, got {tgt_in.shape[0]}")
        if not torch.compiler.is_compiling() and bool(
            ((tgt_in < 0) | (tgt_in >= self.tgt_vocab_size)).any()
        ):
            raise ValueError(f"tgt_in ids must be in [0, {self.tgt_vocab_size})")

    # ------------------------------------------------------------------------------------
    # encoder and one decoder step

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """Run the encoder on packed sequences; build the decoder's initial state."""
        src, mask = self._check_src(src, src_lengths)
        batch = src.shape[0]
        embedded = self.dropout(self.src_embed(src))  # (b, s, m)
        memory, final = run_packed(self.encoder, embedded, src_lengths)  # (b, s, e)
        h_n = final[0] if isinstance(final, tuple) else final  # (layers * dirs, b, h)
        if self.bidirectional:
            summary = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (b, 2h): last layer, fwd + bwd
        else:
            summary = h_n[-1]
        L, H = self.num_layers, self.hidden_dim

        def layers(x: Tensor) -> Tensor:
            return torch.tanh(x).reshape(batch, L, H).transpose(0, 1).contiguous()  # (l, b, h)

        hidden = layers(self.init_hidden(summary))
        cell = layers(self.init_cell(summary)) if self.init_cell is not None else None
        feed = summary.new_zeros(batch, H) if self.input_feeding else None
        return EncoderOutput(memory, mask, summary, DecoderState(hidden, cell, feed))

    def _attend(
        self, query: Tensor, memory: Tensor, mask: Tensor, step: int
    ) -> tuple[Tensor, Tensor]:
        """``(context (B, E), dense weights (B, S))`` of one query ``(B, Dq)``."""
        q = query.unsqueeze(1)  # (b, 1, d)
        attention = self.attention
        assert attention is not None
        if isinstance(attention, LocalAttention):
            s_len = memory.shape[1]
            if attention.mode == "monotonic":
                # local-m: p_t = t, window [t - D, t + D] (Luong section 3.2).
                positions = torch.arange(s_len, device=memory.device)
                window = (positions - step).abs() <= attention.half_width  # (s,)
                scores = attention.score(q, memory)  # (b, 1, s)
                weights = masked_softmax(scores, (mask & window).unsqueeze(1))
                if attention.gaussian:
                    centers = torch.full(
                        (1, 1), float(step), device=memory.device, dtype=memory.dtype
                    )
                    weights = weights * attention._gaussian(positions.view(1, 1, -1), centers)
                context = torch.bmm(weights, memory)  # (b, 1, e)
                return context[:, 0], weights[:, 0]
            out = attention(q, memory, memory, mask=mask)
            return out.context[:, 0], out.dense_weights(s_len)[:, 0]
        out = attention(q, memory, memory, mask=mask)
        context, weights = out[0], out[1]
        if weights.dim() != 3:
            raise ValueError(
                f"the attention module must return weights (B, 1, S), got {tuple(weights.shape)}"
            )
        return context[:, 0], weights[:, 0]

    def _rnn(self, x: Tensor, state: DecoderState) -> tuple[Tensor, Tensor, Tensor | None]:
        if state.cell is not None:
            out, (hidden, cell) = self.decoder(x.unsqueeze(1), (state.hidden, state.cell))
            return out[:, 0], hidden, cell
        out, hidden = self.decoder(x.unsqueeze(1), state.hidden)
        return out[:, 0], hidden, None

    def decode_step(
        self, prev_tokens: Tensor, state: DecoderState, encoded: EncoderOutput, step: int
    ) -> StepOutput:
        """One decoder step from the previous target ids ``(B,)`` at 0-based position ``step``.

        ``encoded`` must have the batch of ``prev_tokens`` (see :meth:`encode`).
        """
        emb = self.dropout(self.tgt_embed(prev_tokens))  # (b, m)
        memory, mask = encoded.memory, encoded.mask
        if self.attention_style == "bahdanau":
            if self.attention is None:
                context, weights = encoded.summary, None  # RNNencdec: a fixed c
            else:
                context, weights = self._attend(state.hidden[-1], memory, mask, step)  # eq. 5-6
            out, hidden, cell = self._rnn(torch.cat([emb, context], dim=-1), state)  # eq. 4
            assert self.readout is not None
            readout = torch.tanh(self.readout(torch.cat([out, context, emb], dim=-1)))
            logits = self.output(self.dropout(readout))
            return StepOutput(logits, weights, DecoderState(hidden, cell, None))
        x = torch.cat([emb, state.feed], dim=-1) if state.feed is not None else emb
        out, hidden, cell = self._rnn(x, state)  # h_t
        context, weights = self._attend(out, memory, mask, step)  # c_t, a_t
        assert self.combine is not None
        attentional = torch.tanh(self.combine(torch.cat([context, out], dim=-1)))  # eq. 5
        logits = self.output(self.dropout(attentional))  # eq. 6
        feed = attentional if self.input_feeding else None
        return StepOutput(logits, weights, DecoderState(hidden, cell, feed))

    # ------------------------------------------------------------------------------------
    # teacher forcing, greedy, beam

    # deprecated attribute spellings (one release): the indices are bos/eos/pad_index
    bos_id = property(lambda self: self.bos_index, doc="Deprecated spelling of ``bos_index``.")
    eos_id = property(lambda self: self.eos_index, doc="Deprecated spelling of ``eos_index``.")
    pad_id = property(lambda self: self.pad_index, doc="Deprecated spelling of ``pad_index``.")

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Seq2SeqOutput:
        """Teacher-forced logits ``(B, T, V)`` and alignments ``(B, T, S)`` of ``tgt_in``."""
        encoded = self.encode(src, src_lengths)
        self._check_tgt(tgt_in, src.shape[0])
        state = encoded.state
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            step = self.decode_step(tgt_in[:, t], state, encoded, t)
            state = step.state
            logits.append(step.logits)
            if step.weights is not None:
                weights.append(step.weights)
        if not logits:
            empty = encoded.memory.new_zeros(src.shape[0], 0, self.tgt_vocab_size)
            return Seq2SeqOutput(empty, None if self.attention is None else empty[..., :0])
        return Seq2SeqOutput(
            torch.stack(logits, dim=1), torch.stack(weights, dim=1) if weights else None
        )

    @torch.no_grad()
    def greedy_decode(
        self, src: Tensor, src_lengths: Tensor, *, max_length: int = 50
    ) -> DecodeOutput:
        """Argmax decoding until EOS or ``max_length`` output ids (batched).

        Returns:
            :class:`~attnlab.architectures.decoding.DecodeOutput`: ``tokens (B, T)`` (EOS
            included, ``pad_index`` after it), ``lengths``, alignments ``weights (B, T, S)`` (or
            ``None`` without attention) and the log-probabilities as ``scores``.
        """
        check_search_args(max_length=max_length)
        return greedy_search(
            _Seq2SeqDecoder(self, self.encode(src, src_lengths)),
            batch_size=src.shape[0],
            bos_index=self.bos_index,
            eos_index=self.eos_index,
            pad_index=self.pad_index,
            max_length=max_length,
            device=src.device,
        )

    @torch.no_grad()
    def beam_search(
        self,
        src: Tensor,
        src_lengths: Tensor,
        *,
        beam_size: int = 4,
        max_length: int = 50,
        length_penalty: float = 0.0,
    ) -> DecodeOutput:
        """Beam search (see :mod:`attnlab.architectures.decoding`), batched.

        Args:
            src: ``(B, S)``.
            src_lengths: ``(B,)``.
            beam_size: ``k`` (``1`` = greedy).
            max_length: most output ids (EOS included).
            length_penalty: ``alpha`` of the GNMT penalty (``0``: none, as in the papers).

        Returns:
            :class:`~attnlab.architectures.decoding.DecodeOutput` as :meth:`greedy_decode`, with
            ``scores = log P / lp``.
        """
        check_search_args(
            max_length=max_length, beam_size=beam_size, length_penalty=length_penalty
        )
        return beam_search(
            _Seq2SeqDecoder(self, self.encode(src, src_lengths)),
            batch_size=src.shape[0],
            bos_index=self.bos_index,
            eos_index=self.eos_index,
            pad_index=self.pad_index,
            beam_size=beam_size,
            max_length=max_length,
            length_penalty=length_penalty,
            device=src.device,
        )

    def extra_repr(self) -> str:
        return (
            f"rnn={self.rnn_type!r}, bidirectional={self.bidirectional}, "
            f"attention_style={self.attention_style!r}, input_feeding={self.input_feeding}"
        )


class _Seq2SeqDecoder:
    """:class:`~attnlab.architectures.decoding.IncrementalDecoder` of a :class:`Seq2Seq`: the
    encoder output and the recurrent state of every hypothesis."""

    def __init__(self, model: Seq2Seq, encoded: EncoderOutput) -> None:
        self.model, self.encoded, self.state = model, encoded, encoded.state

    def step(self, tokens: Tensor, position: int) -> tuple[Tensor, Tensor | None]:
        out = self.model.decode_step(tokens, self.state, self.encoded, position)
        self.state = out.state
        return out.logits, out.weights

    def select(self, index: Tensor) -> None:
        memory, mask, summary, _ = self.encoded
        self.encoded = EncoderOutput(
            memory.index_select(0, index),
            mask.index_select(0, index),
            summary.index_select(0, index),
            self.encoded.state,
        )
        self.state = self.state.select(index)
