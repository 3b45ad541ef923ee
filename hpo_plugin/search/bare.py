"""The same search with no MLflow at all: the overhead benchmark's baseline."""

from __future__ import annotations

import time

from hpo_plugin.config import ExperimentConfig
from hpo_plugin.errors import SearchError
from hpo_plugin.executors.context import new_board
from hpo_plugin.executors.loop import minimize
from hpo_plugin.executors.trial import NoSink, evaluate_trial, new_record, run_trial
from hpo_plugin.search.prepare import prepare_search
from hpo_plugin.tracking.records import TrialRecord


def run_bare(config: ExperimentConfig) -> tuple[TrialRecord, dict[str, float], float]:
    """Best trial, test metrics of its refit, and the seconds it all took."""
    started = time.perf_counter()
    prepared = prepare_search(config)
    sink, board = NoSink(), new_board(config.search)
    tradeoffs = config.objective.tradeoffs

    def evaluate(record: TrialRecord):
        return evaluate_trial(prepared.objective, record, reporter=board.reporter(record.number))

    def on_trial(point, vals):
        record = new_record(prepared.space, len(sink.records) + 1, point, vals)
        return run_trial(record, evaluate, sink, board, tradeoffs)

    minimize(prepared, on_trial)
    chosen = [r for r in sink.records if r.scored and tradeoffs.admits(r)]
    if not chosen:
        raise SearchError("no trial met the constraints" if tradeoffs.constraints else "no trial succeeded")
    best = min(chosen, key=lambda r: r.loss)
    test_metrics = prepared.objective.refit_and_test(best.params)[1] if prepared.objective.refits else {}
    return best, test_metrics, time.perf_counter() - started
