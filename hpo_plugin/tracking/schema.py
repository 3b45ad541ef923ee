"""A search's layout in MLflow: every tag, param and metric name, and the query that reads it back.

A search is a parent run (``hpo.role=search``) whose trials are child runs
(``mlflow.parentRunId``, ``hpo.role=trial``, ``hpo.trial_number``); both carry the search id,
the config digest and the package version. Everything that writes or reads a search (the
writer, resume, warm start, the report, the CLI's views, the champion gate, the run-context
provider) takes the names from here, and reads trials back through :func:`load_trials` alone.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hpo_plugin.errors import TrackingError
from hpo_plugin.tracking.children import child_runs, paged
from hpo_plugin.tradeoffs import NO_TRADEOFFS, Bound, Goal, Tradeoffs
from hpo_plugin.version import __version__

# MLflow's system tags (documented names; mlflow.utils.mlflow_tags holds the same strings).
PARENT_RUN_TAG, RUN_NAME_TAG = "mlflow.parentRunId", "mlflow.runName"
DATASET_CONTEXT_TAG = "mlflow.data.context"
NOTE_TAG = "mlflow.note.content"  # a run's description, shown on its page in the UI

# On the parent and on every trial.
ROLE_TAG, SEARCH_TAG = "hpo.role", "hpo.search_id"
CONFIG_DIGEST_TAG, VERSION_TAG = "hpo.config_digest", "hpo.version"
SEARCH_ROLE, TRIAL_ROLE, FINAL_ROLE = "search", "trial", "final"  # ROLE_TAG values (final: a model)
# On the parent.
DATASET_DIGEST_TAG, TEST_DIGEST_TAG = "hpo.dataset_digest", "hpo.test_digest"
BEST_RUN_TAG, BEST_NUMBER_TAG, FINAL_MODEL_TAG = (
    "hpo.best_run_id",
    "hpo.best_trial_number",
    "hpo.final_model_id",
)
REGISTER_NAME_TAG, EXPERIMENT_FILE_TAG = "hpo.register_name", "hpo.experiment_file"
# On a trial.
TRIAL_NUMBER_TAG, ERROR_TAG = "hpo.trial_number", "hpo.error"
ERROR_FILE = "error.txt"  # a failed trial's whole traceback, an artifact of its run
VALS_TAG = "hpo.vals"  # the trial's point as hyperopt's vals (JSON, label -> value): for resume
PRUNED_TAG = "hpo.pruned"  # the step a pruner stopped the trial at (its run ends FINISHED)
# With trade-offs: whether the trial meets every constraint; whether it is on the Pareto front
# (the feasible non-dominated trials), kept up to date as trials arrive ("true"/"false").
FEASIBLE_TAG, PARETO_TAG = "hpo.feasible", "hpo.pareto"
FRONT_TABLE = "pareto_front.json"  # the parent's table of the front (an MLflow table artifact)
TRADEOFFS_TAG = "hpo.tradeoffs"  # on the parent: objective.also and constraints (JSON)
LOSS_METRIC = "loss"
VALUE_METRIC = "value"  # a function's value (with ``direction: maximize``, or reported by step)
# On a registered model version (promotion.py: its lineage and the champion/challenger gate).
ALGO_TAG, METRIC_TAG, DIRECTION_TAG = "hpo.algo", "hpo.metric", "hpo.direction"
DECISION_TAG, REASON_TAG = "hpo.decision", "hpo.decision_reason"
CHALLENGER_SCORE_TAG = "hpo.challenger_score"
CHAMPION_VERSION_TAG, CHAMPION_SCORE_TAG = "hpo.champion_version", "hpo.champion_score"
CHAMPION_SINCE_TAG = "hpo.champion_since"  # when (and how: gate or manual) it became champion
ROLLED_BACK_FROM_TAG, ROLLED_BACK_AT_TAG = "hpo.rolled_back_from", "hpo.rolled_back_at"
CHAMPION_HISTORY_TAG = "hpo.champion_history"  # on the registered model
SPACE_PARAM_PREFIX, BEST_PARAM_PREFIX = "space.", "best."


def score_tag(metric: str) -> str:
    """A registered version's score under a search metric's name (``val_auc``, ``test_auc``)."""
    return f"hpo.{metric}"


def manual_alias_tag(alias: str) -> str:
    """When a registered version was given ``alias`` by hand (``hpo promote``)."""
    return f"hpo.manual_{alias}"


def run_name(config) -> str:
    return f"search-{config.name}-{config.search.algo_name}"


def curve_metric(config) -> str:
    """The metric a trial's reported steps are logged under (its learning curve)."""
    if config.objective.entry_point is not None:
        return config.objective.metric
    return VALUE_METRIC if config.uses_function else f"val_{config.objective.metric}"


def search_tags(config, parent_run_id: str) -> dict[str, str]:
    """Tags on the parent and every trial, so any run can be traced to its search."""
    return {SEARCH_TAG: parent_run_id, CONFIG_DIGEST_TAG: config.digest, VERSION_TAG: __version__}


def param_key(label: str) -> str:
    """A hyperopt label as an MLflow param key (which allows only letters, digits and _-./: )."""
    return re.sub(r"[^\w./\- :]", ":", label)


def params_as_logged(params: dict) -> dict:
    """``params`` under keys MLflow accepts (:func:`param_key`): a user's point or code may give any."""
    return {param_key(str(k)): v for k, v in params.items()}


def search_parent(client, run_id: str, what: str = "run"):
    """The parent run of a search, or a TrackingError naming ``what`` was given (an option, say)."""
    try:
        run = client.get_run(run_id)
    except Exception:
        raise TrackingError(
            f"{what} {run_id}: no such run in this tracking store; check the run id"
        ) from None
    if run.data.tags.get(ROLE_TAG) != SEARCH_ROLE:
        raise TrackingError(f"{what} {run_id}: not a search parent run; `hpo list` shows the searches")
    return run


@dataclass(frozen=True)
class SearchTrials:
    """A search's parent run and its trials as one frame (one row per child run).

    Columns: ``number``, ``status``, ``pruned_step`` (nan unless the trial was pruned), ``loss``
    (nan if none; a pruned trial's is what the algorithm got), ``duration_s``, ``run_id``,
    ``vals``, ``feasible``, ``pareto``, ``start_ms``, ``end_ms``, ``error`` (``hpo.error``),
    ``model_id`` (its logged model), and ``param_<name>`` / ``metric_<name>`` for every param
    and metric the trials logged.
    """

    parent: object
    frame: pd.DataFrame
    params: tuple[str, ...]


def load_trials(client, parent_run_id: str, parent=None) -> SearchTrials:
    """All children of a search in a few queries (never one request per trial).

    ``parent``: its parent Run, when the caller has read it already.
    """
    parent = parent if parent is not None else client.get_run(parent_run_id)
    rows = []
    for run in child_runs(client, parent.info.experiment_id, parent.info.run_id):
        row = {
            "number": int(run.tags.get(TRIAL_NUMBER_TAG, 0)),
            "status": run.status,
            "pruned_step": float(run.tags.get(PRUNED_TAG, math.nan)),
            "loss": run.metrics.get(LOSS_METRIC, math.nan),
            "duration_s": ((run.end_time or run.start_time) - run.start_time) / 1000,
            "run_id": run.run_id,
            "vals": run.tags.get(VALS_TAG),  # the point as hyperopt's vals (JSON), for resume
            "feasible": _flag(run.tags.get(FEASIBLE_TAG)),
            "pareto": _flag(run.tags.get(PARETO_TAG)),
            "start_ms": run.start_time,
            "end_ms": run.end_time,
            "error": run.tags.get(ERROR_TAG),
            "model_id": run.model_id,
        }
        row.update({f"param_{k}": _number(v) for k, v in run.params.items()})
        row.update({f"metric_{k}": v for k, v in run.metrics.items()})
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values("number").reset_index(drop=True) if rows else pd.DataFrame()
    params = tuple(sorted(c.removeprefix("param_") for c in frame.columns if c.startswith("param_")))
    return SearchTrials(parent, frame, params)


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "true"


def tradeoffs_tag(tradeoffs) -> str:
    """The parent's ``hpo.tradeoffs`` tag: the further objectives and constraints, as JSON."""
    return json.dumps(
        {
            "also": [[g.name, g.maximize] for g in tradeoffs.also],
            "constraints": [[b.name, b.high, b.low] for b in tradeoffs.constraints],
        }
    )


def tradeoffs_of(tags) -> Tradeoffs:
    """A search's trade-offs, from its parent run's tags (or a registered version's, which
    copies the tag); none: a single-loss search."""
    raw = tags.get(TRADEOFFS_TAG)
    if not raw:
        return NO_TRADEOFFS
    data = json.loads(raw)
    return Tradeoffs(
        tuple(Goal(name, bool(maximize)) for name, maximize in data.get("also", [])),
        tuple(Bound(name, high, low) for name, high, low in data.get("constraints", [])),
    )


def finished_curves(
    client, experiment_id: str, parent_run_id: str, key: str, known: set[int]
) -> list[tuple[int, dict[int, float], float | None, int | None]]:
    """``(number, {step: value of key}, loss, pruned step)`` of the search's finished trials not
    in ``known``: what a Spark task's pruner reads of the trials that finished after it started."""
    query = f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}' and attributes.status = 'FINISHED'"
    found = []
    for run in paged(client.search_runs, [experiment_id], query, max_results=5000):
        number = int(run.data.tags.get(TRIAL_NUMBER_TAG, 0))
        if number in known:
            continue
        pruned = run.data.tags.get(PRUNED_TAG)
        loss = run.data.metrics.get(LOSS_METRIC)
        found.append((number, curve(client, run.info.run_id, key), loss, int(pruned) if pruned else None))
    return found


def curve(client, run_id: str, key: str) -> dict[int, float]:
    """A run's metric ``key`` by step, in step order; a step logged twice keeps its latest value
    (a trial's curve ends at its final value, logged at the last step after the reported one)."""
    points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
    return {m.step: m.value for m in points}


def completed(frame: pd.DataFrame) -> pd.DataFrame:
    """The trials of a :func:`load_trials` frame that finished with a loss and were not pruned."""
    if frame.empty:
        return frame
    return frame[(frame["status"] == "FINISHED") & np.isfinite(frame["loss"]) & ~pruned(frame)]


def pruned(frame: pd.DataFrame) -> pd.Series:
    """Which rows of a :func:`load_trials` frame are pruned trials (a frame without the column: none)."""
    if "pruned_step" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["pruned_step"].notna()


def _number(value: str):
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value else number


def logged_params(row: dict) -> dict[str, str]:
    """A trial's params as MLflow stored them (strings), from a row of :func:`load_trials`."""
    return {k.removeprefix("param_"): str(v) for k, v in row.items() if k.startswith("param_") and present(v)}


def logged_metrics(row: dict) -> dict[str, float]:
    """A trial's metrics but the loss, from a row of :func:`load_trials`."""
    return {
        k.removeprefix("metric_"): v
        for k, v in row.items()
        if k.startswith("metric_") and k != f"metric_{LOSS_METRIC}" and present(v)
    }


def present(value) -> bool:
    """A frame cell holds a value (a param absent from a trial's branch is None or nan)."""
    return not (value is None or (isinstance(value, float) and math.isnan(value)))


def best_params(parent) -> dict[str, str]:
    """A search's best params: its ``best.*`` params, or the tags of those names that a search
    continued to a larger budget wrote when its best changed."""
    logged = {**parent.data.params, **parent.data.tags}  # a tag of a continued search wins
    return {
        k.removeprefix(BEST_PARAM_PREFIX): v for k, v in logged.items() if k.startswith(BEST_PARAM_PREFIX)
    }
