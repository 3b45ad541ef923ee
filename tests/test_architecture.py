"""The package's structure, read from its source: no import cycles, small fan-in per module.

Every ``hpo_plugin`` import counts (module level, inside functions, under ``TYPE_CHECKING``),
and so does every ``hpo_plugin.*`` module named in a string (what the registries and the lazy
API load through importlib). Entry points of other interpreters are not imports: helper
processes (``module:function``) and the module Spark runs as its Python daemon.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import hpo_plugin

PACKAGE = Path(hpo_plugin.__file__).parent
MAX_SIBLINGS = 10
# ``spark.python.daemon.module``: Spark starts it as ``python -m`` in a process of its own.
OTHER_INTERPRETERS = {"hpo_plugin.executors.sparkdaemon"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str | None:
    """The module ``name`` refers to: itself, or (for an imported attribute) its module."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"hpo_plugin(\.\w+)+", node.value)
            and node.value not in OTHER_INTERPRETERS
        ):
            found.add(node.value)
    this = module_name(path)
    return {m for name in found if name.startswith("hpo_plugin") and (m := resolve(name)) not in (None, this)}


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (top := stack.pop()) != node:
                component.append(top)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for name in GRAPH:
        if name not in index:
            visit(name)
    return found


def test_the_graph_sees_the_lazy_imports():
    assert {"hpo_plugin.executors.local", "hpo_plugin.executors.spark"} <= GRAPH["hpo_plugin.executors"]
    assert "hpo_plugin.search.run" in GRAPH["hpo_plugin"]


def test_no_import_cycles():
    assert cycles() == []


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_more_than_ten_siblings(module):
    assert len(GRAPH[module] - {"hpo_plugin"}) <= MAX_SIBLINGS, sorted(GRAPH[module])
