"""Multi-head attention (Vaswani et al., "Attention Is All You Need", arXiv:1706.03762, eq. 1 and
section 3.2.2), with the parameter layout of ``torch.nn.MultiheadAttention``.

Shape letters: ``b`` batch, ``h`` heads, ``i`` queries, ``j`` keys, ``d`` per-head feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.attend import dot_product_attention
from attnlab.core.checks import (
    check_attn_bias,
    check_dim,
    check_mask,
    check_probability,
    check_size,
    check_tensor,
)
from attnlab.core.init_args import AttnModule
from attnlab.core.masks import lengths_to_mask
from attnlab.core.output import AttentionOutput
from attnlab.core.registry import Paper, register_mechanism
from attnlab.core.weight_selection import WeightSelection, check_need_weights

__all__ = ["KVCache", "MultiHeadAttention"]


def _example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    module = MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    mask = lengths_to_mask([5, 3], 5)  # the last two keys of the second sequence are padding
    return module, (x,), {"mask": mask}


@dataclass
class KVCache:
    """Projected keys and values that :class:`MultiHeadAttention` keeps between decoding steps.

    Give each attention module its own cache and pass it as ``cache=`` at every step: a
    self-attention cache grows by the keys and values of the new tokens at each call, a
    cross-attention cache receives the projected memory at the first call and is only read after
    that. Either way every step attends over exactly the keys a full recomputation would see.

    Attributes:
        key: ``(B, H, T, Dh)`` projected keys of the ``T`` cached positions (``None`` before the
            first call).
        value: ``(B, H, T, Dh)`` their projected values.

    Example:
        >>> mha = MultiHeadAttention(8, 2, causal=True).eval()
        >>> x = torch.randn(1, 4, 8)
        >>> cache = KVCache()
        >>> steps = [mha(x[:, t : t + 1], cache=cache).context for t in range(4)]
        >>> cache.length, torch.allclose(torch.cat(steps, 1), mha(x).context, atol=1e-6)
        (4, True)
    """

    key: Tensor | None = None
    value: Tensor | None = None

    @property
    def length(self) -> int:
        """``T``, the number of cached positions (0 while empty)."""
        return 0 if self.key is None else self.key.shape[2]

    def reorder(self, index: Tensor) -> None:
        """Keep the batch rows ``index`` (``(B',)`` long), e.g. the surviving beams."""
        if self.key is not None:
            self.key = self.key.index_select(0, index)
        if self.value is not None:
            self.value = self.value.index_select(0, index)


@register_mechanism(
    "multihead",
    sequences=("distinctive", "self"),
    levels="single",
    positions="soft",
    representations="multi-dimensional",
    paper=Paper(
        "Attention Is All You Need", "Vaswani et al.", 2017, "https://arxiv.org/abs/1706.03762"
    ),
    example=_example,
)
class MultiHeadAttention(AttnModule):
    """Multi-head scaled dot-product attention; returns the weights of every head.

    Vaswani et al., "Attention Is All You Need" (arXiv:1706.03762), section 3.2.2:

    .. math::

        \\operatorname{head}_h = \\operatorname{softmax}\\Big(
            \\frac{(Q W^Q_h)(K W^K_h)^\\top}{\\sqrt{d_k}}\\Big) V W^V_h, \\qquad
        \\operatorname{MultiHead}(Q, K, V) = [\\operatorname{head}_1; \\dots;
            \\operatorname{head}_H]\\, W^O

    with ``d_k = dim / num_heads`` (eq. 1 per head), plus optional biases on every projection.

    Args:
        dim: ``d_model``, the query feature size and the output size.
        num_heads: ``h``, the number of heads; must divide ``dim``.
        kdim: feature size of ``key`` (default ``dim``).
        vdim: feature size of ``value`` (default ``dim``).
        dropout: dropout on the attention weights, applied in training only (the returned
            weights are the pre-dropout distribution).
        qkv_bias: add biases to the query/key/value projections.
        out_bias: add a bias to the output projection ``W^O``.
        causal: query ``i`` may only attend to keys ``j <= i + Lk - Lq`` (decoder self-attention),
            combined with any ``mask`` given to :meth:`forward`.
        device: where to create the parameters.
        dtype: dtype of the parameters.

    Parameters follow ``torch.nn.MultiheadAttention``: ``in_proj_weight`` ``(3 dim, dim)`` (rows
    ``W^Q; W^K; W^V``) when ``kdim == vdim == dim``, else ``q_proj_weight (dim, dim)``,
    ``k_proj_weight (dim, kdim)``, ``v_proj_weight (dim, vdim)``; ``in_proj_bias (3 dim)``;
    ``out_proj`` an ``nn.Linear(dim, dim)``. Initialisation is torch's too (Xavier-uniform
    projections, zero biases); the paper does not specify one. State dicts are interchangeable,
    and :meth:`from_torch` converts a module.

    Shape:
        - query: ``(B, Lq, dim)``; key: ``(B, Lk, kdim)``; value: ``(B, Lk, vdim)``.
        - mask: boolean, ``True`` = may attend: ``(B, Lk)``, ``(B, Lq, Lk)`` or ``(1, Lq, Lk)``.
        - attn_bias: float, added to the scores: ``(Lq, Lk)``, ``(B, Lq, Lk)`` or
          ``(B, H, Lq, Lk)``.
        - context: ``(B, Lq, dim)``; weights: ``(B, H, Lq, Lk)``, or
          ``(B, len(heads), len(queries), Lk)`` for ``need_weights=WeightSelection(...)``.

    Note:
        **Zero context.** A query with no valid key (all keys masked) gets all-zero weights in
        every head and a zero attention context ``[head_1; ...; head_H]``, on both paths, with
        finite gradients. The output projection then maps that zero row to ``out_proj.bias`` (or
        to 0 when ``out_bias=False``): that is the output row of such a query.

    Note:
        **Coming from** ``torch.nn.MultiheadAttention``. This module is always batch-first; for a
        torch module built with ``batch_first=False`` transpose the inputs
        (``query.transpose(0, 1)``) and the context back. Masks are inverted:

        * ``key_padding_mask`` (``True`` = ignore) becomes ``mask = ~key_padding_mask``;
        * a boolean ``attn_mask`` ``(Lq, Lk)`` (``True`` = not allowed) becomes
          ``mask = ~attn_mask[None]`` (or ``(~attn_mask).expand(B, Lq, Lk)``), combined with a
          padding mask as ``mask = ~attn_mask[None] & ~key_padding_mask[:, None, :]``;
        * a float ``attn_mask`` becomes ``attn_bias`` (``(Lq, Lk)`` as is, a per-head
          ``(B * H, Lq, Lk)`` one as ``attn_mask.view(B, H, Lq, Lk)``); exclude keys with ``mask``
          rather than ``-inf`` so that fully masked rows stay zero instead of NaN;
        * ``is_causal=True`` becomes ``causal=True`` at construction;
        * ``need_weights=True, average_attn_weights=False`` is what ``weights`` holds; for
          torch's head average take ``weights.mean(1)``.

        ``add_bias_kv`` (``bias_k``/``bias_v``) and ``add_zero_attn`` are not supported.

    Note:
        **Speed.** Self-attention projects ``q, k, v`` with one matmul (cross-attention with
        ``value is key`` projects ``k, v`` with one), and the heads are strided views of that
        output. ``need_weights=False`` runs ``F.scaled_dot_product_attention``; with weights,
        the scores are computed by one batched matmul with the mask folded in, normalised by one
        softmax, and, when nothing needs a gradient (``torch.no_grad``/``inference_mode``),
        everything happens in place in the returned weight buffer (see
        :func:`attnlab.core.attend.dot_product_attention`).

    Note:
        **Weights of a few heads.** ``need_weights=WeightSelection(heads=[2], queries=...)``
        keeps the fused kernel for the context (exactly the context of ``need_weights=False``)
        and rebuilds the weights of the selected heads and query rows only from the projected
        queries and keys: ``weights[:, a, b]`` equals ``full[:, heads[a], queries[b]]`` of
        ``need_weights=True`` (masks, ``causal``, ``attn_bias``, zero rows and pre-dropout values
        alike), at a cost proportional to the selection.

    Note:
        **Incremental decoding.** ``forward(..., cache=KVCache())`` keeps the projected keys and
        values between calls, so a decoder step projects only its new tokens (and a
        cross-attention projects its memory once); the results equal a full recomputation.

    Example:
        >>> import torch
        >>> mha = MultiHeadAttention(16, 4)
        >>> x = torch.randn(2, 5, 16)
        >>> mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
        >>> out = mha(x, mask=mask)
        >>> out.context.shape, out.weights.shape
        (torch.Size([2, 5, 16]), torch.Size([2, 4, 5, 5]))
        >>> bool(out.weights[1, :, :, 3:].eq(0).all())
        True
        >>> mha(x, need_weights=False).weights is None
        True
        >>> from attnlab.core.weight_selection import WeightSelection
        >>> mha(x, need_weights=WeightSelection(heads=[1], queries=[0, 4])).weights.shape
        torch.Size([2, 1, 2, 5])
    """

    in_proj_weight: nn.Parameter | None
    q_proj_weight: nn.Parameter | None
    k_proj_weight: nn.Parameter | None
    v_proj_weight: nn.Parameter | None
    in_proj_bias: nn.Parameter | None

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        kdim: int | None = None,
        vdim: int | None = None,
        dropout: float = 0.0,
        qkv_bias: bool = True,
        out_bias: bool = True,
        causal: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(dim, "dim")
        check_size(num_heads, "num_heads")
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        kdim = dim if kdim is None else check_size(kdim, "kdim")
        vdim = dim if vdim is None else check_size(vdim, "vdim")
        check_probability(dropout, "dropout")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.kdim = kdim
        self.vdim = vdim
        self.dropout = float(dropout)
        self.causal = bool(causal)
        if kdim == dim and vdim == dim:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim, **factory))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = nn.Parameter(torch.empty(dim, dim, **factory))
            self.k_proj_weight = nn.Parameter(torch.empty(dim, kdim, **factory))
            self.v_proj_weight = nn.Parameter(torch.empty(dim, vdim, **factory))
        if qkv_bias:
            self.in_proj_bias = nn.Parameter(torch.empty(3 * dim, **factory))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(dim, dim, bias=out_bias, **factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform projections and zero biases, as ``torch.nn.MultiheadAttention``."""
        if self.in_proj_weight is not None:
            nn.init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                assert weight is not None
                nn.init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
        self.out_proj.reset_parameters()
        if self.out_proj.bias is not None:
            nn.init.zeros_(self.out_proj.bias)

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """A :class:`MultiHeadAttention` with a copy of the parameters of ``module``.

        Outputs are identical for batch-first inputs whichever ``batch_first`` the torch module
        has (transpose the inputs of a ``batch_first=False`` module); see the class Note for the
        mask conversions. The dropout probability and the training mode are copied too.

        Raises:
            TypeError: if ``module`` is not an ``nn.MultiheadAttention``.
            ValueError: if it uses ``add_bias_kv`` (``bias_k``/``bias_v``) or ``add_zero_attn``.

        Example:
            >>> import torch
            >>> torch_mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
            >>> mha = MultiHeadAttention.from_torch(torch_mha)
            >>> x = torch.randn(1, 3, 8)
            >>> torch.allclose(mha(x).context, torch_mha(x, x, x)[0], atol=1e-6)
            True
        """
        if not isinstance(module, nn.MultiheadAttention):
            raise TypeError(
                f"module must be a torch.nn.MultiheadAttention, got {type(module).__name__}"
            )
        if module.bias_k is not None or module.bias_v is not None:
            raise ValueError("module uses add_bias_kv=True (bias_k/bias_v), which is not supported")
        if module.add_zero_attn:
            raise ValueError("module uses add_zero_attn=True, which is not supported")
        reference = module.out_proj.weight
        new = cls(
            module.embed_dim,
            module.num_heads,
            kdim=module.kdim,
            vdim=module.vdim,
            dropout=module.dropout,
            qkv_bias=module.in_proj_bias is not None,
            out_bias=module.out_proj.bias is not None,
            device=reference.device,
            dtype=reference.dtype,
        )
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new

    def _fuse_bias(self, contiguous: bool, *inputs: Tensor) -> bool:
        """Whether the bias add can share the head-layout copy (nothing needs a gradient)."""
        return contiguous and not (
            torch.is_grad_enabled()
            and any(t.requires_grad for t in (*inputs, *self.parameters()))
        )

    def _heads(
        self, x: Tensor, weight: Tensor, bias: Tensor | None, parts: int, *, contiguous: bool,
        fuse_bias: bool,
    ) -> tuple[Tensor, ...]:
        """``parts`` projections of ``x`` by the stacked rows of ``weight``, ``(B, H, L, Dh)``
        each: strided views of one matmul output, or, with ``contiguous``, laid out by one copy
        (which also adds the bias when ``fuse_bias``)."""
        heads, head_dim = self.num_heads, self.head_dim
        y = F.linear(x, weight, None if fuse_bias else bias)
        y = y.unflatten(-1, (parts, heads, head_dim)).permute(2, 0, 3, 1, 4)  # (p, b, h, l, d)
        if not fuse_bias:
            return (y.contiguous() if contiguous else y).unbind(0)
        out = torch.empty(y.shape, dtype=y.dtype, device=y.device)
        if bias is None:
            out.copy_(y)
        else:
            torch.add(y, bias.view(parts, 1, heads, 1, head_dim), out=out)
        return out.unbind(0)

    def _query_projection(self) -> tuple[Tensor, Tensor | None]:
        """``W^Q`` and its bias."""
        bias = None if self.in_proj_bias is None else self.in_proj_bias[: self.dim]
        if self.in_proj_weight is not None:
            return self.in_proj_weight[: self.dim], bias
        assert self.q_proj_weight is not None
        return self.q_proj_weight, bias

    def _project_query(self, query: Tensor, *, contiguous: bool) -> Tensor:
        """Queries per head ``(B, H, Lq, Dh)`` (the keys and values come from a cache)."""
        weight, bias = self._query_projection()
        (q,) = self._heads(query, weight, bias, 1, contiguous=contiguous,
                           fuse_bias=self._fuse_bias(contiguous, query))
        return q

    def _project(
        self, query: Tensor, key: Tensor, value: Tensor, *, contiguous: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values per head, ``(B, H, L, Dh)`` each.

        Self-attention projects ``q, k, v`` with one matmul, cross-attention with ``value is key``
        projects ``k, v`` with one. Without ``contiguous`` the heads are strided views of the
        matmul outputs (the fused kernel reads them as they are); with it, one pass per matmul
        lays the heads out for the batched matmuls of the weights path, and when nothing needs a
        gradient that same pass adds the bias.
        """
        options: dict[str, Any] = {
            "contiguous": contiguous, "fuse_bias": self._fuse_bias(contiguous, query, key, value)
        }
        b_q = b_kv = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_kv = self.in_proj_bias.split([self.dim, 2 * self.dim])
            b_k, b_v = b_kv.chunk(2)
        if self.in_proj_weight is not None:
            w_q, w_kv = self.in_proj_weight.split([self.dim, 2 * self.dim])
            if key is query and value is query:  # self-attention
                q, k, v = self._heads(query, self.in_proj_weight, self.in_proj_bias, 3, **options)
                return q, k, v
            (q,) = self._heads(query, w_q, b_q, 1, **options)
            if value is key:
                k, v = self._heads(key, w_kv, b_kv, 2, **options)
                return q, k, v
            w_k, w_v = w_kv.chunk(2)
        else:
            assert self.q_proj_weight is not None and self.k_proj_weight is not None
            assert self.v_proj_weight is not None
            w_k, w_v = self.k_proj_weight, self.v_proj_weight
            (q,) = self._heads(query, self.q_proj_weight, b_q, 1, **options)
        (k,) = self._heads(key, w_k, b_k, 1, **options)
        (v,) = self._heads(value, w_v, b_v, 1, **options)
        return q, k, v

    def _check_inputs(
        self, query: Tensor, key: Tensor | None, value: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Validate ``query``, ``key`` and ``value``; returns ``(key, value)`` resolved (self-
        attention: ``query`` twice; a missing ``value``: ``key``)."""
        check_tensor(query, "query", ndim=3, layout="(B, Lq, dim)", like=("", self))
        check_dim(query, -1, self.dim, "query", "dim")
        if key is None:
            if value is not None:
                raise ValueError("value was given without key; pass key too (or neither)")
            return query, query
        check_tensor(key, "key", ndim=3, layout="(B, Lk, kdim)", like=("query", query))
        check_dim(key, -1, self.kdim, "key", "kdim")
        if value is None:
            value = key
        else:
            check_tensor(value, "value", ndim=3, layout="(B, Lk, vdim)", like=("query", query))
        check_dim(value, -1, self.vdim, "value", "vdim")
        batch, k_len = query.shape[0], key.shape[1]
        if key.shape[0] != batch or value.shape[0] != batch:
            raise ValueError(
                "query, key and value must have the same batch size B, got "
                f"{batch}, {key.shape[0]} and {value.shape[0]}"
            )
        if value.shape[1] != k_len:
            raise ValueError(
                f"key and value must have the same length Lk, got {k_len} and {value.shape[1]}"
            )
        return key, value

    def _key_length(
        self, cache: KVCache | None, key: Tensor, *, batch: int, self_attention: bool
    ) -> int:
        """``Lk``, the number of keys attended to: the cached ones included, after checking that
        ``cache`` fits this module and this batch."""
        if cache is None:
            return key.shape[1]
        if not isinstance(cache, KVCache):
            raise TypeError(f"cache must be a KVCache, got {type(cache).__name__}")
        if cache.key is None:
            return key.shape[1]
        expected = (batch, self.num_heads, self.head_dim)
        got = (cache.key.shape[0], cache.key.shape[1], cache.key.shape[3])
        if got != expected:
            raise ValueError(
                f"cache holds keys (B, H, T, Dh) = {tuple(cache.key.shape)}, expected "
                f"B={batch}, H={self.num_heads}, Dh={self.head_dim}; "
                "use one KVCache per module and reorder it with the batch"
            )
        if self_attention:
            return cache.length + key.shape[1]
        if key.shape[1] != cache.length:
            raise ValueError(
                f"key has Lk={key.shape[1]} but the cache holds the projection of a memory of "
                f"length {cache.length}; start a new KVCache for a new memory"
            )
        return cache.length

    def _project_cached(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        cache: KVCache,
        *,
        self_attention: bool,
        contiguous: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Queries of the new tokens and every key/value attended to, updating ``cache``."""
        if self_attention:
            q, k, v = self._project(query, query, query, contiguous=contiguous)  # (b, h, i, d)
            if cache.key is not None and cache.value is not None:
                k = torch.cat([cache.key, k], dim=2)  # (b, h, j, d)
                v = torch.cat([cache.value, v], dim=2)
            cache.key, cache.value = k, v
            return q, k, v
        if cache.key is None or cache.value is None:  # the memory, projected once
            q, k, v = self._project(query, key, value, contiguous=contiguous)
            cache.key, cache.value = k, v
            return q, k, v
        return self._project_query(query, contiguous=contiguous), cache.key, cache.value

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        attn_bias: Tensor | None = None,
        need_weights: bool | WeightSelection = True,
        cache: KVCache | None = None,
    ) -> AttentionOutput:
        """Attend from ``query`` over ``key``/``value`` (self-attention when ``key`` is None).

        Args:
            query: ``(B, Lq, dim)``.
            key: ``(B, Lk, kdim)``; ``None`` for self-attention (``key = value = query``).
            value: ``(B, Lk, vdim)``; defaults to ``key``.
            mask: boolean, ``True`` = may attend; ``(B, Lk)``, ``(B, Lq, Lk)`` or
                ``(1, Lq, Lk)``, shared by the heads and combined with ``causal``.
            attn_bias: additive float bias ``(Lq, Lk)``, ``(B, Lq, Lk)`` or ``(B, H, Lq, Lk)``.
            need_weights: return the per-head weights; ``False`` runs the fused
                ``F.scaled_dot_product_attention`` kernel and returns ``weights=None``; a
                :class:`~attnlab.core.weight_selection.WeightSelection` runs the fused kernel
                and returns the weights of the selected heads and queries only,
                ``(B, len(heads), len(queries), Lk)`` in the order of the selection
                (``need_weights.resolve(num_heads=H, q_len=Lq)`` lists them).
            cache: a :class:`KVCache` for incremental decoding, updated in place. In
                self-attention ``query`` holds only the new tokens: their keys and values are
                appended to the cache and they attend over every cached key (``Lk`` = cached
                plus new; ``causal`` aligns the queries to the last keys). In cross-attention
                the first call projects ``key``/``value`` into the cache and later calls reuse
                that projection (``key`` must then be the same memory).

        Returns:
            :class:`AttentionOutput` with ``context (B, Lq, dim)`` (after ``W^O``) and
            ``weights (B, H, Lq, Lk)`` (never averaged over heads), the selected weights, or
            ``None``.

        Raises:
            TypeError: if ``need_weights`` is not a bool or a ``WeightSelection``.
            IndexError: if the selection names a head or query out of range.
        """
        self_attention = key is None
        key, value = self._check_inputs(query, key, value)
        batch, q_len = query.shape[0], query.shape[1]
        need_weights = check_need_weights(need_weights, num_heads=self.num_heads, q_len=q_len)
        full_weights = need_weights is True
        k_len = self._key_length(cache, key, batch=batch, self_attention=self_attention)
        if mask is not None:
            mask = check_mask(
                mask, batch=batch, q_len=q_len, k_len=k_len, like=("query", query)
            ).unsqueeze(1)
        if attn_bias is not None:
            attn_bias = check_attn_bias(
                attn_bias, batch=batch, q_len=q_len, k_len=k_len, num_heads=self.num_heads,
                like=("query", query),
            )

        if cache is None:
            q, k, v = self._project(query, key, value, contiguous=full_weights)  # (b, h, i|j, d)
        else:
            q, k, v = self._project_cached(
                query, key, value, cache, self_attention=self_attention, contiguous=full_weights
            )
        context, weights = dot_product_attention(
            q,
            k,
            v,
            scale=self.head_dim**-0.5,
            mask=mask,  # (b|1, 1, i|1, j)
            attn_bias=attn_bias,  # (b|1, h|1, i, j)
            dropout=self.dropout if self.training else 0.0,
            need_weights=need_weights,
            causal=self.causal,
        )
        context = context.transpose(1, 2).reshape(batch, q_len, self.dim)  # (b, i, h*d)
        return AttentionOutput(self.out_proj(context), weights)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, kdim={self.kdim}, vdim={self.vdim}, "
            f"dropout={self.dropout}, causal={self.causal}"
        )
