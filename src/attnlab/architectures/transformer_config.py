"""The hyper-parameters shared by the Transformer token models, and the checks they share.

Vaswani et al., "Attention Is All You Need", https://arxiv.org/abs/1706.03762: the defaults of
:class:`TransformerConfig` are the paper's base model (Table 3). The models of
:mod:`attnlab.architectures.transformer` (which re-exports :class:`TransformerConfig`) take one
as ``config=`` and its fields as keyword arguments (:class:`TransformerOptions`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypedDict

from torch import Tensor

from attnlab.architectures._compat import renamed
from attnlab.architectures.transformer_embeddings import POSITION_KINDS, PositionalEncoding
from attnlab.architectures.transformer_layers import check_layer_args
from attnlab.core.checks import check_mask, check_size

__all__ = [
    "TransformerConfig",
    "TransformerOptions",
    "caller_mask",
    "configure",
    "position_encoding",
]


@dataclass(frozen=True)
class TransformerConfig:
    """The hyper-parameters shared by the models of :mod:`attnlab.architectures.transformer`
    (``Transformer``, ``DecoderOnlyTransformer`` and ``EncoderOnlyTransformer``); the defaults
    are the paper's base model (Table 3).

    Each model takes one as ``config=`` and accepts every field as a keyword argument too, which
    overrides the config (``Transformer(v, v, config=base, dropout=0.3)``); the model keeps the
    resolved config as ``model.config``.

    Attributes:
        dim: ``d_model`` (base 512, big 1024).
        num_heads: ``h`` (base 8, big 16); ``d_k = d_v = dim / h``.
        num_layers: ``N`` of every stack (6); ``Transformer`` can set its encoder's and
            decoder's apart (``num_encoder_layers``, ``num_decoder_layers``).
        hidden_dim: ``d_ff`` (base 2048, big 4096).
        dropout: ``P_drop`` (0.1; big EN-DE 0.3), on embeddings plus positions, sub-layer
            outputs, attention weights and inside the feed-forward networks.
        activation: ``"relu"`` (eq. 2) or ``"gelu"``.
        norm_first: pre-norm instead of the paper's post-norm.
        positions: ``"sinusoidal"`` (section 3.5) or ``"learned"`` (Table 3 (E)).
        max_length: the longest sequence (number of positions); the models also accept the
            deprecated keyword ``max_len`` (one release).
        pad_index: padding token: masks built from it exclude padded keys, and its embedding
            row is zero and receives no gradient. ``None``: no padding.
        layer_norm_eps: epsilon of the layer norms.

    Example:
        >>> from attnlab.architectures.transformer import DecoderOnlyTransformer
        >>> base = TransformerConfig(dim=16, num_heads=2, num_layers=1, hidden_dim=32)
        >>> lm = DecoderOnlyTransformer(10, config=base, dropout=0.0)
        >>> lm.config.dropout, lm.config.dim
        (0.0, 16)
    """

    dim: int = 512
    num_heads: int = 8
    num_layers: int = 6
    hidden_dim: int = 2048
    dropout: float = 0.1
    activation: str = "relu"
    norm_first: bool = False
    positions: str = "sinusoidal"
    max_length: int = 1024
    pad_index: int | None = None
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        check_layer_args(
            self.dim, self.num_heads, self.hidden_dim, self.dropout, self.activation,
            self.norm_first,
        )
        check_size(self.num_layers, "num_layers")
        check_size(self.max_length, "max_length")
        if self.positions not in POSITION_KINDS:
            raise ValueError(f"positions must be one of {POSITION_KINDS}, got {self.positions!r}")

    def layer_options(self) -> dict[str, Any]:
        """The keyword arguments every encoder/decoder layer takes from the config."""
        return {
            "dropout": self.dropout, "activation": self.activation,
            "norm_first": self.norm_first, "layer_norm_eps": self.layer_norm_eps,
        }


class TransformerOptions(TypedDict, total=False):
    """The fields of :class:`TransformerConfig`, as keyword arguments of the models."""

    dim: int
    num_heads: int
    num_layers: int
    hidden_dim: int
    dropout: float
    activation: str
    norm_first: bool
    positions: str
    max_length: int
    max_len: int  # deprecated spelling of max_length (one release)
    pad_index: int | None
    layer_norm_eps: float


def configure(
    owner: str, config: TransformerConfig | None, options: TransformerOptions
) -> TransformerConfig:
    """``config`` (default :class:`TransformerConfig`) with the keyword ``options`` applied."""
    if config is None:
        config = TransformerConfig()
    elif not isinstance(config, TransformerConfig):
        raise TypeError(f"config must be a TransformerConfig, got {type(config).__name__}")
    given: dict[str, Any] = dict(options)
    if "max_len" in given:
        alias = given.pop("max_len")
        given["max_length"] = renamed(given.get("max_length", alias), alias, new="max_length",
                                      old="max_len", default=alias, stacklevel=4)
    fields = {f.name for f in dataclasses.fields(TransformerConfig)}
    unknown = sorted(set(given) - fields)
    if unknown:
        raise TypeError(
            f"{owner}() got unexpected keyword arguments {unknown}; the model options are "
            f"the fields of TransformerConfig: {sorted(fields)}"
        )
    return dataclasses.replace(config, **given) if given else config


def caller_mask(
    mask: Tensor | None, name: str, tokens: Tensor, tokens_name: str, *, k_len: int | None = None
) -> Tensor | None:
    """Validate a mask under the caller's argument name (``src_mask``, ``tgt_mask``, ...) against
    its tokens ``(B, L)``: shape ``(B, Lk)`` or ``(B|1, L, Lk)`` (``Lk = L`` unless given), and
    the tokens' device. Returns the mask unchanged."""
    if mask is None:
        return None
    batch, length = tokens.shape
    check_mask(mask, batch=batch, q_len=length, k_len=length if k_len is None else k_len,
               name=name, like=(tokens_name, tokens))
    return mask


def position_encoding(config: TransformerConfig, factory: dict[str, Any]) -> PositionalEncoding:
    return PositionalEncoding(
        config.dim, max_length=config.max_length, kind=config.positions, dropout=config.dropout,
        **factory,
    )
