"""Every registered mechanism's survey tags follow the rules in :mod:`attnlab.core.registry`.

Each mechanism is described below by four plain facts, one per axis of the survey (what its
queries and keys come from, how many granularities receive weights, which positions a query
covers, what one weight applies to). The rules map facts to tags; the test checks that the tags
registered at the ``register_mechanism`` call sites are the ones the rules give, and that each
fact is true of the module (from its ``forward`` signature and the output of its example), so
that neither the table nor the tags can drift. A new mechanism fails here until it is described.
"""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor

import attnlab
from attnlab.core.registry import MechanismEntry

# ---------------------------------------------------------------------------------------------
# the rules (see the docstring of attnlab.core.registry)

SEQUENCES: dict[str, frozenset[str]] = {
    "queries and keys, the same or another sequence": frozenset({"distinctive", "self"}),
    "queries aligned to another sequence": frozenset({"distinctive"}),
    "two sequences weighting each other": frozenset({"co"}),
    "one input": frozenset({"self"}),
}
LEVELS: dict[str, frozenset[str]] = {
    "one granularity": frozenset({"single"}),
    "two granularities": frozenset({"multi"}),
}
POSITIONS: dict[str, frozenset[str]] = {
    "every position": frozenset({"soft"}),
    "sampled positions": frozenset({"hard"}),
    "a window": frozenset({"local"}),
}
REPRESENTATIONS: dict[str, frozenset[str]] = {
    "a scalar per position": frozenset({"single"}),
    "a weight per feature": frozenset({"multi-dimensional"}),
    "a weight per channel": frozenset({"multi-dimensional"}),
    "a distribution per head": frozenset({"multi-dimensional"}),
    "a distribution per hop": frozenset({"multi-dimensional"}),
    "a distribution over representations": frozenset({"multi-representational"}),
}


class Facts(NamedTuple):
    """What a mechanism does, one fact per axis (keys of the rule tables above)."""

    inputs: str
    levels: str
    positions: str
    weighs: str


QK = "queries and keys, the same or another sequence"
ONE = "one input"
CO = "two sequences weighting each other"
SOFT, SCALAR = "every position", "a scalar per position"
SINGLE_LEVEL, MULTI_LEVEL = "one granularity", "two granularities"

FACTS: dict[str, Facts] = {
    # single-head alignment functions: a query over keys that may be its own sequence
    **{
        name: Facts(QK, SINGLE_LEVEL, SOFT, SCALAR)
        for name in (
            "attention", "additive", "dot", "scaled_dot", "general", "concat", "location",
            "cosine", "kernel",
        )
    },
    "multihead": Facts(QK, SINGLE_LEVEL, SOFT, "a distribution per head"),
    "hard": Facts(QK, SINGLE_LEVEL, "sampled positions", SCALAR),
    # Luong's local attention: a window around the source position aligned with a target step
    "local": Facts("queries aligned to another sequence", SINGLE_LEVEL, "a window", SCALAR),
    "sliding_window": Facts(ONE, SINGLE_LEVEL, "a window", SCALAR),
    # a target query over a source's characters, then its words
    "attention_via_attention": Facts(
        "queries aligned to another sequence", MULTI_LEVEL, SOFT, SCALAR
    ),
    "parallel_coattention": Facts(CO, SINGLE_LEVEL, SOFT, SCALAR),
    "alternating_coattention": Facts(CO, SINGLE_LEVEL, SOFT, SCALAR),
    "attention_over_attention": Facts(CO, MULTI_LEVEL, SOFT, SCALAR),
    "hierarchical": Facts(ONE, MULTI_LEVEL, SOFT, SCALAR),
    "graph_attention": Facts(ONE, SINGLE_LEVEL, SOFT, "a distribution per head"),
    "feature_wise": Facts(ONE, SINGLE_LEVEL, SOFT, "a weight per feature"),
    "structured_self_attention": Facts(ONE, SINGLE_LEVEL, SOFT, "a distribution per hop"),
    "meta_embedding": Facts(ONE, SINGLE_LEVEL, SOFT, "a distribution over representations"),
    "contextual_meta_embedding": Facts(
        ONE, SINGLE_LEVEL, SOFT, "a distribution over representations"
    ),
    # a differentiable sampling grid over the one image
    "spatial_transformer": Facts(ONE, SINGLE_LEVEL, SOFT, SCALAR),
    **{
        name: Facts(ONE, SINGLE_LEVEL, SOFT, "a weight per channel")
        for name in ("squeeze_excitation", "cbam", "eca", "scse", "gather_excite")
    },
}

LOWER_LEVEL_WEIGHTS: dict[str, str] = {
    "hierarchical": "word_weights",
    "attention_via_attention": "word_weights",
    "attention_over_attention": "query_weights",
}
"""Multi-level mechanisms: the output field holding the other level's weights."""


def expected_tags(facts: Facts) -> dict[str, frozenset[str]]:
    """The tags the rules give for ``facts``."""
    return {
        "sequences": SEQUENCES[facts.inputs],
        "levels": LEVELS[facts.levels],
        "positions": POSITIONS[facts.positions],
        "representations": REPRESENTATIONS[facts.weighs],
    }


ENTRIES = attnlab.list_mechanisms()
IDS = [e.name for e in ENTRIES]


# ---------------------------------------------------------------------------------------------


def test_every_registered_mechanism_is_described() -> None:
    assert set(IDS) == set(FACTS), (
        f"describe the new mechanisms {sorted(set(IDS) - set(FACTS))} in FACTS; "
        f"remove {sorted(set(FACTS) - set(IDS))}"
    )
    for facts in FACTS.values():
        expected_tags(facts)  # every fact is a key of its rule table
    assert set(LOWER_LEVEL_WEIGHTS) == {n for n, f in FACTS.items() if f.levels == MULTI_LEVEL}


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_tags_follow_the_rules(entry: MechanismEntry) -> None:
    tags = {axis: frozenset(values) for axis, values in entry.tags.items()}
    assert tags == expected_tags(FACTS[entry.name])


def test_heads_and_hops_are_tagged_alike() -> None:
    tags = {e.name: e.tags["representations"] for e in ENTRIES}
    assert tags["multihead"] == tags["graph_attention"] == tags["structured_self_attention"]
    assert tags["multihead"] == ("multi-dimensional",)


def _required_inputs(module: torch.nn.Module) -> list[str]:
    parameters = inspect.signature(module.forward).parameters.values()
    return [
        p.name
        for p in parameters
        if p.kind is inspect.Parameter.VAR_POSITIONAL
        or (
            p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            and p.default is inspect.Parameter.empty
        )
    ]


def _count(module: torch.nn.Module, name: str) -> int:
    value = getattr(module, name, 1)
    return value if isinstance(value, int) else 1


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_the_facts_are_true_of_the_module(entry: MechanismEntry) -> None:
    facts = FACTS[entry.name]
    torch.manual_seed(0)
    module, args, kwargs = entry.example()
    module.eval()
    with torch.no_grad():
        out = module(*args, **kwargs)
    fields: dict[str, Any] = out._asdict()
    weights = fields["weights"]
    parameters = inspect.signature(module.forward).parameters
    required = _required_inputs(module)

    # sequences: the forward signature
    if facts.inputs == QK:
        assert {"query", "key"} <= set(parameters)
    elif facts.inputs == "queries aligned to another sequence":
        assert "query" in parameters and len(required) >= 2
    elif facts.inputs == CO:
        assert len(required) == 2 and "key" not in parameters
    else:
        assert len(required) == 1, required

    # levels: a multi-level mechanism returns the other level's weights too
    if facts.levels == MULTI_LEVEL:
        assert isinstance(fields[LOWER_LEVEL_WEIGHTS[entry.name]], Tensor)

    # positions: sampled choices come with their log-probabilities, windows with their centres
    sampled = "log_prob" in fields and "indices" in fields
    assert sampled == (facts.positions == "sampled positions")
    assert ("centers" in fields) == (facts.positions == "a window")

    # representations: the layout of the weights
    assert isinstance(weights, Tensor)
    heads, hops = _count(module, "num_heads"), _count(module, "num_hops")
    if facts.weighs == "a distribution per head":
        assert heads > 1 and weights.shape[1] == heads
    elif facts.weighs == "a distribution per hop":
        assert hops > 1 and weights.shape[1] == hops
    elif facts.weighs == "a weight per feature":
        assert weights.shape == args[0].shape  # (B, L, D): one weight per token and feature
    elif facts.weighs == "a weight per channel":
        assert weights.shape[:2] == args[0].shape[:2]  # (B, C, ...)
    elif facts.weighs == "a distribution over representations":
        assert weights.shape[-1] == len(args)  # (B, L, R): R embeddings of each token
        sums = weights.sum(-1)
        assert bool(((sums - 1).abs() < 1e-5).logical_or(sums == 0).all())
    else:
        assert heads == 1 and hops == 1
