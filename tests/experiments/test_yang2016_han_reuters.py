"""yang2016_han_reuters: length-grouped batches, the two models, heat maps, configuration."""

from __future__ import annotations

import dataclasses
import math
import statistics
from pathlib import Path

import pytest
import torch

from attnlab.architectures.han import FlatAttentionNetwork, HierarchicalAttentionNetwork
from attnlab.data.reuters import ReutersDocument
from attnlab.experiments.registry import SCALES, get_experiment
from attnlab.experiments.runner import run_experiment
from attnlab.experiments.yang2016_han_reuters import PAPER_EPOCHS, PAPER_SEEDS
from attnlab.experiments.yang2016_han_reuters.config import (
    DataConfig,
    HANReutersConfig,
    ModelConfig,
    OptimConfig,
)
from attnlab.experiments.yang2016_han_reuters.run import (
    BatchedDocuments,
    LengthBucketedBatches,
    Split,
    _heatmap_documents,
    batch_cross_entropy,
    build_model,
    combine_seeds,
    draw_document,
)
from attnlab.report.checks import check_targets
from attnlab.report.verdicts import judge_target
from helpers import require_smoke_data

SIZES = ModelConfig(embed_dim=8, hidden_dim=5, attention_dim=6)


def _corpus(n: int = 11) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    sentences = torch.randint(1, 5, (n,), generator=g)
    words = torch.randint(1, 7, (n, 4), generator=g)
    mask = (torch.arange(6) < words.unsqueeze(-1)) & (torch.arange(4) < sentences[:, None])[
        ..., None
    ]  # (n, s, w)
    tokens = torch.randint(2, 40, (n, 4, 6), generator=g) * mask
    return tokens, mask, torch.randint(0, 10, (n,), generator=g)


def test_length_bucketed_batches_group_by_length_and_trim() -> None:
    tokens, mask, labels = _corpus()
    batches = LengthBucketedBatches(tokens, mask, labels, batch_size=4)
    assert [len(rows) for rows in batches.indices] == [4, 4, 3]
    assert sorted(i for rows in batches.indices for i in rows) == list(range(11))
    lengths = mask.any(-1).sum(-1)
    keys = [int(lengths[i]) for rows in batches.indices for i in rows]
    assert keys == sorted(keys)
    for rows, (t, m, y) in zip(batches.indices, batches.batches, strict=True):
        index = torch.tensor(rows)
        assert torch.equal(y, labels[index])
        assert t.shape[1] == int(lengths[index].max()) and t.shape[2] == int(
            mask[index].sum(-1).max()
        )
        assert torch.equal(m, mask[index][:, : t.shape[1], : t.shape[2]])
        assert int(m.sum()) == int(mask[index].sum())  # trimming drops only padding
    with pytest.raises(ValueError, match="batch_size"):
        LengthBucketedBatches(tokens, mask, labels, batch_size=0)


@pytest.mark.parametrize("kind", ["han", "flat"])
def test_batched_documents_give_the_models_logits(kind: str) -> None:
    tokens, mask, labels = _corpus()
    model = build_model(kind, 40, SIZES).eval()
    t, m, y = LengthBucketedBatches(tokens, mask, labels, batch_size=4)[1]
    logits = BatchedDocuments(model)(t.unsqueeze(0), m.unsqueeze(0))
    assert logits.shape == (1, 4, 10)
    torch.testing.assert_close(logits[0], model(t, m).logits)
    loss = batch_cross_entropy(logits, y.unsqueeze(0))
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits[0], y))
    with pytest.raises(ValueError, match="tokens"):
        BatchedDocuments(model)(t, m)


def test_models_differ_only_by_the_sentence_level() -> None:
    han, flat = build_model("han", 40, SIZES), build_model("flat", 40, SIZES)
    assert isinstance(han, HierarchicalAttentionNetwork)
    assert isinstance(flat, FlatAttentionNetwork)

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    attention = han.attention
    sentence_level = (
        count(attention.sentence_encoder) + count(attention.sentence_proj)
        + attention.sentence_context.numel()
    )
    assert count(han) - count(flat) == sentence_level > 0
    with pytest.raises(ValueError, match="kind"):
        build_model("cnn", 40, SIZES)


def test_draw_document_shades_every_word() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    sentences = [["profit", "rose", "sharply"], ["the", "company", "said"] * 10]
    values = [[0.1, 1.0, 0.5], [0.2] * 30]
    lines = draw_document(ax, sentences, values, sentence_values=[1.0, 0.3],
                          sentence_labels=["0.77", "0.23"], title="doc", line_chars=60)
    texts = [t.get_text() for t in ax.texts]
    assert lines > 2  # the long sentence wraps
    assert texts.count("company") == 10 and "0.77" in texts and "doc" in texts
    colours = {t.get_text(): t.get_bbox_patch().get_facecolor() for t in ax.texts[:4]}
    assert colours["rose"] != colours["profit"]
    plt.close(fig)


def test_heatmap_documents_prefer_distinct_classes() -> None:
    tokens, mask, labels = _corpus(30)
    docs = [ReutersDocument(i, "TEST", "YES", ("earn",), "", "") for i in range(30)]
    split = Split(docs, [[["w"]]] * 30, tokens, mask, labels)
    chosen = _heatmap_documents(split, 3, 15)
    assert len(chosen) == 3 and len(set(chosen)) == 3
    assert len({int(labels[i]) for i in chosen}) == 3
    assert all(int(mask[i].any(-1).sum()) >= 3 for i in chosen)


def test_scales_and_config_validation() -> None:
    exp = get_experiment("yang2016_han_reuters")
    configs = {scale: exp.make_config(scale) for scale in SCALES}
    assert configs["full"] == HANReutersConfig()
    assert configs["full"].model == ModelConfig(200, 50, 100)  # section 3.3 sizes
    assert configs["quick"].data.train_size < 5870 and configs["smoke"].optim.epochs == 1
    assert {t.metric for t in exp.targets} == {"han_minus_flat/accuracy_pct",
                                                "han/test_accuracy_pct",
                                                "han_minus_flat/accuracy_pct_mean"}
    with pytest.raises(ValueError, match="rule"):
        DataConfig(rule="last")
    with pytest.raises(ValueError, match="optimizer"):
        OptimConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="heatmap_docs"):
        HANReutersConfig(heatmap_docs=0)
    with pytest.raises(ValueError, match="seeds"):
        HANReutersConfig(seeds=0)


def test_paper_scale_is_the_full_protocol_over_seeds() -> None:
    exp = get_experiment("yang2016_han_reuters")
    paper, full = exp.make_config("paper"), exp.make_config("full")
    assert paper.seeds == PAPER_SEEDS >= 3 and full.seeds == 1
    assert paper.data == full.data and paper.data.train_size == paper.data.test_size == 0
    assert paper.model == ModelConfig(200, 50, 100)  # section 3.3 sizes
    assert paper.optim == dataclasses.replace(full.optim, epochs=PAPER_EPOCHS)
    by_metric = {t.metric: t for t in exp.targets}
    assert by_metric["han_minus_flat/accuracy_pct_mean"].scales == ("paper",)
    assert "paper" not in by_metric["han_minus_flat/accuracy_pct"].scales
    assert "paper" in by_metric["han/test_accuracy_pct"].scales


def _seed_metrics(han: float, flat: float) -> dict[str, float]:
    return {"han/test_accuracy_pct": han, "flat/test_accuracy_pct": flat,
            "han_minus_flat/accuracy_pct": han - flat, "han/train_s": 10.0,
            "flat/train_s": 12.0, "han/best_epoch": 3.0}


def test_combine_seeds_against_a_literal_mean_and_std() -> None:
    accuracies = [(90.0, 89.0), (92.5, 90.0), (91.0, 91.5)]
    combined = combine_seeds([_seed_metrics(h, f) for h, f in accuracies])
    n = len(accuracies)
    for name, values in (("han/test_accuracy_pct", [h for h, _ in accuracies]),
                         ("flat/test_accuracy_pct", [f for _, f in accuracies]),
                         ("han_minus_flat/accuracy_pct", [h - f for h, f in accuracies])):
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        assert combined[name] == pytest.approx(mean)
        assert combined[name + "_std"] == pytest.approx(std)
        for k, value in enumerate(values):
            assert combined[f"seed{k}/{name}"] == value
    assert combined["han_minus_flat/accuracy_pct_mean"] == pytest.approx((1.0 + 2.5 - 0.5) / 3)
    assert combined["han/train_s"] == 30.0 and combined["han/best_epoch"] == 3.0
    single = combine_seeds([_seed_metrics(90.0, 89.0)])
    assert single["han_minus_flat/accuracy_pct_mean"] == single["han_minus_flat/accuracy_pct"]
    assert not [k for k in single if k.endswith("_std") or k.startswith("seed")]
    with pytest.raises(ValueError, match="per_seed"):
        combine_seeds([])


@pytest.mark.parametrize(
    ("gaps", "verdict"),
    [([1.0, 1.2, 0.8], "met"),           # mean 1.0, std 0.2: clear of 0
     ([1.5, -0.5, 0.5], "not shown"),    # mean 0.5, std 1.0: within the spread
     ([-1.0, -1.2, -0.8], "missed")],
)
def test_paper_target_is_judged_against_the_seed_spread(gaps: list[float], verdict: str) -> None:
    exp = get_experiment("yang2016_han_reuters")
    metrics = combine_seeds([_seed_metrics(90.0 + g, 90.0) for g in gaps])
    metrics["seeds"] = float(len(gaps))
    target = next(t for t in exp.targets if t.metric == "han_minus_flat/accuracy_pct_mean")
    (check,) = check_targets([target], metrics, scale="paper")
    judged = judge_target(check, metrics)
    assert judged.verdict == verdict
    assert judged.spread.floor == pytest.approx(statistics.stdev(gaps))
    assert "(3 seeds)" in judged.spread.text


def test_several_seeds_in_one_run(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    require_smoke_data("yang2016_han_reuters")
    result = run_experiment("yang2016_han_reuters", scale="smoke", overrides=["seeds=2"],
                            out=tmp_path / "run", progress=False, quiet=True)
    assert result.status == "finished", result.error
    m = result.metrics
    assert m["seeds"] == 2
    for name in ("han/test_accuracy_pct", "flat/test_accuracy_pct"):
        assert m[name] == pytest.approx((m[f"seed0/{name}"] + m[f"seed1/{name}"]) / 2)
    for k in range(2):
        assert m[f"seed{k}/han_minus_flat/accuracy_pct"] == pytest.approx(
            m[f"seed{k}/han/test_accuracy_pct"] - m[f"seed{k}/flat/test_accuracy_pct"])
    assert m["han_minus_flat/accuracy_pct_std"] == pytest.approx(abs(
        m["seed0/han_minus_flat/accuracy_pct"] - m["seed1/han_minus_flat/accuracy_pct"]
    ) / math.sqrt(2))
    checkpoints = result.run_dir / "checkpoints"
    assert {p.name for p in checkpoints.iterdir()} >= {"seed0", "seed1"}
