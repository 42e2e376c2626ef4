"""The light commands start without importing torch; lazy names still behave as imports."""

from __future__ import annotations

import subprocess
import sys

import attnlab
from attnlab.cli import _TAG_EXAMPLES, build_parser


def _modules_after(code: str) -> set[str]:
    code += "; import sys; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    return set(out.split())


def test_help_and_parser_do_not_import_torch() -> None:
    loaded = _modules_after("import attnlab.cli; attnlab.cli.build_parser()")
    assert "torch" not in loaded
    assert not any(m.startswith("attnlab.experiments.") for m in loaded)


def test_import_attnlab_is_cheap_and_names_load_on_use() -> None:
    assert "torch" not in _modules_after("import attnlab")
    loaded = _modules_after("import attnlab; attnlab.MultiHeadAttention")
    assert "attnlab.mechanisms.multihead" in loaded
    assert "attnlab.experiments.runner" not in loaded


def test_lazy_names_are_the_real_objects() -> None:
    from attnlab.mechanisms import MultiHeadAttention

    assert attnlab.MultiHeadAttention is MultiHeadAttention
    assert set(attnlab.__all__) <= set(dir(attnlab))
    for name in attnlab.__all__:
        assert getattr(attnlab, name) is not None, name


def test_registry_is_complete_whatever_was_imported_first() -> None:
    code = ("from attnlab.core.registry import list_mechanisms; "
            "print(len(list_mechanisms()))")
    count = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                           text=True, timeout=120).stdout.strip()
    assert int(count) == len(attnlab.list_mechanisms()) >= 25


def test_the_list_filters_name_the_registry_vocabulary() -> None:
    from attnlab.core.registry import TAG_VOCABULARY

    assert {axis: tuple(v.split(", ")) for axis, v in _TAG_EXAMPLES.items()} == TAG_VOCABULARY
    args = build_parser().parse_args(["list", "--positions", "hard"])
    assert args.positions == "hard"
