"""Planetoid loader: tiny hand-made split files always; real Cora when ATTNLAB_DATA is set.

The real-data tests skip only when ``ATTNLAB_DATA`` is unset; when it is set, a missing or
corrupt Cora file fails them. The independent check reads the raw LINQS ``cora.content`` /
``cora.cites`` (shipped next to the split files) and matches papers by their word vectors.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from attnlab.data.errors import CorruptFileError, MissingDataError
from attnlab.data.planetoid import (
    CORA_RESOURCE,
    PLANETOID_FILES,
    PlanetoidUnpickler,
    load_cora,
    load_planetoid,
    planetoid_from_files,
    read_planetoid_pickle,
)
from attnlab.data.resources import DATA_ENV_VAR


def _csr_pickle(dense: np.ndarray) -> bytes:
    """A pickle of a ``scipy.sparse.csr_matrix`` (written without SciPy)."""
    rows, cols = np.nonzero(dense)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=dense.shape[0]))])
    state = {
        "format": "csr",
        "_shape": dense.shape,
        "indptr": indptr.astype(np.int32),
        "indices": cols.astype(np.int32),
        "data": dense[rows, cols].astype(np.float32),
        "maxprint": 50,
    }
    body = pickle.dumps(state, protocol=4)[2:-1]  # drop PROTO and STOP
    return b"\x80\x04cscipy.sparse.csr\ncsr_matrix\n)\x81" + body + b"b."


def _onehot(labels: list[int], classes: int) -> np.ndarray:
    out = np.zeros((len(labels), classes))
    for i, c in enumerate(labels):
        if c >= 0:
            out[i, c] = 1
    return out


def _write_split(folder: Path) -> dict[str, Path]:
    """6 nodes in allx (2 train, 2 val, 2 unlabelled-split), test ids 8, 6, 9 (7 is missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    allx = np.array([[1, 1, 0], [0, 2, 0], [0, 0, 1], [1, 0, 1], [0, 0, 0], [3, 0, 0]], float)
    ally = _onehot([0, 1, 1, 0, 1, 0], 2)
    tx = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 4]], float)  # rows for ids 8, 6, 9
    ty = _onehot([1, 0, 1], 2)
    graph: dict[int, list[int]] = {0: [1, 2, 2], 1: [0], 2: [0, 2], 6: [8], 8: [6, 9], 9: [8]}
    files = {
        "x": _csr_pickle(allx[:2]),
        "y": pickle.dumps(ally[:2], protocol=4),
        "allx": _csr_pickle(allx),
        "ally": pickle.dumps(ally, protocol=4),
        "tx": _csr_pickle(tx),
        "ty": pickle.dumps(ty, protocol=4),
        "graph": pickle.dumps(graph, protocol=4),
        "test.index": b"8\n6\n9\n",
    }
    paths = {}
    for suffix, data in files.items():
        path = folder / f"ind.toy.{suffix}"
        path.write_bytes(data)
        paths[suffix] = path
    return paths


def test_split_files_are_reordered_and_gaps_filled(tmp_path: Path) -> None:
    g = planetoid_from_files(_write_split(tmp_path), name="toy", num_val=2,
                             normalize_features=False)
    assert g.num_nodes == 10 and g.num_features == 3 and g.num_classes == 2
    # test rows sit at the ids of test.index; id 7 (missing) has zero features and no label
    torch.testing.assert_close(g.features[8], torch.tensor([1.0, 0, 0]))
    torch.testing.assert_close(g.features[6], torch.tensor([0.0, 1, 0]))
    torch.testing.assert_close(g.features[9], torch.tensor([0.0, 0, 4]))
    assert g.features[7].abs().sum() == 0 and g.labels[7] == -1
    assert g.labels.tolist() == [0, 1, 1, 0, 1, 0, 0, -1, 1, 1]
    assert g.train_mask.nonzero().flatten().tolist() == [0, 1]
    assert g.val_mask.nonzero().flatten().tolist() == [2, 3]
    assert g.test_mask.nonzero().flatten().tolist() == [6, 8, 9]
    # edges: symmetric, self-loop (2, 2) and the repeated 0 -> 2 listing removed
    assert g.num_undirected_edges == 4 and g.self_loops_in_file == 1 and g.duplicate_edges == 1
    pairs = set(map(tuple, g.edge_index.T.tolist()))
    assert pairs == {(0, 1), (1, 0), (0, 2), (2, 0), (6, 8), (8, 6), (8, 9), (9, 8)}
    assert g.edge_index[1].tolist() == sorted(g.edge_index[1].tolist())  # sorted by target
    adj = g.adjacency()
    assert adj.sum() == 8 and torch.equal(adj, adj.T) and not adj.diagonal().any()
    assert g.adjacency(self_loops=True).diagonal().all()


def test_features_are_row_normalised_and_self_loops_optional(tmp_path: Path) -> None:
    g = planetoid_from_files(_write_split(tmp_path), name="toy", num_val=2, self_loops=True)
    sums = g.features.sum(1)
    nonempty = sums > 0
    assert nonempty.any() and (~nonempty).any()  # node 4 and the gap 7 have no words
    torch.testing.assert_close(sums[nonempty], torch.ones(int(nonempty.sum())))
    assert g.edge_index.shape[1] == 8 + 10
    loops = g.edge_index[0] == g.edge_index[1]
    assert int(loops.sum()) == 10


def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "marker"

    class Gadget:
        def __reduce__(self) -> tuple[object, tuple[str, str]]:
            return (open, (str(marker), "w"))

    path = tmp_path / "ind.cora.graph"
    path.write_bytes(pickle.dumps({0: [Gadget()]}, protocol=2))
    with pytest.raises(CorruptFileError, match=r"refused object (io|builtins)\.open"):
        read_planetoid_pickle(path)
    assert not marker.exists()
    evil = pickle.dumps(os.system, protocol=2)
    with pytest.raises(CorruptFileError, match=r"refused object (posix|os|nt)\.system"):
        PlanetoidUnpickler(__import__("io").BytesIO(evil), encoding="latin1").load()


def test_damaged_or_wrongly_typed_files_name_the_file(tmp_path: Path) -> None:
    paths = _write_split(tmp_path)
    paths["tx"].write_bytes(paths["tx"].read_bytes()[:40])
    with pytest.raises(CorruptFileError, match="ind.toy.tx"):
        planetoid_from_files(paths, name="toy", num_val=2)
    paths = _write_split(tmp_path / "again")
    paths["graph"].write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(CorruptFileError, match="ind.toy.graph"):
        planetoid_from_files(paths, name="toy", num_val=2)
    paths["graph"].write_bytes(pickle.dumps({0: [99]}, protocol=2))
    with pytest.raises(CorruptFileError, match="outside"):
        planetoid_from_files(paths, name="toy", num_val=2)


def test_missing_files_give_the_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match=r"(?s)ind\.cora\.x.*download=True"):
        load_cora(data_dir=tmp_path)
    with pytest.raises(ValueError, match="name"):
        load_planetoid("pubmed", data_dir=tmp_path)


def test_corrupt_file_is_caught_by_the_checksum(tmp_path: Path) -> None:
    folder = tmp_path / "cora"
    folder.mkdir()
    for spec in CORA_RESOURCE.files:
        assert spec.size is not None
        (folder / spec.name).write_bytes(b"\0" * spec.size)  # right size, wrong bytes
    with pytest.raises(CorruptFileError, match=r"ind\.cora\.(x|y|tx|ty|allx|ally|graph)"):
        load_cora(data_dir=tmp_path)


def test_resource_lists_the_eight_files() -> None:
    names = {spec.name for spec in CORA_RESOURCE.files}
    assert names == {f"ind.cora.{s}" for s in PLANETOID_FILES}
    assert all(spec.urls and spec.urls[0].startswith("https://") for spec in CORA_RESOURCE.files)


# ---------------------------------------------------------------------------------------------
# the real files (ATTNLAB_DATA)


@pytest.fixture(scope="module")
def real_root() -> Path:
    """The data root from ATTNLAB_DATA; skip only when the variable is unset."""
    value = os.environ.get(DATA_ENV_VAR)
    if not value:
        pytest.skip(f"{DATA_ENV_VAR} is not set")
    return Path(value)


def test_real_cora_counts_and_split(real_root: Path) -> None:
    g = load_cora(data_dir=real_root, normalize_features=False)
    assert (g.num_nodes, g.num_features, g.num_classes) == (2708, 1433, 7)
    assert g.num_undirected_edges == 5278 and g.edge_index.shape == (2, 10556)
    assert g.self_loops_in_file == 0
    assert g.duplicate_edges == 302  # repeated entries in the adjacency lists (removed)
    assert [int(m.sum()) for m in (g.train_mask, g.val_mask, g.test_mask)] == [140, 500, 1000]
    assert not (g.train_mask & g.val_mask).any() and not (g.val_mask & g.test_mask).any()
    assert g.labels.bincount().tolist() == [351, 217, 418, 818, 426, 298, 180]
    assert g.labels[g.train_mask].bincount().tolist() == [20] * 7
    assert set(g.features.unique().tolist()) == {0.0, 1.0}
    words = g.features.sum(1)
    assert words.min() >= 1 and words.max() <= 30
    normalised = load_cora(data_dir=real_root)
    torch.testing.assert_close(normalised.features, g.features / words[:, None])


def test_real_cora_agrees_with_the_raw_linqs_files(real_root: Path, tmp_path: Path) -> None:
    raw = real_root / "cora" / "raw"
    if not (raw / "cora.content.gz").exists():
        pytest.skip("the raw LINQS files are not under <root>/cora/raw")
    ids, rows, names = [], [], []
    with gzip.open(raw / "cora.content.gz", "rt") as f:
        for line in f:
            fields = line.split()
            ids.append(fields[0])
            rows.append("".join(fields[1:-1]).encode())
            names.append(fields[-1])
    by_row: dict[bytes, list[int]] = {}
    for i, row in enumerate(rows):
        by_row.setdefault(row, []).append(i)
    g = load_cora(data_dir=real_root, normalize_features=False)
    ours = (g.features.numpy() != 0).astype(np.uint8) + ord("0")
    match = {}
    for n in range(g.num_nodes):
        found = by_row.get(ours[n].tobytes(), [])
        if len(found) == 1:
            match[n] = found[0]
    assert len(match) > 2600  # a few papers share their word vector
    pairs = {(names[match[n]], int(g.labels[n])) for n in match}
    assert len(pairs) == 7 and len({c for _, c in pairs}) == 7  # the labels are a relabelling
    index = {paper: i for i, paper in enumerate(ids)}
    cites = set()
    for line in (raw / "cora.cites").read_text().split("\n"):
        if line.strip():
            a, b = (index[p] for p in line.split())
            if a != b:
                cites.add((min(a, b), max(a, b)))
    assert len(cites) == g.num_undirected_edges == 5278
    src, dst = g.edge_index.tolist()
    mapped = {(min(match[s], match[t]), max(match[s], match[t]))
              for s, t in zip(src, dst, strict=True) if s < t and s in match and t in match}
    assert len(mapped) > 5000 and mapped <= cites
    # the checksum guards the real files too: a damaged copy is refused
    copy = tmp_path / "cora"
    shutil.copytree(real_root / "cora", copy, ignore=shutil.ignore_patterns("raw"))
    target = copy / "ind.cora.allx"
    data = bytearray(target.read_bytes())
    target.chmod(0o644)
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="ind.cora.allx"):
        load_cora(data_dir=tmp_path)
