"""attnlab: attention mechanisms from the survey of Chaudhari et al., spatial transformers and
squeeze-and-excitation, as tested PyTorch modules that always return their attention."""

from attnlab.core import (
    AttentionOutput,
    attend,
    band_mask,
    causal_mask,
    lengths_to_mask,
    list_mechanisms,
    masked_softmax,
)

__version__ = "0.1.0"

__all__ = [
    "AttentionOutput",
    "__version__",
    "attend",
    "band_mask",
    "causal_mask",
    "lengths_to_mask",
    "list_mechanisms",
    "masked_softmax",
]
