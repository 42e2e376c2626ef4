"""The rows of Table 3 of Vaswani et al. (2017) with a parameter count, and the formula.

"Attention Is All You Need", https://arxiv.org/abs/1706.03762, Table 3 (the column
``params x 10^6``) and section 3: an encoder layer holds one multi-head attention, one
feed-forward network (eq. 2) and two layer norms; a decoder layer two attentions, one
feed-forward network and three layer norms; a multi-head attention holds
``W^Q_i, W^K_i in R^{d_model x d_k}``, ``W^V_i in R^{d_model x d_v}`` for ``h`` heads and
``W^O in R^{h d_v x d_model}`` (section 3.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ROWS", "ROW_KEYS", "Row", "attention_params", "count_params", "layer_params"]


@dataclass(frozen=True)
class Row:
    """One model of Table 3 and the paper's printed parameter count (millions)."""

    key: str
    label: str
    paper_params_m: float
    num_layers: int = 6  # N
    dim: int = 512  # d_model
    hidden_dim: int = 2048  # d_ff
    num_heads: int = 8  # h
    key_dim: int = 64  # d_k
    value_dim: int = 64  # d_v

    @property
    def standard_heads(self) -> bool:
        """``d_k = d_v = d_model / h``, the only shape :class:`MultiHeadAttention` builds."""
        return self.key_dim == self.value_dim == self.dim // self.num_heads and (
            self.dim % self.num_heads == 0
        )


ROWS: tuple[Row, ...] = (
    Row("base", "base", 65),
    Row("n2", "(C) N=2", 36, num_layers=2),
    Row("n4", "(C) N=4", 50, num_layers=4),
    Row("n8", "(C) N=8", 80, num_layers=8),
    Row("d_model_256", "(C) d_model=256, d_k=d_v=32", 28, dim=256, key_dim=32, value_dim=32),
    Row("d_model_1024", "(C) d_model=1024, d_k=d_v=128", 168, dim=1024, key_dim=128,
        value_dim=128),
    Row("d_ff_1024", "(C) d_ff=1024", 53, hidden_dim=1024),
    Row("d_ff_4096", "(C) d_ff=4096", 90, hidden_dim=4096),
    Row("d_k_16", "(B) d_k=16", 58, key_dim=16),
    Row("d_k_32", "(B) d_k=32", 60, key_dim=32),
    Row("big", "big", 213, dim=1024, hidden_dim=4096, num_heads=16),
)
ROW_KEYS: tuple[str, ...] = tuple(r.key for r in ROWS)


def attention_params(row: Row, *, biases: bool = True) -> int:
    """Parameters of one multi-head attention (section 3.2.2), biases on every projection."""
    d, h, dk, dv = row.dim, row.num_heads, row.key_dim, row.value_dim
    weights = 2 * d * h * dk + d * h * dv + h * dv * d
    return weights + ((2 * h * dk + h * dv + d) if biases else 0)


def layer_params(row: Row, *, biases: bool = True, layer_norms: bool = True) -> tuple[int, int]:
    """``(encoder layer, decoder layer)`` parameters."""
    ffn = 2 * row.dim * row.hidden_dim + ((row.hidden_dim + row.dim) if biases else 0)  # eq. 2
    attention = attention_params(row, biases=biases)
    norm = 2 * row.dim if layer_norms else 0
    return attention + ffn + 2 * norm, 2 * attention + ffn + 3 * norm


def count_params(
    row: Row,
    *,
    vocab_size: int,
    tied_embeddings: bool = True,
    biases: bool = True,
    layer_norms: bool = True,
) -> tuple[int, int]:
    """``(total, embedding)`` parameters of the encoder-decoder model of ``row``.

    With ``tied_embeddings`` one ``vocab_size x d_model`` matrix serves as source embedding,
    target embedding and pre-softmax projection (section 3.4); otherwise there are three (the
    untied projection with a bias).

    Example:
        >>> count_params(ROWS[0], vocab_size=37_000)
        (63082496, 18944000)
    """
    encoder, decoder = layer_params(row, biases=biases, layer_norms=layer_norms)
    embedding = vocab_size * row.dim
    if not tied_embeddings:
        embedding = 3 * embedding + (vocab_size if biases else 0)
    return row.num_layers * (encoder + decoder) + embedding, embedding
