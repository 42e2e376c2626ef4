"""Per-sample random numbers that depend only on ``(seed, stream, sample index)``.

Generators of synthetic data draw their random parameters here, so that sample ``i`` is the
same whether it is generated alone, in a batch of any size, or as part of a larger dataset.
Indices are grouped in blocks of :data:`BLOCK`; every block has its own
:class:`torch.Generator`, seeded from ``(seed, stream, block)`` through
:class:`numpy.random.SeedSequence`, and always draws a full block. Any transcendental function of
the draws (``cos``, ``exp`` ...) is evaluated on the full block too, because PyTorch may round
the same element differently in its vectorised and scalar code paths; what is computed later,
per batch, uses only exactly rounded operations (``+ - * /``, comparisons, indexing).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

BLOCK = 1024
"""Samples per random block."""

BlockDraw = Callable[[torch.Generator, int], dict[str, Tensor]]
"""``draw(generator, block_size)`` -> tensors whose first axis has ``block_size`` rows."""


def check_seed(seed: object) -> int:
    """``seed`` as an int in ``[0, 2**63)``; a clear error otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    return seed


def block_seed(seed: int, stream: str, block: int) -> int:
    """A 64-bit seed for ``block`` of ``stream``, well mixed from the three values."""
    entropy = [seed & 0xFFFFFFFF, seed >> 32, zlib.crc32(stream.encode()), block]
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int(state[0]) | (int(state[1]) << 32)


def check_indices(indices: object, name: str = "indices") -> Tensor:
    """Sample indices as a 1-D ``int64`` tensor of non-negative values."""
    tensor = torch.as_tensor(indices)
    if tensor.dim() != 1 or tensor.is_floating_point() or tensor.dtype == torch.bool:
        raise ValueError(f"{name} must be a 1-D integer tensor, got {tuple(tensor.shape)}")
    tensor = tensor.long()
    if tensor.numel() and int(tensor.min()) < 0:
        raise ValueError(f"{name} must be non-negative, got {int(tensor.min())}")
    return tensor


def per_sample(seed: int, stream: str, indices: Tensor, draw: BlockDraw) -> dict[str, Tensor]:
    """Rows ``indices`` of the per-block draws ``draw(generator, BLOCK)``.

    Args:
        seed: the user's seed.
        stream: a name separating independent uses of one seed (e.g. ``"distortion/rts"``).
        indices: ``(N,)`` global sample indices.
        draw: draws one block; must consume the generator identically for every block.

    Returns:
        ``{name: (N, ...)}`` with row ``n`` belonging to sample ``indices[n]``.
    """
    blocks = torch.div(indices, BLOCK, rounding_mode="floor")
    rows = indices - blocks * BLOCK
    out: dict[str, Tensor] = {}
    for block in torch.unique(blocks).tolist():
        generator = torch.Generator().manual_seed(block_seed(seed, stream, int(block)))
        values = draw(generator, BLOCK)
        selected = blocks == block
        for name, value in values.items():
            if name not in out:
                out[name] = value.new_empty((indices.shape[0], *value.shape[1:]))
            out[name][selected] = value[rows[selected]]
    if not out:  # no indices: run the draw once for the names and shapes
        values = draw(torch.Generator().manual_seed(0), BLOCK)
        out = {name: value[:0] for name, value in values.items()}
    return out
