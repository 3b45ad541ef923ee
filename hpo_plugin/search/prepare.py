"""Prepare a search: validate everything that needs the data, before anything is written.

Nothing is written to MLflow until the config, the data, the space and the algorithm have all
been checked, so a bad input never leaves a run behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpo_plugin.algorithms import AlgorithmInput, Suggest, build_algorithm
from hpo_plugin.config import ExperimentConfig, local_master_cores
from hpo_plugin.data import Dataset, prepare
from hpo_plugin.errors import ConfigError, SpaceError
from hpo_plugin.executors import EXECUTORS, Executor
from hpo_plugin.models.startpoints import start_points
from hpo_plugin.objectives import Objective, build_objective, check_objective
from hpo_plugin.space import SearchSpace


@dataclass(frozen=True)
class PreparedSearch:
    """A fully validated search, ready to run bare or tracked."""

    config: ExperimentConfig
    dataset: Dataset | None  # None: a function objective without a 'data:' section
    objective: Objective
    suggest: Suggest
    space: SearchSpace


def threads_per_trial(config: ExperimentConfig) -> int:
    """Never oversubscribe: one core is left to the trial writer, the rest shared by the trials
    in flight. Trials on remote Spark executors get one thread unless the config says more."""
    executor = config.executor
    if config.search.threads_per_trial:
        return config.search.threads_per_trial
    if executor.name == "spark" and local_master_cores(executor.master) is None:
        return 1
    return max(1, ((os.cpu_count() or 1) - 1) // executor.workers)


def executor_of(config: ExperimentConfig) -> Executor:
    """The experiment's executor, if it exists and can run here (else a ConfigError)."""
    name = config.executor.name
    if name not in EXECUTORS:
        choices = ", ".join(sorted(EXECUTORS))
        raise ConfigError(
            config.source, "executor.name", f"unknown executor {name!r}; choose one of: {choices}"
        )
    if problem := EXECUTORS[name].missing():
        raise ConfigError(config.source, "executor.name", problem)
    return EXECUTORS[name]


def prepare_search(config: ExperimentConfig, objective: Callable | None = None) -> PreparedSearch:
    """Load the data and check every cross-section constraint; raises HpoError subclasses.

    ``objective`` is a training function given in Python instead of ``objective.function``.
    """
    executor_of(config)
    dataset = None
    if config.data is not None:
        dataset = prepare(config.data, config.objective.validation, config.base_dir, config.source)
    check_objective(config, dataset.task if dataset else None, objective)
    # The tuned tpe's first trials: each model family's library defaults (none for a function).
    start = start_points(config, dataset.task) if config.candidates else ()
    suggest = _algorithm(config, start)
    built = build_objective(config, dataset, threads_per_trial(config), objective)
    return PreparedSearch(config, dataset, built, suggest, config.search_space)


def _algorithm(config: ExperimentConfig, start: tuple[dict[str, Any], ...]) -> Suggest:
    """The registered algorithm for the space, or a suggest function given in Python as it is."""
    algo = config.search.algo
    if callable(algo):
        return algo
    try:
        raw_tpe = config.search.tpe.settings if config.search.tpe else None
        spec = AlgorithmInput(config.space, config.search.seed, start, raw_tpe, config.objective.tradeoffs)
        return build_algorithm(algo, spec)
    except SpaceError as exc:
        raise ConfigError(config.source, "search.algo", str(exc)) from None
