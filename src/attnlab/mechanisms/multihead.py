"""Multi-head attention (Vaswani et al., "Attention Is All You Need", arXiv:1706.03762, eq. 1 and
section 3.2.2), with the parameter layout of ``torch.nn.MultiheadAttention``.

Shape letters: ``b`` batch, ``h`` heads, ``i`` queries, ``j`` keys, ``d`` per-head feature.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.core.attend import dot_product_attention
from attnlab.core.checks import (
    check_attn_bias,
    check_bool,
    check_dim,
    check_mask,
    check_probability,
    check_size,
    check_tensor,
)
from attnlab.core.masks import lengths_to_mask
from attnlab.core.output import AttentionOutput
from attnlab.core.registry import Paper, register_mechanism

__all__ = ["MultiHeadAttention"]


def _example() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any]]:
    module = MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    mask = lengths_to_mask([5, 3], 5)  # the last two keys of the second sequence are padding
    return module, (x,), {"mask": mask}



@register_mechanism(
    "multihead",
    sequences=("distinctive", "self"),
    levels="single",
    positions="soft",
    representations="single",
    paper=Paper(
        "Attention Is All You Need", "Vaswani et al.", 2017, "https://arxiv.org/abs/1706.03762"
    ),
    example=_example,
)
class MultiHeadAttention(nn.Module):
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
        - context: ``(B, Lq, dim)``; weights: ``(B, H, Lq, Lk)``.

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
        heads, head_dim = self.num_heads, self.head_dim
        fuse_bias = contiguous and not (
            torch.is_grad_enabled()
            and any(t.requires_grad for t in (query, key, value, *self.parameters()))
        )

        def project(x: Tensor, w: Tensor, b: Tensor | None, parts: int) -> tuple[Tensor, ...]:
            y = F.linear(x, w, None if fuse_bias else b)
            y = y.unflatten(-1, (parts, heads, head_dim)).permute(2, 0, 3, 1, 4)  # (p, b, h, l, d)
            if not fuse_bias:
                return (y.contiguous() if contiguous else y).unbind(0)
            out = torch.empty(y.shape, dtype=y.dtype, device=y.device)
            if b is None:
                out.copy_(y)
            else:
                torch.add(y, b.view(parts, 1, heads, 1, head_dim), out=out)
            return out.unbind(0)

        b_q = b_kv = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_kv = self.in_proj_bias.split([self.dim, 2 * self.dim])
            b_k, b_v = b_kv.chunk(2)
        if self.in_proj_weight is not None:
            w_q, w_kv = self.in_proj_weight.split([self.dim, 2 * self.dim])
            if key is query and value is query:  # self-attention
                q, k, v = project(query, self.in_proj_weight, self.in_proj_bias, 3)
                return q, k, v
            (q,) = project(query, w_q, b_q, 1)
            if value is key:
                k, v = project(key, w_kv, b_kv, 2)
                return q, k, v
            w_k, w_v = w_kv.chunk(2)
        else:
            assert self.q_proj_weight is not None and self.k_proj_weight is not None
            assert self.v_proj_weight is not None
            w_k, w_v = self.k_proj_weight, self.v_proj_weight
            (q,) = project(query, self.q_proj_weight, b_q, 1)
        (k,) = project(key, w_k, b_k, 1)
        (v,) = project(value, w_v, b_v, 1)
        return q, k, v

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        attn_bias: Tensor | None = None,
        need_weights: bool = True,
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
                ``F.scaled_dot_product_attention`` kernel and returns ``weights=None``.

        Returns:
            :class:`AttentionOutput` with ``context (B, Lq, dim)`` (after ``W^O``) and
            ``weights (B, H, Lq, Lk)`` (never averaged over heads) or ``None``.
        """
        check_tensor(query, "query", ndim=3, layout="(B, Lq, dim)", like=("", self))
        check_dim(query, -1, self.dim, "query", "dim")
        check_bool(need_weights, "need_weights")
        if key is None:
            if value is not None:
                raise ValueError("value was given without key; pass key too (or neither)")
            key = value = query
        else:
            check_tensor(key, "key", ndim=3, layout="(B, Lk, kdim)", like=("query", query))
            check_dim(key, -1, self.kdim, "key", "kdim")
            if value is None:
                value = key
            else:
                check_tensor(value, "value", ndim=3, layout="(B, Lk, vdim)",
                             like=("query", query))
            check_dim(value, -1, self.vdim, "value", "vdim")
        batch, q_len, k_len = query.shape[0], query.shape[1], key.shape[1]
        if key.shape[0] != batch or value.shape[0] != batch:
            raise ValueError(
                "query, key and value must have the same batch size B, got "
                f"{batch}, {key.shape[0]} and {value.shape[0]}"
            )
        if value.shape[1] != k_len:
            raise ValueError(
                f"key and value must have the same length Lk, got {k_len} and {value.shape[1]}"
            )
        if mask is not None:
            mask = check_mask(
                mask, batch=batch, q_len=q_len, k_len=k_len, like=("query", query)
            ).unsqueeze(1)
        if attn_bias is not None:
            attn_bias = check_attn_bias(
                attn_bias, batch=batch, q_len=q_len, k_len=k_len, num_heads=self.num_heads,
                like=("query", query),
            )

        q, k, v = self._project(query, key, value, contiguous=need_weights)  # (b, h, i|j, d)
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
