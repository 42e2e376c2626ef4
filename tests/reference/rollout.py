"""Paper-literal attention rollout and attention flow: one example, one layer, one entry at a time.

Abnar & Zuidema, "Quantifying Attention Flow in Transformers" (arXiv:2005.00928), section 3:

    A~_l = rownorm(0.5 * fuse_h(A_l) + 0.5 * I)           (raw attention plus the residual)
    rollout: A~(l_i) = A~_{l_i} A~(l_{i-1}),  A~(l_1) = A~_{l_1}                         (eq. 1)
    flow:    maximum flow from node (N, i) to node (0, j) of the layered graph whose edge
             (l, i) -> (l - 1, j) has capacity A~_l[i, j]

The maximum flow is computed by Edmonds and Karp's algorithm (shortest augmenting paths found by
breadth-first search) on explicit dictionaries, independently of the library's push-relabel.
Slow by design: for reading next to the paper and for small tests.
"""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor


def mixed_layers_loop(
    attentions: list[Tensor],
    *,
    head_fusion: str = "mean",
    residual: bool = True,
    mask: Tensor | None = None,
) -> list[list[list[list[float]]]]:
    """``A~[b][l][i][j]`` as nested Python lists of floats."""
    batch, heads, length = attentions[0].shape[0], attentions[0].shape[1], attentions[0].shape[-1]
    out = []
    for b in range(batch):
        layers = []
        for a in attentions:
            fused = [[0.0] * length for _ in range(length)]
            for i in range(length):
                for j in range(length):
                    values = [float(a[b, h, i, j]) for h in range(heads)]
                    if head_fusion == "mean":
                        fused[i][j] = sum(values) / heads
                    elif head_fusion == "max":
                        fused[i][j] = max(values)
                    else:
                        fused[i][j] = min(values)
            if mask is not None:
                for i in range(length):
                    for j in range(length):
                        if not (bool(mask[b, i]) and bool(mask[b, j])):
                            fused[i][j] = 0.0
            for i in range(length):
                real = bool(mask[b, i]) if mask is not None else sum(fused[i]) > 0
                if residual:
                    for j in range(length):
                        fused[i][j] = 0.5 * fused[i][j] + (0.5 if (i == j and real) else 0.0)
                total = sum(fused[i])
                for j in range(length):
                    fused[i][j] = fused[i][j] / total if total > 0 else 0.0
            layers.append(fused)
        out.append(layers)
    return out


def rollout_loop(attentions: list[Tensor], **options: object) -> Tensor:
    """``(B, L, L)``: the product of the mixed layers, the last layer on the left."""
    mixed = mixed_layers_loop(attentions, **options)  # type: ignore[arg-type]
    length = attentions[0].shape[-1]
    result = torch.zeros(len(mixed), length, length, dtype=torch.float64)
    for b, layers in enumerate(mixed):
        joint = layers[0]
        for layer in layers[1:]:
            joint = [
                [sum(layer[i][k] * joint[k][j] for k in range(length)) for j in range(length)]
                for i in range(length)
            ]
        result[b] = torch.tensor(joint, dtype=torch.float64)
    return result


def _edmonds_karp(
    capacity: dict[object, dict[object, float]], source: object, sink: object
) -> float:
    residual = {u: dict(vs) for u, vs in capacity.items()}
    for u, vs in capacity.items():
        for v in vs:
            residual.setdefault(v, {}).setdefault(u, 0.0)
    value = 0.0
    while True:
        parent: dict[object, object] = {source: source}
        queue = deque([source])
        while queue and sink not in parent:
            u = queue.popleft()
            for v, cap in residual[u].items():
                if cap > 0 and v not in parent:
                    parent[v] = u
                    queue.append(v)
        if sink not in parent:
            return value
        path = []
        v = sink
        while v != source:
            path.append((parent[v], v))
            v = parent[v]
        bottleneck = min(residual[u][v] for u, v in path)
        for u, v in path:
            residual[u][v] -= bottleneck
            residual[v][u] += bottleneck
        value += bottleneck


def layered_graph(layers: list[list[list[float]]]) -> dict[object, dict[object, float]]:
    """Edges ``(l, i) -> (l - 1, j)`` with capacity ``A~_l[i][j]`` (``layers[l - 1]``)."""
    graph: dict[object, dict[object, float]] = {}
    for l, layer in enumerate(layers, start=1):
        for i, row in enumerate(layer):
            for j, cap in enumerate(row):
                graph.setdefault((l, i), {})[(l - 1, j)] = cap
    return graph


def attention_flow_loop(attentions: list[Tensor], **options: object) -> Tensor:
    """``(B, L, L)``: ``flow[b, i, j]`` = max flow from ``(N, i)`` to ``(0, j)``."""
    mixed = mixed_layers_loop(attentions, **options)  # type: ignore[arg-type]
    length, n = attentions[0].shape[-1], len(attentions)
    result = torch.zeros(len(mixed), length, length, dtype=torch.float64)
    for b, layers in enumerate(mixed):
        graph = layered_graph(layers)
        for i in range(length):
            for j in range(length):
                result[b, i, j] = _edmonds_karp(graph, (n, i), (0, j))
    return result
