"""The sequential executor: hyperopt's fmin runs each trial in the search process.

The trial writer (a separate process) does the MLflow writes, so bookkeeping overlaps the
next trial instead of delaying it.
"""

from __future__ import annotations

from hpo_plugin.records import TrialRecord
from hpo_plugin.trialrun import TrialContext, evaluate_trial


def run(ctx: TrialContext) -> None:
    from hpo_plugin.search import run_fmin

    def on_trial(params):
        record = TrialRecord(ctx.numbers.take(), params)
        ctx.writer.started(record)
        result, model = evaluate_trial(ctx.prepared.objective, record)
        ctx.writer.finished(record, model)
        return result

    run_fmin(ctx.prepared, on_trial, ctx.progress, ctx.trials(), ctx.rstate(), ctx.early_stop_fn())
