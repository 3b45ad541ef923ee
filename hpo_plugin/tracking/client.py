"""MLflow client helpers every writer uses: the store's first use, retries, runs, batched logs."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import mlflow
import sqlalchemy.exc
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from hpo_plugin.errors import TrackingError
from hpo_plugin.tracking.records import now_ms
from hpo_plugin.tracking.schema import PARENT_RUN_TAG, RUN_NAME_TAG
from hpo_plugin.tracking.sqlite import SCHEME, relax_syncs, sqlite_path, use_wal

PARAM_VALUE_LIMIT = 6000
# For MLflow in helper processes (trial writer, Spark tasks): trial runs log synchronously
# (async logging makes each short run's end wait ~1 s), and a tracking server's client must
# not print two links (and fetch the run again) per trial.
QUIET_MLFLOW = {"MLFLOW_ENABLE_ASYNC_LOGGING": "false", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


def param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= PARAM_VALUE_LIMIT else text[: PARAM_VALUE_LIMIT - 3] + "..."


def absolute_uri(uri: str) -> str:
    """A relative sqlite path means this process's directory, wherever another process runs."""
    path = sqlite_path(uri)
    if path is None or os.path.isabs(path):
        return uri
    return SCHEME + os.path.abspath(path) + uri.removeprefix(SCHEME + path)  # the ?query kept


RETRYABLE = ("database is locked", "UNIQUE constraint failed", "deadlock detected")


def retrying(call, *args, attempts: int = 6, **kwargs):
    """Call an MLflow client method, retrying with backoff where concurrent writers collide.

    sqlite has a single writer, and MLflow's get-or-create of shared rows (datasets, tags) is
    not atomic: a second search doing the same insert at the same moment fails once, then finds
    the row. Other errors are raised at once.
    """
    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except (mlflow.exceptions.MlflowException, sqlalchemy.exc.DBAPIError) as exc:
            # sqlite's "UNIQUE constraint failed" on an alias row can surface unwrapped.
            if attempt == attempts - 1 or not any(text in str(exc) for text in RETRYABLE):
                raise
            time.sleep(0.05 * 2**attempt)
    return None


def prepare_store(tracking_uri: str) -> None:
    """Create or migrate a sqlite store once, under a file lock, before any work starts, put it
    in WAL journal mode and relax this process's syncs (:mod:`hpo_plugin.tracking.sqlite`).

    MLflow creates and migrates the schema on first use; several searches starting together on
    a new file would run those migrations at the same time and break each other.
    """
    path = sqlite_path(tracking_uri)
    if path is None:
        return
    import fcntl

    relax_syncs(tracking_uri)
    db = Path(path)
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".hpo-init.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        use_wal(str(db))  # first: the connections MLflow opens next see WAL and relax their syncs
        MlflowClient(tracking_uri).search_experiments(max_results=1)


def get_or_create_experiment(client: MlflowClient, name: str) -> str:
    """Experiment id by name, created if missing; safe against a concurrent creator."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage != "active":
            raise TrackingError(
                f"experiment {name!r} is deleted; restore it in the MLflow UI or set "
                "mlflow_experiment to another name"
            )
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except mlflow.exceptions.MlflowException:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def create_child_run(
    client: MlflowClient,
    experiment_id: str,
    parent_run_id: str,
    name: str,
    tags: Mapping[str, str],
    start_time: int,
) -> str:
    run = retrying(
        client.create_run,
        experiment_id,
        start_time=start_time,
        tags={**tags, PARENT_RUN_TAG: parent_run_id, RUN_NAME_TAG: name},
        run_name=name,
    )
    return run.info.run_id


def log_batch(
    client: MlflowClient,
    run_id: str,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, Any] | None = None,
    history: Iterable[tuple[str, float, int]] = (),
) -> None:
    """One request for params, metrics, metric ``(key, value, step)`` history and tags.

    A metric that also has history is its curve's last point: logged at the curve's last step
    (replacing the value reported there), a millisecond later, so MLflow takes it as the
    metric's latest value.
    """
    ts = now_ms()
    history = list(history)
    last = {}
    for key, _, step in history:
        last[key] = max(step, last.get(key, step))
    finals = {k: v for k, v in (metrics or {}).items() if k in last}
    retrying(
        client.log_batch,
        run_id,
        metrics=[Metric(k, float(v), ts, 0) for k, v in (metrics or {}).items() if k not in finals]
        + [Metric(k, float(v), ts, step) for k, v, step in history if not (k in finals and step == last[k])]
        + [Metric(k, float(v), ts + 1, last[k]) for k, v in finals.items()],
        params=[Param(k, param_value(v)) for k, v in (params or {}).items()],
        tags=[RunTag(k, param_value(v)) for k, v in (tags or {}).items()],
        synchronous=True,
    )


def end_run(client: MlflowClient, run_id: str, status: str, end_time: int | None = None) -> None:
    retrying(client.set_terminated, run_id, status=status, end_time=end_time or now_ms())
