"""Distorted MNIST generators: parameters as in the paper, independent oracles, determinism.

Oracles: kornia's warp_affine / rotate / warp_perspective (built from the returned parameters
in pixel space), the library's tps_grid (elastic), and a slow Python loop for the cluttered
digits.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from kornia.geometry.transform import (
    get_perspective_transform,
    rotate,
    warp_affine,
    warp_perspective,
)
from torch import Tensor
from torch.utils.data import DataLoader

from attnlab.data.distortions import (
    DISTORTIONS,
    P_CORNER_SIGMA,
    TEST_SEED,
    DistortedMNIST,
    DistortionSpec,
    distort,
    distorted_mnist,
)
from attnlab.vision.grids import tps_grid
from attnlab.vision.sampler import bilinear_sample

KINDS = ["r", "rts", "p", "e", "t", "tc", "addition"]
SHAPES = {
    "r": (1, 28, 28),
    "rts": (1, 42, 42),
    "p": (1, 28, 28),
    "e": (1, 28, 28),
    "t": (1, 60, 60),
    "tc": (1, 60, 60),
    "addition": (2, 42, 42),
}


def _base(n: int = 60, seed: int = 0) -> tuple[Tensor, Tensor]:
    """MNIST-like stand-ins: sparse random ink inside the central 20 x 20 box."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    ink = torch.rand(n, 20, 20, generator=g) < 0.3
    values = torch.randint(1, 256, (n, 20, 20), generator=g, dtype=torch.uint8)
    images[:, 4:24, 4:24] = torch.where(ink, values, torch.zeros_like(values))
    labels = torch.randint(0, 10, (n,), generator=g)
    return images, labels


@pytest.fixture(scope="module")
def base() -> tuple[Tensor, Tensor]:
    return _base()


def _as_float(images: Tensor) -> Tensor:
    return images.float().unsqueeze(1) / 255.0


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_ranges_labels(base: tuple[Tensor, Tensor], kind: str) -> None:
    images, labels = base
    data = DistortedMNIST(images, labels, kind=kind, seed=1)
    out = data.batch(range(len(data)))
    assert out.images.shape == (len(images), *SHAPES[kind]) == (len(data), *data.image_shape)
    assert out.images.dtype == torch.float32
    assert out.images.min() >= 0.0 and out.images.max() <= 1.0
    assert out.images.amax(dim=(1, 2, 3)).gt(0).all()  # no sample lost its digit
    assert out.labels.dtype == torch.int64
    if kind == "addition":
        assert data.num_classes == 19
        assert torch.equal(out.labels, labels[out.params["base_index"]].sum(-1))
        assert out.labels.min() >= 0 and out.labels.max() <= 18
    else:
        assert data.num_classes == 10
        assert torch.equal(out.labels, labels)


@pytest.mark.parametrize("kind", KINDS)
def test_determinism_and_chunking(base: tuple[Tensor, Tensor], kind: str) -> None:
    images, labels = base
    data = DistortedMNIST(images, labels, kind=kind, seed=7, size=90)
    full = data.batch(torch.arange(90)).images
    # same seed -> identical, whatever the chunking, item by item, or the dataset size
    for chunk in (1, 7, 64):
        parts = [
            data.batch(torch.arange(i, min(i + chunk, 90))).images for i in range(0, 90, chunk)
        ]
        assert torch.equal(torch.cat(parts), full)
    assert torch.equal(torch.stack([data[i][0] for i in range(0, 90, 11)]), full[::11])
    assert torch.equal(data.tensors(chunk_size=32)[0], full)
    again = DistortedMNIST(images, labels, kind=kind, seed=7, size=2000)
    assert torch.equal(again.batch(torch.arange(90)).images, full)
    assert torch.equal(
        DistortedMNIST(images, labels, kind=kind, seed=7, size=90).tensors()[0], full
    )
    # another seed -> other images
    other = DistortedMNIST(images, labels, kind=kind, seed=8, size=90).tensors()[0]
    assert not torch.equal(other, full)


def test_dataloader_and_precompute(base: tuple[Tensor, Tensor]) -> None:
    images, labels = base
    lazy = DistortedMNIST(images, labels, kind="rts", seed=3)
    eager = DistortedMNIST(images, labels, kind="rts", seed=3, precompute=True)
    batches = list(DataLoader(lazy, batch_size=16))
    assert batches[0][0].shape == (16, 1, 42, 42) and batches[0][1].shape == (16,)
    torch.testing.assert_close(
        torch.cat([b[0] for b in batches]), eager.tensors()[0], rtol=0, atol=0
    )
    assert torch.equal(eager[5][0], lazy[5][0])
    assert torch.equal(lazy[-1][0], lazy[len(lazy) - 1][0])


def test_rotation_r_matches_kornia_and_covers_90_degrees() -> None:
    images, labels = _base(400, seed=1)
    out = distort(images, labels, "r", seed=2)
    angle = out.params["angle"]
    degrees = torch.rad2deg(angle)
    assert degrees.abs().max() <= 90.0
    assert degrees.min() < -80 and degrees.max() > 80  # uniform over [-90, 90]
    assert abs(degrees.mean().item()) < 9.0 and abs(degrees.std().item() - 180 / 12**0.5) < 6.0
    assert torch.equal(out.params["scale"], torch.ones(400))
    expected = rotate(
        _as_float(images), degrees, mode="bilinear", padding_mode="zeros", align_corners=True
    )  # counter-clockwise about the image centre
    torch.testing.assert_close(out.images, expected, rtol=0, atol=1e-4)


def _rts_reference(images: Tensor, angle: Tensor, scale: Tensor, center: Tensor) -> Tensor:
    """kornia warp with the pixel matrix p = center + s R(a) (q - c_in)."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    matrix = torch.zeros(angle.shape[0], 2, 3)
    matrix[:, 0, 0], matrix[:, 0, 1] = scale * cos, scale * sin
    matrix[:, 1, 0], matrix[:, 1, 1] = -scale * sin, scale * cos
    c_in = torch.tensor([13.5, 13.5])
    matrix[:, :, 2] = center - matrix[:, :, :2] @ c_in
    return warp_affine(
        _as_float(images),
        matrix,
        (42, 42),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )


def test_rts_parameters_placement_and_oracle() -> None:
    images, labels = _base(300, seed=2)
    images[0] = 0
    images[0, 1:27, 1:27] = 255  # a digit as large as MNIST allows: must still fit
    out = distort(images, labels, "rts", seed=3)
    angle, scale, center = out.params["angle"], out.params["scale"], out.params["center"]
    assert torch.rad2deg(angle).abs().max() <= 45.0
    assert scale.min() >= 0.7 and scale.max() <= 1.2
    assert torch.rad2deg(angle).min() < -40 and scale.min() < 0.75 and scale.max() > 1.15
    assert center.min() >= 0 and center.max() <= 41
    assert center[:, 0].std() > 3 and center[:, 1].std() > 3  # placement is random
    torch.testing.assert_close(
        out.images, _rts_reference(images, angle, scale, center), rtol=0, atol=1e-4
    )
    # the digit stays within the canvas: the border ring is empty
    ring = torch.cat(
        [
            out.images[..., 0, :],
            out.images[..., -1, :],
            out.images[..., 1:-1, 0],
            out.images[..., 1:-1, -1],
        ],
        dim=-1,
    )
    fits = torch.ones(300, dtype=torch.bool)
    fits[0] = False  # the oversized square may not fit at 1.2x and 45 degrees: centred instead
    assert ring[fits].abs().max() == 0.0


def test_projective_matches_kornia() -> None:
    images, labels = _base(300, seed=3)
    out = distort(images, labels, "p", seed=4)
    corners = out.params["corners"]
    frame = torch.tensor([[-0.5, -0.5], [27.5, -0.5], [27.5, 27.5], [-0.5, 27.5]])
    offsets = corners - frame
    assert offsets.abs().max() <= 2 * P_CORNER_SIGMA + 1e-5  # clipped at 2 sigma
    # the std of a normal clipped at 2 sigma is 0.88 sigma
    assert offsets.std().item() == pytest.approx(0.88 * P_CORNER_SIGMA, rel=0.1)
    homography = get_perspective_transform(frame.expand(300, 4, 2), corners)
    expected = warp_perspective(
        _as_float(images),
        homography,
        (28, 28),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )
    torch.testing.assert_close(out.images, expected, rtol=0, atol=1e-4)
    # the returned homography maps the output corners back to the frame
    ones = torch.ones(300, 4, 1)
    mapped = torch.cat((corners, ones), -1) @ out.params["homography"].transpose(1, 2)
    torch.testing.assert_close(
        mapped[..., :2] / mapped[..., 2:], frame.expand(300, 4, 2), atol=1e-3, rtol=0
    )


def test_elastic_matches_tps_grid_with_sigma_1_5() -> None:
    images, labels = _base(300, seed=4)
    out = distort(images, labels, "e", seed=5)
    offsets, theta = out.params["offsets"], out.params["theta"]
    assert offsets.shape == (300, 16, 2)
    assert offsets.std().item() == pytest.approx(1.5, rel=0.05)
    assert abs(offsets.mean().item()) < 0.05
    expected = bilinear_sample(_as_float(images), tps_grid(theta, (28, 28)))
    torch.testing.assert_close(out.images, expected, rtol=0, atol=1e-4)


def _cluttered_reference(images: Tensor, params: dict[str, Tensor], size: int = 6) -> Tensor:
    """Paste the digit, then each 6 x 6 crop (pixel-wise max), one loop iteration per pixel."""
    source = images.float() / 255.0
    n = params["offset"].shape[0]
    out = torch.zeros(n, 60, 60)
    for b in range(n):
        ox, oy = params["offset"][b].tolist()
        base = int(params["base_index"][b])
        for y in range(28):
            for x in range(28):
                out[b, oy + y, ox + x] = source[base, y, x]
        for j in range(params["clutter_index"].shape[1]):
            cx, cy = params["clutter_crop"][b, j].tolist()
            px, py = params["clutter_position"][b, j].tolist()
            src = int(params["clutter_index"][b, j])
            for y in range(size):
                for x in range(size):
                    value = source[src, cy + y, cx + x]
                    out[b, py + y, px + x] = max(out[b, py + y, px + x], value)
    return out.unsqueeze(1)


def test_cluttered_has_six_patches_of_other_digits(base: tuple[Tensor, Tensor]) -> None:
    images, labels = base
    out = distort(images, labels, "tc", seed=6, indices=torch.arange(12))
    p = out.params
    assert p["clutter_index"].shape == (12, 6) and p["clutter_crop"].shape == (12, 6, 2)
    assert (p["clutter_index"] != p["base_index"].unsqueeze(-1)).all()  # other digits
    assert p["offset"].min() >= 0 and p["offset"].max() <= 60 - 28
    assert p["clutter_position"].min() >= 0 and p["clutter_position"].max() <= 60 - 6
    assert p["clutter_crop"].min() >= 0 and p["clutter_crop"].max() <= 28 - 6
    assert torch.equal(out.images, _cluttered_reference(images, p))
    # the crops come from the ink: almost every patch shows something
    crops = [
        images[p["clutter_index"][b, j], cy : cy + 6, cx : cx + 6]
        for b in range(12)
        for j, (cx, cy) in enumerate(p["clutter_crop"][b].tolist())
    ]
    assert sum(bool(c.any()) for c in crops) >= 0.9 * len(crops)


def test_translated_without_clutter_is_the_digit_alone(base: tuple[Tensor, Tensor]) -> None:
    images, labels = base
    out = distort(images, labels, "t", seed=6, indices=torch.arange(8))
    assert out.params["clutter_index"].shape == (8, 0)
    assert torch.equal(out.images, _cluttered_reference(images, out.params))
    torch.testing.assert_close(  # nothing cut off
        out.images.sum(dim=(1, 2, 3)), _as_float(images[:8]).sum(dim=(1, 2, 3))
    )


def test_addition_channels_are_independent_rts_digits(base: tuple[Tensor, Tensor]) -> None:
    images, labels = base
    out = distort(images, labels, "addition", seed=9, indices=torch.arange(40))
    p = out.params
    assert p["base_index"].shape == (40, 2) and p["angle"].shape == (40, 2)
    assert p["center"].shape == (40, 2, 2)
    assert not torch.equal(p["angle"][:, 0], p["angle"][:, 1])
    for channel in range(2):
        expected = _rts_reference(
            images[p["base_index"][:, channel]],
            p["angle"][:, channel],
            p["scale"][:, channel],
            p["center"][:, channel],
        )
        torch.testing.assert_close(
            out.images[:, channel : channel + 1], expected, rtol=0, atol=1e-4
        )
    assert torch.equal(out.labels, labels[p["base_index"]].sum(-1))


def test_addition_label_distribution() -> None:
    images = torch.zeros(10, 28, 28, dtype=torch.uint8)
    images[:, 10:18, 10:18] = 255
    data = DistortedMNIST(images, torch.arange(10), kind="addition", seed=0, size=2000)
    counts = torch.bincount(data.batch(torch.arange(2000)).labels, minlength=19)
    assert counts.shape == (19,) and (counts > 0).all()  # all 19 sums occur
    assert counts.argmax().item() in (8, 9, 10)  # the triangle peaks at 9


def test_spec_changes_and_validation(base: tuple[Tensor, Tensor]) -> None:
    images, labels = base
    spec = DistortionSpec(
        "RTS-60", "similarity", canvas_size=60, max_angle=10.0, random_placement=True
    )
    out = distort(images, labels, spec, seed=0, indices=torch.arange(4))
    assert out.images.shape == (4, 1, 60, 60)
    assert DISTORTIONS["rts"] is DistortedMNIST(images, labels, kind="RTS").spec
    with pytest.raises(ValueError, match="kind"):
        DistortedMNIST(images, labels, kind="rotated")
    with pytest.raises(ValueError, match="transform"):
        DistortionSpec("X", "shear")
    with pytest.raises(ValueError, match="scale_range"):
        DistortionSpec("X", "similarity", scale_range=(1.2, 0.7))
    with pytest.raises(ValueError, match="base_images"):
        DistortedMNIST(images.unsqueeze(1).expand(-1, 3, -1, -1), labels)
    with pytest.raises(ValueError, match="base_labels"):
        DistortedMNIST(images, labels[:-1])
    with pytest.raises(TypeError, match="seed"):
        DistortedMNIST(images, labels, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(IndexError):
        DistortedMNIST(images, labels).batch([len(images)])
    with pytest.raises(ValueError, match="clutter"):
        DistortedMNIST(images[:1], labels[:1], kind="tc")


def test_distorted_mnist_fixed_test_split(tmp_path: Path) -> None:
    test = distorted_mnist("rts", "test", source="synthetic", synthetic_size=24)
    again = distorted_mnist("rts", "test", source="synthetic", synthetic_size=24)
    train = distorted_mnist("rts", "train", source="synthetic", synthetic_size=24)
    assert test.seed == TEST_SEED and train.seed == 0 and test.source == "synthetic"
    assert torch.equal(test.tensors()[0], again.tensors()[0])
    assert not torch.equal(test.tensors()[0], train.tensors()[0])
    assert distorted_mnist("r", "test", source="synthetic", synthetic_size=4, seed=5).seed == 5
    with pytest.raises(FileNotFoundError):
        distorted_mnist("rts", "test", source="mnist", data_dir=tmp_path)


def test_rts_angles_statistics_large_sample() -> None:
    images, labels = _base(8, seed=5)
    data = DistortedMNIST(images, labels, kind="rts", seed=11, size=5000)
    angle = torch.rad2deg(data.batch(torch.arange(0, 5000, 5)).params["angle"])
    histogram = torch.histc(angle, bins=9, min=-45, max=45)
    assert histogram.min() > 0.6 * histogram.mean()  # roughly uniform
    assert math.isclose(angle.mean().item(), 0.0, abs_tol=3.0)
