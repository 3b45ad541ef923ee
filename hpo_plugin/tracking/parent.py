"""The search's parent run: open it, record the setup, and write the summary at the end."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from mlflow.entities import DatasetInput, InputTag, Run
from mlflow.tracking import MlflowClient

# MLflow applies its run-context providers (source, git commit, user, ours from the plugin)
# in ``mlflow.start_run`` only; ``MlflowClient.create_run`` does not, and MLflow has no
# public function for them. This is the one import of it (checked against MLflow 3.17).
from mlflow.tracking.context.registry import resolve_tags

from hpo_plugin.errors import TrackingError
from hpo_plugin.space import flatten
from hpo_plugin.tracking.client import get_or_create_experiment, log_batch, retrying
from hpo_plugin.tracking.records import RUNNING, TrialRecord
from hpo_plugin.tracking.run_context import search_context
from hpo_plugin.tracking.schema import (
    BEST_NUMBER_TAG,
    BEST_PARAM_PREFIX,
    BEST_RUN_TAG,
    DATASET_CONTEXT_TAG,
    DATASET_DIGEST_TAG,
    EXPERIMENT_FILE_TAG,
    FINAL_MODEL_TAG,
    FINAL_ROLE,
    LOSS_METRIC,
    REGISTER_NAME_TAG,
    ROLE_TAG,
    RUN_NAME_TAG,
    SEARCH_ROLE,
    SPACE_PARAM_PREFIX,
    TEST_DIGEST_TAG,
    TRADEOFFS_TAG,
    TRIAL_ROLE,
    param_key,
    params_as_logged,
    run_name,
    search_tags,
    tradeoffs_tag,
)


def open_parent(
    client: MlflowClient, config, experiment_name: str | None = None, run_id: str | None = None
) -> Run:
    """``run_id`` (a RUNNING run of the caller's), the run ``mlflow run`` made for us
    (MLFLOW_RUN_ID), or a new one in the experiment."""
    callers = run_id is not None
    run_id = run_id or os.environ.get("MLFLOW_RUN_ID")
    given = f"run {run_id}" if callers else f"MLFLOW_RUN_ID={run_id}"
    if run_id:
        try:
            run = client.get_run(run_id)
        except Exception:
            raise TrackingError(f"{given} is not a run in this store; unset it") from None
        if run.info.status != RUNNING:
            raise TrackingError(f"{given} is {run.info.status}, not RUNNING; unset it")
        # mlflow run's run is named for us; a caller's own run keeps its name.
        named = {} if callers else {RUN_NAME_TAG: run_name(config)}
        log_batch(client, run_id, tags={**named, ROLE_TAG: SEARCH_ROLE})
        return run
    experiment_id = get_or_create_experiment(client, experiment_name or config.mlflow_experiment_name)
    # The role is there from the start, so even a search killed in its first second can resume.
    tags = {**resolve_tags(), ROLE_TAG: SEARCH_ROLE}
    return client.create_run(experiment_id, run_name=run_name(config), tags=tags)


def trial_tags(config, parent_run_id: str) -> dict[str, str]:
    """Every trial's tags: MLflow's run context (as ``mlflow.start_run`` would set), ours, the role."""
    with search_context(parent_run_id, config.digest):  # what our run-context provider reads
        context = resolve_tags()
    return {**context, **search_tags(config, parent_run_id), ROLE_TAG: TRIAL_ROLE}


def space_params(space) -> dict[str, str]:
    """The parent's ``space.<label>`` params: every searched param, nested branches included."""
    return {f"{SPACE_PARAM_PREFIX}{param_key(p.label)}": p.describe() for p in flatten(space)}


def setup_payload(prepared, run_id: str) -> dict:
    """The experiment file, the resolved settings and the dataset, as plain data."""
    config, data = prepared.config, prepared.dataset
    params: dict[str, object] = {
        "search.algo": config.search.algo_name,
        "search.max_evals": config.search.max_evals,
        "search.seed": config.search.seed,
        "search.timeout": config.search.timeout,
        "search.trial_timeout": config.search.trial_timeout,
        "search.trial_memory_mb": config.search.trial_memory_mb,
        "search.threads_per_trial": prepared.objective.n_threads,
        "search.executor": config.executor.name,
        "search.parallelism": config.executor.workers,
        "search.early_stop": config.search.early_stop.model_dump_json(exclude_none=True)
        if config.search.early_stop
        else None,
        "objective.metric": config.objective.metric or LOSS_METRIC,
        "objective.direction": "maximize" if config.objective.maximize else "minimize",
        "register.enabled": config.registration.enabled,
        "register.model_name": config.registered_model_name,
        "register.margin": config.registration.margin,
    }
    if config.objective.entry_point is not None:
        params["objective.entry_point"] = config.objective.entry_point
        params["objective.project"] = config.objective.project or "(the experiment's project)"
    elif config.uses_function:
        params["objective.function"] = config.objective.function or "(given in Python)"
    else:
        params["model.families"] = ",".join(m.name for m in config.candidates)
    for candidate in config.candidates:
        params.update({f"model.{candidate.name}.{k}": v for k, v in candidate.params.items()})
    params.update(space_params(config.space))
    tags = {
        **search_tags(config, run_id),
        ROLE_TAG: SEARCH_ROLE,
        EXPERIMENT_FILE_TAG: config.source,
        REGISTER_NAME_TAG: config.registered_model_name,
    }
    if config.objective.tradeoffs.active:
        tags[TRADEOFFS_TAG] = tradeoffs_tag(config.objective.tradeoffs)
    if data is not None:
        params.update(
            {
                "objective.validation": _validation(config),
                "data.source": data.source,
                "data.target": data.target,
                "data.task": data.task,
                "data.test_size": config.data.test_size,
                "data.split_seed": config.data.split_seed,
                "data.rows_search": len(data.X_search),
                "data.rows_test": len(data.X_test),
            }
        )
        tags[TEST_DIGEST_TAG] = data.test_digest
    return {
        "run_id": run_id,
        "params": params,
        "tags": tags,
        "dataset": (data.frame, data.source, data.target, data.name) if data is not None else None,
        "config": (config.raw_text, f"config/{Path(config.source).name or 'experiment.yaml'}"),
    }


def write_setup(runs, payload: dict) -> dict:
    """Log a :func:`setup_payload` (runs in the trial writer, overlapping the first trials).

    ``runs`` is the writer's :class:`~hpo_plugin.tracking.writer.ChildRuns`.
    """
    import mlflow.data

    client, run_id = runs.client, payload["run_id"]
    tags, dataset = dict(payload["tags"]), None
    if payload["dataset"] is not None:
        frame, source, target, name = payload["dataset"]
        with warnings.catch_warnings():  # a bundled dataset's name is not a path; MLflow says so
            warnings.simplefilter("ignore", UserWarning)
            dataset = mlflow.data.from_pandas(frame, source=source, targets=target, name=name)
        tags[DATASET_DIGEST_TAG] = dataset.digest
    log_batch(client, run_id, params=payload["params"], tags=tags)
    if dataset is not None:
        context = [InputTag(DATASET_CONTEXT_TAG, "search")]
        # MlflowClient.log_inputs takes the entity, and a Dataset's public API has no conversion
        # to it (mlflow.log_input does the same call, for the active run only; MLflow 3.17).
        entity = dataset._to_mlflow_entity()
        retrying(client.log_inputs, run_id, datasets=[DatasetInput(entity, tags=context)])
    client.log_text(run_id, *payload["config"])
    return {"dataset_digest": dataset.digest} if dataset is not None else {}


def write_final_model(runs, run_id: str, model) -> dict:
    """Log the refit best model on the parent run (runs in the trial writer)."""
    return {"model_id": runs.models.log(run_id, model, tags={ROLE_TAG: FINAL_ROLE})}


def _validation(config) -> str:
    v = config.objective.validation
    return f"holdout={v.holdout}" if v.holdout is not None else f"cv={v.cv}"


def trials_table(records: Iterable[TrialRecord]) -> pd.DataFrame:
    """One row per trial: number, status, loss, duration, run id, params and metrics."""
    rows = []
    for r in records:
        duration = (r.end_ms - r.start_ms) / 1000 if r.end_ms else None
        row = {"number": r.number, "status": r.status, "pruned_step": r.pruned_step, "loss": r.loss}
        row["duration_s"] = duration
        row.update({"run_id": r.run_id, "model_id": r.model_id, "error": r.error})
        row.update({f"param_{k}": v for k, v in r.params.items()})
        row.update({f"metric_{k}": v for k, v in r.metrics.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _unless_logged(
    client: MlflowClient, run_id: str, params: dict[str, object], tags: dict[str, str]
) -> tuple[dict[str, object], dict[str, str]]:
    """The best params as params, unless a continued search's parent logged others already
    (MLflow params never change): then as tags of the same names, which readers prefer."""
    logged = client.get_run(run_id).data.params
    if all(logged.get(k, str(v)) == str(v) for k, v in params.items()):
        return params, tags
    return {}, {**tags, **{k: str(v) for k, v in params.items()}}


def log_summary(
    client: MlflowClient,
    run_id: str,
    records: list[TrialRecord],
    best: TrialRecord | None,
    test_metrics: dict[str, float],
    model_id: str | None,
) -> None:
    """Best trial, counts and the trials table on the parent run."""
    metrics: dict[str, float] = {
        "n_trials": len(records),
        "n_trials_ok": sum(r.status == "FINISHED" and not r.pruned for r in records),
        "n_trials_pruned": sum(r.pruned for r in records),
        "n_trials_failed": sum(r.status == "FAILED" for r in records),
        **test_metrics,
    }
    params: dict[str, object] = {}
    tags: dict[str, str] = {}
    if best is not None:
        metrics[f"best_{LOSS_METRIC}"] = best.loss
        metrics.update({f"best_{k}": v for k, v in best.metrics.items()})
        params = params_as_logged({f"{BEST_PARAM_PREFIX}{k}": v for k, v in best.params.items()})
        tags = {BEST_RUN_TAG: best.run_id, BEST_NUMBER_TAG: str(best.number)}
        params, tags = _unless_logged(client, run_id, params, tags)
    if model_id:
        tags[FINAL_MODEL_TAG] = model_id
    log_batch(client, run_id, params=params, metrics=metrics, tags=tags)
    buffer = io.StringIO()
    trials_table(records).to_csv(buffer, index=False)
    client.log_text(run_id, buffer.getvalue(), "trials.csv")
