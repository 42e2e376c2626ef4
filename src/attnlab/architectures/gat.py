"""Graph attention network: the two-layer ``GAT`` model of the transductive experiments.

P. Velickovic, G. Cucurull, A. Casanova, A. Romero, P. Lio, Y. Bengio, "Graph Attention
Networks", ICLR 2018, https://arxiv.org/abs/1710.10903, section 3.3. The layer, its equations
and its graph conventions are in :mod:`attnlab.mechanisms.graph`; its names are re-exported here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from attnlab.core.init_args import AttnModule
from attnlab.mechanisms.graph import (
    GraphAttention,
    GraphAttentionOutput,
    add_self_loops,
    check_edge_index,
    to_sparse_features,
)

__all__ = [
    "GAT",
    "GATOutput",
    "GraphAttention",
    "GraphAttentionOutput",
    "add_self_loops",
    "check_edge_index",
    "to_sparse_features",
]


class GATOutput(NamedTuple):
    """Output of :class:`GAT`.

    Attributes:
        context: ``(N, C)`` class logits (``(B, N, C)`` for a batched dense input).
        weights: one entry per layer, each as in :attr:`GraphAttentionOutput.weights`
            (``()`` with ``need_weights=False``).
        edge_index: the edges the edge-list weights refer to; ``None`` on the dense path.
    """

    context: Tensor
    weights: tuple[Tensor, ...]
    edge_index: Tensor | None


class GAT(AttnModule):
    """The two-layer GAT of the transductive experiments (Velickovic et al. 2018, section 3.3).

    Layer 1: ``num_heads`` heads of ``hidden_dim`` features, concatenated, ELU. Layer 2:
    ``num_output_heads`` heads of ``num_classes`` features, averaged (one head on Cora and
    Citeseer, eight on Pubmed), giving logits (the softmax is in the loss). Dropout ``dropout``
    on both layers' inputs and on both layers' coefficients.

    Args:
        in_dim: input features per node (1433 on Cora).
        num_classes: ``C``.
        hidden_dim: ``F'`` of layer 1 (paper: 8).
        num_heads: ``K`` of layer 1 (paper: 8).
        num_output_heads: heads of layer 2 (paper: 1; Pubmed 8).
        dropout: input and coefficient dropout (paper: 0.6).
        negative_slope: LeakyReLU slope (paper: 0.2).
        add_self_loops: every node attends to itself.
        device: where to create the parameters.
        dtype: parameter dtype.

    Shape:
        x ``(N, F)`` with ``edge_index`` ``(2, E)`` or ``adjacency`` ``(N, N)``; logits ``(N, C)``.

    Example:
        >>> import torch
        >>> model = GAT(5, 3, hidden_dim=4, num_heads=2)
        >>> out = model(torch.randn(4, 5), torch.tensor([[0, 1, 2], [1, 2, 3]]))
        >>> tuple(out.context.shape), [tuple(w.shape) for w in out.weights]
        ((4, 3), [(7, 2), (7, 1)])
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        *,
        hidden_dim: int = 8,
        num_heads: int = 8,
        num_output_heads: int = 1,
        dropout: float = 0.6,
        negative_slope: float = 0.2,
        add_self_loops: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        # both layers: dropout on their inputs and on the coefficients (section 3.3)
        shared: dict[str, Any] = {
            "dropout": dropout, "input_dropout": dropout, "negative_slope": negative_slope,
            "add_self_loops": add_self_loops, "device": device, "dtype": dtype,
        }
        self.hidden = GraphAttention(
            in_dim, hidden_dim, num_heads=num_heads, concat=True, **shared
        )
        self.output = GraphAttention(
            hidden_dim * num_heads, num_classes, num_heads=num_output_heads, concat=False, **shared
        )

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor | None = None,
        adjacency: Tensor | None = None,
        *,
        need_weights: bool = True,
    ) -> GATOutput:
        """Logits for every node (see :class:`GraphAttention` for the graph arguments)."""
        first = self.hidden(x, edge_index, adjacency, need_weights=need_weights)
        hidden = F.elu(first.context)  # sigma of eq. 5
        second = self.output(hidden, edge_index, adjacency, need_weights=need_weights)
        weights = (
            tuple(w for w in (first.weights, second.weights) if w is not None)
            if need_weights
            else ()
        )
        return GATOutput(second.context, weights, second.edge_index)
