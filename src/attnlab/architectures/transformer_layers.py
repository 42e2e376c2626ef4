"""The Transformer's layers and stacks, built from :class:`MultiHeadAttention`.

Vaswani et al., "Attention Is All You Need", https://arxiv.org/abs/1706.03762: multi-head
scaled dot-product attention (section 3.2, eq. 1), position-wise feed-forward networks
(section 3.3, eq. 2), residual dropout and layer normalisation around every sub-layer
(section 3.1, ``LayerNorm(x + Sublayer(x))``; the pre-norm variant
``x + Sublayer(LayerNorm(x))`` is an option). The token models that stack them are in
:mod:`attnlab.architectures.transformer`.

The decoder decodes incrementally with a key/value cache (:class:`DecoderCache`: one
:class:`~attnlab.mechanisms.multihead.KVCache` per attention sub-layer) whose results equal a
full recomputation.

Shape letters: ``b`` batch, ``h`` heads, ``i`` queries, ``j`` keys, ``d`` per-head feature,
``n`` layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.checks import (
    check_bool,
    check_dim,
    check_probability,
    check_size,
    check_tensor,
)
from attnlab.core.init_args import AttnModule
from attnlab.core.output import AttentionOutput
from attnlab.mechanisms.multihead import KVCache, MultiHeadAttention

__all__ = [
    "ACTIVATIONS",
    "DecoderCache",
    "DecoderLayerOutput",
    "EncoderLayerOutput",
    "LayerCache",
    "StackOutput",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "check_layer_args",
]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}
"""The feed-forward activations by name: ``"relu"`` (eq. 2) and ``"gelu"``."""


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



@dataclass
class LayerCache:
    """The key/value caches of one decoder layer, one per attention sub-layer.

    Attributes:
        self_attn: the masked self-attention's :class:`KVCache`: ``(B, H, T, Dh)`` keys and
            values of the ``T`` tokens decoded so far.
        cross_attn: the encoder-decoder attention's :class:`KVCache`: ``(B, H, Ls, Dh)`` keys
            and values of the encoder output, projected once, at the first step.
    """

    self_attn: KVCache = field(default_factory=KVCache)
    cross_attn: KVCache = field(default_factory=KVCache)

    @property
    def key(self) -> Tensor | None:
        """``self_attn.key``."""
        return self.self_attn.key

    @property
    def value(self) -> Tensor | None:
        """``self_attn.value``."""
        return self.self_attn.value

    @property
    def memory_key(self) -> Tensor | None:
        """``cross_attn.key``."""
        return self.cross_attn.key

    @property
    def memory_value(self) -> Tensor | None:
        """``cross_attn.value``."""
        return self.cross_attn.value

    def reorder(self, index: Tensor) -> None:
        """Keep the batch rows ``index`` (``(B',)`` long), e.g. the surviving beams."""
        self.self_attn.reorder(index)
        self.cross_attn.reorder(index)


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
# layers


def check_layer_args(
    dim: int, num_heads: int, hidden_dim: int, dropout: float, activation: str, norm_first: bool
) -> None:
    check_size(dim, "dim")
    check_size(num_heads, "num_heads")
    check_size(hidden_dim, "hidden_dim")
    check_probability(dropout, "dropout")
    check_bool(norm_first, "norm_first")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")


class _TransformerLayer(AttnModule):
    """The position-wise feed-forward network both layers share (eq. 2), its submodules named
    like those of ``torch.nn.TransformerEncoderLayer``."""

    def _add_feed_forward(
        self,
        dim: int,
        hidden_dim: int,
        *,
        dropout: float,
        activation: str,
        norm_first: bool,
        factory: dict[str, Any],
    ) -> None:
        self.norm_first = norm_first
        self.activation_name = activation
        self.activation = ACTIVATIONS[activation]
        self.linear1 = nn.Linear(dim, hidden_dim, **factory)
        self.linear2 = nn.Linear(hidden_dim, dim, **factory)
        self.dropout = nn.Dropout(dropout)

    def _feed_forward_network(self, x: Tensor) -> Tensor:
        # eq. 2: FFN(x) = max(0, x W_1 + b_1) W_2 + b_2 (dropout inside, as torch's layers)
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class TransformerEncoderLayer(_TransformerLayer):
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
        check_layer_args(dim, num_heads, hidden_dim, dropout, activation, norm_first)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.self_attn = MultiHeadAttention(dim, num_heads, dropout=dropout, **factory)
        self._add_feed_forward(dim, hidden_dim, dropout=dropout, activation=activation,
                               norm_first=norm_first, factory=factory)
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps, **factory)
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps, **factory)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def _feed_forward(self, x: Tensor) -> Tensor:
        return self.dropout2(self._feed_forward_network(x))

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


class TransformerDecoderLayer(_TransformerLayer):
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
        check_layer_args(dim, num_heads, hidden_dim, dropout, activation, norm_first)
        check_bool(cross_attention, "cross_attention")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.dim = dim
        self.self_attn = MultiHeadAttention(
            dim, num_heads, dropout=dropout, causal=True, **factory
        )
        self.multihead_attn: MultiHeadAttention | None = None
        self.norm2: nn.LayerNorm | None = None
        if cross_attention:
            self.multihead_attn = MultiHeadAttention(dim, num_heads, dropout=dropout, **factory)
            self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps, **factory)
        self._add_feed_forward(dim, hidden_dim, dropout=dropout, activation=activation,
                               norm_first=norm_first, factory=factory)
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps, **factory)
        self.norm3 = nn.LayerNorm(dim, eps=layer_norm_eps, **factory)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def _feed_forward(self, x: Tensor) -> Tensor:
        return self.dropout3(self._feed_forward_network(x))

    def _self_attention(
        self, h: Tensor, mask: Tensor | None, cache: LayerCache | None, need_weights: bool
    ) -> AttentionOutput:
        kv_cache = None if cache is None else cache.self_attn
        return self.self_attn(h, mask=mask, need_weights=need_weights, cache=kv_cache)

    def _cross_attention(
        self,
        h: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        cache: LayerCache | None,
        need_weights: bool,
    ) -> AttentionOutput:
        assert self.multihead_attn is not None
        kv_cache = None if cache is None else cache.cross_attn
        return self.multihead_attn(
            h, memory, mask=memory_mask, need_weights=need_weights, cache=kv_cache
        )

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


class TransformerEncoder(AttnModule):
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


class TransformerDecoder(AttnModule):
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


