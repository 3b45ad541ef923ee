"""The parent run's description (MLflow's run note, on the run page in the UI): what a search
found, in a few lines of Markdown read back from what the search logged."""

from __future__ import annotations

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from hpo_plugin.tracking.client import log_batch
from hpo_plugin.tracking.schema import (
    BEST_NUMBER_TAG,
    BEST_PARAM_PREFIX,
    BEST_RUN_TAG,
    FINAL_MODEL_TAG,
    LOSS_METRIC,
    NOTE_TAG,
)

REPORT_PAGE = "report/index.html"


def search_note(run: Run, registered: str | None, report: bool) -> str:
    """Markdown: the trials, the best one and its params, its validation and test metrics, the
    final model, the registered version (or how to register) and where the report is."""
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    run_id = run.info.run_id
    counts = {k: int(metrics.get(f"n_trials{k}", 0)) for k in ("", "_ok", "_failed", "_pruned")}
    pruned = f", {counts['_pruned']} pruned" if counts["_pruned"] else ""
    lines = [
        f"**Search {run.info.run_name}**: {counts['']} trials ({counts['_ok']} ok{pruned}, "
        f"{counts['_failed']} failed), algorithm `{params.get('search.algo', '?')}`, objective "
        f"{params.get('objective.direction', 'minimize')} `{params.get('objective.metric', LOSS_METRIC)}`."
    ]
    if BEST_RUN_TAG not in tags:
        return "\n\n".join([*lines, "No trial succeeded."])
    prefix = BEST_PARAM_PREFIX
    best = {k.removeprefix(prefix): v for k, v in sorted(params.items()) if k.startswith(prefix)}
    lines.append(
        f"**Best trial**: #{tags.get(BEST_NUMBER_TAG, '?')} (run `{tags[BEST_RUN_TAG]}`), "
        f"loss {_number(metrics.get(f'best_{LOSS_METRIC}'))}; params: "
        + (", ".join(f"`{k}={v}`" for k, v in best.items()) or "none")
    )
    validation = {k.removeprefix("best_"): v for k, v in sorted(metrics.items()) if k.startswith("best_val_")}
    if validation:
        lines.append("**Validation**: " + ", ".join(f"{k} {_number(v)}" for k, v in validation.items()))
    test = {k: v for k, v in sorted(metrics.items()) if k.startswith("test_")}
    if test:
        lines.append(
            "**Test** (refit on train+validation): " + ", ".join(f"{k} {_number(v)}" for k, v in test.items())
        )
    if model_id := tags.get(FINAL_MODEL_TAG):
        lines.append(f"**Final model**: `models:/{model_id}`")
    lines.append(
        f"**Registered**: {registered}"
        if registered
        else f"**Registered**: not yet (`hpo register --run {run_id}`)"
    )
    lines.append(
        f"**Report**: artifact `{REPORT_PAGE}` of this run"
        if report
        else f"**Report**: none yet (`hpo report {run_id}`)"
    )
    return "\n\n".join(lines)


def write_note(client: MlflowClient, run_id: str, registered: str | None = None) -> None:
    """(Re)write the search's note from what its parent run holds now."""
    run = client.get_run(run_id)
    report = any(a.path == REPORT_PAGE for a in client.list_artifacts(run_id, REPORT_PAGE.split("/")[0]))
    log_batch(client, run_id, tags={NOTE_TAG: search_note(run, registered, report)})


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.6g}"
