"""The code blocks of docs/interpret.md run, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "interpret.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)


def test_the_page_has_examples_for_every_tool() -> None:
    code = "\n".join(_blocks())
    for name in ("record(", "force_weights", "convert_torch_attention(", "rollout(",
                 "attention_flow(", "relevance(", "gradient_x_input(", "random_attribution(",
                 "faithfulness("):
        assert name in code, name


def test_docs_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for number, block in enumerate(_blocks()):
        exec(compile(block, f"{PAGE.name}[block {number}]", "exec"), namespace)
    assert "curve" in namespace
