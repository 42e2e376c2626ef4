"""Run models built on ``torch.nn.MultiheadAttention`` on attnlab's :class:`MultiHeadAttention`,
so that :func:`~attnlab.interpret.record` sees their attention.

:func:`convert_torch_attention` replaces every ``nn.MultiheadAttention`` inside a model by a
:class:`TorchAttentionAdapter`: attnlab's module (made by
:meth:`MultiHeadAttention.from_torch <attnlab.mechanisms.multihead.MultiHeadAttention.from_torch>`,
same parameter values) behind torch's call signature, so that ``nn.TransformerEncoderLayer``,
``nn.TransformerDecoderLayer`` and user code calling ``attn(query, key, value,
key_padding_mask=..., need_weights=..., attn_mask=..., average_attn_weights=..., is_causal=...)``
keep working and get back what torch returns: ``(output, weights or None)``, sequence-first
unless the torch module was ``batch_first``.

Masks are translated with the conventions of attnlab's class Note ("Coming from
``torch.nn.MultiheadAttention``"): boolean masks are inverted (torch: ``True`` = ignore; attnlab:
``True`` = may attend), ``-inf`` entries of float masks (what torch's layers turn boolean masks
into) become excluded keys, and the finite rest becomes ``attn_bias``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from attnlab.core.init_args import AttnModule

if TYPE_CHECKING:  # pragma: no cover
    from attnlab.mechanisms.multihead import MultiHeadAttention

__all__ = ["TorchAttentionAdapter", "convert_torch_attention"]


def _keep_and_bias(mask: Tensor, *, dtype: torch.dtype) -> tuple[Tensor, Tensor | None]:
    """A torch mask as ``(keep, bias)``: boolean ``True`` = ignore becomes ``keep = ~mask``; a
    float mask keeps its finite entries and adds them as a bias (``None`` when all zero)."""
    if mask.dtype == torch.bool:
        return ~mask, None
    keep = mask != float("-inf")
    bias = torch.where(keep, mask, torch.zeros((), dtype=mask.dtype, device=mask.device))
    return keep, (bias.to(dtype) if bool(bias.ne(0).any()) else None)


def _accept_torch_keys(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any
) -> None:
    """Load a state dict saved from the torch module: its keys (``in_proj_weight``,
    ``out_proj.weight`` ...) are the attnlab module's under ``attention.``."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        rest = key[len(prefix):]
        if not rest.startswith("attention."):
            state_dict[f"{prefix}attention.{rest}"] = state_dict.pop(key)


class TorchAttentionAdapter(AttnModule):
    """attnlab's :class:`MultiHeadAttention` behind ``torch.nn.MultiheadAttention``'s interface.

    The attnlab module is the child ``attention`` (that is what :func:`record` records, under
    ``"<name>.attention"``); the adapter translates the layout and the masks on the way in and
    torch's return value on the way out. Its state dict keys are the torch module's under
    ``attention.``; a state dict saved from the unconverted model loads as well.

    Args:
        module: the ``nn.MultiheadAttention`` to replace (its parameters are copied; its
            ``batch_first`` is kept).

    Shape (as torch's): query ``(Lq, B, E)`` (``(B, Lq, E)`` when ``batch_first``, ``(Lq, E)``
    unbatched); key, value ``(Lk, B, E)``; key_padding_mask ``(B, Lk)``; attn_mask
    ``(Lq, Lk)`` or ``(B * H, Lq, Lk)``. Returns ``(output, weights)`` with ``weights``
    ``(B, Lq, Lk)`` averaged over heads, ``(B, H, Lq, Lk)`` with
    ``average_attn_weights=False``, or ``None`` with ``need_weights=False``.

    Note:
        ``nn.TransformerEncoderLayer`` has an inference fast path that reads the projection
        parameters itself (``in_proj_weight``, ``out_proj``...) and calls one fused kernel.
        The adapter exposes those parameters (attnlab's, same values), so that path computes
        the same function; it is never taken while hooks are attached (PyTorch checks), so
        under :func:`record` the attnlab module always runs. A fully masked query row gives
        zeros here where torch gives NaN; a per-head boolean ``attn_mask`` ``(B * H, Lq, Lk)``
        becomes a ``-inf`` bias, as in torch.

    Example:
        >>> import torch
        >>> torch_mha = torch.nn.MultiheadAttention(8, 2)
        >>> adapter = TorchAttentionAdapter(torch_mha)
        >>> x = torch.randn(5, 3, 8)  # (L, B, E): torch's default layout
        >>> out, w = adapter(x, x, x, average_attn_weights=False)
        >>> ref, _ = torch_mha(x, x, x)
        >>> torch.allclose(out, ref, atol=1e-6), tuple(w.shape)
        (True, (3, 2, 5, 5))
    """

    attention: MultiHeadAttention

    def __init__(self, module: nn.MultiheadAttention) -> None:
        from attnlab.mechanisms.multihead import MultiHeadAttention

        super().__init__()
        self.attention = MultiHeadAttention.from_torch(module)
        self.batch_first = bool(module.batch_first)
        self.register_load_state_dict_pre_hook(_accept_torch_keys)

    # what torch's layers read from their attention module -------------------------------------

    @property
    def embed_dim(self) -> int:
        """The model width ``D`` of the wrapped attention, as ``nn.MultiheadAttention`` names it."""
        return self.attention.dim

    @property
    def num_heads(self) -> int:
        """The number of heads of the wrapped attention."""
        return self.attention.num_heads

    @property
    def _qkv_same_embed_dim(self) -> bool:
        return self.attention.in_proj_weight is not None

    @property
    def in_proj_weight(self) -> Tensor | None:
        """The packed ``(3 D, D)`` input projection of the wrapped attention, if any."""
        return self.attention.in_proj_weight

    @property
    def in_proj_bias(self) -> Tensor | None:
        """The packed ``(3 D,)`` input projection bias of the wrapped attention, if any."""
        return self.attention.in_proj_bias

    @property
    def out_proj(self) -> nn.Linear:
        """The output projection of the wrapped attention."""
        return self.attention.out_proj

    def merge_masks(
        self, attn_mask: Tensor | None, key_padding_mask: Tensor | None, query: Tensor
    ) -> tuple[Tensor | None, int | None]:
        """torch's mask merging for its fused encoder-layer kernel (see the class Note)."""
        return nn.MultiheadAttention.merge_masks(self, attn_mask, key_padding_mask, query)  # type: ignore[arg-type]

    # ------------------------------------------------------------------------------------------

    def _masks(
        self,
        key_padding_mask: Tensor | None,
        attn_mask: Tensor | None,
        is_causal: bool,
        *,
        batch: int,
        q_len: int,
        k_len: int,
        dtype: torch.dtype,
    ) -> tuple[Tensor | None, Tensor | None]:
        """torch's masks as attnlab's ``(mask (B, Lq, Lk) or None, attn_bias or None)``."""
        if is_causal and attn_mask is None:
            raise ValueError("is_causal=True needs attn_mask (torch uses it as a hint only)")
        keep: Tensor | None = None
        bias: Tensor | None = None
        if key_padding_mask is not None:
            keep_k, bias_k = _keep_and_bias(key_padding_mask.reshape(batch, k_len), dtype=dtype)
            keep = keep_k[:, None, :].expand(batch, q_len, k_len)
            if bias_k is not None:
                bias = bias_k[:, None, :].expand(batch, q_len, k_len)
        if attn_mask is not None:
            if attn_mask.dim() == 3:  # per head: torch's (B * H, Lq, Lk)
                per_head = attn_mask.reshape(batch, self.num_heads, q_len, k_len)
                if per_head.dtype == torch.bool:
                    per_head = torch.zeros(per_head.shape, dtype=dtype,
                                           device=per_head.device).masked_fill(
                        per_head, float("-inf"))
                per_head = per_head.to(dtype)
                bias = per_head if bias is None else bias[:, None] + per_head
            else:
                keep_a, bias_a = _keep_and_bias(attn_mask, dtype=dtype)
                keep = keep_a.expand(batch, q_len, k_len) if keep is None else keep & keep_a
                if bias_a is not None:
                    bias = bias_a if bias is None else bias + bias_a
        if keep is not None and bool(keep.all()):
            keep = None
        return keep, bias

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """``nn.MultiheadAttention.forward``'s contract, computed by attnlab's module."""
        unbatched = query.dim() == 2
        if unbatched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        if self.batch_first and not unbatched:
            q, k, v = query, key, value
        else:
            q, k, v = (t.transpose(0, 1) for t in (query, key, value))  # (b, l, e)
        batch, q_len, k_len = q.shape[0], q.shape[1], k.shape[1]
        mask, attn_bias = self._masks(
            key_padding_mask, attn_mask, is_causal, batch=batch, q_len=q_len, k_len=k_len,
            dtype=q.dtype,
        )
        options: dict[str, Any] = {"mask": mask, "attn_bias": attn_bias,
                                   "need_weights": need_weights}
        if key is query and value is query:
            out = self.attention(q, **options)
        else:
            out = self.attention(q, k, k if value is key else v, **options)
        context = out.context if (self.batch_first and not unbatched) else out.context.transpose(
            0, 1
        )
        weights = out.weights
        if not need_weights or weights is None:
            weights = None
        elif average_attn_weights:
            weights = weights.mean(1)  # (b, i, j)
        if unbatched:
            context = context.squeeze(1)
            weights = None if weights is None else weights.squeeze(0)
        return context, weights


def convert_torch_attention(model: nn.Module) -> nn.Module:
    """Replace every ``nn.MultiheadAttention`` inside ``model`` by a
    :class:`TorchAttentionAdapter` around attnlab's :class:`MultiHeadAttention`, in place.

    The outputs are those of the original model (same parameter values; float tolerance), and
    :func:`~attnlab.interpret.record` then records every converted module, per head, under
    ``"<name>.attention"``. Torch's layers call their attention with ``need_weights=False``, so
    record them with ``force_weights=True``. ``nn.TransformerEncoder`` modules get
    ``use_nested_tensor = False`` (as if built with ``enable_nested_tensor=False``): their
    nested-tensor fast path would hand nested tensors to the attention.

    Args:
        model: the model to convert (``model`` itself may be an ``nn.MultiheadAttention``, in
            which case the adapter is returned).

    Returns:
        ``model`` (converted in place), or the adapter.

    Raises:
        ValueError: if a module uses ``add_bias_kv`` or ``add_zero_attn`` (unsupported by
            :meth:`MultiHeadAttention.from_torch`); the model is then left unchanged.

    Example:
        >>> import torch
        >>> from attnlab.interpret import record
        >>> layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        >>> encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
        >>> x = torch.randn(1, 5, 8)
        >>> expected = encoder(x)
        >>> encoder = convert_torch_attention(encoder)
        >>> with record(encoder, force_weights=True) as rec:
        ...     out = encoder(x)
        >>> torch.allclose(out, expected, atol=1e-5), [r.name for r in rec]
        (True, ['layers.0.self_attn.attention', 'layers.1.self_attn.attention'])
        >>> tuple(rec[0].weights.shape)
        (1, 2, 5, 5)
    """
    if isinstance(model, nn.MultiheadAttention):
        return TorchAttentionAdapter(model)
    targets = [
        (name, module) for name, module in model.named_modules(remove_duplicate=False)
        if isinstance(module, nn.MultiheadAttention)
    ]
    # every adapter is built before the first replacement, so a refused module changes nothing;
    # a module shared by two parents gets one adapter (shared too)
    adapters: dict[int, TorchAttentionAdapter] = {}
    for _, module in targets:
        if id(module) not in adapters:
            adapters[id(module)] = TorchAttentionAdapter(module)
    for name, module in targets:
        parent_name, _, attribute = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attribute, adapters[id(module)])
    for submodule in model.modules():
        if isinstance(submodule, nn.TransformerEncoder):
            submodule.use_nested_tensor = False
    return model
