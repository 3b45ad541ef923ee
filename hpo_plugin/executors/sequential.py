"""The sequential executor: hyperopt's fmin runs each trial in the search process.

The trial writer (a separate process) does the MLflow writes, so bookkeeping overlaps the
next trial instead of delaying it. With a trial time or memory limit
(``search.trial_timeout``, ``search.trial_memory_mb``) each trial runs where it can be
stopped: the local executor's one worker process, one trial at a time.
"""

from __future__ import annotations

from hpo_plugin.executors import local
from hpo_plugin.executors.context import TrialContext
from hpo_plugin.executors.trial import evaluate_trial, new_record, run_trial
from hpo_plugin.tracking.records import TrialRecord


def run(ctx: TrialContext) -> None:
    if ctx.config.search.limits_trials:
        return local.run(ctx)
    objective = ctx.prepared.objective
    ctx.writer.open_runs_first = objective.uses_mlflow  # its code logs into its trial's run
    board, tradeoffs = ctx.board, ctx.config.objective.tradeoffs

    def evaluate(record: TrialRecord):
        return evaluate_trial(objective, record, ctx.spec.tracking_uri, board.reporter(record.number))

    def on_trial(point, vals):
        record = new_record(ctx.prepared.space, ctx.numbers.take(), point, vals)
        return run_trial(record, evaluate, ctx.writer, board, tradeoffs)

    ctx.minimize(on_trial, ctx.trials())
