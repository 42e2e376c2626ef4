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
* :mod:`attnlab.data.planetoid`: Planetoid Cora (``ind.cora.*``, read by an allow-list
  unpickler), :mod:`attnlab.data.babi`: bAbI tasks 1-20 (1k and 10k),
  :mod:`attnlab.data.translation`: Tatoeba English-French pairs, :mod:`attnlab.data.reuters`:
  Reuters-21578 (ModApte, top-10 topics).
* Generators: :mod:`attnlab.data.sequences` (copy / reverse / sort, human dates -> ISO),
  :mod:`attnlab.data.geometry` (convex hull, exact small TSP, sorting for pointer networks),
  :mod:`attnlab.data.sort_of_clevr` (Santoro et al.'s relational VQA images).
"""

from attnlab.data.babi import BABI_RESOURCE, BabiData, load_babi, load_babi_task
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
from attnlab.data.geometry import (
    convex_hull_instances,
    make_instances,
    sorting_instances,
    tsp_instances,
)
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
from attnlab.data.planetoid import CORA_RESOURCE, PlanetoidGraph, load_cora, load_planetoid
from attnlab.data.resources import (
    DATA_ENV_VAR,
    RESOURCES,
    FileSpec,
    Resource,
    data_root,
    default_cache_dir,
    download_file,
    extract_archive,
    get_resource,
    register_resource,
    resolve_data_root,
    sha256sum,
    verify_file,
)
from attnlab.data.reuters import REUTERS_RESOURCE, DocumentDataset, WordVocab, load_reuters
from attnlab.data.sequences import make_dates, make_sequence_task
from attnlab.data.sort_of_clevr import SortOfCLEVR, generate_scenes
from attnlab.data.synthetic import synthetic_digits
from attnlab.data.translation import ENG_FRA_RESOURCE, PairDataset, Vocab, load_eng_fra

__all__ = [
    "BABI_RESOURCE",
    "CORA_RESOURCE",
    "DATA_ENV_VAR",
    "DIGIT_SOURCES",
    "DISTORTIONS",
    "ENG_FRA_RESOURCE",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_RESOURCE",
    "MNIST",
    "MNIST_CLASSES",
    "MNIST_RESOURCE",
    "P_CORNER_SIGMA",
    "RESOURCES",
    "REUTERS_RESOURCE",
    "TEST_SEED",
    "TRAIN_SEED",
    "BabiData",
    "CorruptFileError",
    "DataError",
    "Digits",
    "DistortedBatch",
    "DistortedMNIST",
    "DistortionSpec",
    "DocumentDataset",
    "DownloadError",
    "FashionMNIST",
    "FileSpec",
    "ImageTensorDataset",
    "MissingDataError",
    "PairDataset",
    "PlanetoidGraph",
    "Resource",
    "SortOfCLEVR",
    "Vocab",
    "WordVocab",
    "convex_hull_instances",
    "data_root",
    "default_cache_dir",
    "distort",
    "distorted_mnist",
    "download_file",
    "extract_archive",
    "generate_scenes",
    "get_distortion",
    "get_resource",
    "load_babi",
    "load_babi_task",
    "load_cora",
    "load_digits",
    "load_eng_fra",
    "load_fashion_mnist",
    "load_idx_classification",
    "load_mnist",
    "load_planetoid",
    "load_reuters",
    "make_dates",
    "make_instances",
    "make_sequence_task",
    "read_idx",
    "register_resource",
    "resolve_data_root",
    "sha256sum",
    "sorting_instances",
    "synthetic_digits",
    "tsp_instances",
    "verify_file",
    "write_idx",
]
