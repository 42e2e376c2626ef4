"""MNIST and Fashion-MNIST: checksummed resources, loaders and :class:`torch.utils.data.Dataset` s.

* MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of handwritten digits",
  http://yann.lecun.com/exdb/mnist/ (60,000 training and 10,000 test images, 28 x 28).
* Fashion-MNIST: H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for
  Benchmarking Machine Learning Algorithms", https://arxiv.org/abs/1708.07747 (MIT licence).

Both ship as four gzip-compressed IDX files, expected under ``<root>/mnist/`` and
``<root>/fashion-mnist/`` (see :mod:`attnlab.data.resources` for the root: ``data_dir`` argument,
then ``ATTNLAB_DATA``, then ``~/.cache/attnlab``). Files are verified by sha256 before use and
downloaded only with ``download=True``.

:func:`load_digits` picks the digit images for the experiments: real MNIST, the synthetic
stand-in of :mod:`attnlab.data.synthetic`, or ``"auto"`` (MNIST when its files are
present, otherwise the stand-in, with a logged warning); it never substitutes silently.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from attnlab.data.errors import CorruptFileError
from attnlab.data.idx import read_idx
from attnlab.data.resources import FileSpec, Resource, register_resource, resolve_data_root

__all__ = [
    "DIGIT_SOURCES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_RESOURCE",
    "MNIST",
    "MNIST_CLASSES",
    "MNIST_RESOURCE",
    "SPLITS",
    "DigitSource",
    "Digits",
    "FashionMNIST",
    "ImageTensorDataset",
    "load_digits",
    "load_fashion_mnist",
    "load_idx_classification",
    "load_mnist",
]

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "test")
"""The splits of MNIST-like datasets."""

_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)


def _spec(
    name: str, size: int, sha256: str, content_sha256: str, mirrors: tuple[str, ...]
) -> FileSpec:
    return FileSpec(
        name,
        sha256=sha256,
        size=size,
        urls=tuple(mirror + name for mirror in mirrors),
        content_sha256=content_sha256,
    )


MNIST_RESOURCE: Resource = register_resource(
    Resource(
        "mnist",
        (
            _spec(
                "train-images-idx3-ubyte.gz",
                9912422,
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                _MNIST_MIRRORS,
            ),
            _spec(
                "train-labels-idx1-ubyte.gz",
                28881,
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                _MNIST_MIRRORS,
            ),
            _spec(
                "t10k-images-idx3-ubyte.gz",
                1648877,
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                _MNIST_MIRRORS,
            ),
            _spec(
                "t10k-labels-idx1-ubyte.gz",
                4542,
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                _MNIST_MIRRORS,
            ),
        ),
        description="MNIST; LeCun, Cortes, Burges; CC BY-SA 3.0",
        homepage="http://yann.lecun.com/exdb/mnist/",
    )
)
"""The four MNIST IDX files (sizes and sha256 of the original gzip files)."""

FASHION_MNIST_RESOURCE: Resource = register_resource(
    Resource(
        "fashion-mnist",
        (
            _spec(
                "train-images-idx3-ubyte.gz",
                26421880,
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                _FASHION_MIRRORS,
            ),
            _spec(
                "train-labels-idx1-ubyte.gz",
                29515,
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                _FASHION_MIRRORS,
            ),
            _spec(
                "t10k-images-idx3-ubyte.gz",
                4422102,
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                _FASHION_MIRRORS,
            ),
            _spec(
                "t10k-labels-idx1-ubyte.gz",
                5148,
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                _FASHION_MIRRORS,
            ),
        ),
        description="Fashion-MNIST; Xiao, Rasul, Vollgraf (Zalando SE); MIT licence",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    )
)
"""The four Fashion-MNIST IDX files (sizes and sha256 of the upstream gzip files)."""

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
"""Class names of MNIST (the digits)."""

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""Class names of Fashion-MNIST, by label."""

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _check_split(split: object) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return str(split)


def load_idx_classification(
    resource: Resource,
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    num_classes: int = 10,
    image_size: tuple[int, int] = (28, 28),
) -> tuple[Tensor, Tensor]:
    """Load the images and labels of one split of an MNIST-like IDX dataset.

    The resource must hold the four files named as in MNIST
    (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``).

    Args:
        resource: where the files are and how to verify them.
        split: ``"train"`` or ``"test"``.
        data_dir: the data root (see :func:`attnlab.data.resources.data_root`).
        download: download missing files (sha256-verified).
        num_classes: labels must lie in ``[0, num_classes)``.
        image_size: expected ``(H, W)`` of the images.

    Returns:
        ``(images, labels)``: ``uint8`` ``(N, H, W)`` and ``int64`` ``(N,)``.

    Raises:
        MissingDataError: a file is missing and ``download`` is false.
        CorruptFileError: a file fails its checksum, or its content is not what is expected.
    """
    split = _check_split(split)
    image_name, label_name = _FILES[split]
    image_path = resource.fetch(image_name, data_dir=data_dir, download=download)
    label_path = resource.fetch(label_name, data_dir=data_dir, download=download)
    images = read_idx(image_path, shape=(None, *image_size), dtype=np.uint8)
    labels = read_idx(label_path, shape=(None,), dtype=np.uint8)
    if images.shape[0] != labels.shape[0]:
        raise CorruptFileError(
            f"{image_path} holds {images.shape[0]} images but {label_path} holds "
            f"{labels.shape[0]} labels",
            path=label_path,
        )
    if labels.size and int(labels.max()) >= num_classes:
        raise CorruptFileError(
            f"{label_path}: label {int(labels.max())} outside [0, {num_classes})", path=label_path
        )
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def load_mnist(
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> tuple[Tensor, Tensor]:
    """Load MNIST: 60,000 training or 10,000 test digits.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: the data root; the files are read from ``<root>/mnist/``.
        download: download missing files (sha256-verified) into ``<root>/mnist/``.

    Returns:
        ``(images, labels)``: ``uint8`` ``(N, 28, 28)`` (white digit on black, 0-255) and
        ``int64`` ``(N,)`` in ``0..9``.

    Raises:
        MissingDataError: a file is missing and ``download`` is false; the message says where
            it was expected and how to get it.
        CorruptFileError: a file fails its checksum or does not parse.

    Example:
        With the files under ``<root>/mnist/``, ``load_mnist("test")`` returns
        ``(uint8 (10000, 28, 28), int64 (10000,))`` with labels ``7, 2, 1, ...``. Without them:

        >>> import tempfile
        >>> load_mnist("test", data_dir=tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        attnlab.data.errors.MissingDataError: MNIST: file not found: .../t10k-images-idx3-ubyte.gz
        ...
    """
    return load_idx_classification(MNIST_RESOURCE, split, data_dir=data_dir, download=download)


def load_fashion_mnist(
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> tuple[Tensor, Tensor]:
    """Load Fashion-MNIST: 60,000 training or 10,000 test images of 10 clothing classes.

    Same layout and arguments as :func:`load_mnist`; files under ``<root>/fashion-mnist/``.
    Class names are :data:`FASHION_MNIST_CLASSES`.

    Returns:
        ``(images, labels)``: ``uint8`` ``(N, 28, 28)`` and ``int64`` ``(N,)`` in ``0..9``.
    """
    return load_idx_classification(
        FASHION_MNIST_RESOURCE, split, data_dir=data_dir, download=download
    )


# ---------------------------------------------------------------------------------------------
# datasets


class ImageTensorDataset(Dataset[tuple[Tensor, Tensor]]):
    """Images and labels held in memory; items are float ``(C, H, W)`` images in ``[0, 1]``.

    ``uint8`` images are divided by 255 when an item is read (they are stored as ``uint8`` to
    keep memory at one byte a pixel). :meth:`__getitems__` serves a whole batch at once to
    :class:`torch.utils.data.DataLoader`.

    Args:
        images: ``(N, H, W)`` or ``(N, C, H, W)``, ``uint8`` (0-255) or floating (0-1).
        labels: ``(N,)`` integer class labels.
        classes: class names, by label.

    Example:
        >>> import torch
        >>> data = ImageTensorDataset(torch.full((2, 3, 3), 255, dtype=torch.uint8),
        ...                           torch.tensor([4, 7]))
        >>> image, label = data[1]
        >>> image.shape, image.max().item(), label.item()
        (torch.Size([1, 3, 3]), 1.0, 7)
    """

    def __init__(
        self, images: Tensor, labels: Tensor, *, classes: tuple[str, ...] | None = None
    ) -> None:
        if not isinstance(images, Tensor) or images.dim() not in (3, 4):
            raise ValueError(
                "images must be a tensor of shape (N, H, W) or (N, C, H, W), got "
                f"{getattr(images, 'shape', type(images).__name__)}"
            )
        if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.is_floating_point():
            raise ValueError("labels must be an integer tensor of shape (N,)")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"images holds {images.shape[0]} images but labels holds {labels.shape[0]}"
            )
        self.images = images if images.dim() == 4 else images.unsqueeze(1)
        self.labels = labels.long()
        self.classes = classes

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def _convert(self, images: Tensor) -> Tensor:
        if images.dtype == torch.uint8:
            return images.float().div_(255.0)
        return images.float()

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self._convert(self.images[index]), self.labels[index]

    def __getitems__(self, indices: list[int]) -> list[tuple[Tensor, Tensor]]:
        rows = torch.as_tensor(indices, dtype=torch.long)
        images = self._convert(self.images[rows])
        labels = self.labels[rows]
        return list(zip(images.unbind(0), labels.unbind(0), strict=True))

    def tensors(self) -> tuple[Tensor, Tensor]:
        """All images as float ``(N, C, H, W)`` in ``[0, 1]`` and the labels ``(N,)``."""
        return self._convert(self.images), self.labels


class _IDXSplit(ImageTensorDataset):
    """One split of an IDX image set, read by the class's ``_load`` (see :class:`MNIST`)."""

    _load: Callable[..., tuple[Tensor, Tensor]]
    _class_names: tuple[str, ...]

    def __init__(
        self,
        split: str = "train",
        *,
        data_dir: str | os.PathLike[str] | None = None,
        download: bool = False,
    ) -> None:
        images, labels = self._load(split, data_dir=data_dir, download=download)
        super().__init__(images, labels, classes=self._class_names)
        self.split = split


class MNIST(_IDXSplit):
    """MNIST as a dataset of float ``(1, 28, 28)`` images in ``[0, 1]`` and ``int64`` labels.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: the data root (see :func:`load_mnist`).
        download: download missing files.
    """

    _load = staticmethod(load_mnist)
    _class_names = MNIST_CLASSES


class FashionMNIST(_IDXSplit):
    """Fashion-MNIST as a dataset of float ``(1, 28, 28)`` images in ``[0, 1]`` and labels.

    Arguments as :class:`MNIST` (the files: :func:`load_fashion_mnist`).
    """

    _load = staticmethod(load_fashion_mnist)
    _class_names = FASHION_MNIST_CLASSES


# ---------------------------------------------------------------------------------------------
# choosing digits for the experiments

DIGIT_SOURCES: tuple[str, ...] = ("mnist", "synthetic", "auto")
"""Values of ``source`` in :func:`load_digits`."""

DigitSource = Literal["mnist", "synthetic", "auto"]
"""Type of ``source`` in :func:`load_digits`."""


class Digits(NamedTuple):
    """Digit images, labels, and which source they came from.

    Attributes:
        images: ``uint8`` ``(N, 28, 28)``, white on black.
        labels: ``int64`` ``(N,)`` in ``0..9``.
        source: ``"mnist"`` or ``"synthetic"`` (record it with the results).
    """

    images: Tensor
    labels: Tensor
    source: str


SYNTHETIC_SPLIT_SEEDS: dict[str, int] = {"train": 0, "test": 10_000}
"""Seeds of the synthetic stand-in's splits in :func:`load_digits` (fixed, distinct)."""

_SYNTHETIC_SIZES = {"train": 60_000, "test": 10_000}


def load_digits(
    split: str = "train",
    *,
    source: DigitSource = "mnist",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    synthetic_size: int | None = None,
) -> Digits:
    """Digit images for the experiments, from MNIST or from the synthetic stand-in.

    The rule is explicit:

    * ``source="mnist"``: MNIST, or an error when its files are missing (never a substitute).
    * ``source="synthetic"``: :func:`~attnlab.data.synthetic.synthetic_digits` (digits
      rendered from fonts; a stand-in, *not* MNIST), seeded per split from
      :data:`SYNTHETIC_SPLIT_SEEDS`.
    * ``source="auto"``: MNIST when all its files are present under the data root (or when
      ``download`` is true), otherwise the synthetic stand-in, with a warning logged on the
      ``attnlab.data`` logger. Present but corrupt MNIST files still raise.

    Args:
        split: ``"train"`` or ``"test"``.
        source: ``"mnist"``, ``"synthetic"`` or ``"auto"``.
        data_dir: the data root for MNIST.
        download: download MNIST if missing (with ``"auto"``, this selects MNIST).
        synthetic_size: number of synthetic digits (default: 60,000 train, 10,000 test).

    Returns:
        :class:`Digits` ``(images uint8 (N, 28, 28), labels int64 (N,), source)``.

    Example:
        >>> digits = load_digits("test", source="synthetic", synthetic_size=4)
        >>> digits.images.shape, digits.source
        (torch.Size([4, 28, 28]), 'synthetic')
    """
    split = _check_split(split)
    if source not in DIGIT_SOURCES:
        raise ValueError(f"source must be one of {DIGIT_SOURCES}, got {source!r}")
    if source == "auto":
        missing = MNIST_RESOURCE.missing_files(data_dir)
        if missing and not download:
            root, origin = resolve_data_root(data_dir)
            logger.warning(
                "MNIST not found under %s (data root from the %s; missing: %s); using the "
                "synthetic font-rendered digits instead (a stand-in, not MNIST)",
                root / MNIST_RESOURCE.name,
                origin,
                ", ".join(missing),
            )
            source = "synthetic"
        else:
            source = "mnist"
    if source == "mnist":
        images, labels = load_mnist(split, data_dir=data_dir, download=download)
        return Digits(images, labels, "mnist")
    from attnlab.data.synthetic import synthetic_digits

    size = _SYNTHETIC_SIZES[split] if synthetic_size is None else synthetic_size
    images, labels = synthetic_digits(size, seed=SYNTHETIC_SPLIT_SEEDS[split])
    return Digits(images, labels, "synthetic")
