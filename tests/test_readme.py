"""The README's examples run (in order, sharing one namespace), and its commands stay in sync."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    blocks = _blocks("python")
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "heads.png").stat().st_size > 0


def test_readme_opens_with_the_two_commands() -> None:
    first = _blocks("bash")[0].strip().splitlines()
    assert len(first) == 2
    assert "attnlab demo" in first[0] and "attnlab list" in first[0]
    test_command = first[1].split("&& ")[-1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_command in ci, "CI must run the README's test command"
