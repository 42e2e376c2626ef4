"""Attention rollout and attention flow (Abnar & Zuidema 2020).

Samira Abnar and Willem Zuidema, "Quantifying Attention Flow in Transformers",
https://arxiv.org/abs/2005.00928, section 3. Both methods read the self-attention weights of a
stack of ``N`` layers as a layered graph: node ``(l, i)`` is position ``i`` after layer ``l``
(``l = 0``: the inputs), and the edge from ``(l, i)`` to ``(l - 1, j)`` has weight
``A~_l[i, j]``, the head-fused attention of layer ``l`` with the residual connection folded in:

.. math::

    \\tilde A_l = \\operatorname{rownorm}\\big(0.5\\, \\bar A_l + 0.5\\, I\\big), \\qquad
    \\bar A_l = \\operatorname{fuse}_h A_l \\ (\\text{mean, max or min over heads})

* **rollout** multiplies the layers: ``R = A~_N ... A~_2 A~_1`` (eq. 1 of the paper, the last
  layer on the left); ``R[i, j]`` is the proportion of input ``j`` in output ``i`` when mixing is
  linear;
* **attention flow** takes ``A~_l[i, j]`` as edge *capacities* and computes, for each output
  ``i`` and input ``j``, the maximum flow from ``(N, i)`` to ``(0, j)``.

Padding: positions outside ``mask`` (or, without a mask, positions whose head-fused row is all
zero) get no identity, so an all-zero row stays zero (never NaN) and a padded key's zero column
stays zero: padded positions neither receive nor pass on any weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from attnlab.interpret._max_flow import layered_max_flow

__all__ = ["HEAD_FUSIONS", "attention_flow", "mix_attention", "rollout"]

HEAD_FUSIONS: tuple[str, ...] = ("mean", "max", "min")
"""How the heads of a layer are fused: the paper averages them; max and min are common
variants."""

PAPER = "Abnar & Zuidema 2020, Quantifying Attention Flow in Transformers, arXiv:2005.00928"


def _layers(attentions: Tensor | Sequence[Tensor]) -> list[Tensor]:
    """The per-layer maps ``(B, H, L, L)``, first layer first."""
    if isinstance(attentions, Tensor):
        if attentions.dim() != 5:
            raise ValueError(
                "attentions must be a sequence of per-layer (B, H, L, L) maps or one "
                f"(B, N, H, L, L) tensor, got a tensor of shape {tuple(attentions.shape)}"
            )
        layers = list(attentions.unbind(1))
    elif isinstance(attentions, Sequence) and not isinstance(attentions, str):
        layers = list(attentions)
    else:
        raise TypeError(
            "attentions must be a sequence of (B, H, L, L) tensors or a (B, N, H, L, L) tensor, "
            f"got {type(attentions).__name__}"
        )
    if not layers:
        raise ValueError("attentions is empty: give at least one layer")
    first = layers[0]
    for n, a in enumerate(layers):
        if not isinstance(a, Tensor) or a.dim() != 4 or a.shape[-1] != a.shape[-2]:
            shape = tuple(a.shape) if isinstance(a, Tensor) else type(a).__name__
            raise ValueError(
                f"layer {n} must be a self-attention map (B, H, L, L) with Lq == Lk, got {shape}"
            )
        if a.shape[0] != first.shape[0] or a.shape[-1] != first.shape[-1]:
            raise ValueError(
                f"every layer must have the B and L of layer 0 {tuple(first.shape)}, layer {n} "
                f"has {tuple(a.shape)}"
            )
        if not a.is_floating_point():
            raise TypeError(f"layer {n} must be floating point, got {a.dtype}")
    return layers


def mix_attention(
    attentions: Tensor | Sequence[Tensor],
    *,
    head_fusion: str = "mean",
    residual: bool = True,
    mask: Tensor | None = None,
) -> Tensor:
    """The per-layer graph weights ``A~_l`` of rollout and flow, ``(B, N, L, L)``.

    Fuse the heads, zero padded rows and columns, mix in the identity
    (``0.5 A + 0.5 I`` at the valid positions) when ``residual``, and renormalise the rows
    (an all-zero row stays zero).

    Args:
        attentions: per-layer maps ``(B, H, L, L)``, first layer first, or one
            ``(B, N, H, L, L)`` tensor (``StackOutput.weights``).
        head_fusion: one of :data:`HEAD_FUSIONS`.
        residual: fold the residual connection in (the paper's ``0.5 A + 0.5 I``).
        mask: ``(B, L)`` boolean, ``True`` = real position; default: a position is real when
            its fused row has weight.

    Example:
        >>> a = torch.tensor([[[[0.0, 1.0], [0.0, 0.0]]]])  # position 1 is padding: zero row
        >>> mix_attention([a])
        tensor([[[[0.5000, 0.5000],
                  [0.0000, 0.0000]]]])
    """
    layers = _layers(attentions)
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")
    if not isinstance(residual, bool):
        raise TypeError(f"residual must be a bool, got {type(residual).__name__}")
    stacked = torch.stack(layers, dim=1)  # (b, n, h, i, j)
    batch, length = stacked.shape[0], stacked.shape[-1]
    if head_fusion == "mean":
        fused = stacked.mean(2)
    elif head_fusion == "max":
        fused = stacked.amax(2)
    else:
        fused = stacked.amin(2)  # (b, n, i, j)
    if mask is not None:
        if mask.dtype != torch.bool or tuple(mask.shape) != (batch, length):
            raise ValueError(
                f"mask must be a boolean (B, L) = {(batch, length)} tensor, got "
                f"{mask.dtype} {tuple(mask.shape)}"
            )
        valid = mask[:, None, :].to(fused.dtype)  # (b, 1, j)
        fused = fused * valid.unsqueeze(-1) * valid.unsqueeze(-2)
        real = mask[:, None, :].expand(batch, fused.shape[1], length)  # (b, n, i)
    else:
        real = fused.sum(-1) > 0
    if residual:
        eye = torch.eye(length, dtype=fused.dtype, device=fused.device)
        fused = 0.5 * fused + 0.5 * eye * real.unsqueeze(-1).to(fused.dtype)
    total = fused.sum(-1, keepdim=True)
    return fused / torch.where(total > 0, total, torch.ones_like(total))


def rollout(
    attentions: Tensor | Sequence[Tensor],
    *,
    head_fusion: str = "mean",
    residual: bool = True,
    mask: Tensor | None = None,
) -> Tensor:
    """Attention rollout: the product of the layers' residual-mixed, head-fused attention.

    Abnar & Zuidema, "Quantifying Attention Flow in Transformers",
    https://arxiv.org/abs/2005.00928, eq. 1:

    .. math::

        \\tilde A(l_i) = \\tilde A_{l_i} \\tilde A(l_{i-1}), \\quad \\tilde A(l_1) =
        \\tilde A_{l_1}, \\qquad \\tilde A_l = \\operatorname{rownorm}(0.5 \\bar A_l + 0.5 I)

    Args:
        attentions: per-layer self-attention ``(B, H, L, L)``, first layer first (e.g. the
            weights of :func:`~attnlab.interpret.record`), or one ``(B, N, H, L, L)`` tensor.
        head_fusion: ``"mean"`` (the paper), ``"max"`` or ``"min"`` over heads.
        residual: mix in the identity for the residual connections (the paper: yes).
        mask: ``(B, L)`` boolean, ``True`` = real token; see :func:`mix_attention`.

    Shape:
        ``(B, L, L)``: row ``i`` (an output position) over columns ``j`` (input positions).

    Returns:
        The rollout ``R = A~_N ... A~_1``: rows of real positions sum to 1, padded rows and
        columns are exactly 0.

    Example:
        >>> import torch
        >>> uniform = torch.full((1, 2, 3, 3), 1 / 3)  # one layer, two heads, L = 3
        >>> rollout([uniform, uniform])[0, 0]
        tensor([0.5000, 0.2500, 0.2500])
    """
    mixed = mix_attention(attentions, head_fusion=head_fusion, residual=residual, mask=mask)
    result = mixed[:, 0]
    for layer in mixed.unbind(1)[1:]:
        result = layer @ result  # (b, i, j): the later layer on the left
    return result


def attention_flow(
    attentions: Tensor | Sequence[Tensor],
    *,
    head_fusion: str = "mean",
    residual: bool = True,
    mask: Tensor | None = None,
    positions: Sequence[int] | Tensor | None = None,
    columns: Sequence[int] | Tensor | None = None,
    tol: float = 0.0,
) -> Tensor:
    """Attention flow: the maximum flow from each output position to each input position.

    Abnar & Zuidema, "Quantifying Attention Flow in Transformers",
    https://arxiv.org/abs/2005.00928, section 3: the layered graph of :func:`rollout` with
    ``A~_l[i, j]`` as the *capacity* of the edge from ``(l, i)`` to ``(l - 1, j)``;
    ``flow[i, j]`` is the value of a maximum flow from ``(N, i)`` to ``(0, j)``.

    Args:
        attentions, head_fusion, residual, mask: as in :func:`rollout`.
        positions: the output positions ``i`` to compute (the rows); default all ``L``. Each
            row costs ``L`` maximum-flow problems, so a long sequence is much cheaper row by row
            (e.g. only the classification position).
        columns: the input positions ``j`` to compute (the columns); default all ``L``. With
            ``positions`` only the ``len(positions) * len(columns)`` selected pairs are solved.
        tol: stop each problem once its flow is provably within ``tol`` of the maximum (a cut
            of capacity ``<= flow + tol`` is known); ``0`` runs the algorithm to its exact end.

    Shape:
        ``(B, len(positions), len(columns))``: ``(B, L, L)`` by default.

    Returns:
        Flow values in ``[0, 1]``: a row's out-capacity is 1, so no flow exceeds 1. Padded
        rows and columns are 0.

    Note:
        The maximum flows are computed by a push-relabel algorithm vectorised over the
        problems (:mod:`attnlab.interpret._max_flow`), in float64. One layer reduces to
        ``A~_1`` itself and two layers to ``sum_k min(A~_2[i, k], A~_1[k, j])``. Flow is not
        differentiable (it is piecewise linear in the capacities); no gradient flows through it.

        Cost: every pair is its own maximum-flow problem over ``(N - 2) L^2`` interior edges,
        and the solver needs some 20-45 rounds over them at ``L = 128``: ``O(N L^2)`` per round
        and pair, ``O(N L^4)`` per round for the full matrix, with memory for about ``2^23`` flow
        entries at a time. Measured on one CPU thread for ``L = 128``, six layers, eight heads
        (a shared two-core machine, busy): random softmax attention 1.3-1.8 s per output row and
        195 s for the full matrix (326 s before the solver kept its buffers); attention that
        decays with distance (interior minimum cuts) 3.6-4.0 s per row. Select ``positions`` or
        ``columns`` when only some pairs are needed; ``benchmarks/bench_flow.py`` repeats the
        measurement.

    Example:
        >>> import torch
        >>> a = torch.softmax(torch.randn(1, 2, 3, 3), -1)  # one layer
        >>> torch.allclose(attention_flow([a]), rollout([a]))  # one layer: both are A~_1
        True
        >>> attention_flow([a, a, a], positions=[0]).shape
        torch.Size([1, 1, 3])
        >>> attention_flow([a, a, a], positions=[0, 2], columns=[1]).shape
        torch.Size([1, 2, 1])
    """
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or tol < 0:
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    with torch.no_grad():
        mixed = mix_attention(attentions, head_fusion=head_fusion, residual=residual, mask=mask)
    batch, layers, length = mixed.shape[0], mixed.shape[1], mixed.shape[-1]
    rows = _selection(positions, length, "positions", mixed.device)
    cols = _selection(columns, length, "columns", mixed.device)
    if layers == 1:
        return mixed[:, 0, rows][:, :, cols]
    out = mixed.new_zeros(batch, rows.numel(), cols.numel())
    pair_rows = rows.repeat_interleave(cols.numel())  # problems (i, j), j fastest
    pair_cols = cols.repeat(rows.numel())
    for b in range(batch):
        source = mixed[b, -1, pair_rows]  # (p, k): edges (N, i) -> (N - 1, k)
        sink = mixed[b, 0, :, pair_cols].T  # (p, k): edges (1, k) -> (0, j)
        inner = mixed[b, 1:-1]  # (n - 2, k, l): edges (l + 1, k) -> (l, m), l = 1..N-2
        flows = layered_max_flow(source, inner, sink, tol=float(tol))
        out[b] = flows.view(rows.numel(), cols.numel())
    return out


def _selection(
    chosen: Sequence[int] | Tensor | None, length: int, name: str, device: torch.device
) -> Tensor:
    """The positions ``chosen`` (all ``length`` when ``None``) as indices in ``[0, length)``."""
    if chosen is None:
        return torch.arange(length, device=device)
    index = torch.as_tensor(chosen, device=device)
    if index.numel() and (index.is_floating_point() or index.dtype == torch.bool):
        raise TypeError(f"{name} must hold integer positions, got {index.dtype}")
    index = index.to(torch.long).reshape(-1)
    if index.numel() and (int(index.min()) < -length or int(index.max()) >= length):
        raise ValueError(f"{name} must lie in [-{length}, {length}), got {index.tolist()}")
    return index % length
