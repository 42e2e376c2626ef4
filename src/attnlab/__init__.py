"""attnlab: attention mechanisms from the survey of Chaudhari et al., spatial transformers and
squeeze-and-excitation, as tested PyTorch modules that always return their attention.

Importing the package registers every mechanism; :func:`list_mechanisms` queries them by the
survey's four axes. :mod:`attnlab.architectures` holds the models built from them (seq2seq,
pointer network, memory network, Transformer, GAT, HAN, co-attention VQA).
"""

# architectures last: they are built from the mechanisms above (importing them registers the
# graph attention layer in the mechanism registry)
from attnlab.architectures import (
    GAT,
    CoAttentionVQA,
    GraphAttention,
    HierarchicalAttentionNetwork,
    MemN2N,
    PointerNetwork,
    Seq2Seq,
    Transformer,
)
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
    "GAT",
    "AdditiveAttention",
    "AlternatingCoAttention",
    "Attention",
    "AttentionOutput",
    "AttentionOverAttention",
    "AttentionViaAttention",
    "BahdanauAttention",
    "CoAttentionVQA",
    "ConcatAttention",
    "CosineAttention",
    "DotAttention",
    "FeatureWiseAttention",
    "GeneralAttention",
    "GraphAttention",
    "HardAttention",
    "HierarchicalAttention",
    "HierarchicalAttentionNetwork",
    "KernelAttention",
    "LocalAttention",
    "LocationAttention",
    "LuongAttention",
    "MemN2N",
    "MetaEmbedding",
    "MultiHeadAttention",
    "ParallelCoAttention",
    "PointerNetwork",
    "ScaledDotAttention",
    "Seq2Seq",
    "SlidingWindowAttention",
    "SpatialTransformer",
    "SqueezeExcitation",
    "StructuredSelfAttention",
    "Transformer",
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
