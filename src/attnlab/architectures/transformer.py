"""The Transformer: encoder, decoder and encoder-decoder built from :class:`MultiHeadAttention`.

Vaswani et al., "Attention Is All You Need", https://arxiv.org/abs/1706.03762: multi-head
scaled dot-product attention (section 3.2, eq. 1), position-wise feed-forward networks
(section 3.3, eq. 2), shared embeddings scaled by ``sqrt(d_model)`` and tied with the pre-softmax
projection (section 3.4), sinusoidal or learned positions (section 3.5), residual dropout and
layer normalisation around every sub-layer (section 3.1, ``LayerNorm(x + Sublayer(x))``; the
pre-norm variant ``x + Sublayer(LayerNorm(x))`` is an option).

The decoder decodes incrementally with a key/value cache (:class:`DecoderCache`) whose results
equal a full recomputation; :meth:`Transformer.greedy_decode` and :meth:`Transformer.beam_search`
use it.

Shape letters: ``b`` batch, ``h`` heads, ``i`` queries, ``j`` keys, ``d`` per-head feature,
``n`` layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.attend import dot_product_attention
from attnlab.core.checks import (
    check_bool,
    check_device,
    check_dim,
    check_mask,
    check_probability,
    check_size,
    check_tensor,
)
from attnlab.core.output import AttentionOutput
from attnlab.mechanisms.multihead import MultiHeadAttention

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
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "TransformerOutput",
    "sinusoidal_positions",
]

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}
_POSITIONS = ("sinusoidal", "learned")


# ----------------------------------------------------------------------------------------------
# outputs and cache


class EncoderLayerOutput(NamedTuple):
    """Result of :class:`TransformerEncoderLayer`.

    Attributes:
        context: ``(B, L, dim)`` the layer's output.
        weights: ``(B, H, L, L)`` self-attention weights of every head (``None`` with
            ``need_weights=False``).
    """

    context: Tensor
    weights: Tensor | None


class DecoderLayerOutput(NamedTuple):
    """Result of :class:`TransformerDecoderLayer`.

    Attributes:
        context: ``(B, Lt, dim)`` the layer's output.
        weights: ``(B, H, Lt, Lk)`` masked self-attention weights (``Lk = Lt`` plus the cached
            length when decoding incrementally), ``None`` with ``need_weights=False``.
        cross_weights: ``(B, H, Lt, Ls)`` encoder-decoder attention weights (``None`` with
            ``need_weights=False`` or without cross-attention).
    """

    context: Tensor
    weights: Tensor | None
    cross_weights: Tensor | None


class StackOutput(NamedTuple):
    """Result of :class:`TransformerEncoder`, :class:`TransformerDecoder` and
    :class:`EncoderOnlyTransformer`.

    Attributes:
        context: ``(B, L, dim)`` the last layer's output (after the final layer norm of a
            pre-norm stack).
        weights: ``(B, N, H, L, Lk)`` self-attention weights of every layer and head, stacked
            over the ``N`` layers (``None`` with ``need_weights=False``).
        cross_weights: ``(B, N, H, L, Ls)`` encoder-decoder weights of a decoder stack with
            cross-attention (``None`` otherwise).
    """

    context: Tensor
    weights: Tensor | None
    cross_weights: Tensor | None = None


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


@dataclass
class LayerCache:
    """Projected keys and values one decoder layer keeps between incremental steps.

    Attributes:
        key: ``(B, H, T, Dh)`` self-attention keys of the ``T`` tokens decoded so far.
        value: ``(B, H, T, Dh)`` their values.
        memory_key: ``(B, H, Ls, Dh)`` cross-attention keys of the encoder output (computed
            once, at the first step).
        memory_value: ``(B, H, Ls, Dh)`` their values.
    """

    key: Tensor | None = None
    value: Tensor | None = None
    memory_key: Tensor | None = None
    memory_value: Tensor | None = None

    def reorder(self, index: Tensor) -> None:
        """Keep the batch rows ``index`` (``(B',)`` long), e.g. the surviving beams."""
        for name in ("key", "value", "memory_key", "memory_value"):
            tensor = getattr(self, name)
            if tensor is not None:
                setattr(self, name, tensor.index_select(0, index))


@dataclass
class DecoderCache:
    """The key/value cache of a whole decoder: one :class:`LayerCache` per layer.

    Create it with :meth:`TransformerDecoder.new_cache` (or the models' ``new_cache``) and pass
    it to every step; ``length`` counts the tokens already decoded (the position offset of the
    next one).
    """

    layers: list[LayerCache] = field(default_factory=list)
    length: int = 0

    def reorder(self, index: Tensor) -> None:
        """Keep the batch rows ``index`` in every layer (beam search)."""
        for layer in self.layers:
            layer.reorder(index)


# ----------------------------------------------------------------------------------------------
# attention with a cache: the projections of MultiHeadAttention, applied piecewise


def _project_heads(mha: MultiHeadAttention, x: Tensor, rows: slice, parts: int) -> list[Tensor]:
    """``parts`` projections of ``x`` (rows of ``in_proj_weight``), as ``(B, H, L, Dh)`` each."""
    weight = mha.in_proj_weight
    if weight is None:  # pragma: no cover - the Transformer always has kdim == vdim == dim
        raise ValueError("incremental decoding needs kdim == vdim == dim")
    bias = None if mha.in_proj_bias is None else mha.in_proj_bias[rows]
    y = F.linear(x, weight[rows], bias)
    y = y.unflatten(-1, (parts, mha.num_heads, mha.head_dim)).permute(2, 0, 3, 1, 4)  # (p,b,h,l,d)
    return list(y.unbind(0))


def _attend_heads(
    mha: MultiHeadAttention,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None,
    need_weights: bool,
) -> AttentionOutput:
    """Eq. 1 on projected heads, then ``W^O``: the second half of :class:`MultiHeadAttention`."""
    batch, _, q_len, _ = q.shape
    context, weights = dot_product_attention(
        q,
        k,
        v,
        scale=mha.head_dim**-0.5,
        mask=mask,  # (b|1, 1, i|1, j)
        dropout=mha.dropout if mha.training else 0.0,
        need_weights=need_weights,
        causal=mha.causal,
    )
    context = context.transpose(1, 2).reshape(batch, q_len, mha.dim)  # (b, i, h*d)
    return AttentionOutput(mha.out_proj(context), weights)


def _caller_mask(
    mask: Tensor | None, name: str, tokens: Tensor, tokens_name: str, *, k_len: int | None = None
) -> Tensor | None:
    """Validate a mask under the caller's argument name (``src_mask``, ``tgt_mask``, ...) against
    its tokens ``(B, L)``: shape ``(B, Lk)`` or ``(B|1, L, Lk)`` (``Lk = L`` unless given), and
    the tokens' device. Returns the mask unchanged."""
    if mask is None:
        return None
    batch, length = tokens.shape
    check_mask(mask, batch=batch, q_len=length, k_len=length if k_len is None else k_len,
               name=name, like=(tokens_name, tokens))
    return mask


def _head_mask(mask: Tensor | None, *, batch: int, q_len: int, k_len: int, name: str) -> Any:
    if mask is None:
        return None
    return check_mask(mask, batch=batch, q_len=q_len, k_len=k_len, name=name).unsqueeze(1)


# ----------------------------------------------------------------------------------------------
# positions


def sinusoidal_positions(
    length: int,
    dim: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """The sinusoidal position encodings of section 3.5.

    .. math::

        PE_{(pos, 2i)} = \\sin(pos / 10000^{2i / d_{model}}), \\qquad
        PE_{(pos, 2i+1)} = \\cos(pos / 10000^{2i / d_{model}})

    Computed in float64 and cast to ``dtype``.

    Args:
        length: number of positions ``L``.
        dim: ``d_model`` (any size; an odd last column holds a sine).

    Returns:
        ``(L, dim)``.

    Example:
        >>> pe = sinusoidal_positions(4, 6)
        >>> pe.shape, float(pe[0, 1]), float(pe[0, 0])
        (torch.Size([4, 6]), 1.0, 0.0)
    """
    check_size(length, "length", minimum=0)
    check_size(dim, "dim")
    position = torch.arange(length, dtype=torch.float64, device=device).unsqueeze(1)
    index = torch.arange(0, dim, 2, dtype=torch.float64, device=device)
    angle = position / torch.pow(10000.0, index / dim)  # (L, ceil(dim / 2))
    pe = torch.zeros(length, dim, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe.to(torch.get_default_dtype() if dtype is None else dtype)


class PositionalEncoding(nn.Module):
    """Adds position information to embeddings, then dropout (section 3.5 and 5.4).

    Args:
        dim: ``d_model``.
        max_len: the longest sequence (positions ``0 .. max_len - 1``).
        kind: ``"sinusoidal"`` (the paper's, a fixed buffer) or ``"learned"`` (Table 3 row (E):
            one trained vector per position, initialised from ``N(0, dim^-1)``).
        dropout: ``P_drop`` on the sum.

    Shape:
        - x: ``(B, L, dim)``; returns ``(B, L, dim)``.

    Example:
        >>> pe = PositionalEncoding(8, max_len=16)
        >>> x = torch.zeros(2, 5, 8)
        >>> torch.equal(pe(x)[0], sinusoidal_positions(5, 8))
        True
    """

    def __init__(
        self,
        dim: int,
        *,
        max_len: int = 1024,
        kind: str = "sinusoidal",
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(dim, "dim")
        check_size(max_len, "max_len")
        check_probability(dropout, "dropout")
        if kind not in _POSITIONS:
            raise ValueError(f"kind must be one of {_POSITIONS}, got {kind!r}")
        self.dim, self.max_len, self.kind = dim, max_len, kind
        self.dropout = nn.Dropout(dropout)
        self.weight: nn.Parameter | None
        if kind == "learned":
            self.weight = nn.Parameter(torch.empty(max_len, dim, device=device, dtype=dtype))
            nn.init.normal_(self.weight, std=dim**-0.5)
        else:
            self.register_parameter("weight", None)
            self.register_buffer(
                "table", sinusoidal_positions(max_len, dim, device=device, dtype=dtype),
                persistent=False,
            )

    def forward(self, x: Tensor, *, offset: int = 0) -> Tensor:
        """Add the encodings of positions ``offset .. offset + L - 1`` to ``x``."""
        check_tensor(x, "x", ndim=3, layout="(B, L, dim)")
        check_dim(x, -1, self.dim, "x", "dim")
        check_size(offset, "offset", minimum=0)
        end = offset + x.shape[1]
        if end > self.max_len:
            raise ValueError(
                f"positions up to {end - 1} requested but max_len={self.max_len}; "
                "build the model with a larger max_len"
            )
        table = self.weight if self.weight is not None else self.get_buffer("table")
        return self.dropout(x + table[offset:end].to(x.dtype))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, max_len={self.max_len}, kind={self.kind!r}"


# ----------------------------------------------------------------------------------------------
# layers


def _check_layer_args(
    dim: int, num_heads: int, hidden_dim: int, dropout: float, activation: str, norm_first: bool
) -> None:
    check_size(dim, "dim")
    check_size(num_heads, "num_heads")
    check_size(hidden_dim, "hidden_dim")
    check_probability(dropout, "dropout")
    check_bool(norm_first, "norm_first")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {activation!r}")


class TransformerEncoderLayer(nn.Module):
    """One encoder layer: multi-head self-attention and a position-wise feed-forward network.

    Section 3.1 (post-norm, the paper): ``x = LayerNorm(x + Dropout(SelfAttn(x)))``, then
    ``x = LayerNorm(x + Dropout(FFN(x)))`` with ``FFN(x) = max(0, x W_1 + b_1) W_2 + b_2``
    (eq. 2). With ``norm_first`` (pre-norm): ``x = x + Dropout(SelfAttn(LayerNorm(x)))`` and
    ``x = x + Dropout(FFN(LayerNorm(x)))``.

    Args:
        dim: ``d_model``.
        num_heads: ``h``; ``d_k = d_v = dim / h``.
        hidden_dim: ``d_ff``, the inner size of the feed-forward network.
        dropout: ``P_drop``: on each sub-layer's output (section 5.4), on the attention weights
            and inside the feed-forward network (as ``torch.nn.TransformerEncoderLayer``).
        activation: ``"relu"`` (eq. 2) or ``"gelu"``.
        norm_first: pre-norm instead of the paper's post-norm.
        layer_norm_eps: epsilon of the layer norms.

    Submodules are named like ``torch.nn.TransformerEncoderLayer``'s (``self_attn``,
    ``linear1``, ``linear2``, ``norm1``, ``norm2``), so its state dict loads as it is.

    Shape:
        - x: ``(B, L, dim)``; mask: ``(B, L)`` key padding or ``(B|1, L, L)``, ``True`` = may
          attend.
        - context: ``(B, L, dim)``; weights: ``(B, H, L, L)``.

    Example:
        >>> layer = TransformerEncoderLayer(16, 4, 32, dropout=0.0)
        >>> x = torch.randn(2, 5, 16)
        >>> mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
        >>> out = layer(x, mask=mask)
        >>> out.context.shape, out.weights.shape, bool(out.weights[1, :, :, 3:].eq(0).all())
        (torch.Size([2, 5, 16]), torch.Size([2, 4, 5, 5]), True)
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        hidden_dim: int,
        *,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _check_layer_args(dim, num_heads, hidden_dim, dropout, activation, norm_first)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.norm_first = norm_first
        self.activation_name = activation
        self.activation = _ACTIVATIONS[activation]
        self.self_attn = MultiHeadAttention(dim, num_heads, dropout=dropout, **factory)
        self.linear1 = nn.Linear(dim, hidden_dim, **factory)
        self.linear2 = nn.Linear(hidden_dim, dim, **factory)
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps, **factory)
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps, **factory)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def _feed_forward(self, x: Tensor) -> Tensor:
        # eq. 2: FFN(x) = max(0, x W_1 + b_1) W_2 + b_2
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(
        self, x: Tensor, *, mask: Tensor | None = None, need_weights: bool = True
    ) -> EncoderLayerOutput:
        """Encode ``x``; ``mask`` excludes keys (padding) from the self-attention."""
        check_tensor(x, "x", ndim=3, layout="(B, L, dim)")
        if self.norm_first:
            attn = self.self_attn(self.norm1(x), mask=mask, need_weights=need_weights)
            x = x + self.dropout1(attn.context)
            x = x + self._feed_forward(self.norm2(x))
        else:
            attn = self.self_attn(x, mask=mask, need_weights=need_weights)
            x = self.norm1(x + self.dropout1(attn.context))
            x = self.norm2(x + self._feed_forward(x))
        return EncoderLayerOutput(x, attn.weights)


class TransformerDecoderLayer(nn.Module):
    """One decoder layer: masked self-attention, encoder-decoder attention, feed-forward.

    Section 3.1: the self-attention is causal (position ``i`` sees positions ``<= i``); the
    second sub-layer attends over the encoder output ``memory``; each sub-layer is wrapped as in
    :class:`TransformerEncoderLayer` (post-norm, or pre-norm with ``norm_first``). With
    ``cross_attention=False`` the layer is a decoder-only (language-model) block.

    Args:
        dim, num_heads, hidden_dim, dropout, activation, norm_first, layer_norm_eps: as in
            :class:`TransformerEncoderLayer`.
        cross_attention: include the encoder-decoder attention sub-layer.

    Submodules follow ``torch.nn.TransformerDecoderLayer`` (``self_attn``, ``multihead_attn``,
    ``linear1``, ``linear2``, ``norm1``, ``norm2``, ``norm3``).

    Shape:
        - x: ``(B, Lt, dim)`` (the new tokens only when ``cache`` is given); memory:
          ``(B, Ls, dim)``.
        - mask: target key mask ``(B, Lk)`` or ``(B|1, Lt, Lk)`` (``Lk = Lt`` plus the cached
          length), combined with the causal mask; memory_mask: ``(B, Ls)`` or ``(B|1, Lt, Ls)``.
        - context ``(B, Lt, dim)``; weights ``(B, H, Lt, Lk)``; cross_weights ``(B, H, Lt, Ls)``.

    Example:
        >>> layer = TransformerDecoderLayer(16, 4, 32, dropout=0.0)
        >>> out = layer(torch.randn(2, 3, 16), torch.randn(2, 6, 16))
        >>> out.weights.shape, out.cross_weights.shape, bool(out.weights[:, :, 0, 1:].eq(0).all())
        (torch.Size([2, 4, 3, 3]), torch.Size([2, 4, 3, 6]), True)
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        hidden_dim: int,
        *,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        cross_attention: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _check_layer_args(dim, num_heads, hidden_dim, dropout, activation, norm_first)
        check_bool(cross_attention, "cross_attention")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.dim = dim
        self.norm_first = norm_first
        self.activation_name = activation
        self.activation = _ACTIVATIONS[activation]
        self.self_attn = MultiHeadAttention(
            dim, num_heads, dropout=dropout, causal=True, **factory
        )
        self.multihead_attn: MultiHeadAttention | None = None
        self.norm2: nn.LayerNorm | None = None
        if cross_attention:
            self.multihead_attn = MultiHeadAttention(dim, num_heads, dropout=dropout, **factory)
            self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps, **factory)
        self.linear1 = nn.Linear(dim, hidden_dim, **factory)
        self.linear2 = nn.Linear(hidden_dim, dim, **factory)
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps, **factory)
        self.norm3 = nn.LayerNorm(dim, eps=layer_norm_eps, **factory)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def _feed_forward(self, x: Tensor) -> Tensor:
        # eq. 2
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _self_attention(
        self, h: Tensor, mask: Tensor | None, cache: LayerCache | None, need_weights: bool
    ) -> AttentionOutput:
        batch, q_len = h.shape[:2]
        if cache is None:
            return self.self_attn(h, mask=mask, need_weights=need_weights)
        q, k, v = _project_heads(self.self_attn, h, slice(0, 3 * self.dim), 3)  # (b, h, i, d)
        if cache.key is not None and cache.value is not None:
            k = torch.cat([cache.key, k], dim=2)  # (b, h, j, d)
            v = torch.cat([cache.value, v], dim=2)
        cache.key, cache.value = k, v
        head_mask = _head_mask(mask, batch=batch, q_len=q_len, k_len=k.shape[2], name="mask")
        return _attend_heads(self.self_attn, q, k, v, mask=head_mask, need_weights=need_weights)

    def _cross_attention(
        self,
        h: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        cache: LayerCache | None,
        need_weights: bool,
    ) -> AttentionOutput:
        mha = self.multihead_attn
        assert mha is not None
        if cache is None:
            return mha(h, memory, mask=memory_mask, need_weights=need_weights)
        batch, q_len = h.shape[:2]
        (q,) = _project_heads(mha, h, slice(0, self.dim), 1)
        if cache.memory_key is None or cache.memory_value is None:
            cache.memory_key, cache.memory_value = _project_heads(
                mha, memory, slice(self.dim, 3 * self.dim), 2
            )
        k, v = cache.memory_key, cache.memory_value
        head_mask = _head_mask(
            memory_mask, batch=batch, q_len=q_len, k_len=k.shape[2], name="memory_mask"
        )
        return _attend_heads(mha, q, k, v, mask=head_mask, need_weights=need_weights)

    def forward(
        self,
        x: Tensor,
        memory: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        cache: LayerCache | None = None,
        need_weights: bool = True,
    ) -> DecoderLayerOutput:
        """Decode ``x`` (all target positions, or the new ones when ``cache`` is given).

        Args:
            x: ``(B, Lt, dim)`` target representations.
            memory: ``(B, Ls, dim)`` encoder output; required with cross-attention, refused
                without.
            mask: target key mask (``True`` = may attend), combined with the causal mask.
            memory_mask: source key mask (``True`` = may attend), e.g. source padding.
            cache: a :class:`LayerCache` updated in place: ``x`` then holds only the new
                tokens, which attend to the cached keys/values and themselves.
            need_weights: return the weights of every head.
        """
        check_tensor(x, "x", ndim=3, layout="(B, Lt, dim)")
        check_dim(x, -1, self.dim, "x", "dim")
        check_bool(need_weights, "need_weights")
        if self.multihead_attn is None:
            if memory is not None:
                raise ValueError("memory was given to a decoder layer without cross_attention")
            if memory_mask is not None:
                raise ValueError("memory_mask was given to a decoder layer without cross_attention")
        else:
            if memory is None:
                raise ValueError("memory (B, Ls, dim) is required by the cross-attention")
            check_tensor(memory, "memory", ndim=3, layout="(B, Ls, dim)")
            check_dim(memory, -1, self.dim, "memory", "dim")
            if memory.shape[0] != x.shape[0]:
                raise ValueError(
                    f"memory must have the batch size of x ({x.shape[0]}), got {memory.shape[0]}"
                )
        cross_weights = None
        if self.norm_first:
            attn = self._self_attention(self.norm1(x), mask, cache, need_weights)
            x = x + self.dropout1(attn.context)
            if memory is not None:
                assert self.norm2 is not None
                cross = self._cross_attention(
                    self.norm2(x), memory, memory_mask, cache, need_weights
                )
                x = x + self.dropout2(cross.context)
                cross_weights = cross.weights
            x = x + self._feed_forward(self.norm3(x))
        else:
            attn = self._self_attention(x, mask, cache, need_weights)
            x = self.norm1(x + self.dropout1(attn.context))
            if memory is not None:
                assert self.norm2 is not None
                cross = self._cross_attention(x, memory, memory_mask, cache, need_weights)
                x = self.norm2(x + self.dropout2(cross.context))
                cross_weights = cross.weights
            x = self.norm3(x + self._feed_forward(x))
        return DecoderLayerOutput(x, attn.weights, cross_weights)


# ----------------------------------------------------------------------------------------------
# stacks


def _stack(weights: list[Tensor | None]) -> Tensor | None:
    if not weights or any(w is None for w in weights):
        return None
    return torch.stack([w for w in weights if w is not None], dim=1)  # (b, n, h, i, j)


class TransformerEncoder(nn.Module):
    """A stack of ``num_layers`` :class:`TransformerEncoderLayer` (section 3.1, ``N = 6``).

    A pre-norm stack (``norm_first``) ends with a layer norm, as is usual for pre-norm
    Transformers (without it the output of the last residual sum is never normalised).

    Args:
        num_layers: ``N``.
        dim, num_heads, hidden_dim, dropout, activation, norm_first, layer_norm_eps: per layer.

    Shape:
        - x: ``(B, L, dim)``; mask: ``(B, L)`` or ``(B|1, L, L)``.
        - context ``(B, L, dim)``; weights ``(B, N, H, L, L)``.

    Example:
        >>> enc = TransformerEncoder(2, 16, 4, 32, dropout=0.0)
        >>> out = enc(torch.randn(2, 5, 16))
        >>> out.context.shape, out.weights.shape
        (torch.Size([2, 5, 16]), torch.Size([2, 2, 4, 5, 5]))
    """

    def __init__(
        self,
        num_layers: int,
        dim: int,
        num_heads: int,
        hidden_dim: int,
        *,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(num_layers, "num_layers")
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(
                dim, num_heads, hidden_dim, dropout=dropout, activation=activation,
                norm_first=norm_first, layer_norm_eps=layer_norm_eps, device=device, dtype=dtype,
            )
            for _ in range(num_layers)
        )
        self.norm = (
            nn.LayerNorm(dim, eps=layer_norm_eps, device=device, dtype=dtype)
            if norm_first
            else None
        )

    def forward(
        self, x: Tensor, *, mask: Tensor | None = None, need_weights: bool = True
    ) -> StackOutput:
        """Encode ``x`` through every layer; ``mask`` excludes padded keys."""
        weights: list[Tensor | None] = []
        for layer in self.layers:
            x, w = layer(x, mask=mask, need_weights=need_weights)
            weights.append(w)
        if self.norm is not None:
            x = self.norm(x)
        return StackOutput(x, _stack(weights) if need_weights else None)


class TransformerDecoder(nn.Module):
    """A stack of ``num_layers`` :class:`TransformerDecoderLayer` with an optional KV cache.

    Args:
        num_layers: ``N``.
        dim, num_heads, hidden_dim, dropout, activation, norm_first, layer_norm_eps,
            cross_attention: per layer.

    Shape:
        - x: ``(B, Lt, dim)``; memory: ``(B, Ls, dim)``.
        - context ``(B, Lt, dim)``; weights ``(B, N, H, Lt, Lk)``; cross_weights
          ``(B, N, H, Lt, Ls)``.

    Example:
        >>> dec = TransformerDecoder(2, 16, 4, 32, dropout=0.0)
        >>> out = dec(torch.randn(2, 3, 16), torch.randn(2, 6, 16))
        >>> out.weights.shape, out.cross_weights.shape
        (torch.Size([2, 2, 4, 3, 3]), torch.Size([2, 2, 4, 3, 6]))
    """

    def __init__(
        self,
        num_layers: int,
        dim: int,
        num_heads: int,
        hidden_dim: int,
        *,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        cross_attention: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(num_layers, "num_layers")
        self.layers = nn.ModuleList(
            TransformerDecoderLayer(
                dim, num_heads, hidden_dim, dropout=dropout, activation=activation,
                norm_first=norm_first, layer_norm_eps=layer_norm_eps,
                cross_attention=cross_attention, device=device, dtype=dtype,
            )
            for _ in range(num_layers)
        )
        self.norm = (
            nn.LayerNorm(dim, eps=layer_norm_eps, device=device, dtype=dtype)
            if norm_first
            else None
        )

    def new_cache(self) -> DecoderCache:
        """An empty :class:`DecoderCache` for this stack."""
        return DecoderCache([LayerCache() for _ in self.layers])

    def forward(
        self,
        x: Tensor,
        memory: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        cache: DecoderCache | None = None,
        need_weights: bool = True,
    ) -> StackOutput:
        """Decode ``x`` (the new positions only when ``cache`` is given; ``cache.length`` is
        advanced by ``Lt``)."""
        if cache is not None and len(cache.layers) != len(self.layers):
            raise ValueError(
                f"cache has {len(cache.layers)} layers, the decoder {len(self.layers)}; "
                "create it with new_cache()"
            )
        weights: list[Tensor | None] = []
        cross: list[Tensor | None] = []
        for index, layer in enumerate(self.layers):
            x, w, c = layer(
                x,
                memory,
                mask=mask,
                memory_mask=memory_mask,
                cache=None if cache is None else cache.layers[index],
                need_weights=need_weights,
            )
            weights.append(w)
            cross.append(c)
        if cache is not None:
            cache.length += x.shape[1]
        if self.norm is not None:
            x = self.norm(x)
        if not need_weights:
            return StackOutput(x, None, None)
        return StackOutput(x, _stack(weights), _stack(cross) if memory is not None else None)


# ----------------------------------------------------------------------------------------------
# token models


class _TokenEmbedding(nn.Module):
    """Token embedding scaled by ``sqrt(d_model)`` (section 3.4), initialised ``N(0, dim^-1)``
    so that the scaled embedding has unit variance (the paper does not state an init)."""

    def __init__(
        self,
        vocab_size: int,
        dim: int,
        *,
        pad_index: int | None,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab_size, dim, device=device, dtype=dtype))
        nn.init.normal_(self.weight, std=dim**-0.5)
        self.pad_index = pad_index
        if pad_index is not None:
            with torch.no_grad():
                self.weight[pad_index].zero_()
        self.scale = math.sqrt(dim)

    def forward(self, tokens: Tensor) -> Tensor:
        return F.embedding(tokens, self.weight, self.pad_index) * self.scale


def _check_tokens(
    tokens: Tensor, name: str, vocab_size: int, module: nn.Module | None = None
) -> None:
    check_tensor(tokens, name, ndim=2, layout="(B, L) token indices", floating=False,
                 like=("", module))
    if tokens.is_floating_point() or tokens.dtype == torch.bool or tokens.is_complex():
        raise TypeError(f"{name} must hold integer token indices, got dtype {tokens.dtype}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
        raise ValueError(
            f"{name} must hold indices in [0, {vocab_size}), got values in "
            f"[{int(tokens.min())}, {int(tokens.max())}]"
        )


def _check_index(value: int | None, name: str, vocab_size: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocab_size:
        raise ValueError(f"{name} must be an int in [0, {vocab_size}), got {value!r}")


class Transformer(nn.Module):
    """The encoder-decoder Transformer of Vaswani et al. (2017), for token sequences.

    "Attention Is All You Need", https://arxiv.org/abs/1706.03762, Figure 1: source and target
    embeddings (times ``sqrt(d_model)``, section 3.4) plus positions (section 3.5) with dropout,
    an encoder stack, a decoder stack, and a linear pre-softmax projection.

    Args:
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size.
        dim: ``d_model`` (paper base 512, big 1024).
        num_heads: ``h`` (base 8, big 16).
        num_encoder_layers: ``N`` of the encoder (6).
        num_decoder_layers: ``N`` of the decoder (6).
        hidden_dim: ``d_ff`` (base 2048, big 4096).
        dropout: ``P_drop`` (0.1; big EN-DE 0.3).
        activation: ``"relu"`` (eq. 2) or ``"gelu"``.
        norm_first: pre-norm instead of the paper's post-norm.
        positions: ``"sinusoidal"`` (section 3.5) or ``"learned"`` (Table 3 (E)).
        max_len: longest source/target sequence.
        share_embeddings: one embedding matrix for source and target (the paper's shared BPE
            vocabulary; needs ``src_vocab_size == tgt_vocab_size``).
        tie_output: the pre-softmax projection uses the target embedding matrix (section 3.4),
            so it has no weights (and no bias) of its own.
        pad_index: padding token: masks built from it exclude padded keys, and its embedding
            row is zero and receives no gradient. ``None``: no padding.
        layer_norm_eps: epsilon of the layer norms.

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
        dim: int = 512,
        num_heads: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        hidden_dim: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        positions: str = "sinusoidal",
        max_len: int = 1024,
        share_embeddings: bool = False,
        tie_output: bool = False,
        pad_index: int | None = None,
        layer_norm_eps: float = 1e-5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(src_vocab_size, "src_vocab_size")
        check_size(tgt_vocab_size, "tgt_vocab_size")
        check_bool(share_embeddings, "share_embeddings")
        check_bool(tie_output, "tie_output")
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                "share_embeddings needs one vocabulary: src_vocab_size="
                f"{src_vocab_size} != tgt_vocab_size={tgt_vocab_size}"
            )
        _check_index(pad_index, "pad_index", min(src_vocab_size, tgt_vocab_size))
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        layer_args: dict[str, Any] = {
            "dropout": dropout, "activation": activation, "norm_first": norm_first,
            "layer_norm_eps": layer_norm_eps, **factory,
        }
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        self.dim = dim
        self.pad_index = pad_index
        self.share_embeddings, self.tie_output = share_embeddings, tie_output
        self.encoder = TransformerEncoder(
            num_encoder_layers, dim, num_heads, hidden_dim, **layer_args
        )
        self.decoder = TransformerDecoder(
            num_decoder_layers, dim, num_heads, hidden_dim, **layer_args
        )
        self.src_embedding = _TokenEmbedding(src_vocab_size, dim, pad_index=pad_index, **factory)
        self.tgt_embedding = (
            self.src_embedding
            if share_embeddings
            else _TokenEmbedding(tgt_vocab_size, dim, pad_index=pad_index, **factory)
        )
        self.positions = PositionalEncoding(
            dim, max_len=max_len, kind=positions, dropout=dropout, **factory
        )
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
        _check_tokens(src, "src", self.src_vocab_size, self)
        src_mask = _caller_mask(self._default_mask(src, src_mask), "src_mask", src, "src")
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
        _check_tokens(tgt, "tgt", self.tgt_vocab_size, self)
        check_tensor(memory, "memory", ndim=3, layout="(B, Ls, dim)", like=("tgt", tgt))
        if memory.shape[0] != tgt.shape[0]:
            raise ValueError(
                f"memory (the encoded src) must have the batch size of tgt ({tgt.shape[0]}), "
                f"got {memory.shape[0]}"
            )
        offset = 0 if cache is None else cache.length
        if cache is None:
            tgt_mask = self._default_mask(tgt, tgt_mask)
        tgt_mask = _caller_mask(tgt_mask, "tgt_mask", tgt, "tgt", k_len=offset + tgt.shape[1])
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
        _check_tokens(src, "src", self.src_vocab_size, self)
        _check_tokens(tgt, "tgt", self.tgt_vocab_size, self)
        check_device(tgt, "tgt", ("src", src))
        if tgt.shape[0] != src.shape[0]:
            raise ValueError(
                f"tgt must have the batch size of src ({src.shape[0]}), got {tgt.shape[0]}"
            )
        src_mask = _caller_mask(self._default_mask(src, src_mask), "src_mask", src, "src")
        tgt_mask = _caller_mask(tgt_mask, "tgt_mask", tgt, "tgt")
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

    def _start(
        self, src: Tensor, src_mask: Tensor | None, bos_index: int, eos_index: int, max_len: int
    ) -> tuple[Tensor, Tensor | None]:
        _check_index(bos_index, "bos_index", self.tgt_vocab_size)
        _check_index(eos_index, "eos_index", self.tgt_vocab_size)
        check_size(max_len, "max_len")
        _check_tokens(src, "src", self.src_vocab_size, self)
        src_mask = self._default_mask(src, src_mask)
        memory = self.encode(src, src_mask=src_mask, need_weights=False).context
        return memory, src_mask

    def _fill_after_eos(self, tokens: Tensor, eos_index: int) -> Tensor:
        after = (tokens == eos_index).long().cumsum(1) - (tokens == eos_index).long() > 0
        fill = eos_index if self.pad_index is None else self.pad_index
        return tokens.masked_fill(after, fill)

    @torch.no_grad()
    def greedy_decode(
        self,
        src: Tensor,
        *,
        bos_index: int,
        eos_index: int,
        max_len: int = 50,
        src_mask: Tensor | None = None,
    ) -> Tensor:
        """Greedy decoding with the key/value cache.

        Returns:
            ``(B, T)`` long, ``T <= max_len``, without the BOS token; each row ends at its first
            EOS, after which positions hold ``pad_index`` (EOS when there is none).
        """
        memory, src_mask = self._start(src, src_mask, bos_index, eos_index, max_len)
        batch = src.shape[0]
        cache = self.new_cache()
        last = torch.full((batch, 1), bos_index, dtype=torch.long, device=src.device)
        done = torch.zeros(batch, dtype=torch.bool, device=src.device)
        steps: list[Tensor] = []
        for _ in range(max_len):
            logits = self.decode(
                last, memory, memory_mask=src_mask, cache=cache, need_weights=False
            ).logits[:, -1]
            last = logits.argmax(-1, keepdim=True)  # (b, 1)
            steps.append(last)
            done = done | (last[:, 0] == eos_index)
            if bool(done.all()):
                break
        return self._fill_after_eos(torch.cat(steps, dim=1), eos_index)

    @torch.no_grad()
    def beam_search(
        self,
        src: Tensor,
        *,
        bos_index: int,
        eos_index: int,
        beam_size: int = 4,
        max_len: int = 50,
        length_penalty: float = 0.6,
        src_mask: Tensor | None = None,
    ) -> Tensor:
        """Beam search with the key/value cache (section 6.1: beam 4, length penalty 0.6).

        Beams are extended by total log-probability; a finished beam (it emitted EOS) keeps its
        score and only extends with EOS. The best of the final ``beam_size`` hypotheses is the one
        with the highest ``log p / lp`` where ``lp = ((5 + |Y|) / 6) ** length_penalty`` (Wu et
        al. 2016, https://arxiv.org/abs/1609.08144, eq. 14, which the paper's ``alpha`` refers
        to), ``|Y|`` counting the tokens up to and including EOS.

        Returns:
            ``(B, T)`` long as :meth:`greedy_decode`. ``beam_size=1`` gives greedy decoding.
        """
        check_size(beam_size, "beam_size")
        if not (math.isfinite(length_penalty) and length_penalty >= 0):
            raise ValueError(f"length_penalty must be >= 0, got {length_penalty}")
        memory, src_mask = self._start(src, src_mask, bos_index, eos_index, max_len)
        batch, k, device = src.shape[0], beam_size, src.device
        memory = memory.repeat_interleave(k, dim=0)  # (b*k, s, dim)
        if src_mask is not None:
            src_mask = src_mask.repeat_interleave(k, dim=0)
        scores = torch.full((batch, k), -math.inf, dtype=memory.dtype, device=device)
        scores[:, 0] = 0.0  # all beams start identical: keep one
        cache = self.new_cache()
        tokens = torch.full((batch * k, 1), bos_index, dtype=torch.long, device=device)
        finished = torch.zeros(batch * k, dtype=torch.bool, device=device)
        lengths = torch.zeros(batch * k, dtype=memory.dtype, device=device)
        offsets = (torch.arange(batch, device=device) * k).unsqueeze(1)  # (b, 1)
        for _ in range(max_len):
            logits = self.decode(
                tokens[:, -1:], memory, memory_mask=src_mask, cache=cache, need_weights=False
            ).logits[:, -1]
            log_probs = torch.log_softmax(logits.to(memory.dtype), dim=-1)  # (b*k, v)
            vocab = log_probs.shape[-1]
            # a finished beam continues with EOS at no cost
            log_probs[finished] = -math.inf
            log_probs[finished, eos_index] = 0.0
            candidates = (scores.view(-1, 1) + log_probs).view(batch, k * vocab)
            scores, flat = candidates.topk(k, dim=1)  # (b, k)
            index = (offsets + torch.div(flat, vocab, rounding_mode="floor")).view(-1)
            next_tokens = (flat % vocab).view(-1, 1)
            tokens = torch.cat([tokens.index_select(0, index), next_tokens], dim=1)
            lengths = lengths.index_select(0, index) + (~finished.index_select(0, index)).to(
                lengths.dtype
            )
            finished = finished.index_select(0, index) | (next_tokens[:, 0] == eos_index)
            cache.reorder(index)
            if bool(finished.all()):
                break
        penalty = ((5.0 + lengths) / 6.0).pow(length_penalty).view(batch, k)
        best = (scores / penalty).argmax(dim=1)  # (b,)
        chosen = tokens.view(batch, k, -1)[torch.arange(batch, device=device), best, 1:]
        return self._fill_after_eos(chosen, eos_index)


class DecoderOnlyTransformer(nn.Module):
    """A decoder-only (causal language model) Transformer: decoder layers without
    cross-attention over token embeddings, with a tied or untied output projection.

    Args:
        vocab_size: vocabulary size.
        dim, num_heads, hidden_dim, dropout, activation, norm_first, positions, max_len,
            pad_index, layer_norm_eps: as in :class:`Transformer`.
        num_layers: ``N``.
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
        dim: int = 512,
        num_heads: int = 8,
        num_layers: int = 6,
        hidden_dim: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        positions: str = "sinusoidal",
        max_len: int = 1024,
        tie_output: bool = True,
        pad_index: int | None = None,
        layer_norm_eps: float = 1e-5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(vocab_size, "vocab_size")
        check_bool(tie_output, "tie_output")
        _check_index(pad_index, "pad_index", vocab_size)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.vocab_size, self.dim, self.pad_index = vocab_size, dim, pad_index
        self.embedding = _TokenEmbedding(vocab_size, dim, pad_index=pad_index, **factory)
        self.positions = PositionalEncoding(
            dim, max_len=max_len, kind=positions, dropout=dropout, **factory
        )
        self.decoder = TransformerDecoder(
            num_layers, dim, num_heads, hidden_dim, dropout=dropout, activation=activation,
            norm_first=norm_first, layer_norm_eps=layer_norm_eps, cross_attention=False,
            **factory,
        )
        self.output: nn.Linear | None = (
            None if tie_output else nn.Linear(dim, vocab_size, **factory)
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
        _check_tokens(tokens, "tokens", self.vocab_size, self)
        offset = 0 if cache is None else cache.length
        if mask is None and cache is None and self.pad_index is not None:
            mask = tokens != self.pad_index
        mask = _caller_mask(mask, "mask", tokens, "tokens", k_len=offset + tokens.shape[1])
        x = self.positions(self.embedding(tokens), offset=offset)
        out = self.decoder(x, mask=mask, cache=cache, need_weights=need_weights)
        logits = (
            F.linear(out.context, self.embedding.weight)
            if self.output is None
            else self.output(out.context)
        )
        return TransformerOutput(out.context, out.weights, None, None, logits)


class EncoderOnlyTransformer(nn.Module):
    """An encoder-only Transformer: token embeddings, positions and an encoder stack
    (bidirectional self-attention), returning contextual token representations.

    Args:
        vocab_size: vocabulary size.
        dim, num_heads, hidden_dim, dropout, activation, norm_first, positions, max_len,
            pad_index, layer_norm_eps: as in :class:`Transformer`.
        num_layers: ``N``.

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
        dim: int = 512,
        num_heads: int = 8,
        num_layers: int = 6,
        hidden_dim: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        positions: str = "sinusoidal",
        max_len: int = 1024,
        pad_index: int | None = None,
        layer_norm_eps: float = 1e-5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(vocab_size, "vocab_size")
        _check_index(pad_index, "pad_index", vocab_size)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.vocab_size, self.dim, self.pad_index = vocab_size, dim, pad_index
        self.embedding = _TokenEmbedding(vocab_size, dim, pad_index=pad_index, **factory)
        self.positions = PositionalEncoding(
            dim, max_len=max_len, kind=positions, dropout=dropout, **factory
        )
        self.encoder = TransformerEncoder(
            num_layers, dim, num_heads, hidden_dim, dropout=dropout, activation=activation,
            norm_first=norm_first, layer_norm_eps=layer_norm_eps, **factory,
        )

    def forward(
        self, tokens: Tensor, *, mask: Tensor | None = None, need_weights: bool = True
    ) -> StackOutput:
        """Contextual representations of ``tokens`` ``(B, L)``; padded keys are masked."""
        _check_tokens(tokens, "tokens", self.vocab_size, self)
        if mask is None and self.pad_index is not None:
            mask = tokens != self.pad_index
        mask = _caller_mask(mask, "mask", tokens, "tokens")
        x = self.positions(self.embedding(tokens))
        return self.encoder(x, mask=mask, need_weights=need_weights)
