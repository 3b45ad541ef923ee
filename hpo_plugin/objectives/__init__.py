"""The trial objective: what one trial computes, behind one small interface.

- :mod:`.base`: the :class:`Objective` protocol (``evaluate(params)``, ``refit_and_test(params)``,
  ``n_threads``), :class:`TrialOutcome` and :class:`TrialFailed`;
- :mod:`.estimator`: the built-in kind, a model family's estimator fitted and scored per fold;
- :mod:`.families`: the model-family registry (a new built-in family goes there);
- :mod:`.startpoints`: each family's library defaults as the tuned ``tpe``'s first trial.

A new kind of objective (a user's estimator, function or MLproject entry point) is a new
module here implementing :class:`Objective`; :func:`check_objective` and
:func:`build_objective` are where the experiment picks its kind (today: always the estimator).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpo_plugin.objectives.base import Objective, TrialFailed, TrialOutcome
from hpo_plugin.objectives.estimator import EstimatorObjective

if TYPE_CHECKING:
    from hpo_plugin.config import ExperimentConfig
    from hpo_plugin.data import Dataset

__all__ = [
    "EstimatorObjective",
    "Objective",
    "TrialFailed",
    "TrialOutcome",
    "build_objective",
    "check_objective",
]


def check_objective(config: ExperimentConfig, task: str) -> None:
    """Raise ConfigError unless the experiment's objective fits a ``task`` dataset."""
    EstimatorObjective.check(config, task)


def build_objective(config: ExperimentConfig, dataset: Dataset, n_threads: int) -> Objective:
    """The experiment's objective for ``dataset``, with a per-trial thread budget."""
    return EstimatorObjective(config, dataset, n_threads)
