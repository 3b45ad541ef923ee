"""Read-only views of searches in MLflow for the CLI: list, show (a search, or one trial), compare.

Every view reads MLflow only (parent runs, their children in one query, registry tags).
"""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from hpo_plugin.errors import TrackingError
from hpo_plugin.tracking.schema import (
    BEST_PARAM_PREFIX,
    ERROR_FILE,
    ERROR_TAG,
    ROLE_TAG,
    SEARCH_ROLE,
    SEARCH_TAG,
    TRIAL_NUMBER_TAG,
    TRIAL_ROLE,
    SearchTrials,
    completed,
    load_trials,
    paged,
    search_parent,
    tradeoffs_of,
)


def experiment_id(client: MlflowClient, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        names = ", ".join(sorted(e.name for e in client.search_experiments())) or "none"
        raise TrackingError(f"no MLflow experiment named {name!r}; experiments here: {names}")
    return experiment.experiment_id


LIST_COLUMNS = (
    "experiment", "run_id", "name", "status", "algo", "budget", "trials_ok", "metric", "best_val", "test",
)  # fmt: skip


def list_searches(client: MlflowClient, experiment: str | None = None) -> pd.DataFrame:
    """One row per search parent run, newest first: in ``experiment``, or in every active one."""
    if experiment is not None:
        names = {experiment_id(client, experiment): experiment}
    else:
        names = {e.experiment_id: e.name for e in _all_experiments(client)}
    rows = []
    for run in _search_runs(client, list(names)):
        params, metrics = run.data.params, run.data.metrics
        metric = params.get("objective.metric", "")
        rows.append(
            {
                "experiment": names.get(run.info.experiment_id, run.info.experiment_id),
                "run_id": run.info.run_id,
                "name": run.info.run_name,
                "status": run.info.status,
                "algo": params.get("search.algo"),
                "budget": params.get("search.max_evals"),
                "trials_ok": metrics.get("n_trials_ok"),
                "metric": metric,
                "best_val": metrics.get(f"best_val_{metric}", metrics.get("best_loss")),  # function: loss
                "test": metrics.get(f"test_{metric}"),
            }
        )
    return pd.DataFrame(rows, columns=list(LIST_COLUMNS))


def _all_experiments(client: MlflowClient) -> list:
    return list(paged(client.search_experiments, max_results=1000))


def _search_runs(client: MlflowClient, experiment_ids: list[str]) -> list:
    """The search parent runs of the experiments, newest first."""
    if not experiment_ids:
        return []
    query = f"tags.`{ROLE_TAG}` = '{SEARCH_ROLE}'"
    order = ["attributes.start_time DESC"]
    return list(paged(client.search_runs, experiment_ids, query, order_by=order, max_results=5000))


def search_trials(client: MlflowClient, run_id: str) -> SearchTrials:
    """The trials of search ``run_id`` (read once for every view of them); an error if it is not one."""
    return load_trials(client, run_id, search_parent(client, run_id))


def top_trials(trials: SearchTrials, k: int) -> pd.DataFrame:
    """The k best finished trials (lowest loss), with their params and the objective metric."""
    frame = trials.frame
    if frame.empty:
        return frame
    columns = ["number", "status", "loss", "run_id"] + [c for c in frame.columns if c.startswith("param_")]
    best = completed(frame).nsmallest(k, "loss")[columns]
    return best.rename(columns=lambda c: c.removeprefix("param_"))


def pareto_front(trials: SearchTrials) -> pd.DataFrame | None:
    """The trials on a search's Pareto front (its runs tagged ``hpo.pareto``), by loss: number,
    loss, each further objective and constrained metric, run id, params. None: the search has
    no trade-offs."""
    tradeoffs = tradeoffs_of(trials.parent.data.tags)
    if not tradeoffs.active:
        return None
    frame = trials.frame
    if frame.empty or "pareto" not in frame:
        return pd.DataFrame()
    named = [f"metric_{n}" for n in tradeoffs.names if f"metric_{n}" in frame]
    columns = ["number", "loss", *named, "run_id"] + [c for c in frame.columns if c.startswith("param_")]
    on = frame[frame["pareto"].eq(True)].sort_values("loss")[columns]
    return on.rename(columns=lambda c: c.removeprefix("param_").removeprefix("metric_")).reset_index(
        drop=True
    )


def registered_versions(client: MlflowClient, run_id: str) -> list[str]:
    """'name vN (aliases)' for every registry version made from this search."""
    found = []
    for model in client.search_registered_models(max_results=1000):
        for version in client.search_model_versions(f"name='{model.name}'", max_results=10_000):
            if version.tags.get(SEARCH_TAG) == run_id:
                aliases = [a for a, v in model.aliases.items() if str(v) == str(version.version)]
                found.append(
                    f"{model.name} v{version.version}" + (f" ({', '.join(aliases)})" if aliases else "")
                )
    return found


def summary(client: MlflowClient, run_id: str) -> dict[str, object]:
    """The search's settings and results as one flat mapping (for show and compare)."""
    run = search_parent(client, run_id)
    params, metrics = run.data.params, run.data.metrics
    out: dict[str, object] = {"run_id": run_id, "name": run.info.run_name, "status": run.info.status}
    out.update(
        {k: v for k, v in params.items() if k.startswith(("search.", "objective.", "data.", "model."))}
    )
    out.update({k: v for k, v in sorted(metrics.items()) if not k.startswith("importance_")})
    out.update({k: v for k, v in params.items() if k.startswith(BEST_PARAM_PREFIX)})
    importances = {k: v for k, v in metrics.items() if k.startswith("importance_")}
    out.update(sorted(importances.items(), key=lambda kv: -kv[1]))  # most important first
    return out


def compare(client: MlflowClient, run_ids: list[str]) -> pd.DataFrame:
    """Searches side by side: one column per search, one row per setting or result."""
    columns = {run_id: summary(client, run_id) for run_id in run_ids}
    return pd.DataFrame(columns)


def trial(client: MlflowClient, run_id: str) -> dict[str, object]:
    """One trial: its number, status, params, metrics, ``hpo.error`` and (a failed trial's)
    whole traceback from its ``error.txt``."""
    try:
        run = client.get_run(run_id)
    except Exception:
        raise TrackingError(f"run {run_id}: no such run in this tracking store; check the run id") from None
    if run.data.tags.get(ROLE_TAG) != TRIAL_ROLE:
        raise TrackingError(
            f"run {run_id}: not a trial run; `hpo show <search run id>` lists a search's trials"
        )
    try:
        traceback = client.download_artifacts(run_id, ERROR_FILE)
        with open(traceback) as file:
            text = file.read()
    except Exception:  # no error.txt: the trial did not fail in its code
        text = None
    return {
        "run_id": run_id,
        "trial": int(run.data.tags.get(TRIAL_NUMBER_TAG, 0)),
        "status": run.info.status,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "error": run.data.tags.get(ERROR_TAG),
        "traceback": text,
    }
