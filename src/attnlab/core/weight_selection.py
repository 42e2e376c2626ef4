"""Exact attention weights of a few heads and query rows next to a fused context.

``need_weights=True`` materialises every weight, ``(B, H, Lq, Lk)``; ``need_weights=False`` runs
the fused kernel and returns none. A :class:`WeightSelection` passed as ``need_weights`` asks for
the middle ground: the context still comes from the fused kernel, and the weights of the selected
heads ``h`` and query rows ``i`` are rebuilt from the projected queries and keys,

.. math::

    \\alpha_{h i} = \\operatorname{softmax}\\big(s\\, q_{h i} K_h^\\top + b_{h i}\\big)

with the mask, the causal pattern and ``attn_bias`` taken at those rows only, so the extra cost
grows with ``len(heads) * len(queries) * Lk`` rather than ``H * Lq * Lk``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from attnlab.core._fastpath import softmax_scores_in_place
from attnlab.core.masks import additive_mask

__all__ = ["WeightSelection", "check_need_weights", "selected_weights"]

Index = Sequence[int] | slice | Tensor | None
"""What :class:`WeightSelection` takes per axis: indices (a sequence of ints or a 1-D integer
tensor), a slice, or ``None`` for all; stored as a tuple of ints, a slice or ``None``."""


def _normalize_index(value: object, name: str) -> tuple[int, ...] | slice | None:
    """``value`` as a tuple of ints, a slice or ``None``; a clear error otherwise."""
    if value is None:
        return None
    if isinstance(value, slice):
        for part, bound in (("start", value.start), ("stop", value.stop), ("step", value.step)):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
                raise TypeError(
                    f"{name} slice {part} must be an int or None, got {type(bound).__name__}"
                )
        if value.step == 0:
            raise ValueError(f"{name} slice step must not be zero")
        return value
    if isinstance(value, Tensor):
        if value.dim() != 1 or value.dtype.is_floating_point or value.dtype == torch.bool:
            raise TypeError(
                f"{name} as a tensor must be 1-D with integer dtype, got "
                f"{value.dim()}-D {value.dtype}"
            )
        return tuple(int(i) for i in value.tolist())
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        hint = f" (write {name}=[{value}] for one index)" if isinstance(value, int) else ""
        raise TypeError(
            f"{name} must be a sequence of ints, a slice or None, got "
            f"{type(value).__name__}{hint}"
        )
    indices = []
    for item in value:
        if isinstance(item, bool):
            raise TypeError(f"{name} must hold ints, got bool")
        try:
            indices.append(operator.index(item))
        except TypeError:
            raise TypeError(f"{name} must hold ints, got {type(item).__name__}") from None
    return tuple(indices)


@dataclass(frozen=True)
class WeightSelection:
    """Which attention weights to compute next to the fused context: some heads, some queries.

    Pass it as ``need_weights`` to :class:`~attnlab.mechanisms.multihead.MultiHeadAttention`,
    :func:`~attnlab.core.attend.dot_product_attention` or :func:`~attnlab.core.attend.attend`.
    The context is that of ``need_weights=False`` (the fused kernel); the weights are those of
    ``need_weights=True`` at the selected entries, ``full[:, heads][:, :, queries]``, with the
    same masking, causal pattern, ``attn_bias``, zero rows for queries without a valid key, and
    pre-dropout values.

    Args:
        heads: head indices (a sequence of ints or a 1-D integer tensor, negative ones counting
            from the end, repeats and any order allowed; or a slice); ``None`` for every head.
            Only for multi-head weights.
        queries: query-row indices, the same way; ``None`` for every query.

    Shape:
        The selected weights are ``(B, len(heads), len(queries), Lk)`` for multi-head modules
        and ``(B, len(queries), Lk)`` for single-head ones, in the order of the indices;
        :meth:`resolve` gives the explicit indices, so ``weights[:, a, b]`` is head
        ``resolved.heads[a]``, query ``resolved.queries[b]``.

    Raises:
        TypeError: if ``heads`` or ``queries`` is not a sequence of ints, a slice or ``None``.

    Example:
        >>> sel = WeightSelection(heads=[2], queries=slice(0, 16))
        >>> sel.resolve(num_heads=8, q_len=20)
        WeightSelection(heads=(2,), queries=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
    """

    heads: Index = None
    queries: Index = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "heads", _normalize_index(self.heads, "heads"))
        object.__setattr__(self, "queries", _normalize_index(self.queries, "queries"))

    def __hash__(self) -> int:
        def key(x: Index) -> object:
            return (x.start, x.stop, x.step) if isinstance(x, slice) else x

        return hash((key(self.heads), key(self.queries)))

    @staticmethod
    def _indices(value: Index, size: int, name: str, axis: str) -> tuple[int, ...]:
        if value is None:
            return tuple(range(size))
        if isinstance(value, slice):
            return tuple(range(size)[value])
        out = []
        for i in value:
            if not -size <= i < size:
                raise IndexError(
                    f"need_weights selects {name} index {i}, out of range for {size} {axis}"
                )
            out.append(i % size)
        return tuple(out)

    def resolve(self, *, num_heads: int | None, q_len: int) -> WeightSelection:
        """The selection with explicit, non-negative indices for ``num_heads`` heads (``None``:
        single-head weights) and ``q_len`` queries.

        Raises:
            IndexError: if an index is out of range.
            ValueError: if heads are selected for single-head weights.
        """
        if num_heads is None:
            if self.heads is not None:
                raise ValueError(
                    "need_weights selects heads, but these weights are single-head "
                    "(B, Lq, Lk): leave heads=None"
                )
            heads: tuple[int, ...] | None = None
        else:
            heads = self._indices(self.heads, num_heads, "heads", "heads")
        return WeightSelection(heads, self._indices(self.queries, q_len, "queries", "queries"))


def check_need_weights(
    value: object, *, num_heads: int | None, q_len: int
) -> bool | WeightSelection:
    """Validate a ``need_weights`` argument: ``True``, ``False`` or a :class:`WeightSelection`,
    whose indices must fit ``num_heads`` heads (``None``: single-head weights) and ``q_len``
    queries. Returns the value (a selection resolved to explicit indices).

    Raises:
        TypeError: for any other type (``1``, ``"no"``, a list of heads ...).
        IndexError: for an index out of range.
        ValueError: for heads selected on single-head weights.

    Example:
        >>> check_need_weights(WeightSelection(heads=[-1]), num_heads=4, q_len=2)
        WeightSelection(heads=(3,), queries=(0, 1))
        >>> check_need_weights([0], num_heads=4, q_len=2)
        Traceback (most recent call last):
        ...
        TypeError: need_weights must be True or False, got list (or a WeightSelection)
    """
    if isinstance(value, bool):
        return value
    if not isinstance(value, WeightSelection):
        raise TypeError(
            f"need_weights must be True or False, got {type(value).__name__} (or a "
            "WeightSelection)"
        )
    return value.resolve(num_heads=num_heads, q_len=q_len)


def _rows(x: Tensor, ndim: int, heads: Tensor | None, queries: Tensor | None) -> Tensor:
    """``x`` broadcastable to ``(..., H, Lq, Lk)`` (``ndim`` dims) at the selected heads and
    query rows; broadcast axes (size 1) stay as they are."""
    x = x.reshape((1,) * (ndim - x.dim()) + tuple(x.shape))
    if heads is not None and x.shape[-3] != 1:
        x = x.index_select(-3, heads)
    if queries is not None and x.shape[-2] != 1:
        x = x.index_select(-2, queries)
    return x


def selected_weights(
    q: Tensor,
    k: Tensor,
    *,
    scale: float,
    selection: WeightSelection,
    mask: Tensor | None = None,
    attn_bias: Tensor | None = None,
    causal: bool = False,
) -> Tensor:
    """Softmax weights of ``scale * q k^T`` at the heads and query rows of ``selection``.

    The same weights as :func:`attnlab.core.attend.dot_product_attention` with
    ``need_weights=True`` at those entries: the mask (``True`` = may attend), the causal pattern
    (query ``i`` sees keys ``j <= i + Lk - Lq``) and ``attn_bias`` are taken at the selected
    rows, masked keys get exact zeros and a query without a valid key an all-zero row. Only the
    selected rows are computed, so the cost is ``len(heads) * len(queries) * Lk * D``. Without a
    gradient to compute everything happens in the returned buffer.

    Args:
        q: ``(B, H, Lq, D)`` (multi-head) or ``(B, Lq, D)`` (single-head) queries.
        k: ``(B, H, Lk, D)`` or ``(B, Lk, D)`` keys.
        scale: the factor ``s`` of the scores.
        selection: the heads and queries (heads only for multi-head ``q``).
        mask: boolean, broadcastable to the scores ``(..., Lq, Lk)``.
        attn_bias: additive float bias broadcastable to the scores.
        causal: apply the causal pattern.

    Returns:
        ``(B, len(heads), len(queries), Lk)`` or ``(B, len(queries), Lk)``.

    Raises:
        IndexError: if an index of ``selection`` is out of range.
        ValueError: if ``selection`` selects heads of single-head ``q``.

    Example:
        >>> q, k = torch.randn(2, 4, 6, 8), torch.randn(2, 4, 7, 8)
        >>> w = selected_weights(q, k, scale=8**-0.5, selection=WeightSelection(heads=[1, 3]))
        >>> full = torch.softmax(q @ k.transpose(-2, -1) * 8**-0.5, dim=-1)
        >>> w.shape, torch.allclose(w, full[:, [1, 3]], atol=1e-6)
        (torch.Size([2, 2, 6, 7]), True)
    """
    multi_head = q.dim() >= 4
    q_len, k_len = q.shape[-2], k.shape[-2]
    sel = selection.resolve(num_heads=q.shape[-3] if multi_head else None, q_len=q_len)
    assert isinstance(sel.queries, tuple)
    ndim = max(q.dim(), k.dim())
    device = q.device
    heads = None
    if multi_head:
        assert isinstance(sel.heads, tuple)
        if sel.heads != tuple(range(q.shape[-3])):
            heads = torch.tensor(sel.heads, dtype=torch.long, device=device)
    all_queries = sel.queries == tuple(range(q_len))
    queries = None if all_queries else torch.tensor(sel.queries, dtype=torch.long, device=device)
    q_sel = q if heads is None else q.index_select(-3, heads)
    q_sel = q_sel if queries is None else q_sel.index_select(-2, queries)  # (b, h', i', d)
    k_sel = k if heads is None or k.shape[-3] == 1 else k.index_select(-3, heads)  # (b, h', j, d)

    if causal:
        positions = torch.tensor(sel.queries, dtype=torch.long, device=device)  # (i',)
        keys = torch.arange(k_len, device=device)
        allowed = keys <= (positions + (k_len - q_len))[:, None]  # (i', j)
        mask = allowed if mask is None else _rows(mask, ndim, heads, queries) & allowed
    elif mask is not None:
        mask = _rows(mask, ndim, heads, queries)
    empty = None
    if mask is not None:
        valid = mask.any(dim=-1, keepdim=True)
        if not (device.type == "cpu" and not torch.compiler.is_compiling() and bool(valid.all())):
            empty = ~valid
            mask = mask | empty  # normalised over every key, then zeroed below
    bias = None if attn_bias is None else _rows(attn_bias, ndim, heads, queries)
    additive = additive_mask(mask, bias, q.dtype)

    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (q, k, attn_bias)
    )
    if needs_grad or q_sel.shape[:-2] != k_sel.shape[:-2] or q_sel.dim() < 3:
        scores = torch.matmul(q_sel * scale, k_sel.transpose(-2, -1))  # (b, h', i', j)
        if additive is not None:
            scores = scores + additive
        weights = torch.softmax(scores, dim=-1)
        return weights if empty is None else weights.masked_fill(empty, 0.0)

    return softmax_scores_in_place(q_sel, k_sel, scale, additive, empty)
