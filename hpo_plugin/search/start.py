"""Open a search in MLflow: its history, its parent run, and the trial writer it logs through.

Nothing here runs a trial: it leaves a :class:`~hpo_plugin.executors.context.TrialContext`
ready for an executor, with the search's settings and dataset on their way to the parent run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import mlflow
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from hpo_plugin.config import ExperimentConfig
from hpo_plugin.executors.context import TrialContext
from hpo_plugin.executors.trial import Numbers
from hpo_plugin.models.logged import ModelLogger
from hpo_plugin.search.history import (
    History,
    WarmStart,
    check_budget,
    check_resumable,
    load_history,
    warm_start,
)
from hpo_plugin.search.prepare import PreparedSearch
from hpo_plugin.space import flatten
from hpo_plugin.tracking.client import log_batch
from hpo_plugin.tracking.parent import open_parent, setup_payload, trial_tags, write_setup
from hpo_plugin.tracking.writer import TrialWriter, WriterSpec


@dataclass(frozen=True)
class OpenSearch:
    """A search with its parent run open and its trial writer started."""

    ctx: TrialContext
    parent: Run
    models: ModelLogger
    warm: WarmStart | None
    started: float  # perf_counter when the parent run was open: what the search's time counts from

    @property
    def parent_id(self) -> str:
        return self.parent.info.run_id


def open_search(
    client: MlflowClient,
    prepared: PreparedSearch,
    experiment_name: str | None,
    resume: str | None,
    progress: bool,
    parent_run_id: str | None = None,
) -> OpenSearch:
    """Warm start, the parent run (new, given or resumed), and the trial writer for the trials."""
    config = prepared.config
    warm = _warm_start(client, config)
    history = warm.history if warm else None
    parent, history = _parent(client, config, experiment_name, resume, history, parent_run_id)
    started = time.perf_counter()
    _log_warm_start(client, parent, config, warm)
    models = _model_logger(client, prepared, parent.info.experiment_id)
    ctx = _start_trials(prepared, parent, models, history, progress)
    return OpenSearch(ctx, parent, models, warm, started)


def _model_logger(client: MlflowClient, prepared: PreparedSearch, experiment_id: str) -> ModelLogger:
    """Built-in objectives' models answer in the user's columns and labels; a function's model
    is the user's own, logged as it is with the signature of the data it was given."""
    data = prepared.dataset
    if data is not None and prepared.config.objective.builtin:
        return ModelLogger.serving(client, experiment_id, data)
    X, y = (data.X_search, data.y_search) if data else (None, None)
    return ModelLogger.for_data(client, experiment_id, X, y)


def _labels(config: ExperimentConfig) -> list[str]:
    return [p.label for p in flatten(config.space)]


def _warm_start(client: MlflowClient, config: ExperimentConfig) -> WarmStart | None:
    if not config.search.warm_start:
        return None
    return warm_start(client, list(config.search.warm_start), config, _labels(config))


def _parent(
    client: MlflowClient,
    config: ExperimentConfig,
    experiment_name: str | None,
    resume: str | None,
    history: History | None,
    parent_run_id: str | None = None,
) -> tuple[Run, History | None]:
    """A new (or given) parent run, or the resumed one (RUNNING again) with its trials added to
    ``history``."""
    if not resume:
        return open_parent(client, config, experiment_name, parent_run_id), history
    parent = check_resumable(client, resume, config)
    history = load_history(client, resume, config, _labels(config), history)
    check_budget(parent, history, config)
    client.update_run(resume, status="RUNNING")
    return parent, history


def _log_warm_start(
    client: MlflowClient, parent: Run, config: ExperimentConfig, warm: WarmStart | None
) -> None:
    if warm:
        log_batch(
            client,
            parent.info.run_id,
            params={"search.warm_start": ",".join(config.search.warm_start)},
            metrics={"n_warm_start_trials": warm.used, "n_warm_start_skipped": warm.skipped},
        )


def _start_trials(
    prepared: PreparedSearch, parent: Run, models: ModelLogger, history: History | None, progress: bool
) -> TrialContext:
    """The trial writer, and the search's settings and dataset handed to it (unless resumed)."""
    parent_id = parent.info.run_id
    spec = WriterSpec(
        mlflow.get_tracking_uri(),
        parent.info.experiment_id,
        parent_id,
        trial_tags(prepared.config, parent_id),
        models.signature,
        models.input_example,
        models.served,
        keeps_front=prepared.config.objective.tradeoffs.active,
        trials_in_search_process=in_search_process(prepared.config),
    )
    writer = TrialWriter(spec, history=history.records if history else ())
    # A resumed search's settings are logged already, unless it died before its writer did that.
    if "search.algo" not in parent.data.params:
        writer.call("setup", write_setup, setup_payload(prepared, parent_id))
    numbers = Numbers(history.next_number if history else 1)
    return TrialContext(prepared, writer, spec, history, progress, numbers)


def in_search_process(config: ExperimentConfig) -> bool:
    """Whether the trials' code runs in the search process itself (sequential, no trial limits)."""
    return config.executor.name == "sequential" and not config.search.limits_trials
