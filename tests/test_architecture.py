"""The package's structure, read from its source: rooms stacked in one order (a module imports
only from its own room or the rooms below it), no import cycles, small fan-in per module, every
tag name in the schema, no script at the repository's root.

Every ``hpo_plugin`` import counts (module level, inside functions, under ``TYPE_CHECKING``),
and so does every ``hpo_plugin.*`` module named in a string (what the registries and the lazy
API load through importlib). Entry points of other interpreters are not imports: helper
processes (``module:function``) and the module Spark runs as its Python daemon.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hpo_plugin

PACKAGE = Path(hpo_plugin.__file__).parent
REPO = Path(__file__).resolve().parent.parent  # the checkout (hpo_plugin may be an installed copy)
MAX_SIBLINGS = 10
# The rooms from the top down: the ways in, the core, where trials run, the trial, the
# definitions, the search's parts, MLflow I/O, model objects, then the leaves. Data flows down
# this list (docs/ARCHITECTURE.md draws it); a new module belongs to one of these rooms.
ROOMS = (
    "hpo_plugin.__main__",
    "hpo_plugin",  # the Python API: lazy names only
    "hpo_plugin.fronts",
    "hpo_plugin.gp",
    "hpo_plugin.search",
    "hpo_plugin.promotion",
    "hpo_plugin.report",
    "hpo_plugin.browse",
    "hpo_plugin.executors",
    "hpo_plugin.objectives",
    "hpo_plugin.config",
    "hpo_plugin.algorithms",
    "hpo_plugin.pruners",
    "hpo_plugin.tracking",
    "hpo_plugin.models",
    "hpo_plugin.data",
    "hpo_plugin.hyperopt_space",
    "hpo_plugin.space",
    "hpo_plugin.metrics",
    "hpo_plugin.tradeoffs",
    "hpo_plugin.features",
    "hpo_plugin.hyperopt_protocol",
    "hpo_plugin.processes",
    "hpo_plugin.errors",
    "hpo_plugin.version",
)
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


def room_of(module: str) -> str:
    """The room a module lives in: the longest entry of ROOMS that is it or holds it."""
    return max((r for r in ROOMS if module == r or module.startswith(r + ".")), key=len, default="")


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_every_module_lives_in_a_room(module):
    assert room_of(module), f"{module}: add its room to ROOMS (and docs/ARCHITECTURE.md)"


def reaches_up(module: str, targets: set[str]) -> list[str]:
    """The modules of ``targets`` in a room above ``module``'s."""
    mine = ROOMS.index(room_of(module))
    return sorted(t for t in targets if ROOMS.index(room_of(t)) < mine)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_from_a_room_above_it(module):
    assert reaches_up(module, GRAPH[module]) == [], f"{module} is in {room_of(module)}"


def test_the_rooms_check_sees_an_arrow_that_runs_up():
    assert reaches_up("hpo_plugin.config.model", {"hpo_plugin.objectives.estimator"}) == [
        "hpo_plugin.objectives.estimator"
    ]
    assert reaches_up("hpo_plugin.models.files", {"hpo_plugin.tracking.records"}) == [
        "hpo_plugin.tracking.records"
    ]
    assert (
        reaches_up("hpo_plugin.tracking.writer", {"hpo_plugin.models.logged", "hpo_plugin.tracking.client"})
        == []
    )
    assert room_of("hpo_plugin.fronts.cli.search") == "hpo_plugin.fronts"
    assert room_of("hpo_plugin.gp") == "hpo_plugin.gp" and room_of("hpo_plugin.gpx") == "hpo_plugin"


SCHEMA = PACKAGE / "tracking" / "schema.py"


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if p != SCHEMA), ids=str)
def test_tag_names_live_in_the_schema_module(path):
    """Every ``hpo.*`` tag a search writes or reads is named in tracking/schema.py."""
    literals = [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("hpo.")
    ]
    assert literals == []


def test_no_script_at_the_repository_root():
    """Entry points' scripts live in experiments/ (the MLproject names them there)."""
    assert sorted(p.name for p in REPO.glob("*.py")) == []


def test_reading_an_experiment_imports_no_model_library():
    """The definitions name families, datasets and metrics; their libraries load on use."""
    code = (
        "import sys, hpo_plugin.fronts.experiment as f;"
        "f.load_experiment('experiments/xgboost_breast_cancer.yaml');"
        "print(sorted(m for m in ('sklearn', 'xgboost', 'lightgbm', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
