"""An MLproject entry point as the trial: MLflow's own hyperparameter pattern, made robust.

Each trial runs the entry point with the sampled params as its ``-P`` parameters inside the
trial's child run (``mlflow.projects.run(..., run_id=)``, created first with the explicit parent
id), and reads its loss back from the metric the entry point logged. A model it logs in its run
is the trial's model. A failing entry point, or one that never logs the metric, fails that trial.
An entry point that logs its metric at steps (``mlflow.log_metric(key, value, step=epoch)``)
can be pruned: the search reads the metric's history while it runs.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hpo_plugin.objectives.base import TrialFailed, TrialOutcome
from hpo_plugin.pruners import Reporter, TrialPruned, loss_of
from hpo_plugin.tracking.schema import curve

MLPROJECT_FILE = "MLproject"  # the documented name of an MLflow project's spec file
FOLLOW_S = 0.5  # how often a pruned search reads a running entry point's metric


@dataclass(frozen=True)
class EntryPointObjective:
    """Run ``entry_point`` of the MLflow project at ``project`` (a local path or a Git URI)."""

    project: str
    entry_point: str
    metric: str
    n_threads: int
    maximize: bool = False
    env_manager: str = "local"
    tradeoffs: tuple[str, ...] = ()  # metrics it logs that objective.also/constraints name
    refits = False
    uses_mlflow = True  # the entry point logs into its trial's run: the run is opened first

    def evaluate(
        self, params: Mapping[str, Any], run: tuple[str, str] | None = None, reporter: Reporter | None = None
    ) -> TrialOutcome:
        """Run the entry point in the trial's run. With a pruner, its metric's history is read
        while it runs: each new step is reported, and a pruned entry point is stopped."""
        if run is None:
            raise TrialFailed("an entry point runs inside its trial's run, which was not created")
        import mlflow  # here, not above: local workers import this module and never MLflow
        import mlflow.projects
        from mlflow.exceptions import ExecutionException

        from hpo_plugin.tracking.client import absolute_uri

        tracking_uri, run_id = absolute_uri(run[0]), run[1]  # the entry point runs in its project
        if mlflow.get_tracking_uri() != tracking_uri:
            mlflow.set_tracking_uri(tracking_uri)
        parameters = {key: str(value) for key, value in params.items()}
        # ``--env-manager local`` runs the entry point with this search's own Python.
        bin_dir = os.path.dirname(sys.executable)
        if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
            os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
        follow = reporter is not None and reporter.prunes
        client = mlflow.MlflowClient(tracking_uri)
        try:
            submitted = mlflow.projects.run(
                self.project,
                entry_point=self.entry_point,
                parameters=parameters,
                env_manager=self.env_manager,
                run_id=run_id,
                synchronous=not follow,
            )
        except ExecutionException as exc:
            raise TrialFailed(
                f"entry point {self.entry_point!r} failed: {' '.join(str(exc).split())}"
            ) from None
        if follow and not self._follow(submitted, client, run_id, reporter):
            raise TrialFailed(f"entry point {self.entry_point!r} failed: Run (ID '{run_id}') failed")
        logged = client.get_run(run_id)
        if self.metric not in logged.data.metrics:
            raise TrialFailed(
                f"entry point {self.entry_point!r} never logged the metric {self.metric!r}; "
                f"it logged {sorted(logged.data.metrics) or 'no metrics'}"
            )
        value = logged.data.metrics[self.metric]
        if not math.isfinite(value):
            raise TrialFailed(f"entry point {self.entry_point!r} logged {self.metric}={value}")
        outputs = logged.outputs.model_outputs if logged.outputs else []
        model_id = outputs[-1].model_id if outputs else None
        named = {k: v for k, v in logged.data.metrics.items() if k in self.tradeoffs}
        return TrialOutcome(-value if self.maximize else value, named, None, model_id=model_id)

    def _follow(self, submitted, client, run_id: str, reporter: Reporter) -> bool:
        """Report each new step of the metric while the entry point runs; stop it (raising
        TrialPruned) if the pruner says so. Whether it exited cleanly."""
        while True:
            running = submitted.get_status() == "RUNNING"
            after = -1 if reporter.last_step is None else reporter.last_step
            for step, value in curve(client, run_id, self.metric).items():
                if step > after and reporter.report(step, loss_of(value, self.maximize)) and running:
                    submitted.cancel()
                    raise TrialPruned()
            if not running:
                return submitted.wait()
            time.sleep(FOLLOW_S)

    def refit_and_test(self, params: Mapping[str, Any]) -> tuple[Any, dict[str, float]]:
        raise NotImplementedError("an entry point's final model is its best trial's model")


def check_entry_point(project: str, entry_point: str) -> None:
    """ValueError unless a local project's MLproject declares ``entry_point`` (or it is a script
    file of the project, which MLflow runs too). A Git URI is checked when its first trial runs."""
    if is_remote(project):
        return
    root = Path(project)
    spec = root / MLPROJECT_FILE
    if not spec.is_file():
        raise ValueError(f"{root} has no {MLPROJECT_FILE} file; 'project' must be an MLflow project")
    declared = (yaml.safe_load(spec.read_text()) or {}).get("entry_points") or {}
    if entry_point not in declared and not (root / entry_point).is_file():
        raise ValueError(
            f"{entry_point!r} is not an entry point of {spec}; choose one of: {', '.join(sorted(declared))}"
        )


def is_remote(project: str) -> bool:
    """A Git URI (``https://...``, ``git@host:...``), not a local path."""
    return "://" in project or project.startswith("git@")


def find_project(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` with an MLproject file."""
    return next((d for d in (start, *start.parents) if (d / MLPROJECT_FILE).is_file()), None)
