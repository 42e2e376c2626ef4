"""The install promises: a torch range (an installed torch is kept), the tested build pinned only
in CI and the README, and every test/dev dependency pinned in one constraints file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

packaging_requirements = pytest.importorskip("packaging.requirements")

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / ".ci" / "constraints.txt"


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", packaging_requirements.Requirement(requirement).name).lower()


def test_torch_is_a_range_that_keeps_the_installed_build() -> None:
    (torch_req,) = [
        packaging_requirements.Requirement(r) for r in _project()["dependencies"]  # type: ignore[union-attr]
        if _name(r) == "torch"
    ]
    assert not any(s.operator in ("==", "===") for s in torch_req.specifier), (
        "an exact torch pin makes pip replace the user's torch (a CUDA build, another release)"
    )
    for installed in ("2.13.0", "2.13.0+cpu", "2.14.1", "2.14.1+cu130", "3.0.0"):
        assert torch_req.specifier.contains(installed, prereleases=True), installed
    assert not torch_req.specifier.contains("2.2.0")  # older than the APIs attnlab calls


def test_every_dev_dependency_is_pinned_in_the_constraints_file() -> None:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            requirement = packaging_requirements.Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{line}: constraints are exact versions"
            pins[_name(line)] = spec.version
    extras = _project()["optional-dependencies"]
    for extra in ("dev", "plot"):
        for requirement in extras[extra]:  # type: ignore[index]
            assert _name(requirement) in pins, f"{requirement} ({extra}) is not pinned"
    assert pins["torch"] == "2.13.0"


def test_ci_and_the_readme_install_with_the_constraints() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme_first_block = (ROOT / "README.md").read_text().split("```")[1]
    for text in (ci, readme_first_block):
        assert "torch==2.13.0" in text and "-c .ci/constraints.txt" in text
    newest = (ROOT / ".ci" / "newest").read_text()
    assert "--upgrade-strategy eager" in newest and "python -m pytest -n 2" in newest
