"""The trial objective's interface: what every kind of objective gives the executors.

An objective turns one point of the space (plain params) into a loss, metrics and a fitted
model, and refits the best point at the end. It holds no MLflow state, so the same object
runs bare (benchmarks), in the search process, in a local worker process and in a Spark task
(it must pickle).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from hpo_plugin.pruners import Reporter
from hpo_plugin.tracking.records import TrialLog


class TrialFailed(Exception):
    """The trial produced no usable loss (an error, NaN or inf)."""


@dataclass(frozen=True)
class TrialOutcome:
    """What a finished trial reports: loss for hyperopt, metrics and model for MLflow, and what
    its own code logged (a function objective's trial handle)."""

    loss: float
    metrics: dict[str, float]
    model: Any
    log: TrialLog | None = None
    model_id: str | None = None  # a model the trial's own code already logged in its run


@runtime_checkable
class Objective(Protocol):
    """One search's trial function, as every executor calls it."""

    n_threads: int  # the thread budget of one trial (BLAS/OpenMP pools are limited to it)
    # True: the final model is the best params refit on train+validation and tested once
    # (``refit_and_test``); False: the final model is the best trial's own model.
    refits: bool
    # True: its own code logs to MLflow, so each trial's run must exist before it starts, and
    # ``evaluate`` gets ``run=(tracking_uri, run_id)`` to make it MLflow's active run.
    uses_mlflow: bool

    def evaluate(
        self, params: Mapping[str, Any], run: tuple[str, str] | None = None, reporter: Reporter | None = None
    ) -> TrialOutcome:
        """Run one trial; raise (TrialFailed or anything else) to fail it.

        ``reporter`` takes the trial's values step by step where the objective has steps
        (boosting rounds, folds, a function's ``trial.report``); when it says so, the objective
        raises :class:`~hpo_plugin.pruners.TrialPruned`.
        """
        ...

    def refit_and_test(self, params: Mapping[str, Any]) -> tuple[Any, dict[str, float]]:
        """The final model for the best params and its ``test_*`` metrics."""
        ...
