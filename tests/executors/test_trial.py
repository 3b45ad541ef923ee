"""The one trial protocol and the one hyperopt loop that every executor shares."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hyperopt import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK, Trials

from hpo_plugin.config import SearchConfig
from hpo_plugin.executors.loop import NoImprovement, early_stop_fn, max_evals
from hpo_plugin.executors.trial import NoSink, Numbers, evaluate_trial, hyperopt_result, run_trial
from hpo_plugin.hyperopt_protocol import insert_done
from hpo_plugin.objectives import TrialOutcome
from hpo_plugin.tracking.records import FAILED, FINISHED, RUNNING, WARM_WORKDIR, TrialRecord


class Fixed:
    """An objective with a given outcome (or error)."""

    n_threads, refits, uses_mlflow = 1, True, False

    def __init__(self, loss=0.5, error: Exception | None = None) -> None:
        self.loss, self.error = loss, error

    def evaluate(self, params, run=None, reporter=None):
        if self.error:
            raise self.error
        return TrialOutcome(self.loss, {"val_x": self.loss}, model=("model", params["a"]))


class Journal:
    """A sink that logs the calls it gets, and can fail the trial at either end."""

    def __init__(self, fail_at: str | None = None) -> None:
        self.calls: list[tuple[str, int, object]] = []
        self.fail_at = fail_at

    def started(self, record):
        self.calls.append(("started", record.number, record.status))
        if self.fail_at == "started":
            record.fail("no run")

    def finished(self, record, model):
        self.calls.append(("finished", record.number, model))
        if self.fail_at == "finished":
            record.fail("model not logged")


def evaluate_with(objective):
    return lambda record: evaluate_trial(objective, record)


def test_a_trial_is_started_evaluated_and_finished_in_that_order():
    record, sink = TrialRecord(3, {"a": 1}), Journal()
    result = run_trial(record, evaluate_with(Fixed(0.25)), sink)
    assert sink.calls == [("started", 3, RUNNING), ("finished", 3, ("model", 1))]
    # hyperopt's result: the loss, the trial's numeric results (as an objective's extras), its run
    assert result == {"status": STATUS_OK, "loss": 0.25, "trial_number": 3, "run_id": None, "val_x": 0.25}
    assert (record.status, record.loss, record.metrics) == (FINISHED, 0.25, {"val_x": 0.25})


def test_an_objective_that_raises_fails_its_trial_with_one_line_not_the_search():
    record, sink = TrialRecord(1, {"a": 1}), Journal()
    result = run_trial(record, evaluate_with(Fixed(error=ValueError("bad\n  value"))), sink)
    assert record.status == FAILED and record.error.startswith("ValueError: bad value (at test_trial.py:")
    assert result == {"status": STATUS_FAIL, "trial_number": 1, "run_id": None, "error": record.error}
    assert sink.calls[-1] == ("finished", 1, None)  # the run is still ended, with its error


def test_a_trial_whose_run_cannot_be_opened_is_never_evaluated():
    record, sink = TrialRecord(2, {"a": 1}), Journal(fail_at="started")
    result = run_trial(record, lambda r: pytest.fail("evaluated"), sink)
    assert result["status"] == STATUS_FAIL and record.error == "no run" and len(sink.calls) == 1


def test_a_sink_that_fails_a_finished_trial_makes_hyperopt_see_a_failure():
    record = TrialRecord(4, {"a": 1})
    result = run_trial(record, evaluate_with(Fixed(0.1)), Journal(fail_at="finished"))
    assert result == {"status": STATUS_FAIL, "trial_number": 4, "run_id": None, "error": "model not logged"}


def test_no_sink_keeps_the_records_of_a_bare_search():
    sink = NoSink()
    for number in (1, 2):
        run_trial(TrialRecord(number, {"a": number}), evaluate_with(Fixed()), sink)
    assert [r.number for r in sink.records] == [1, 2]
    assert hyperopt_result(sink.records[0])["status"] == STATUS_OK


def test_numbers_are_unique_across_threads_and_continue_a_resumed_search():
    numbers, taken = Numbers(start=8), []
    threads = [
        threading.Thread(target=lambda: taken.extend(numbers.take() for _ in range(50))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(8, 208))


def trials_with(losses, warm: int = 0) -> Trials:
    trials = Trials()
    for i, loss in enumerate(losses):
        result = {"status": STATUS_OK, "loss": loss} if loss is not None else {"status": STATUS_FAIL}
        insert_done(trials, {"x": float(i)}, result, ["x"], workdir=WARM_WORKDIR if i < warm else None)
    trials.refresh()
    assert all(doc["state"] == JOB_STATE_DONE for doc in trials.trials)
    return trials


def test_the_budget_does_not_count_warm_start_trials():
    assert max_evals(SearchConfig(max_evals=5), trials_with([0.1, 0.2, 0.3], warm=2)) == 7


def test_no_improvement_stops_after_patience_trials_without_a_better_loss():
    stop = NoImprovement(patience=2, min_delta=0.01)
    assert stop(trials_with([0.5, 0.4, 0.395]))[0] is False  # 0.395 is no gain over 0.01
    assert stop(trials_with([0.5, 0.4, 0.395, None]))[0] is True  # a failed trial is no gain either
    assert stop(trials_with([0.0, 0.0, 0.5, 0.4], warm=2))[0] is False  # warm-start trials don't count


def test_early_stop_fn_only_with_patience():
    assert early_stop_fn(SearchConfig()) is None
    assert early_stop_fn(SearchConfig(early_stop={"loss_threshold": 0.1})) is None
    assert early_stop_fn(SearchConfig(early_stop={"patience": 3})) == NoImprovement(3)


def test_a_seed_stream_is_what_the_loop_gets(tiny):
    from hpo_plugin.executors.loop import minimize
    from hpo_plugin.fronts.experiment import load_experiment
    from hpo_plugin.search import prepare_search

    prepared = prepare_search(load_experiment(tiny(search={"algo": "random", "max_evals": 3})))
    seen = []
    trials = minimize(
        prepared,
        lambda point, vals: seen.append(point) or {"status": "ok", "loss": 1.0},
        None,
        np.random.default_rng(7),
    )
    again = []
    minimize(
        prepared,
        lambda point, vals: again.append(point) or {"status": "ok", "loss": 1.0},
        None,
        np.random.default_rng(7),
    )
    assert len(trials.trials) == 3 and seen == again
