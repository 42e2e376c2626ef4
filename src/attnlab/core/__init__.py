"""Core of attnlab: pure functions and small typed containers (imports nothing else of attnlab)."""

from attnlab.core.attend import attend, dot_product_attention
from attnlab.core.distributions import (
    Distribution,
    LinearNormalization,
    Softmax,
    resolve_distribution,
)
from attnlab.core.masks import (
    band_mask,
    causal_mask,
    lengths_to_mask,
    masked_normalize,
    masked_softmax,
)
from attnlab.core.output import AttentionOutput
from attnlab.core.registry import MechanismEntry, Paper, list_mechanisms, register_mechanism
from attnlab.core.scores import Score

__all__ = [
    "AttentionOutput",
    "Distribution",
    "LinearNormalization",
    "MechanismEntry",
    "Paper",
    "Score",
    "Softmax",
    "attend",
    "band_mask",
    "causal_mask",
    "dot_product_attention",
    "lengths_to_mask",
    "list_mechanisms",
    "masked_normalize",
    "masked_softmax",
    "register_mechanism",
    "resolve_distribution",
]
