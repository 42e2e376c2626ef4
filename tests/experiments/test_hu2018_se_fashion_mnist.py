"""hu2018_se_fashion_mnist: models, overhead accounting, augmentation, excitation analysis."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from attnlab.data.errors import MissingDataError
from attnlab.experiments.context import RunContext
from attnlab.experiments.hu2018_se_fashion_mnist.config import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    SEFashionConfig,
)
from attnlab.experiments.hu2018_se_fashion_mnist.excitation import (
    balanced_subset,
    class_mean_gates,
    class_spread,
    depth_indices,
    plot_class_gates,
)
from attnlab.experiments.hu2018_se_fashion_mnist.run import (
    NormalizedImages,
    block_names,
    build_model,
    main,
    overhead_pct,
    se_parameter_count,
)
from attnlab.vision.complexity import count_parameters


def _ctx(tmp_path: Path, data_dir: Path | None = None) -> RunContext:
    (tmp_path / "plots").mkdir(parents=True, exist_ok=True)
    return RunContext("hu2018_se_fashion_mnist", "smoke", tmp_path, 0, data_dir,
                      torch.device("cpu"), False, logging.getLogger("test_se_fashion"))


def _se_params_by_formula(depth: int, reduction: int) -> int:
    """Eq. 5 of the SE paper with biases, written out for a CIFAR ResNet (widths 16/32/64)."""
    n = (depth - 2) // 6
    total = 0
    for c in (16, 32, 64):
        hidden = c // reduction
        total += n * (c * hidden + hidden + hidden * c + c)  # W1, b1, W2, b2
    return total


@pytest.mark.parametrize("se", [False, True])
def test_models_take_one_channel_images(se: bool) -> None:
    model = build_model(ModelConfig(depth=20, reduction=16), se=se)
    out = model(torch.rand(2, 1, 28, 28))
    assert out.logits.shape == (2, 10)
    if se:
        assert [tuple(g.shape) for g in out.gates] == [(2, 16)] * 3 + [(2, 32)] * 3 + [(2, 64)] * 3
        assert all(bool(((g > 0) & (g < 1)).all()) for g in out.gates)
    else:
        assert out.gates == ()
    with pytest.raises(ValueError, match="x"):
        model(torch.rand(2, 3, 28, 28))


@pytest.mark.parametrize(("depth", "reduction"), [(8, 4), (20, 16), (20, 8)])
def test_parameter_overhead_is_eq5_with_biases(depth: int, reduction: int) -> None:
    config = ModelConfig(depth=depth, reduction=reduction)
    plain = count_parameters(build_model(config, se=False))
    se_model = build_model(config, se=True)
    extra = _se_params_by_formula(depth, reduction)
    assert count_parameters(se_model) - plain == extra
    assert se_parameter_count(se_model) == extra
    assert overhead_pct(plain, count_parameters(se_model)) == pytest.approx(100 * extra / plain)


def test_resnet20_overhead_is_about_one_percent() -> None:
    config = ModelConfig()  # ResNet-20, r = 16
    plain = count_parameters(build_model(config, se=False))
    se = count_parameters(build_model(config, se=True))
    assert (plain, se - plain) == (271_994, 2_373)
    assert 0.5 <= overhead_pct(plain, se) <= 1.5


def test_overhead_pct_rejects_zero_base() -> None:
    assert overhead_pct(164.0, 167.0) == pytest.approx(100 * 3 / 164)
    with pytest.raises(ValueError, match="base"):
        overhead_pct(0.0, 1.0)


def test_schedule_decays_at_half_and_three_quarters() -> None:
    assert OptimConfig(epochs=30).milestones == (15, 22)
    assert OptimConfig(epochs=4).milestones == (2, 3)
    assert OptimConfig(epochs=1).milestones == ()
    with pytest.raises(ValueError, match="decay_at"):
        OptimConfig(decay_at=(1.5,))


def test_config_rejects_bad_data_settings() -> None:
    with pytest.raises(ValueError, match="data.source"):
        DataConfig(source="cifar")
    with pytest.raises(ValueError, match="train_size"):
        DataConfig(train_size=70_000)


def test_augmentation_is_a_padded_crop_or_its_flip_and_follows_the_seed() -> None:
    images = torch.randint(1, 256, (16, 1, 6, 5), dtype=torch.uint8)
    data = NormalizedImages(images, torch.zeros(16, dtype=torch.long), mean=0.0, std=1.0,
                            augment=True, pad=2)
    torch.manual_seed(3)
    out = data.batch(torch.arange(16))
    torch.manual_seed(3)
    assert torch.equal(out, data.batch(torch.arange(16)))  # same seed, same images
    padded = torch.nn.functional.pad(images.float() / 255, (2, 2, 2, 2))
    shifted = 0
    for i in range(16):
        windows = [
            padded[i, :, y : y + 6, x : x + 5] for y in range(5) for x in range(5)
        ]
        candidates = windows + [w.flip(-1) for w in windows]
        assert any(torch.equal(out[i], c) for c in candidates)
        shifted += int(not torch.equal(out[i], padded[i, :, 2:8, 2:7]))
    assert shifted > 0  # the augmentation did something
    plain = NormalizedImages(images, torch.zeros(16, dtype=torch.long), mean=0.5, std=0.25)
    assert torch.allclose(plain.batch(torch.arange(16)), (images.float() / 255 - 0.5) / 0.25)


def test_class_mean_gates_matches_per_class_average_and_plot_is_written(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(depth=8, reduction=4), se=True, num_classes=4)
    model.train()
    images = torch.randn(10, 1, 12, 12)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])  # class 3 has no image
    means = class_mean_gates(model, images, labels, num_classes=4, batch_size=3)
    assert model.training  # mode restored
    assert [tuple(m.shape) for m in means] == [(4, 16), (4, 32), (4, 64)]
    model.eval()
    with torch.no_grad():
        gates = model(images).gates
    for m, g in zip(means, gates, strict=True):
        for c in range(3):
            torch.testing.assert_close(m[c], g[labels == c].mean(0))
        assert bool(m[3].isnan().all())
    assert class_spread(means[0]) > 0
    names = block_names(model)
    assert names == ["stage 1, block 1", "stage 2, block 1", "stage 3, block 1"]
    ctx = _ctx(tmp_path)
    fig = plot_class_gates(means, blocks=depth_indices(len(means)), block_names=names,
                           class_names=("a", "b", "c", "d"))
    path = ctx.save_plot(fig, "excitation_by_class")
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="class_names"):
        plot_class_gates(means, blocks=(0,), block_names=names, class_names=("a",))


def test_class_mean_gates_rejects_bad_inputs() -> None:
    model = build_model(ModelConfig(depth=8, reduction=4), se=True, num_classes=2)
    with pytest.raises(ValueError, match="labels"):
        class_mean_gates(model, torch.randn(3, 1, 8, 8), torch.tensor([0, 1, 2]), num_classes=2)
    with pytest.raises(ValueError, match="images"):
        class_mean_gates(model, torch.randn(3, 8, 8), torch.tensor([0, 1, 1]), num_classes=2)
    plain = build_model(ModelConfig(depth=8), se=False, num_classes=2)
    with pytest.raises(ValueError, match="no SE gates"):
        class_mean_gates(plain, torch.randn(2, 1, 8, 8), torch.tensor([0, 1]), num_classes=2)


def test_balanced_subset_and_depth_indices() -> None:
    labels = torch.tensor([2, 0, 2, 1, 0, 2, 2])
    assert balanced_subset(labels, 2, num_classes=3).tolist() == [0, 1, 2, 3, 4]
    assert depth_indices(9) == (0, 4, 8)
    assert depth_indices(1) == (0,)


def test_smoke_falls_back_to_synthetic_digits_and_records_it(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    config = SEFashionConfig.smoke()
    config = replace(
        config,
        data=replace(config.data, train_size=64, test_size=60, curve_size=20),
        model=ModelConfig(depth=8, reduction=4),
        optim=replace(config.optim, batch_size=32),
        gate_images_per_class=3,
        timing_batch=4,
        timing_repeats=1,
    )
    empty = tmp_path / "no-data"
    empty.mkdir()
    ctx = _ctx(tmp_path / "run", data_dir=empty)
    metrics = main(config, ctx)
    assert metrics["data/synthetic"] == 1.0
    assert metrics["resnet_minus_se/error_pct"] == pytest.approx(
        metrics["resnet/error_pct"] - metrics["se_resnet/error_pct"]
    )
    assert metrics["se_params"] == _se_params_by_formula(8, 4)
    assert (tmp_path / "run" / "plots" / "excitation_by_class.png").exists()
    assert set(ctx.history) >= {"resnet/train_loss", "se_resnet/train_loss", "se_resnet/val_error"}
    strict = replace(config, data=replace(config.data, source="fashion_mnist"))
    with pytest.raises(MissingDataError, match="Fashion-MNIST"):
        main(strict, _ctx(tmp_path / "strict", data_dir=empty))
