"""MNIST / Fashion-MNIST loaders: small fake files always; the real files when ATTNLAB_DATA is set.

The real-data tests skip only when ``ATTNLAB_DATA`` is unset; when it is set, a missing or
damaged file makes them fail.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from attnlab.data.errors import CorruptFileError, MissingDataError
from attnlab.data.idx import write_idx
from attnlab.data.mnist import (
    FASHION_MNIST_RESOURCE,
    MNIST,
    MNIST_RESOURCE,
    FashionMNIST,
    ImageTensorDataset,
    load_digits,
    load_fashion_mnist,
    load_idx_classification,
    load_mnist,
)
from attnlab.data.resources import DATA_ENV_VAR, FileSpec, Resource, sha256sum

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _fake_resource(
    root: Path,
    *,
    counts: dict[str, int] | None = None,
    image_size: tuple[int, int] = (28, 28),
    label_counts: dict[str, int] | None = None,
    max_label: int = 9,
) -> tuple[Resource, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Small MNIST-like files under ``root/fake-mnist`` and a Resource with their checksums."""
    counts = counts or {"train": 6, "test": 3}
    label_counts = label_counts or counts
    folder = root / "fake-mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    specs, arrays = [], {}
    for split, (image_name, label_name) in FILES.items():
        images = rng.integers(0, 256, size=(counts[split], *image_size), dtype=np.uint8)
        labels = rng.integers(0, 10, size=label_counts[split], dtype=np.uint8)
        labels[-1] = max_label
        write_idx(folder / image_name, images)
        write_idx(folder / label_name, labels)
        arrays[split] = (images, labels)
        for name in (image_name, label_name):
            data = (folder / name).read_bytes()
            specs.append(FileSpec(name, hashlib.sha256(data).hexdigest(), size=len(data)))
    return Resource("fake-mnist", tuple(specs)), arrays


@pytest.mark.parametrize("split", ["train", "test"])
def test_loads_images_and_labels(tmp_path: Path, split: str) -> None:
    resource, arrays = _fake_resource(tmp_path)
    images, labels = load_idx_classification(resource, split, data_dir=tmp_path)
    assert images.dtype == torch.uint8 and labels.dtype == torch.int64
    np.testing.assert_array_equal(images.numpy(), arrays[split][0])
    np.testing.assert_array_equal(labels.numpy(), arrays[split][1])


def test_bad_split_is_rejected(tmp_path: Path) -> None:
    resource, _ = _fake_resource(tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_idx_classification(resource, "validation", data_dir=tmp_path)


def test_wrong_image_size_names_the_file(tmp_path: Path) -> None:
    resource, _ = _fake_resource(tmp_path, image_size=(27, 28))
    with pytest.raises(CorruptFileError, match=r"wrong dimensions.*\(N, 28, 28\)") as info:
        load_idx_classification(resource, "train", data_dir=tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(info.value)


def test_image_label_count_mismatch(tmp_path: Path) -> None:
    resource, _ = _fake_resource(tmp_path, label_counts={"train": 5, "test": 3})
    with pytest.raises(CorruptFileError, match="6 images but .* 5 labels"):
        load_idx_classification(resource, "train", data_dir=tmp_path)


def test_labels_out_of_range(tmp_path: Path) -> None:
    resource, arrays = _fake_resource(tmp_path, max_label=12)
    assert int(arrays["train"][1].max()) >= 10
    with pytest.raises(CorruptFileError, match="outside"):
        load_idx_classification(resource, "train", data_dir=tmp_path)


def test_corrupt_file_is_caught_by_the_checksum(tmp_path: Path) -> None:
    resource, _ = _fake_resource(tmp_path)
    path = tmp_path / "fake-mnist" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-3] + b"abc")
    with pytest.raises(CorruptFileError, match="sha256 mismatch") as info:
        load_idx_classification(resource, "test", data_dir=tmp_path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("loader", "folder"), [(load_mnist, "mnist"), (load_fashion_mnist, "fashion-mnist")]
)
def test_missing_files_give_the_clear_error(tmp_path: Path, loader, folder: str) -> None:
    with pytest.raises(MissingDataError) as info:
        loader("train", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / folder / "train-images-idx3-ubyte.gz") in message
    assert "download=True" in message and DATA_ENV_VAR in message


def test_resources_declare_the_published_files() -> None:
    for resource in (MNIST_RESOURCE, FASHION_MNIST_RESOURCE):
        assert sorted(spec.name for spec in resource.files) == sorted(
            name for pair in FILES.values() for name in pair
        )
        for spec in resource.files:
            assert spec.urls and all(url.endswith(spec.name) for url in spec.urls)
            assert spec.content_sha256 is not None and spec.size is not None
    assert MNIST_RESOURCE.spec("train-images-idx3-ubyte.gz").size == 9912422
    assert FASHION_MNIST_RESOURCE.spec("t10k-labels-idx1-ubyte.gz").size == 5148


def test_image_tensor_dataset_and_loader() -> None:
    images = torch.arange(5 * 4 * 4, dtype=torch.uint8).reshape(5, 4, 4)
    data = ImageTensorDataset(images, torch.tensor([1, 2, 3, 4, 5]))
    image, label = data[3]
    assert image.shape == (1, 4, 4) and image.dtype == torch.float32 and label.item() == 4
    torch.testing.assert_close(image[0], images[3].float() / 255)
    batches = list(DataLoader(data, batch_size=2))
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
    torch.testing.assert_close(torch.cat([b[0] for b in batches]), data.tensors()[0])
    with pytest.raises(ValueError, match="labels"):
        ImageTensorDataset(images, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="images"):
        ImageTensorDataset(images[0], torch.tensor([1]))


# ---------------------------------------------------------------------------------------------
# choosing the digits


def test_load_digits_never_substitutes_for_mnist(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError):
        load_digits("test", source="mnist", data_dir=tmp_path)


def test_load_digits_auto_falls_back_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="attnlab.data"):
        digits = load_digits("test", source="auto", data_dir=tmp_path, synthetic_size=5)
    assert digits.source == "synthetic"
    assert digits.images.shape == (5, 28, 28) and digits.labels.shape == (5,)
    assert "synthetic" in caplog.text and "not MNIST" in caplog.text
    assert str(tmp_path / "mnist") in caplog.text


def test_load_digits_auto_uses_mnist_when_present(tmp_path: Path, monkeypatch) -> None:
    resource, arrays = _fake_resource(tmp_path)
    monkeypatch.setattr(
        "attnlab.data.mnist.MNIST_RESOURCE", Resource("mnist", resource.files, description="M")
    )
    (tmp_path / "fake-mnist").rename(tmp_path / "mnist")
    digits = load_digits("train", source="auto", data_dir=tmp_path)
    assert digits.source == "mnist"
    np.testing.assert_array_equal(digits.labels.numpy(), arrays["train"][1])


def test_load_digits_rejects_unknown_sources() -> None:
    with pytest.raises(ValueError, match="source"):
        load_digits("train", source="emnist")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# the real files (ATTNLAB_DATA)

MNIST_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}
MNIST_FIRST = {"train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]}
MNIST_MEAN = {"train": 33.32, "test": 33.79}
FASHION_MEAN = {"train": 72.94, "test": 73.15}


@pytest.fixture
def real_root() -> Path:
    """The data root from ATTNLAB_DATA; skip only when the variable is unset."""
    value = os.environ.get(DATA_ENV_VAR)
    if not value:
        pytest.skip(f"{DATA_ENV_VAR} is not set")
    return Path(value)


@pytest.mark.parametrize("resource", [MNIST_RESOURCE, FASHION_MNIST_RESOURCE], ids=lambda r: r.name)
def test_real_files_are_present_and_verified(real_root: Path, resource: Resource) -> None:
    missing = resource.missing_files()
    assert not missing, f"{DATA_ENV_VAR}={real_root} is set but {resource.name} lacks {missing}"
    for spec in resource.files:
        path = resource.fetch(spec.name)  # verifies size and sha256
        assert path == real_root / resource.name / spec.name
        assert sha256sum(path) == spec.sha256


@pytest.mark.parametrize("split", ["train", "test"])
def test_real_mnist(real_root: Path, split: str) -> None:
    start = time.perf_counter()
    images, labels = load_mnist(split)
    elapsed = time.perf_counter() - start
    n = 60_000 if split == "train" else 10_000
    assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert torch.bincount(labels, minlength=10).tolist() == MNIST_COUNTS[split]
    assert labels[:10].tolist() == MNIST_FIRST[split]
    assert images.float().mean().item() == pytest.approx(MNIST_MEAN[split], abs=0.01)
    assert elapsed < 5.0, f"loading MNIST {split} took {elapsed:.2f} s"


@pytest.mark.parametrize("split", ["train", "test"])
def test_real_fashion_mnist(real_root: Path, split: str) -> None:
    images, labels = load_fashion_mnist(split)
    n = 60_000 if split == "train" else 10_000
    assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels, minlength=10).tolist() == [n // 10] * 10
    if split == "train":
        assert labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert images.float().mean().item() == pytest.approx(FASHION_MEAN[split], abs=0.01)


def test_real_datasets(real_root: Path) -> None:
    mnist = MNIST("test")
    image, label = mnist[0]
    assert len(mnist) == 10_000 and image.shape == (1, 28, 28) and label.item() == 7
    assert image.min() >= 0.0 and image.max() <= 1.0
    fashion = FashionMNIST("test", data_dir=real_root)
    assert len(fashion) == 10_000 and fashion.classes is not None and len(fashion.classes) == 10
    digits = load_digits("test", source="auto")
    assert digits.source == "mnist" and digits.images.shape == (10_000, 28, 28)
