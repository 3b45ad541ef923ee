"""Executor registry: where a search's trials run.

Each executor's ``run(ctx: TrialContext)`` lives in its own module and runs the trials of one
search through the one hyperopt loop (:mod:`.loop`) and the one trial protocol (:mod:`.trial`):
every trial a child run of the search's parent, created with an explicit parent id. A new
executor is a module with ``run`` (and optionally ``prestart``) plus an entry in
:data:`EXECUTORS`; the CLI and the YAML schema read the registry.

Executor modules are imported on use, not here: the local executor's worker processes import
this package and must not import MLflow (the spark executor's module does), and PySpark is an
optional extra. No executor module imports the search package, so this is no hidden cycle.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Executor:
    name: str
    summary: str
    module: str  # defines ``run(ctx: TrialContext) -> None``
    requires: tuple[str, str] | None = None  # (module, pip extra) of an optional dependency

    def runner(self) -> Callable[[Any], None]:
        return importlib.import_module(self.module).run

    def prestart(self, workers: int) -> None:
        """Let the executor start its processes early, if it has any (their imports take seconds)."""
        if self.missing() is None and (
            start := getattr(importlib.import_module(self.module), "prestart", None)
        ):
            start(workers)

    def missing(self) -> str | None:
        """Why this executor cannot run here, or None."""
        if self.requires is None or importlib.util.find_spec(self.requires[0]) is not None:
            return None
        module, extra = self.requires
        return f"executor {self.name!r} needs {module}: pip install 'hpo_plugin[{extra}]'"


EXECUTORS: dict[str, Executor] = {
    e.name: e
    for e in (
        Executor(
            "sequential", "one trial at a time in the search process", "hpo_plugin.executors.sequential"
        ),
        Executor(
            "local", "parallel trials in worker processes on this machine", "hpo_plugin.executors.local"
        ),
        Executor(
            "spark",
            "one Spark job per trial, on a Spark master",
            "hpo_plugin.executors.spark",
            ("pyspark", "spark"),
        ),
    )
}
