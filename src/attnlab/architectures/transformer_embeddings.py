"""Token embeddings and position encodings of the Transformer (Vaswani et al., "Attention Is All
You Need", https://arxiv.org/abs/1706.03762, sections 3.4 and 3.5), and the checks of token
inputs shared by the Transformer models.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.architectures._compat import UNSET, renamed
from attnlab.core.checks import check_dim, check_probability, check_size, check_tensor
from attnlab.core.init_args import AttnModule

__all__ = [
    "POSITION_KINDS",
    "PositionalEncoding",
    "TokenEmbedding",
    "check_token_index",
    "check_tokens",
    "sinusoidal_positions",
]

POSITION_KINDS = ("sinusoidal", "learned")
"""The position encodings of :class:`PositionalEncoding`."""


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


class PositionalEncoding(AttnModule):
    """Adds position information to embeddings, then dropout (section 3.5 and 5.4).

    Args:
        dim: ``d_model``.
        max_length: the longest sequence (positions ``0 .. max_length - 1``); ``max_len`` is
            its deprecated spelling (one release).
        kind: ``"sinusoidal"`` (the paper's, a fixed buffer) or ``"learned"`` (Table 3 row (E):
            one trained vector per position, initialised from ``N(0, dim^-1)``).
        dropout: ``P_drop`` on the sum.

    Shape:
        - x: ``(B, L, dim)``; returns ``(B, L, dim)``.

    Example:
        >>> pe = PositionalEncoding(8, max_length=16)
        >>> x = torch.zeros(2, 5, 8)
        >>> torch.equal(pe(x)[0], sinusoidal_positions(5, 8))
        True
    """

    def __init__(
        self,
        dim: int,
        *,
        max_length: int = 1024,
        max_len: int = UNSET,
        kind: str = "sinusoidal",
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_size(dim, "dim")
        max_length = renamed(max_length, max_len, new="max_length", old="max_len", default=1024)
        check_size(max_length, "max_length")
        check_probability(dropout, "dropout")
        if kind not in POSITION_KINDS:
            raise ValueError(f"kind must be one of {POSITION_KINDS}, got {kind!r}")
        self.dim, self.max_length, self.kind = dim, max_length, kind
        self.dropout = nn.Dropout(dropout)
        self.weight: nn.Parameter | None
        if kind == "learned":
            self.weight = nn.Parameter(torch.empty(max_length, dim, device=device, dtype=dtype))
            nn.init.normal_(self.weight, std=dim**-0.5)
        else:
            self.register_parameter("weight", None)
            self.register_buffer(
                "table", sinusoidal_positions(max_length, dim, device=device, dtype=dtype),
                persistent=False,
            )

    def forward(self, x: Tensor, *, offset: int = 0) -> Tensor:
        """Add the encodings of positions ``offset .. offset + L - 1`` to ``x``."""
        check_tensor(x, "x", ndim=3, layout="(B, L, dim)")
        check_dim(x, -1, self.dim, "x", "dim")
        check_size(offset, "offset", minimum=0)
        end = offset + x.shape[1]
        if end > self.max_length:
            raise ValueError(
                f"positions up to {end - 1} requested but max_length={self.max_length}; "
                "build the model with a larger max_length"
            )
        table = self.weight if self.weight is not None else self.get_buffer("table")
        return self.dropout(x + table[offset:end].to(x.dtype))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, max_length={self.max_length}, kind={self.kind!r}"

    max_len = property(lambda self: self.max_length)  # deprecated spelling (one release)


# ----------------------------------------------------------------------------------------------
# tokens


class TokenEmbedding(AttnModule):
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


def check_tokens(
    tokens: Tensor, name: str, vocab_size: int, module: nn.Module | None = None
) -> None:
    check_tensor(tokens, name, ndim=2, layout="(B, L) token indices", floating=False,
                 like=("", module))
    if tokens.is_floating_point() or tokens.dtype == torch.bool or tokens.is_complex():
        raise TypeError(f"{name} must hold integer token indices, got dtype {tokens.dtype}")
    if (
        tokens.numel()
        and not torch.compiler.is_compiling()  # a value check: skipped while tracing
        and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size)
    ):
        raise ValueError(
            f"{name} must hold indices in [0, {vocab_size}), got values in "
            f"[{int(tokens.min())}, {int(tokens.max())}]"
        )


def check_token_index(value: int | None, name: str, vocab_size: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocab_size:
        raise ValueError(f"{name} must be an int in [0, {vocab_size}), got {value!r}")
