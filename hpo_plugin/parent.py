"""The search's parent run: open it, record the setup, and write the summary at the end."""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from mlflow.entities import DatasetInput, InputTag, Run
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_RUN_NAME

from hpo_plugin import __version__
from hpo_plugin.errors import TrackingError
from hpo_plugin.records import RUNNING, TrialRecord
from hpo_plugin.tracking import get_or_create_experiment, log_batch, retrying

ROLE_TAG, SEARCH_TAG = "hpo.role", "hpo.search_id"
CONFIG_DIGEST_TAG, DATASET_DIGEST_TAG = "hpo.config_digest", "hpo.dataset_digest"
VERSION_TAG, BEST_RUN_TAG, FINAL_MODEL_TAG = "hpo.version", "hpo.best_run_id", "hpo.final_model_id"
REGISTER_NAME_TAG = "hpo.register_name"
TEST_DIGEST_TAG = "hpo.test_digest"


def run_name(config) -> str:
    return f"search-{config.name}-{config.search.algo}"


def open_parent(client: MlflowClient, config, experiment_name: str | None = None) -> Run:
    """The run ``mlflow run`` made for us (MLFLOW_RUN_ID), or a new one in the experiment."""
    if run_id := os.environ.get("MLFLOW_RUN_ID"):
        try:
            run = client.get_run(run_id)
        except Exception:
            raise TrackingError(f"MLFLOW_RUN_ID={run_id} is not a run in this store; unset it") from None
        if run.info.status != RUNNING:
            raise TrackingError(f"MLFLOW_RUN_ID={run_id} is {run.info.status}, not RUNNING; unset it")
        log_batch(client, run_id, tags={MLFLOW_RUN_NAME: run_name(config), ROLE_TAG: "search"})
        return run
    experiment_id = get_or_create_experiment(client, experiment_name or config.mlflow_experiment_name)
    # The role is there from the start, so even a search killed in its first second can resume.
    tags = {**resolve_tags(), ROLE_TAG: "search"}
    return client.create_run(experiment_id, run_name=run_name(config), tags=tags)


def search_parent(client: MlflowClient, run_id: str, what: str = "run") -> Run:
    """The parent run of a search, or a TrackingError naming ``what`` was given (an option, say)."""
    try:
        run = client.get_run(run_id)
    except Exception:
        raise TrackingError(
            f"{what} {run_id}: no such run in this tracking store; check the run id"
        ) from None
    if run.data.tags.get(ROLE_TAG) != "search":
        raise TrackingError(f"{what} {run_id}: not a search parent run; `hpo list` shows the searches")
    return run


def search_tags(config, parent_run_id: str) -> dict[str, str]:
    """Tags on the parent and every trial, so any run can be traced to its search."""
    return {
        SEARCH_TAG: parent_run_id,
        CONFIG_DIGEST_TAG: config.digest,
        VERSION_TAG: __version__,
    }


def setup_payload(prepared, run_id: str) -> dict:
    """The experiment file, the resolved settings and the dataset, as plain data."""
    config, data = prepared.config, prepared.dataset
    params: dict[str, object] = {
        "search.algo": config.search.algo,
        "search.max_evals": config.search.max_evals,
        "search.seed": config.search.seed,
        "search.timeout": config.search.timeout,
        "search.threads_per_trial": prepared.objective.n_threads,
        "search.executor": config.executor.name,
        "search.parallelism": config.executor.workers,
        "search.early_stop": config.search.early_stop.model_dump_json(exclude_none=True)
        if config.search.early_stop
        else None,
        "objective.metric": config.objective.metric,
        "objective.direction": "maximize" if config.objective.maximize else "minimize",
        "objective.validation": _validation(config),
        "data.source": data.source,
        "data.target": data.target,
        "data.task": data.task,
        "data.test_size": config.data.test_size,
        "data.split_seed": config.data.split_seed,
        "data.rows_search": len(data.X_search),
        "data.rows_test": len(data.X_test),
        "model.families": ",".join(m.family for m in config.candidates),
        "register.enabled": config.registration.enabled,
        "register.model_name": config.registered_model_name,
        "register.margin": config.registration.margin,
    }
    for candidate in config.candidates:
        params.update({f"model.{candidate.family}.{k}": v for k, v in candidate.params.items()})
    params.update({f"space.{param_key(p.label)}": p.describe() for p in flatten(config.space)})
    tags = {
        **search_tags(config, run_id),
        ROLE_TAG: "search",
        "hpo.experiment_file": config.source,
        REGISTER_NAME_TAG: config.registered_model_name,
        TEST_DIGEST_TAG: data.test_digest,
    }
    return {
        "run_id": run_id,
        "params": params,
        "tags": tags,
        "dataset": (data.frame, data.source, data.target, data.name),
        "config": (config.raw_text, f"config/{Path(config.source).name or 'experiment.yaml'}"),
    }


def write_setup(worker, payload: dict) -> dict:
    """Log a :func:`setup_payload` (runs in the trial writer, overlapping the first trials)."""
    import mlflow.data

    client, run_id = worker.client, payload["run_id"]
    frame, source, target, name = payload["dataset"]
    with warnings.catch_warnings():  # a bundled dataset's name is not a path; MLflow says so
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_pandas(frame, source=source, targets=target, name=name)
    log_batch(
        client, run_id, params=payload["params"], tags={**payload["tags"], DATASET_DIGEST_TAG: dataset.digest}
    )
    context = [InputTag(MLFLOW_DATASET_CONTEXT, "search")]
    retrying(client.log_inputs, run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(), tags=context)])
    client.log_text(run_id, *payload["config"])
    return {"dataset_digest": dataset.digest}


def write_final_model(worker, run_id: str, model) -> dict:
    """Log the refit best model on the parent run (runs in the trial writer)."""
    return {"model_id": worker.models.log(run_id, model, tags={ROLE_TAG: "final"})}


def param_key(label: str) -> str:
    """A hyperopt label as an MLflow param key (which allows only letters, digits and _-./: )."""
    return re.sub(r"[^\w./\- :]", ":", label)


def _validation(config) -> str:
    v = config.objective.validation
    return f"holdout={v.holdout}" if v.holdout is not None else f"cv={v.cv}"


def flatten(space) -> Iterable:
    """Every param of a space, nested branches included."""
    for p in space:
        yield p
        for option in p.options:
            yield from flatten(option.space)


def trials_table(records: Iterable[TrialRecord]) -> pd.DataFrame:
    """One row per trial: number, status, loss, duration, run id, params and metrics."""
    rows = []
    for r in records:
        duration = (r.end_ms - r.start_ms) / 1000 if r.end_ms else None
        row = {"number": r.number, "status": r.status, "loss": r.loss, "duration_s": duration}
        row.update({"run_id": r.run_id, "model_id": r.model_id, "error": r.error})
        row.update({f"param_{k}": v for k, v in r.params.items()})
        row.update({f"metric_{k}": v for k, v in r.metrics.items()})
        rows.append(row)
    return pd.DataFrame(rows)


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
        "n_trials_ok": sum(r.status == "FINISHED" for r in records),
        "n_trials_failed": sum(r.status == "FAILED" for r in records),
        **test_metrics,
    }
    params: dict[str, object] = {}
    tags: dict[str, str] = {}
    if best is not None:
        metrics["best_loss"] = best.loss
        metrics.update({f"best_{k}": v for k, v in best.metrics.items()})
        params = {f"best.{k}": v for k, v in best.params.items()}
        tags = {BEST_RUN_TAG: best.run_id, "hpo.best_trial_number": str(best.number)}
    if model_id:
        tags[FINAL_MODEL_TAG] = model_id
    log_batch(client, run_id, params=params, metrics=metrics, tags=tags)
    buffer = io.StringIO()
    trials_table(records).to_csv(buffer, index=False)
    client.log_text(run_id, buffer.getvalue(), "trials.csv")
