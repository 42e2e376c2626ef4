"""Attention modules, one family per file, thin over :mod:`attnlab.core`.

Importing this package registers every mechanism in the registry.
"""

from attnlab.mechanisms.attention import (
    AdditiveAttention,
    Attention,
    BahdanauAttention,
    ConcatAttention,
    CosineAttention,
    DotAttention,
    GeneralAttention,
    LocationAttention,
    LuongAttention,
    ScaledDotAttention,
)
from attnlab.mechanisms.attention_over_attention import (
    AttentionOverAttention,
    AttentionOverAttentionOutput,
)
from attnlab.mechanisms.attention_via_attention import (
    AttentionViaAttention,
    AttentionViaAttentionOutput,
)
from attnlab.mechanisms.coattention import (
    AlternatingCoAttention,
    AlternatingCoAttentionOutput,
    ParallelCoAttention,
    ParallelCoAttentionOutput,
)
from attnlab.mechanisms.flex import flex_attention_available, flex_sliding_window_attention
from attnlab.mechanisms.graph import (
    GraphAttention,
    GraphAttentionOutput,
    add_self_loops,
    check_edge_index,
    to_sparse_features,
)
from attnlab.mechanisms.hard import (
    HARD_ATTENTION_MODES,
    HardAttention,
    HardAttentionOutput,
    MovingAverageBaseline,
    reinforce_loss,
)
from attnlab.mechanisms.hierarchical import (
    HierarchicalAttention,
    HierarchicalAttentionOutput,
)
from attnlab.mechanisms.kernel import (
    KernelAttention,
)
from attnlab.mechanisms.local import (
    LOCAL_ATTENTION_MODES,
    LocalAttention,
    LocalAttentionOutput,
    SlidingWindowAttention,
    sliding_window_attention,
    window_to_dense,
)
from attnlab.mechanisms.multidimensional import (
    FeatureWiseAttention,
    FeatureWiseAttentionOutput,
    StructuredSelfAttention,
    StructuredSelfAttentionOutput,
    structured_penalty,
)
from attnlab.mechanisms.multihead import (
    MultiHeadAttention,
)
from attnlab.mechanisms.representations import (
    MetaEmbedding,
    MetaEmbeddingOutput,
)

__all__ = [
    "HARD_ATTENTION_MODES",
    "LOCAL_ATTENTION_MODES",
    "AdditiveAttention",
    "AlternatingCoAttention",
    "AlternatingCoAttentionOutput",
    "Attention",
    "AttentionOverAttention",
    "AttentionOverAttentionOutput",
    "AttentionViaAttention",
    "AttentionViaAttentionOutput",
    "BahdanauAttention",
    "ConcatAttention",
    "CosineAttention",
    "DotAttention",
    "FeatureWiseAttention",
    "FeatureWiseAttentionOutput",
    "GeneralAttention",
    "GraphAttention",
    "GraphAttentionOutput",
    "HardAttention",
    "HardAttentionOutput",
    "HierarchicalAttention",
    "HierarchicalAttentionOutput",
    "KernelAttention",
    "LocalAttention",
    "LocalAttentionOutput",
    "LocationAttention",
    "LuongAttention",
    "MetaEmbedding",
    "MetaEmbeddingOutput",
    "MovingAverageBaseline",
    "MultiHeadAttention",
    "ParallelCoAttention",
    "ParallelCoAttentionOutput",
    "ScaledDotAttention",
    "SlidingWindowAttention",
    "StructuredSelfAttention",
    "StructuredSelfAttentionOutput",
    "add_self_loops",
    "check_edge_index",
    "flex_attention_available",
    "flex_sliding_window_attention",
    "reinforce_loss",
    "sliding_window_attention",
    "structured_penalty",
    "to_sparse_features",
    "window_to_dense",
]
