"""Tests of the Table 3 parameter accounting (Vaswani et al. 2017)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from attnlab.architectures.transformer import Transformer
from attnlab.experiments.context import RunContext
from attnlab.experiments.vaswani2017_param_counts import TARGETS
from attnlab.experiments.vaswani2017_param_counts.config import ParamCountConfig
from attnlab.experiments.vaswani2017_param_counts.run import build_row, main, vocab_interval
from attnlab.experiments.vaswani2017_param_counts.table import (
    ROWS,
    Row,
    attention_params,
    count_params,
)
from attnlab.report.checks import check_targets


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_base_count_by_hand() -> None:
    d, f, v = 512, 2048, 37_000
    attention = 4 * (d * d + d)
    ffn = d * f + f + f * d + d
    encoder = attention + ffn + 2 * 2 * d
    decoder = 2 * attention + ffn + 3 * 2 * d
    assert count_params(ROWS[0], vocab_size=v) == (6 * (encoder + decoder) + v * d, v * d)


@pytest.mark.parametrize("tied", [True, False])
def test_formula_equals_a_real_module(tied: bool) -> None:
    row = Row("tiny", "tiny", 0, num_layers=2, dim=16, hidden_dim=24, num_heads=4, key_dim=4,
              value_dim=4)
    model = Transformer(50, 50, dim=16, num_heads=4, num_encoder_layers=2, num_decoder_layers=2,
                        hidden_dim=24, share_embeddings=tied, tie_output=tied)
    assert numel(model) == count_params(row, vocab_size=50, tied_embeddings=tied)[0]
    meta = build_row(row, vocab_size=50, tied_embeddings=tied)
    assert next(meta.parameters()).device.type == "meta" and numel(meta) == numel(model)


def test_attention_formula_with_small_key_dim() -> None:
    row = Row("dk", "dk", 0, dim=32, num_heads=4, key_dim=3, value_dim=8)
    layers = [nn.Linear(32, 12), nn.Linear(32, 12), nn.Linear(32, 32), nn.Linear(32, 32)]
    assert attention_params(row) == sum(numel(m) for m in layers)
    with pytest.raises(ValueError, match="d_k"):
        build_row(row, vocab_size=10)


def test_vocab_interval_reproduces_the_printed_number() -> None:
    config = ParamCountConfig()
    for row in ROWS:
        low, high = vocab_interval(row, config=config)
        for vocab in (int(low) + 1, int(high)):
            total, _ = count_params(row, vocab_size=vocab)
            assert round(total / 1e6) == row.paper_params_m


def test_main_passes_its_targets_and_writes_outputs(tmp_path: Path) -> None:
    (tmp_path / "plots").mkdir()
    ctx = RunContext("vaswani2017_param_counts", "smoke", tmp_path, 0, None,
                     torch.device("cpu"), False, logging.getLogger("test"))
    metrics = main(ParamCountConfig(), ctx)
    assert metrics["modules_cross_checked"] == 9
    results = check_targets(TARGETS, metrics, scale="smoke")
    assert results and not [r.target.metric for r in results if r.status != "pass"]
    assert (tmp_path / "param_counts.csv").read_text().count("\n") == len(ROWS) + 1
    assert (tmp_path / "plots" / "param_counts.png").is_file()
    assert metrics["vocab_fit_table3_low"] <= metrics["vocab_fit_table3_high"]
    # untied embeddings are far from the paper: the targets notice
    untied = main(replace(ParamCountConfig(), tied_embeddings=False, build_modules=False), ctx)
    assert any(r.failed for r in check_targets(TARGETS, untied, scale="smoke"))
    with pytest.raises(ValueError, match="vocab_size"):
        ParamCountConfig(vocab_size=0)
