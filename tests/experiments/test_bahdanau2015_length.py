"""bahdanau2015_length: models, helpers, scales, plots (the smoke run is the registry test's)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from attnlab.data.sequences import make_sequence_task
from attnlab.data.translation import PairDataset, Vocab
from attnlab.experiments.bahdanau2015_length.common import (
    Decoded,
    accuracy_by_length,
    bleu_by_length,
    decode_dataset,
    plot_alignment,
    plot_curves,
    references_of,
    teacher_forced_perplexity,
)
from attnlab.experiments.bahdanau2015_length.config import LengthConfig
from attnlab.experiments.bahdanau2015_length.run import VARIANTS, build_model
from attnlab.experiments.context import RunContext
from attnlab.experiments.registry import get_experiment


def _ctx(tmp_path: Path) -> RunContext:
    (tmp_path / "plots").mkdir(exist_ok=True)
    return RunContext(
        "bahdanau2015_length", "smoke", tmp_path, 0, None, torch.device("cpu"), False,
        logging.getLogger("test"),
    )  # fmt: skip


def test_models_differ_only_by_attention() -> None:
    config = LengthConfig()
    with_attention = build_model(config, 14, 14, VARIANTS["attention"])
    without = build_model(config, 14, 14, VARIANTS["no_attention"])
    n_with = sum(p.numel() for p in with_attention.parameters())
    n_without = sum(p.numel() for p in without.parameters())
    attention = with_attention.attention
    assert attention is not None and without.attention is None
    assert n_with - n_without == sum(p.numel() for p in attention.parameters())
    assert with_attention.bidirectional and with_attention.rnn_type == "gru"


def test_scales_build_and_quick_skips_translation() -> None:
    exp = get_experiment("bahdanau2015_length")
    quick = exp.make_config("quick")
    assert not quick.translation.enabled and quick.sequence.task == "reverse"
    assert exp.make_config("full").translation.enabled
    readme = exp.readme()
    assert readme is not None
    for target in exp.targets:
        assert target.metric in readme


def test_accuracy_by_length_and_decoding() -> None:
    pairs = make_sequence_task("copy", 12, min_length=2, max_length=4, vocab_size=3, seed=0)
    data = PairDataset(pairs, src_length=5, tgt_length=5)
    refs = references_of(data)
    assert refs == [t for _, t in pairs]
    perfect = Decoded([list(r) for r in refs], (data.src_lengths - 1).tolist(), None)
    assert all(v == (1.0, 1.0) for v in accuracy_by_length(perfect, refs).values())
    half = Decoded([r[:1] + [0] * (len(r) - 1) for r in refs], perfect.src_lengths, None)
    scores = accuracy_by_length(half, refs)
    assert scores[2] == (0.0, 0.5) and scores[4] == (0.0, 0.25)
    torch.manual_seed(0)
    model = build_model(LengthConfig.smoke(), 7, 7, "additive")
    decoded = decode_dataset(model, data, max_length=6)
    assert len(decoded.hypotheses) == 12 and decoded.weights is not None
    assert decoded.weights[0].shape[1] == int(data.src_lengths[0])
    assert teacher_forced_perplexity(model, data) > 1.0


def test_bleu_by_length_and_plots(tmp_path: Path) -> None:
    vocab = Vocab(["a", "b", "c"])
    refs = [[4, 5, 6], [4, 5, 6, 4]] * 10
    decoded = Decoded([list(r) for r in refs], [3, 4] * 10, None)
    overall, per_length = bleu_by_length(decoded, refs, vocab, min_count=5)
    assert abs(overall - 100.0) < 1e-9 and set(per_length) == {3, 4}
    ctx = _ctx(tmp_path)
    plot_curves(ctx, {"a": {1: 0.5, 2: 0.4}}, name="curve", ylabel="acc", title="t", caption="c")
    plot_alignment(
        ctx, torch.eye(3), source=["x", "y", "z"], output=["1", "2", "3"], name="align",
        title="t", caption="c",
    )  # fmt: skip
    assert (ctx.plots_dir / "curve.png").stat().st_size > 0
    assert (ctx.plots_dir / "align.png").stat().st_size > 0
