"""Tests of the ``vaswani2017_translation`` helpers: schedule, loss, wrapper, data split, plots."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

from attnlab.architectures.transformer import Transformer
from attnlab.data.translation import IGNORE_INDEX, PAD_ID
from attnlab.experiments.context import RunContext
from attnlab.experiments.vaswani2017_translation.config import TranslationConfig
from attnlab.experiments.vaswani2017_translation.run import (
    TransformerTranslator,
    build_models,
    noam_rate,
    plot_heads_with_tokens,
    prepare_data,
    smoothed_cross_entropy,
)


def test_noam_rate_is_the_papers_formula() -> None:
    dim, warmup = 512, 4000
    # linear warm-up, peak at warmup, then inverse square root
    assert noam_rate(100, dim=dim, warmup_steps=warmup) == pytest.approx(
        dim**-0.5 * 100 * warmup**-1.5
    )
    assert noam_rate(16000, dim=dim, warmup_steps=warmup) == pytest.approx(
        dim**-0.5 * 16000**-0.5
    )
    peak = noam_rate(warmup, dim=dim, warmup_steps=warmup)
    assert peak > noam_rate(warmup - 1, dim=dim, warmup_steps=warmup)
    assert peak > noam_rate(warmup + 1, dim=dim, warmup_steps=warmup)


def test_smoothed_cross_entropy_ignores_padding_and_smooths() -> None:
    logits = torch.randn(2, 3, 5)
    target = torch.tensor([[1, 2, IGNORE_INDEX], [4, IGNORE_INDEX, IGNORE_INDEX]])
    plain = smoothed_cross_entropy(logits, target, smoothing=0.0)
    expected = torch.stack(
        [-torch.log_softmax(logits[0, 0], -1)[1], -torch.log_softmax(logits[0, 1], -1)[2],
         -torch.log_softmax(logits[1, 0], -1)[4]]
    ).mean()
    assert plain == pytest.approx(float(expected), rel=1e-6)
    eps = 0.1
    log_p = torch.log_softmax(logits, -1)
    rows = [(0, 0, 1), (0, 1, 2), (1, 0, 4)]
    smooth = torch.stack(
        [-(1 - eps) * log_p[b, t, y] - eps * log_p[b, t].mean() for b, t, y in rows]
    ).mean()
    assert smoothed_cross_entropy(logits, target, smoothing=eps) == pytest.approx(
        float(smooth), rel=1e-6
    )


def test_translator_masks_source_padding_and_models_are_comparable() -> None:
    config = TranslationConfig.smoke()
    transformer, baseline = build_models(config, 30, torch.device("cpu"))
    assert transformer.src_embedding is transformer.tgt_embedding and transformer.output is None
    assert baseline.tgt_vocab_size == transformer.tgt_vocab_size == 30
    transformer.eval()
    wrapper = TransformerTranslator(transformer)
    src = torch.tensor([[5, 6, 2, PAD_ID, PAD_ID]])
    tgt = torch.tensor([[1, 7, 8]])
    lengths = torch.tensor([3])
    garbage = src.clone()
    garbage[0, 3:] = torch.tensor([9, 10])  # not padding ids: only the lengths mask them
    assert torch.allclose(wrapper(src, lengths, tgt), wrapper(garbage, lengths, tgt), atol=1e-6)
    assert torch.allclose(wrapper(src, lengths, tgt), wrapper(src[:, :3], lengths, tgt),
                          atol=1e-6)


def test_heads_plot_has_one_panel_per_head() -> None:
    pytest.importorskip("matplotlib")
    fig = plot_heads_with_tokens(torch.rand(3, 2, 4).softmax(-1), ["a", "b"],
                                 ["w", "x", "y", "z"], title="t")
    titled = [ax for ax in fig.axes if ax.get_title().startswith("head")]
    assert len(titled) == 3


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="dim"):
        TranslationConfig.smoke().transformer.__class__(dim=30, num_heads=4)
    with pytest.raises(ValueError, match="epochs"):
        TranslationConfig(epochs=0)


def test_split_keeps_test_sentences_out_of_training(tmp_path: Path) -> None:
    data_dir = os.environ.get("ATTNLAB_DATA")
    if not data_dir:
        pytest.skip("ATTNLAB_DATA is not set")
    ctx = RunContext("vaswani2017_translation", "smoke", tmp_path, 0, Path(data_dir),
                     torch.device("cpu"), False, logging.getLogger("test"))
    splits = prepare_data(TranslationConfig.smoke(), ctx)  # fails if the data is missing
    vocab = splits.vocab
    train_sources = {
        tuple(vocab.decode(splits.train.src[i].tolist())) for i in range(len(splits.train))
    }
    known = [s for s in splits.test_sources if all(w in vocab for w in s)]
    assert known and not [s for s in known if s in train_sources]
    assert all(len(refs) >= 1 for refs in splits.test_references)


def test_transformer_overfits_a_tiny_corpus_and_decodes_it() -> None:
    torch.manual_seed(0)
    model = Transformer(12, 12, dim=32, num_heads=2, num_encoder_layers=1, num_decoder_layers=1,
                        hidden_dim=64, dropout=0.0, share_embeddings=True, tie_output=True,
                        pad_index=0)
    src = torch.tensor([[4, 5, 6, 2], [7, 8, 2, 0], [9, 10, 11, 2]])
    tgt_out = torch.tensor([[6, 5, 4, 2], [8, 7, 2, -100], [11, 10, 9, 2]])
    tgt_in = torch.tensor([[1, 6, 5, 4], [1, 8, 7, 0], [1, 11, 10, 9]])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        opt.zero_grad()
        loss = smoothed_cross_entropy(model(src, tgt_in, need_weights=False).logits, tgt_out,
                                      smoothing=0.0)
        loss.backward()
        opt.step()
    model.eval()
    out = model.greedy_decode(src, bos_index=1, eos_index=2, max_length=5).tokens
    expected = tgt_out.clamp(min=0)
    assert torch.equal(out[:, :4], expected)
    beam = model.beam_search(src, bos_index=1, eos_index=2, beam_size=3, max_length=5).tokens
    assert torch.equal(beam[:, :4], expected)
