"""luong2015_local_vs_global: variant -> model mapping, shared sizes, scales."""

from __future__ import annotations

import pytest
import torch

from attnlab.experiments.luong2015_local_vs_global.config import (
    VARIANT_NAMES,
    LocalGlobalConfig,
    ModelConfig,
)
from attnlab.experiments.luong2015_local_vs_global.run import attention_of, build_model
from attnlab.experiments.registry import get_experiment
from attnlab.mechanisms.attention import ConcatAttention, DotAttention, GeneralAttention
from attnlab.mechanisms.local import LocalAttention


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_every_variant_builds_the_right_attention(variant: str) -> None:
    config = LocalGlobalConfig.smoke()
    model = build_model(config, 20, variant)
    attention = model.attention
    name, score = attention_of(variant)
    expected = {"dot": DotAttention, "general": GeneralAttention, "concat": ConcatAttention}
    if variant.startswith("local"):
        assert isinstance(attention, LocalAttention)
        assert attention.mode == ("monotonic" if name == "local-m" else "predictive")
        assert attention.window_size == config.model.window_size
        assert type(attention.score).__name__.lower().startswith(score)
    else:
        assert isinstance(attention, expected[name])
    assert model.attention_style == "luong" and model.input_feeding and model.rnn_type == "lstm"
    uniform = build_model(
        LocalGlobalConfig(model=ModelConfig(uniform_init=0.1)), 20, variant
    )  # Luong section 4.1: parameters uniform in [-0.1, 0.1]
    assert all(float(p.detach().abs().max()) <= 0.1 for p in uniform.parameters())
    src = torch.tensor([[5, 6, 7, 2], [8, 2, 0, 0]])
    out = model(src, torch.tensor([4, 2]), torch.tensor([[1, 5, 6], [1, 7, 0]]))
    assert out.weights is not None and bool(out.weights[1, :, 2:].eq(0).all())


def test_variants_share_everything_but_attention() -> None:
    config = LocalGlobalConfig()
    counts = {}
    for variant in VARIANT_NAMES:
        model = build_model(config, 30, variant)
        attention = model.attention
        assert attention is not None
        counts[variant] = sum(p.numel() for p in model.parameters()) - sum(
            p.numel() for p in attention.parameters()
        )
    assert len(set(counts.values())) == 1


def test_scales_and_readme() -> None:
    exp = get_experiment("luong2015_local_vs_global")
    assert "global_general" in exp.make_config("quick").variants
    assert exp.make_config("full").variants == VARIANT_NAMES
    with pytest.raises(ValueError, match="variants"):
        LocalGlobalConfig(variants=("global_cosine",))
    readme = exp.readme()
    assert readme is not None and "tolerance" in readme
    for target in exp.targets:
        assert target.metric in readme
