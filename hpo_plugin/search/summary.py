"""The end of a search: refit the best trial, check it is eligible, write the summary and report."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from hpo_plugin.errors import SearchError, one_line
from hpo_plugin.executors.context import TrialContext
from hpo_plugin.models.logged import ModelLogger
from hpo_plugin.tracking.front import log_front
from hpo_plugin.tracking.note import write_note
from hpo_plugin.tracking.parent import log_summary, write_final_model
from hpo_plugin.tracking.records import TrialRecord
from hpo_plugin.tracking.schema import FINAL_ROLE, ROLE_TAG


def finish(
    ctx: TrialContext, client: MlflowClient, models: ModelLogger, parent_id: str
) -> tuple[list[TrialRecord], TrialRecord | None, dict[str, float], str | None]:
    """Every trial's record, the best, its test metrics and the final model's id (the best:
    None where the experiment has constraints and no trial met them).

    With trade-offs, the best is the feasible trial with the lowest primary loss.

    A refitting objective's final model is the best params refit on train+validation: the refit
    of hyperopt's best overlaps the writer's last logs; if that trial's model failed to log, the
    best eligible trial is refit instead and the stray final model deleted. Otherwise (a
    function objective) the final model is the best trial's own model, if it logged one.
    """
    prepared, writer = ctx.prepared, ctx.writer
    refits = prepared.objective.refits
    tradeoffs = prepared.config.objective.tradeoffs
    scored = [r for r in writer.records + ctx.records if r.scored and tradeoffs.admits(r)]
    tentative = min(scored, key=lambda r: r.loss) if scored and refits else None
    test_metrics: dict[str, float] = {}
    if tentative is not None:
        model, test_metrics = prepared.objective.refit_and_test(tentative.params)
        writer.call("final", write_final_model, parent_id, model)
    records = writer.close(client) + ctx.records
    if error := writer.results.get("setup", {}).get("error"):
        raise SearchError(f"recording the search's settings and dataset failed: {error}")
    eligible = [r for r in records if (r.eligible if refits else r.scored)]
    if not eligible:
        log_summary(client, parent_id, records, None, {}, None)
        write_note(client, parent_id)
        raise SearchError(_all_failed(records))
    if tradeoffs.active:
        log_front(client, parent_id, records, tradeoffs)
    eligible = [r for r in eligible if tradeoffs.admits(r)]
    if not eligible:
        if final_id := writer.results.get("final", {}).get("model_id"):  # the refit of a trial
            client.delete_logged_model(final_id)  # whose own model then failed to log
        log_summary(client, parent_id, records, None, {}, None)
        write_note(client, parent_id)
        if prepared.config.search.report:
            _report(client, parent_id)
        return records, None, {}, None
    best = min(eligible, key=lambda r: r.loss)
    if refits:
        test_metrics, model_id = _final_refit(ctx, client, models, parent_id, best, tentative, test_metrics)
    else:
        test_metrics, model_id = {}, best.model_id
    log_summary(client, parent_id, records, best, test_metrics, model_id)
    if prepared.config.search.report:
        _report(client, parent_id)
    write_note(client, parent_id)
    return records, best, test_metrics, model_id


def _final_refit(
    ctx: TrialContext,
    client: MlflowClient,
    models: ModelLogger,
    parent_id: str,
    best: TrialRecord,
    tentative: TrialRecord,
    test_metrics: dict[str, float],
) -> tuple[dict[str, float], str]:
    """The refit the writer logged for ``tentative``, or ``best``'s refit if the best changed."""
    final = ctx.writer.results.get("final", {})
    if best is not tentative:
        if final.get("model_id"):
            client.delete_logged_model(final["model_id"])
        model, test_metrics = ctx.prepared.objective.refit_and_test(best.params)
        final = {"model_id": models.log(parent_id, model, tags={ROLE_TAG: FINAL_ROLE})}
    if not final.get("model_id"):
        raise SearchError(f"the final model could not be logged: {final.get('error')}")
    return test_metrics, final["model_id"]


def _report(client: MlflowClient, parent_id: str) -> None:
    from hpo_plugin.report import log_report  # matplotlib: imported only when a report is made

    try:
        log_report(client, parent_id)
    except Exception as exc:  # the search's results stand without the plots
        print(f"hpo: warning: report failed ({one_line(exc)}); retry with `hpo report {parent_id}`")


def _all_failed(records: list[TrialRecord]) -> str:
    if not records:
        return "no trial ran (the timeout may be too short); raise search.timeout"
    first = next((r.error for r in records if r.error), "no trial produced a logged model")
    return f"all {len(records)} trials failed; first error: {first}"
