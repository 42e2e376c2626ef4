"""Shared fixtures: ``--device``/``--dtype`` options, per-dtype tolerances, seeding."""

from __future__ import annotations

import pytest
import torch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="device to run on: cpu or cuda")
    parser.addoption(
        "--dtype",
        default="float32",
        help="comma-separated dtypes for the dtype fixture: float32,float64,float16,bfloat16",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    explicit = any(
        "dtype" in (m.args[0] if isinstance(m.args[0], (list, tuple)) else m.args[0].split(","))
        for m in metafunc.definition.iter_markers("parametrize")
    )
    if "dtype" in metafunc.fixturenames and not explicit:
        names = metafunc.config.getoption("--dtype").split(",")
        metafunc.parametrize("dtype", [getattr(torch, n.strip()) for n in names], ids=names)


@pytest.fixture
def device(request: pytest.FixtureRequest) -> torch.device:
    name = request.config.getoption("--device")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return torch.device(name)


def pytest_configure(config: pytest.Config) -> None:
    # Tests run in parallel workers (pytest -n 2); one intra-op thread per worker avoids
    # oversubscribing the cores, which makes small ops wait on busy threads.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
