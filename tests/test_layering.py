"""Imports flow one way: the library never imports the lab, each library layer only the layers
below it, and no import cycle exists among the package's modules.

Every module under ``src/attnlab`` is parsed with :mod:`ast`; nothing is imported. An import
``from attnlab.x import y`` is an edge to ``attnlab.x.y`` when that is a module, else to the
package ``attnlab.x``; relative imports are resolved. The parent packages Python runs on the way
to a submodule are not edges (``attnlab.core.masks`` does not import ``attnlab``).

Which imports count:

* **layering**: every import, wherever it is written (module level, inside a function, under
  ``if TYPE_CHECKING:``). A lazy or type-only import of a higher layer is still a dependency.
* **cycles**: every import except those under ``if TYPE_CHECKING:``, which never run. Imports
  inside functions do count: a lazy import that closes a cycle still makes what a module holds
  depend on which module was imported first (the bench suites once registered themselves
  through such a lazy import back), so it is a cycle to remove, not to hide.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "attnlab"
SOURCE = Path(__file__).resolve().parents[1] / "src" / PACKAGE

LIBRARY = frozenset({"", "core", "mechanisms", "vision", "architectures", "interpret", "metrics"})
"""Top-level parts of the library ("" is the package's ``__init__``)."""

LAB = frozenset({"data", "train", "report", "bench", "experiments", "cli", "demo"})
"""Top-level parts of the lab, built on the library."""

ALLOWED: Mapping[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "mechanisms": frozenset({"core", "mechanisms"}),
    "vision": frozenset({"core", "mechanisms", "vision"}),
    "architectures": frozenset({"core", "mechanisms", "vision", "architectures"}),
}
"""What each of the lower library layers may import (the layers below it and itself)."""


@dataclass(frozen=True)
class Import:
    """One import of a package module by another."""

    source: str
    target: str
    line: int
    type_checking: bool

    def __str__(self) -> str:
        where = " (under TYPE_CHECKING)" if self.type_checking else ""
        return f"{self.source} imports {self.target} (line {self.line}){where}"


def _module_names(root: Path) -> dict[str, Path]:
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = _module_names(SOURCE)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _known(name: str) -> str | None:
    """``name`` if it is a module of the package, else its nearest enclosing module."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> Iterator[Import]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def targets(node: ast.Import | ast.ImportFrom) -> Iterator[str]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
            return
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            origin = ".".join([*base, *([node.module] if node.module else [])])
        else:
            origin = node.module or ""
        for alias in node.names:
            sub = f"{origin}.{alias.name}"
            yield sub if sub in MODULES else origin

    def walk(node: ast.AST, type_checking: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk_statement(stmt, True)
                for stmt in child.orelse:
                    yield from walk_statement(stmt, type_checking)
                continue
            yield from walk_statement(child, type_checking)

    def walk_statement(node: ast.AST, type_checking: bool) -> Iterator[Import]:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in targets(node):
                target = _known(name) if name.split(".")[0] == PACKAGE else None
                if target is not None and target != module:
                    yield Import(module, target, node.lineno, type_checking)
        yield from walk(node, type_checking)

    yield from walk(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)


IMPORTS: list[Import] = list(dict.fromkeys(i for module in MODULES for i in _imports(module)))


def _part(module: str) -> str:
    """The top-level part of the package a module belongs to (``""`` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, each sorted."""
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        reach[start] = seen
    components = {
        frozenset({v, *(u for u in reach[v] if v in reach.get(u, ()))}) for v in graph
    }
    return sorted(sorted(c) for c in components if len(c) > 1)


# ---------------------------------------------------------------------------------------------


def test_the_parser_sees_the_package() -> None:
    assert {"attnlab", "attnlab.core.registry", "attnlab.bench.suite", "attnlab.cli"} <= set(
        MODULES
    )
    found = {(i.source, i.target) for i in IMPORTS}
    assert ("attnlab.bench.suite", "attnlab.bench.suites") in found
    assert ("attnlab.architectures.gat", "attnlab.mechanisms.graph") in found
    assert {_part(m) for m in MODULES} == LIBRARY | LAB, "a new top-level part needs a layer"


def test_the_library_imports_nothing_of_the_lab() -> None:
    wrong = [str(i) for i in IMPORTS if _part(i.source) in LIBRARY and _part(i.target) in LAB]
    assert not wrong, "the library must not import the lab:\n" + "\n".join(wrong)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_library_layer_imports_only_the_layers_below(layer: str) -> None:
    wrong = [
        str(i)
        for i in IMPORTS
        if _part(i.source) == layer and _part(i.target) not in ALLOWED[layer]
    ]
    allowed = ", ".join(sorted(ALLOWED[layer]))
    assert not wrong, f"{layer} may import only {allowed}:\n" + "\n".join(wrong)


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for i in IMPORTS:
        if not i.type_checking:
            graph[i.source].add(i.target)
    cycles = _cycles(graph)
    details = [
        " -> ".join(cycle) + "\n    " + "\n    ".join(
            str(i) for i in IMPORTS
            if i.source in cycle and i.target in cycle and not i.type_checking
        )
        for cycle in cycles
    ]
    assert not cycles, "import cycles:\n" + "\n".join(details)


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
