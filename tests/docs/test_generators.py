"""The generators of the documentation site (docs/hooks/attnlab_docs.py) on inputs whose output
is known: the Performance page from a bench JSON document, from BENCHMARKS.md, or from nothing,
and the Gallery page of an experiment."""

from __future__ import annotations

import importlib.util
import json
import statistics
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("mkdocs")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "attnlab_docs_hook", ROOT / "docs" / "hooks" / "attnlab_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _document() -> dict[str, object]:
    from attnlab.bench.base import Row, SuiteResult, TargetCheck
    from attnlab.bench.report import bench_document
    from attnlab.bench.timing import Timing

    ours = Row("L=64", "attnlab", None, "ok", timing=Timing("attnlab", (0.002, 0.004, 0.003)),
               ratios={"torch": 1.5, "kornia": "not installed"})
    peer = Row("L=64", "torch", "torch", "ok", timing=Timing("torch", (0.0045, 0.0045, 0.0045)))
    suite = SuiteResult(
        "sampler", "bilinear sampling", "ok", "quick", peers={"torch": True, "kornia": False},
        rows=[ours, peer], targets=[TargetCheck("sample: attnlab >= 1.00x torch", 1.5, 1.0,
                                                "higher")],
    )
    broken = SuiteResult("gat", "graph attention", "unavailable: no torch_geometric", "quick")
    document = bench_document([suite, broken], scale="quick",
                              machine={"description_start": "test machine, 2 CPUs"},
                              roofline=None)
    document["argv"] = ["attnlab", "bench", "--quick"]
    return document


def test_performance_from_the_json_document(hook: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "results.json").write_text(json.dumps(_document()))
    (tmp_path / "BENCHMARKS.md").write_text("# Benchmarks\n\nthe older page\n")
    page = hook.benchmarks_markdown(tmp_path)
    assert "benchmarks/results.json" in page and "the older page" not in page
    assert "Machine: test machine, 2 CPUs." in page
    assert "| sampler | sample: attnlab >= 1.00x torch | 1.5 | met |" in page
    assert "| gat | (suite) | - | unavailable: no torch_geometric |" in page
    median_ms = statistics.median((2.0, 4.0, 3.0))
    row = next(line for line in page.splitlines() if line.startswith("| L=64 | attnlab |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[2]) == pytest.approx(median_ms)
    assert cells[-2:] == ["1.50x", "not installed"]  # vs torch, vs kornia
    assert "| L=64 | torch (peer) | 4.5 |" in page
    assert "Status: unavailable: no torch_geometric." in page
    assert "\n# " not in page  # headings are demoted below the page's own title


def test_performance_from_benchmarks_md_or_nothing(hook: ModuleType, tmp_path: Path) -> None:
    assert hook.benchmarks_markdown(tmp_path).startswith("No benchmark results")
    (tmp_path / "BENCHMARKS.md").write_text("# Benchmarks\n\n## Targets\n\n| a | b |\n")
    page = hook.benchmarks_markdown(tmp_path)
    assert "BENCHMARKS.md" in page
    assert "### Targets\n\n| a | b |" in page and "# Benchmarks" not in page


def test_gallery_page_of_an_experiment(hook: ModuleType, tmp_path: Path) -> None:
    from attnlab.experiments import get_experiment

    experiment = get_experiment("bahdanau2015_length")
    folder = tmp_path / "gallery" / "img" / experiment.name
    folder.mkdir(parents=True)
    (folder / "hull.png").write_bytes(b"\x89PNG")
    (folder / "figures.json").write_text(json.dumps({"figures": [
        {"file": "hull.png", "caption": "a hull"}, {"file": "gone.png", "caption": "missing"}]}))
    page = hook.gallery_page(experiment, tmp_path)
    assert page.startswith(f"# {experiment.name}\n")
    assert experiment.claim in page
    assert experiment.paper.url in page
    for target in experiment.targets:
        assert f"| `{target.metric}` |" in page
    assert "![a hull](img/bahdanau2015_length/hull.png)" in page
    assert "gone.png" not in page  # listed but not copied: not shown
    readme = (ROOT / "src" / "attnlab" / "experiments" / experiment.name / "README.md")
    first_heading = next(line for line in readme.read_text().splitlines()[1:]
                         if line.startswith("## "))
    assert "\n#" + first_heading + "\n" in page  # demoted one level, the title dropped


def test_docstrings_are_normalised_for_the_api_reference() -> None:
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location(
        "griffe_attnlab_hook", ROOT / "docs" / "hooks" / "griffe_attnlab.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (
        "Summary with :func:`attnlab.attend` and :class:`~attnlab.core.Score`.\n"
        "\n"
        "    .. math:: e = v^T q\n"
        "\n"
        "Args:\n"
        "    a, b,\n"
        "        c: shared.\n"
        "\n"
        "Example:\n"
        "    >>> 1 + 1\n"
        "    2\n"
    )
    assert module.normalize(text).splitlines() == [
        "Summary with `attnlab.attend` and `Score`.",
        "",
        "    ```text",
        "    e = v^T q",
        "    ```",
        "",
        "Args:",
        "    a, b, c: shared.",
        "",
        "Examples:",
        "    >>> 1 + 1",
        "    2",
    ]
