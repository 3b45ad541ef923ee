"""The trial objective: what one trial computes, behind one small interface.

- :mod:`.base`: the :class:`Objective` protocol (``evaluate(params)``, ``refit_and_test(params)``,
  ``n_threads``), :class:`TrialOutcome` and :class:`TrialFailed`;
- :mod:`.estimator`: the built-in kind, a model family's estimator fitted and scored per fold;
- :mod:`.function`: the user's own training function (hyperopt's protocol, plus a trial handle);
- :mod:`.entry_point`: an MLproject entry point run as each trial, inside the trial's run;
- :mod:`.families`: the model-family registry (a new built-in family goes there);
- :mod:`.startpoints`: each family's library defaults as the tuned ``tpe``'s first trial.

A new kind of objective is a new module here implementing :class:`Objective`;
:func:`check_objective` and :func:`build_objective` are where the experiment picks its kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hpo_plugin.errors import ConfigError
from hpo_plugin.objectives.base import Objective, TrialFailed, TrialOutcome
from hpo_plugin.objectives.entry_point import EntryPointObjective, check_entry_point, find_project, is_remote
from hpo_plugin.objectives.estimator import EstimatorObjective
from hpo_plugin.objectives.function import (
    FunctionObjective,
    Trial,
    check_signature,
    dumps_function,
    load_function,
)

if TYPE_CHECKING:
    from hpo_plugin.config import ExperimentConfig
    from hpo_plugin.data import Dataset

__all__ = [
    "EntryPointObjective",
    "EstimatorObjective",
    "FunctionObjective",
    "Objective",
    "Trial",
    "TrialFailed",
    "TrialOutcome",
    "build_objective",
    "check_objective",
]


def check_objective(config: ExperimentConfig, task: str | None, fn: Callable | None = None) -> None:
    """Raise ConfigError unless the experiment's objective fits its data (``task``; None: no data).

    ``fn`` is a function given in Python (``run_search(config, objective=fn)``).
    """
    if not config.uses_function:
        if fn is not None:
            raise ConfigError(
                config.source,
                "objective",
                "objective= needs a top-level 'space' and no 'model'; move the space",
            )
        EstimatorObjective.check(config, task)
        return
    if config.objective.entry_point is not None:
        try:
            check_entry_point(project_of(config), config.objective.entry_point)
        except ValueError as exc:
            raise ConfigError(config.source, "objective.entry_point", str(exc)) from None
        return
    key = "objective.function"
    if fn is None and config.objective.function is None:
        raise ConfigError(
            config.source, key, "give your function as 'file.py:name' or pass objective= to run_search"
        )
    try:
        if fn is not None:
            check_signature(fn, getattr(fn, "__name__", "objective"))
        else:
            load_function(config.objective.function, str(config.base_dir.resolve()))
    except ValueError as exc:
        raise ConfigError(config.source, key, str(exc)) from None
    in_workers = config.executor.name != "sequential" or config.search.limits_trials
    if fn is not None and in_workers and (problem := _unshippable(fn)):
        limited = config.executor.name == "sequential"
        raise ConfigError(
            config.source,
            "search.trial_timeout" if limited else "executor.name",
            f"{'limited trials run in worker processes' if limited else f'{config.executor.name} workers'}"
            f" get the function by value and it cannot be pickled ({problem}); keep what it uses "
            f"picklable, or run it {'without trial limits' if limited else 'with executor sequential'}",
        )


def build_objective(
    config: ExperimentConfig, dataset: Dataset | None, n_threads: int, fn: Callable | None = None
) -> Objective:
    """The experiment's objective for ``dataset``, with a per-trial thread budget."""
    objective = config.objective
    if objective.entry_point is not None:
        return EntryPointObjective(
            project_of(config),
            objective.entry_point,
            objective.metric,
            n_threads,
            objective.maximize,
            objective.env_manager,
            objective.tradeoffs.names,
        )
    if config.uses_function:
        spec = None if fn is not None else config.objective.function
        return FunctionObjective(
            spec,
            str(config.base_dir.resolve()),
            dataset,
            n_threads,
            config.objective.maximize,
            fn,
            config.objective.active_run,
            point_only=config.space_expression is not None,
        )
    return EstimatorObjective(config, dataset, n_threads)


def project_of(config: ExperimentConfig) -> str:
    """The entry point's project: a Git URI as given, a local path made absolute (relative to
    the experiment file), or the nearest directory with an MLproject file above the experiment."""
    project, base_dir = config.objective.project, config.base_dir.resolve()
    if project is not None and is_remote(project):
        return project
    if project is not None:
        return str((base_dir / project).resolve())
    return str(find_project(base_dir) or base_dir)


def _unshippable(fn: Callable) -> str | None:
    """Why ``fn`` cannot travel to a worker (pickled as it will be), or None."""
    try:
        dumps_function(fn)
    except Exception as exc:
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    return None
