"""attnlab: attention mechanisms from the survey of Chaudhari et al., spatial transformers and
squeeze-and-excitation, as tested PyTorch modules that always return their attention.

Importing the package registers every mechanism; :func:`list_mechanisms` queries them by the
survey's four axes.
"""

from attnlab.core import (
    AttentionOutput,
    attend,
    band_mask,
    causal_mask,
    entmax15,
    gumbel_softmax,
    lengths_to_mask,
    list_mechanisms,
    masked_softmax,
    sparsemax,
)
from attnlab.mechanisms import (
    AdditiveAttention,
    AlternatingCoAttention,
    Attention,
    AttentionOverAttention,
    AttentionViaAttention,
    BahdanauAttention,
    ConcatAttention,
    CosineAttention,
    DotAttention,
    FeatureWiseAttention,
    GeneralAttention,
    HardAttention,
    HierarchicalAttention,
    KernelAttention,
    LocalAttention,
    LocationAttention,
    LuongAttention,
    MetaEmbedding,
    MultiHeadAttention,
    ParallelCoAttention,
    ScaledDotAttention,
    SlidingWindowAttention,
    StructuredSelfAttention,
)
from attnlab.vision import SpatialTransformer, SqueezeExcitation

__version__ = "0.1.0"

__all__ = [
    "AdditiveAttention",
    "AlternatingCoAttention",
    "Attention",
    "AttentionOutput",
    "AttentionOverAttention",
    "AttentionViaAttention",
    "BahdanauAttention",
    "ConcatAttention",
    "CosineAttention",
    "DotAttention",
    "FeatureWiseAttention",
    "GeneralAttention",
    "HardAttention",
    "HierarchicalAttention",
    "KernelAttention",
    "LocalAttention",
    "LocationAttention",
    "LuongAttention",
    "MetaEmbedding",
    "MultiHeadAttention",
    "ParallelCoAttention",
    "ScaledDotAttention",
    "SlidingWindowAttention",
    "SpatialTransformer",
    "SqueezeExcitation",
    "StructuredSelfAttention",
    "__version__",
    "attend",
    "band_mask",
    "causal_mask",
    "entmax15",
    "gumbel_softmax",
    "lengths_to_mask",
    "list_mechanisms",
    "masked_softmax",
    "sparsemax",
]
