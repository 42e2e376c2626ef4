"""Datasets: checksummed real files (MNIST, Fashion-MNIST) and task generators.

* :mod:`attnlab.data.resources`: the data root (``data_dir`` argument, then ``ATTNLAB_DATA``,
  then ``~/.cache/attnlab``), :class:`FileSpec`/:class:`Resource`, sha256 verification and the
  opt-in downloader. New datasets declare a :class:`Resource` and reuse all of it.
* :mod:`attnlab.data.idx`: the IDX format.
* :mod:`attnlab.data.mnist`: MNIST and Fashion-MNIST loaders and datasets, and
  :func:`load_digits` (MNIST or the synthetic stand-in, by an explicit rule).
* :mod:`attnlab.data.synthetic`: font-rendered MNIST-like digits (no download).
* :mod:`attnlab.data.distortions`: the distorted MNIST variants of the spatial transformer
  paper (R, RTS, P, E, T, TC, addition).
"""

from attnlab.data.distortions import (
    DISTORTIONS,
    P_CORNER_SIGMA,
    TEST_SEED,
    TRAIN_SEED,
    DistortedBatch,
    DistortedMNIST,
    DistortionSpec,
    distort,
    distorted_mnist,
    get_distortion,
)
from attnlab.data.errors import CorruptFileError, DataError, DownloadError, MissingDataError
from attnlab.data.idx import read_idx, write_idx
from attnlab.data.mnist import (
    DIGIT_SOURCES,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_RESOURCE,
    MNIST,
    MNIST_CLASSES,
    MNIST_RESOURCE,
    Digits,
    FashionMNIST,
    ImageTensorDataset,
    load_digits,
    load_fashion_mnist,
    load_idx_classification,
    load_mnist,
)
from attnlab.data.resources import (
    DATA_ENV_VAR,
    RESOURCES,
    FileSpec,
    Resource,
    data_root,
    default_cache_dir,
    download_file,
    get_resource,
    register_resource,
    resolve_data_root,
    sha256sum,
    verify_file,
)
from attnlab.data.synthetic import synthetic_digits

__all__ = [
    "DATA_ENV_VAR",
    "DIGIT_SOURCES",
    "DISTORTIONS",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_RESOURCE",
    "MNIST",
    "MNIST_CLASSES",
    "MNIST_RESOURCE",
    "P_CORNER_SIGMA",
    "RESOURCES",
    "TEST_SEED",
    "TRAIN_SEED",
    "CorruptFileError",
    "DataError",
    "Digits",
    "DistortedBatch",
    "DistortedMNIST",
    "DistortionSpec",
    "DownloadError",
    "FashionMNIST",
    "FileSpec",
    "ImageTensorDataset",
    "MissingDataError",
    "Resource",
    "data_root",
    "default_cache_dir",
    "distort",
    "distorted_mnist",
    "download_file",
    "get_distortion",
    "get_resource",
    "load_digits",
    "load_fashion_mnist",
    "load_idx_classification",
    "load_mnist",
    "read_idx",
    "register_resource",
    "resolve_data_root",
    "sha256sum",
    "synthetic_digits",
    "verify_file",
    "write_idx",
]
