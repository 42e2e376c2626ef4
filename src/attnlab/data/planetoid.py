"""Planetoid citation graphs (Cora) for transductive node classification, as used by GCN and GAT.

The split files ``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}`` are those of Z. Yang,
W. Cohen, R. Salakhutdinov, "Revisiting Semi-Supervised Learning with Graph Embeddings",
https://arxiv.org/abs/1603.08861 (the Planetoid split: 20 labelled nodes per class, 500
validation and 1000 test nodes), later used by Kipf & Welling (GCN,
https://arxiv.org/abs/1609.02907) and Velickovic et al. (GAT, https://arxiv.org/abs/1710.10903).
The graph itself is Cora (McCallum et al. 2000; the 2708-paper subset of Sen et al. 2008): 2708
papers, 1433 binary word features, 7 classes, 5278 undirected citation edges. The files are
expected under ``<root>/cora/`` (see :mod:`attnlab.data.resources` for the root: ``data_dir``
argument, then ``ATTNLAB_DATA``, then the user cache) and are verified by sha256 before use.

Security:
    The files are Python 2 pickles of SciPy sparse matrices, NumPy arrays and a
    ``defaultdict(list)``. They are read by :class:`PlanetoidUnpickler`, whose ``find_class``
    resolves only the exact names those files use (``numpy.ndarray``, ``numpy.dtype``, NumPy's
    array reconstructor, ``collections.defaultdict``, ``list`` and SciPy's ``csr_matrix``, the
    latter mapped to a plain data holder so SciPy is not needed); any other global is refused
    with :class:`~attnlab.data.errors.CorruptFileError` before anything is called. The generic
    pickle loader is never used.

Preprocessing (as in the GCN/GAT reference code):
    * the test rows ``tx``/``ty`` are stored in the order of ``test.index``; they are moved to
      the node ids listed there;
    * when the test ids do not form one contiguous range (Citeseer has isolated test nodes
      missing from the files), the gaps get all-zero feature rows and the label ``-1``; they
      belong to no split;
    * features are row-normalised (each row divided by its sum; empty rows stay zero);
    * ``train`` = the first ``len(y)`` nodes, ``val`` = the next 500, ``test`` = the ids of
      ``test.index``.

Convention:
    ``edge_index`` is ``(2, E)`` with ``edge_index[0]`` the *source* node ``j`` (the neighbour
    whose features are read) and ``edge_index[1]`` the *target* node ``i`` (the node that
    attends), as in PyTorch Geometric. Both directions of every undirected edge are present,
    duplicates removed, sorted by target then source.
"""

from __future__ import annotations

import collections
import io
import os
import pickle  # only through PlanetoidUnpickler, whose find_class is an allow-list
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from attnlab.data.errors import CorruptFileError
from attnlab.data.resources import FileSpec, Resource, register_resource

__all__ = [
    "CORA_RESOURCE",
    "PLANETOID_FILES",
    "PlanetoidGraph",
    "PlanetoidUnpickler",
    "load_cora",
    "load_planetoid",
    "planetoid_from_files",
    "read_planetoid_pickle",
]

PLANETOID_FILES: tuple[str, ...] = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
"""The suffixes of the eight split files ``ind.<name>.<suffix>``."""

_MIRRORS = (
    "https://raw.githubusercontent.com/kimiyoung/planetoid/master/data/",
    "https://raw.githubusercontent.com/tkipf/gcn/master/gcn/data/",
)

_CORA_FILES: tuple[tuple[str, int, str], ...] = (
    ("allx", 257305, "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543"),
    ("ally", 47959, "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71"),
    ("graph", 59847, "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d"),
    ("test.index", 5000, "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875"),
    ("tx", 148025, "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a"),
    ("ty", 28135, "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad"),
    ("x", 22119, "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab"),
    ("y", 4054, "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1"),
)

CORA_RESOURCE: Resource = register_resource(
    Resource(
        "cora",
        tuple(
            FileSpec(
                f"ind.cora.{suffix}",
                sha256=sha,
                size=size,
                urls=tuple(f"{mirror}ind.cora.{suffix}" for mirror in _MIRRORS),
            )
            for suffix, size, sha in _CORA_FILES
        ),
        description="Cora, Planetoid split (Yang, Cohen, Salakhutdinov 2016); no licence "
        "stated for the data, redistributed in MIT-licensed repositories",
        homepage="https://github.com/kimiyoung/planetoid",
    )
)
"""The eight Planetoid files of Cora (sizes and sha256 of the files as distributed)."""

_RESOURCES: dict[str, Resource] = {"cora": CORA_RESOURCE}


# ---------------------------------------------------------------------------------------------
# the restricted unpickler


class _CSRMatrix:
    """Stand-in for ``scipy.sparse.csr_matrix`` while unpickling: holds the pickled state only."""

    state: dict[str, Any]

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, dict):
            raise CorruptFileError(f"csr_matrix state must be a dict, got {type(state).__name__}")
        self.state = state

    def to_dense(self, name: str) -> np.ndarray:
        """The dense ``float32`` matrix; every field is checked, so a bad file cannot index out."""
        try:
            shape = tuple(int(s) for s in self.state["_shape"])
            indptr = np.asarray(self.state["indptr"], dtype=np.int64)
            indices = np.asarray(self.state["indices"], dtype=np.int64)
            data = np.asarray(self.state["data"], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as error:
            raise CorruptFileError(f"{name}: malformed csr_matrix ({error})") from None
        rows, cols = shape if len(shape) == 2 else (-1, -1)
        ok = (
            rows >= 0
            and cols >= 0
            and indptr.shape == (rows + 1,)
            and indices.shape == data.shape == (int(indptr[-1]),)
            and indptr[0] == 0
            and bool(np.all(np.diff(indptr) >= 0))
            and (indices.size == 0 or (indices.min() >= 0 and indices.max() < cols))
        )
        if not ok:
            raise CorruptFileError(f"{name}: inconsistent csr_matrix of shape {shape}")
        dense = np.zeros((rows, cols), dtype=np.float32)
        row_of = np.repeat(np.arange(rows), np.diff(indptr))
        np.add.at(dense, (row_of, indices), data)
        return dense


def _reconstruct(subtype: object, shape: object, dtype: object) -> np.ndarray:
    """NumPy's pickled-array constructor, restricted to plain ``ndarray``."""
    if subtype is not np.ndarray:
        raise CorruptFileError(f"refused array subtype {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype)  # type: ignore[arg-type]


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("collections", "defaultdict"): collections.defaultdict,
    ("builtins", "list"): list,
    ("__builtin__", "list"): list,  # Python 2's name (find_class sees it unmapped)
    ("scipy.sparse.csr", "csr_matrix"): _CSRMatrix,
    ("scipy.sparse._csr", "csr_matrix"): _CSRMatrix,
}


class PlanetoidUnpickler(pickle.Unpickler):
    """An unpickler for the Planetoid files that resolves only an allow-list of globals.

    ``find_class`` returns the object for the exact ``(module, name)`` pairs the Planetoid
    files use and raises :class:`~attnlab.data.errors.CorruptFileError` ("refused object") for
    anything else, so a crafted file cannot call ``os.system``, ``eval`` or any other callable.
    SciPy's ``csr_matrix`` becomes a plain holder of its arrays (SciPy need not be installed).
    Always construct it with ``encoding="latin1"`` (the files were written by Python 2).

    Example:
        >>> import io, pickle
        >>> PlanetoidUnpickler(io.BytesIO(pickle.dumps([1, 2])), encoding="latin1").load()
        [1, 2]
    """

    def find_class(self, module: str, name: str) -> Any:
        """The allowed global ``module.name``; anything else is refused."""
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise CorruptFileError(
                f"refused object {module}.{name}: not one of the types a Planetoid file holds"
            ) from None


def read_planetoid_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle one Planetoid file with :class:`PlanetoidUnpickler` (``encoding="latin1"``).

    A ``csr_matrix`` comes back as a dense ``float32`` array.

    Raises:
        CorruptFileError: the file names a global outside the allow-list, or is not a valid
            pickle; the message names the file.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        value = PlanetoidUnpickler(io.BytesIO(data), encoding="latin1").load()
    except CorruptFileError as error:
        raise CorruptFileError(f"{path}: {error}", path=path) from None
    except Exception as error:  # any parser failure of a damaged file
        raise CorruptFileError(
            f"{path}: not a readable Planetoid pickle ({type(error).__name__}: {error})", path=path
        ) from None
    if isinstance(value, _CSRMatrix):
        return value.to_dense(str(path))
    return value


# ---------------------------------------------------------------------------------------------
# the graph


@dataclass(frozen=True)
class PlanetoidGraph:
    """A Planetoid graph: node features, labels, split masks and edges.

    Attributes:
        name: the data set (``"cora"``).
        features: ``(N, F)`` float32 node features (row-normalised unless asked otherwise).
        labels: ``(N,)`` int64 class ids, ``-1`` for nodes without a label in the files.
        train_mask: ``(N,)`` bool, the labelled training nodes (140 on Cora).
        val_mask: ``(N,)`` bool, the 500 validation nodes.
        test_mask: ``(N,)`` bool, the 1000 test nodes.
        edge_index: ``(2, E)`` int64, ``[source j, target i]``, both directions of every
            undirected edge, no duplicates, sorted by target (plus ``(i, i)`` when built with
            ``self_loops=True``).
        num_classes: number of classes.
        duplicate_edges: undirected edges listed more than once in the graph file (removed).
        self_loops_in_file: ``(i, i)`` entries of the graph file (removed).

    Example:
        >>> import torch
        >>> g = PlanetoidGraph("toy", torch.ones(2, 3), torch.tensor([0, 1]),
        ...     torch.tensor([True, False]), torch.tensor([False, True]),
        ...     torch.tensor([False, False]), torch.tensor([[0, 1], [1, 0]]), 2)
        >>> g.num_nodes, g.num_undirected_edges, g.adjacency().sum().item()
        (2, 1, 2)
    """

    name: str
    features: Tensor
    labels: Tensor
    train_mask: Tensor
    val_mask: Tensor
    test_mask: Tensor
    edge_index: Tensor
    num_classes: int
    duplicate_edges: int = 0
    self_loops_in_file: int = 0

    @property
    def num_nodes(self) -> int:
        """``N``."""
        return int(self.features.shape[0])

    @property
    def num_features(self) -> int:
        """``F``."""
        return int(self.features.shape[1])

    @property
    def num_undirected_edges(self) -> int:
        """Undirected edges between distinct nodes (self-loops not counted)."""
        src, dst = self.edge_index
        return int((src < dst).sum())

    def adjacency(self, *, self_loops: bool = False) -> Tensor:
        """The dense ``(N, N)`` boolean adjacency, ``adj[i, j]`` = ``i`` attends to ``j``.

        Args:
            self_loops: set the diagonal (GAT lets each node attend to itself).
        """
        n = self.num_nodes
        adj = torch.zeros(n, n, dtype=torch.bool)
        adj[self.edge_index[1], self.edge_index[0]] = True
        if self_loops:
            adj.fill_diagonal_(True)
        return adj


def _as_dense(value: object, name: str, rows: int | None = None) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.ndim != 2:
        got = getattr(value, "shape", type(value).__name__)
        raise CorruptFileError(f"{name}: expected a 2-D matrix, got {got}")
    if rows is not None and value.shape[0] != rows:
        raise CorruptFileError(f"{name}: expected {rows} rows, got {value.shape[0]}")
    return np.asarray(value, dtype=np.float32)


def planetoid_from_files(
    paths: dict[str, Path],
    *,
    name: str = "cora",
    self_loops: bool = False,
    normalize_features: bool = True,
    num_val: int = 500,
) -> PlanetoidGraph:
    """Build a :class:`PlanetoidGraph` from the eight split files (already verified).

    Args:
        paths: suffix (``"x"``, ``"graph"``, ``"test.index"`` ...) -> file path.
        name: the data set's name.
        self_loops: add ``(i, i)`` to ``edge_index`` for every node.
        normalize_features: divide every feature row by its sum (GCN/GAT preprocessing).
        num_val: validation nodes, taken right after the training nodes (Planetoid: 500).

    Raises:
        CorruptFileError: a file has the wrong type or shape, or the files disagree.
    """
    missing = [s for s in PLANETOID_FILES if s not in paths]
    if missing:
        raise ValueError(f"paths is missing the files {missing}")
    y_path = str(paths["y"])
    x = _as_dense(read_planetoid_pickle(paths["x"]), str(paths["x"]))
    y = _as_dense(read_planetoid_pickle(paths["y"]), y_path, rows=x.shape[0])
    allx = _as_dense(read_planetoid_pickle(paths["allx"]), str(paths["allx"]))
    ally = _as_dense(read_planetoid_pickle(paths["ally"]), str(paths["ally"]), rows=allx.shape[0])
    tx = _as_dense(read_planetoid_pickle(paths["tx"]), str(paths["tx"]))
    ty = _as_dense(read_planetoid_pickle(paths["ty"]), str(paths["ty"]), rows=tx.shape[0])
    graph = read_planetoid_pickle(paths["graph"])
    test_index = _read_test_index(paths["test.index"], rows=tx.shape[0])
    widths = {x.shape[1], allx.shape[1], tx.shape[1]}
    classes = {y.shape[1], ally.shape[1], ty.shape[1]}
    if len(widths) != 1 or len(classes) != 1:
        raise CorruptFileError(f"{y_path}: feature widths {widths} / class counts {classes} differ")
    num_classes = classes.pop()
    if isinstance(num_val, bool) or not isinstance(num_val, int) or num_val < 0:
        raise ValueError(f"num_val must be an integer >= 0, got {num_val!r}")
    if y.shape[0] + num_val > allx.shape[0]:
        raise CorruptFileError(
            f"{paths['allx']}: {allx.shape[0]} rows, fewer than {y.shape[0]} training + "
            f"{num_val} validation nodes"
        )
    features, onehot = _with_test_rows(allx, ally, tx, ty, test_index, paths["test.index"])
    labels = np.where(onehot.sum(1) > 0, onehot.argmax(1), -1).astype(np.int64)
    num_nodes = features.shape[0]
    undirected, duplicates, loops = _graph_edges(graph, paths["graph"], num_nodes)
    if normalize_features:
        sums = features.sum(1, keepdims=True)
        features = np.divide(features, sums, out=np.zeros_like(features), where=sums > 0)
    masks = {}
    for split, ids in (
        ("train", np.arange(y.shape[0])),
        ("val", np.arange(y.shape[0], y.shape[0] + num_val)),
        ("test", np.sort(test_index)),
    ):
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[torch.from_numpy(ids)] = True
        masks[split] = mask
    return PlanetoidGraph(
        name=name,
        features=torch.from_numpy(features),
        labels=torch.from_numpy(labels),
        train_mask=masks["train"],
        val_mask=masks["val"],
        test_mask=masks["test"],
        edge_index=_edge_index(undirected, num_nodes, self_loops),
        num_classes=int(num_classes),
        duplicate_edges=duplicates,
        self_loops_in_file=loops,
    )


def _read_test_index(index_path: Path, *, rows: int) -> np.ndarray:
    """The test node ids of ``test.index``, one per test row."""
    try:
        test_index = np.array(
            [int(line) for line in index_path.read_text().split()], dtype=np.int64
        )
    except ValueError as error:
        raise CorruptFileError(f"{index_path}: not one integer per line ({error})") from None
    if test_index.shape[0] != rows:
        raise CorruptFileError(f"{index_path}: {test_index.shape[0]} ids for {rows} test rows")
    return test_index


def _with_test_rows(
    allx: np.ndarray,
    ally: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    test_index: np.ndarray,
    index_path: Path,
) -> tuple[np.ndarray, np.ndarray]:
    """All features and one-hot labels: ``allx`` rows, then the test rows at their ids.

    Ids missing from a gappy test range (Citeseer's isolated test nodes) get zero features and
    no label.
    """
    test_sorted = np.sort(test_index)
    first, last = int(test_sorted[0]), int(test_sorted[-1])
    if first != allx.shape[0]:
        raise CorruptFileError(
            f"{index_path}: test ids start at {first}, expected {allx.shape[0]} (after allx)"
        )
    span = last - first + 1
    tx_full = np.zeros((span, tx.shape[1]), dtype=np.float32)
    ty_full = np.zeros((span, ty.shape[1]), dtype=np.float32)
    tx_full[test_index - first] = tx
    ty_full[test_index - first] = ty
    return np.concatenate([allx, tx_full]), np.concatenate([ally, ty_full])


def _graph_edges(graph: object, path: Path, num_nodes: int) -> tuple[np.ndarray, int, int]:
    """``(undirected (E, 2) pairs u < v, duplicate listings, self-loops)`` of the adjacency
    lists; self-loops are dropped from the pairs."""
    if not isinstance(graph, dict):
        raise CorruptFileError(f"{path}: expected a dict of adjacency lists")
    try:
        pairs = np.array(
            [(int(u), int(v)) for u, vs in graph.items() for v in vs], dtype=np.int64
        ).reshape(-1, 2)
    except (TypeError, ValueError) as error:
        raise CorruptFileError(f"{path}: malformed adjacency lists ({error})") from None
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_nodes):
        raise CorruptFileError(f"{path}: node ids outside [0, {num_nodes})")
    loops = pairs[:, 0] == pairs[:, 1]
    pairs = pairs[~loops]
    undirected = np.unique(np.sort(pairs, axis=1), axis=0)
    listed = np.unique(pairs, axis=0)
    # an edge listed in both adjacency lists is the normal case; more listings are duplicates
    return undirected, int(pairs.shape[0] - listed.shape[0]), int(loops.sum())


def _edge_index(undirected: np.ndarray, num_nodes: int, self_loops: bool) -> torch.Tensor:
    """``(2, E)`` both directions of every edge (and ``(i, i)`` with ``self_loops``), sorted
    by target, then source."""
    both = np.concatenate([undirected, undirected[:, ::-1]])
    if self_loops:
        ids = np.arange(num_nodes)
        both = np.concatenate([both, np.stack([ids, ids], 1)])
    order = np.lexsort((both[:, 0], both[:, 1]))  # by target, then source
    return torch.from_numpy(np.ascontiguousarray(both[order].T))


def load_planetoid(
    name: str = "cora",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    self_loops: bool = False,
    normalize_features: bool = True,
) -> PlanetoidGraph:
    """Load a Planetoid data set (only ``"cora"`` has a checksummed resource) from verified files.

    Args:
        name: the data set.
        data_dir: the data root (files in ``<root>/cora/``); see :mod:`attnlab.data.resources`.
        download: download missing files (sha256-verified) from the public Planetoid mirrors.
        self_loops: add ``(i, i)`` to ``edge_index`` for every node.
        normalize_features: row-normalise the features (GCN/GAT preprocessing).

    Returns:
        The :class:`PlanetoidGraph`; on Cora: 2708 nodes, 1433 features, 7 classes, 5278
        undirected edges, 140/500/1000 train/val/test nodes.

    Raises:
        MissingDataError: a file is absent (and ``download`` is false).
        CorruptFileError: a file fails its checksum or cannot be parsed.
    """
    if name not in _RESOURCES:
        raise ValueError(f"name must be one of {sorted(_RESOURCES)}, got {name!r}")
    resource = _RESOURCES[name]
    paths = {
        suffix: resource.fetch(f"ind.{name}.{suffix}", data_dir=data_dir, download=download)
        for suffix in PLANETOID_FILES
    }
    return planetoid_from_files(
        paths, name=name, self_loops=self_loops, normalize_features=normalize_features
    )


def load_cora(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    self_loops: bool = False,
    normalize_features: bool = True,
) -> PlanetoidGraph:
    """Cora with the Planetoid split: ``load_planetoid("cora", ...)``."""
    return load_planetoid(
        "cora",
        data_dir=data_dir,
        download=download,
        self_loops=self_loops,
        normalize_features=normalize_features,
    )
