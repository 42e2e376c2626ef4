"""Synthetic font-rendered digits: MNIST-like layout, 10 separable classes, determinism."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from attnlab.data import synthetic as module
from attnlab.data.synthetic import synthetic_digit_glyphs, synthetic_digits


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    return synthetic_digits(600, seed=0)


def test_format_like_mnist(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = digits
    assert images.shape == (600, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (600,) and labels.dtype == torch.int64
    assert set(labels.tolist()) == set(range(10))  # all 10 classes
    assert (images.amax(dim=(1, 2)) == 255).all()  # white digit at full intensity ...
    assert (images[:, 0, 0] == 0).all()  # ... on a black background
    ring = torch.cat([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], dim=1)
    assert (ring > 0).any(dim=1).float().mean() < 0.05  # the digit stays inside the frame
    ink = (images > 0).float().mean().item()
    assert 0.1 < ink < 0.35  # MNIST: about 19% of the pixels are non-zero


def test_centred_by_mass_in_a_20_pixel_box(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    images = digits[0].float()
    coords = torch.arange(28.0)
    mass = images.sum(dim=(1, 2))
    com_x = (images.sum(dim=1) * coords).sum(-1) / mass
    com_y = (images.sum(dim=2) * coords).sum(-1) / mass
    assert (com_x - 14).abs().max() < 2.0 and (com_y - 14).abs().max() < 2.0
    assert abs(com_x.mean().item() - 14) < 0.2 and abs(com_y.mean().item() - 14) < 0.2
    ink = images > 64
    rows = ink.any(dim=2).float().sum(-1)
    cols = ink.any(dim=1).float().sum(-1)
    assert torch.maximum(rows, cols).max() <= 22  # longer side about 16-20 pixels


def test_classes_differ_nearest_mean(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = digits
    x = images.float().flatten(1) / 255
    means = torch.stack([x[labels == c].mean(0) for c in range(10)])  # (10, 784)
    distances = torch.cdist(means, means)
    assert distances[~torch.eye(10, dtype=torch.bool)].min() > 1.0  # per-class means differ
    test_images, test_labels = synthetic_digits(300, seed=1)
    predicted = torch.cdist(test_images.float().flatten(1) / 255, means).argmin(-1)
    accuracy = (predicted == test_labels).float().mean().item()
    assert accuracy > 0.5  # chance is 0.1


def test_deterministic_and_prefix_stable(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = digits
    head, head_labels = synthetic_digits(100, seed=0)
    assert torch.equal(head, images[:100]) and torch.equal(head_labels, labels[:100])
    picked, picked_labels = synthetic_digits(0, seed=0, indices=torch.tensor([599, 3, 1100]))
    assert torch.equal(picked[:2], images[[599, 3]])
    assert torch.equal(picked_labels[:2], labels[[599, 3]])
    other, _ = synthetic_digits(100, seed=1)
    assert not torch.equal(other, images[:100])


def test_other_sizes_and_bad_arguments() -> None:
    images, _ = synthetic_digits(4, seed=0, size=40)
    assert images.shape == (4, 40, 40)
    assert synthetic_digits(0, seed=0)[0].shape == (0, 28, 28)
    with pytest.raises(ValueError, match="size"):
        synthetic_digits(4, seed=0, size=4)
    with pytest.raises(ValueError, match="n must"):
        synthetic_digits(-1, seed=0)
    with pytest.raises(TypeError, match="seed"):
        synthetic_digits(4, seed="zero")  # type: ignore[arg-type]


def test_glyph_bank_covers_fonts_and_digits() -> None:
    glyphs, centres, boxes = synthetic_digit_glyphs()
    assert glyphs.shape[1:] == (10, 3, 64, 64) and glyphs.shape[0] >= 4
    assert glyphs.amax(dim=(-2, -1)).gt(0.9).all()  # every glyph was drawn
    assert (boxes[..., 0] > 0).all() and (boxes[..., 2] < 63).all()  # and not clipped
    assert (boxes[..., 1] > 0).all() and (boxes[..., 3] < 63).all()
    assert centres.shape == (*glyphs.shape[:3], 2)


def test_without_matplotlib_the_error_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "matplotlib" else real(name, *args),
    )
    with pytest.raises(ImportError, match="matplotlib"):
        module.synthetic_font_files()
