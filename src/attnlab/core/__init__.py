"""Core of attnlab: pure functions and small typed containers (imports nothing else of attnlab).

Scores (alignment functions), distributions, masks, :func:`attend` and the mechanism registry.
"""

from attnlab.core import init_args as init_args
from attnlab.core.attend import attend, dot_product_attention
from attnlab.core.distributions import (
    Categorical,
    CategoricalSample,
    Distribution,
    Entmax15,
    GumbelSoftmax,
    LinearNormalization,
    Softmax,
    Sparsemax,
    argmax_categorical,
    entmax15,
    gumbel_softmax,
    register_distribution_name,
    resolve_distribution,
    sample_categorical,
    sparsemax,
)
from attnlab.core.init_args import AttnModule
from attnlab.core.masks import (
    band_mask,
    causal_mask,
    lengths_to_mask,
    masked_normalize,
    masked_softmax,
)
from attnlab.core.output import AttentionOutput
from attnlab.core.registry import (
    TAG_VOCABULARY,
    MechanismEntry,
    Paper,
    list_mechanisms,
    register_mechanism,
)
from attnlab.core.scores import (
    ActivatedGeneralScore,
    AdditiveScore,
    BiasedGeneralScore,
    ConcatScore,
    CosineScore,
    DeepScore,
    DotScore,
    GeneralScore,
    KernelScore,
    LocationScore,
    ScaledDotScore,
    Score,
    build_score,
)
from attnlab.core.weight_selection import WeightSelection

__all__ = [
    "TAG_VOCABULARY",
    "ActivatedGeneralScore",
    "AdditiveScore",
    "AttentionOutput",
    "AttnModule",
    "BiasedGeneralScore",
    "Categorical",
    "CategoricalSample",
    "ConcatScore",
    "CosineScore",
    "DeepScore",
    "Distribution",
    "DotScore",
    "Entmax15",
    "GeneralScore",
    "GumbelSoftmax",
    "KernelScore",
    "LinearNormalization",
    "LocationScore",
    "MechanismEntry",
    "Paper",
    "ScaledDotScore",
    "Score",
    "Softmax",
    "Sparsemax",
    "WeightSelection",
    "argmax_categorical",
    "attend",
    "band_mask",
    "build_score",
    "causal_mask",
    "dot_product_attention",
    "entmax15",
    "gumbel_softmax",
    "lengths_to_mask",
    "list_mechanisms",
    "masked_normalize",
    "masked_softmax",
    "register_distribution_name",
    "register_mechanism",
    "resolve_distribution",
    "sample_categorical",
    "sparsemax",
]
