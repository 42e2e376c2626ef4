"""Configuration of the ``vaswani2017_param_counts`` experiment.

Vaswani et al., "Attention Is All You Need", https://arxiv.org/abs/1706.03762: the parameter
column of Table 3 (base, rows (B) and (C), big). Nothing is trained: every row is counted with a
closed formula and, where the library's :class:`~attnlab.architectures.transformer.Transformer`
can express the row, cross-checked against the ``numel`` of a model built on the ``meta``
device.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ParamCountConfig"]


@dataclass(frozen=True)
class ParamCountConfig:
    """Counting conventions (the defaults are the paper's setting)."""

    vocab_size: int = 37_000  # section 5.1: "shared source-target vocabulary of about 37000"
    tied_embeddings: bool = True  # section 3.4: one matrix for both embeddings and pre-softmax
    biases: bool = True  # section 3.3 eq. 2 has b_1, b_2; projection biases as torch's MHA
    layer_norms: bool = True  # section 3.1: LayerNorm(x + Sublayer(x)), gain and bias
    build_modules: bool = True  # cross-check the formula against real modules on ``meta``

    def __post_init__(self) -> None:
        if self.vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {self.vocab_size}")
