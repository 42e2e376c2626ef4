"""attnlab: attention mechanisms from the survey of Chaudhari et al., spatial transformers and
squeeze-and-excitation, as tested PyTorch modules that always return their attention.

:func:`list_mechanisms` queries every registered mechanism by the survey's four axes;
:mod:`attnlab.architectures` holds the models built from them (seq2seq, pointer network, memory
network, Transformer, GAT, HAN, co-attention VQA). Names are imported on first use, so
``import attnlab`` itself is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Names are imported on first use (PEP 562), so that ``attnlab --help`` and the light commands
# do not pay for importing torch and every module. Every registered mechanism lives in
# attnlab.mechanisms or attnlab.vision; the registry imports them before its first query
# (attnlab.core.registry.BUILTIN_MODULES).
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "CoAttentionVQA",
            "GAT",
            "HierarchicalAttentionNetwork",
            "MemN2N",
            "PointerNetwork",
            "Seq2Seq",
            "Transformer",
        ],
        "attnlab.architectures",
    ),
    **dict.fromkeys(
        [
            "AttentionOutput",
            "attend",
            "band_mask",
            "causal_mask",
            "entmax15",
            "gumbel_softmax",
            "lengths_to_mask",
            "list_mechanisms",
            "masked_softmax",
            "sparsemax",
        ],
        "attnlab.core",
    ),
    **dict.fromkeys(
        [
            "AdditiveAttention",
            "AlternatingCoAttention",
            "Attention",
            "AttentionOverAttention",
            "AttentionViaAttention",
            "BahdanauAttention",
            "ConcatAttention",
            "CosineAttention",
            "DotAttention",
            "FeatureWiseAttention",
            "GeneralAttention",
            "GraphAttention",
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
            "StructuredSelfAttention",
        ],
        "attnlab.mechanisms",
    ),
    **dict.fromkeys(["SpatialTransformer", "SqueezeExcitation"], "attnlab.vision"),
    **dict.fromkeys(
        ["PretrainedMixin", "from_pretrained", "save_pretrained"], "attnlab.core.serialization"
    ),
    "create": "attnlab.mechanisms.factory",
}
_SUBPACKAGES = frozenset(
    {
        "architectures",
        "bench",
        "core",
        "data",
        "experiments",
        "interpret",
        "mechanisms",
        "metrics",
        "report",
        "train",
        "vision",
    }
)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"attnlab.{name}")
    raise AttributeError(f"module 'attnlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBPACKAGES})


if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from attnlab.architectures import (
        GAT,
        CoAttentionVQA,
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
    from attnlab.core.serialization import PretrainedMixin, from_pretrained, save_pretrained
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
        GraphAttention,
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
    from attnlab.mechanisms.factory import create
    from attnlab.vision import SpatialTransformer, SqueezeExcitation

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
    "PretrainedMixin",
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
    "create",
    "entmax15",
    "from_pretrained",
    "gumbel_softmax",
    "lengths_to_mask",
    "list_mechanisms",
    "masked_softmax",
    "save_pretrained",
    "sparsemax",
]
