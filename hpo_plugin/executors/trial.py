"""One trial, the same way under every executor: number -> started -> evaluate -> finished.

An executor decides where :func:`evaluate_trial` runs (this process, a worker process, a
Spark task) and which :class:`TrialSink` records the trial (the trial writer, a synchronous
MLflow writer in a Spark task, nothing for a bare search); :func:`run_trial` is the protocol.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from hyperopt import STATUS_FAIL, STATUS_OK

from hpo_plugin.errors import full_traceback, location, one_line
from hpo_plugin.objectives.base import Objective
from hpo_plugin.objectives.trial_run import open_tracking
from hpo_plugin.pruners import Board, Reporter, TrialPruned
from hpo_plugin.space import SearchSpace
from hpo_plugin.tracking.records import FINISHED, RUNNING, TrialLog, TrialRecord
from hpo_plugin.tradeoffs import MissingMetric, Tradeoffs, algo_result


class Numbers:
    """Thread-safe trial numbers, continuing after a resumed search's."""

    def __init__(self, start: int = 1) -> None:
        self._next = start
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            self._next += 1
            return self._next - 1


class TrialSink(Protocol):
    """Records a trial: its run opens at ``started`` (or the sink fails the record) and is
    filled and ended at ``finished``, where the sink may fail the record too."""

    def started(self, record: TrialRecord) -> None: ...

    def finished(self, record: TrialRecord, model: Any) -> None: ...


class NoSink:
    """Records nothing but the records themselves (a search without MLflow)."""

    def __init__(self) -> None:
        self.records: list[TrialRecord] = []

    def started(self, record: TrialRecord) -> None:
        self.records.append(record)

    def finished(self, record: TrialRecord, model: Any) -> None:
        pass


def _own_run(objective: Objective, run_id: str | None, tracking_uri: str | None) -> tuple[str, str] | None:
    """(tracking URI, run id) of the run a trial's own MLflow calls go to, if its code uses MLflow."""
    return (tracking_uri, run_id) if objective.uses_mlflow and tracking_uri and run_id else None


def prepare_trial(objective: Objective, run_id: str | None, tracking_uri: str | None) -> None:
    """What a trial's own MLflow calls need, done before its limits' clock starts: importing MLflow
    and opening its store take seconds on a busy machine, not the user's time."""
    if run := _own_run(objective, run_id, tracking_uri):
        open_tracking(run[0])


def evaluate_trial(
    objective: Objective,
    record: TrialRecord,
    tracking_uri: str | None = None,
    reporter: Reporter | None = None,
) -> Any:
    """Run one trial into ``record``; return the fitted model, or None if it failed or was pruned.

    Any exception fails that trial, never the search. An objective that uses MLflow itself runs
    with the trial's run (``record.run_id``, in ``tracking_uri``) as MLflow's active run. What
    it reports goes to ``reporter`` (which asks the search's pruner, if there is one); its steps
    end up in ``record.steps`` and, as metric history, in ``record.log``.
    """
    run = _own_run(objective, record.run_id, tracking_uri)
    reporter = reporter if reporter is not None else Reporter()
    try:
        outcome = objective.evaluate(record.argument, run, reporter)
    except TrialPruned:
        _keep_steps(record, reporter, None)
        if reporter.last_step is None:
            record.fail("the trial raised TrialPruned before it reported any value (trial.report)")
        else:
            record.prune(reporter.last_step)
        return None
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # a signal is a StopSignal: not here
        record.fail(_failure(exc))
        record.traceback = full_traceback(exc)
        _keep_steps(record, reporter, None)
        return None
    record.succeed(outcome.loss, outcome.metrics)
    record.model_id = outcome.model_id or record.model_id
    _keep_steps(record, reporter, outcome.log)
    return outcome.model


def _failure(exc: BaseException) -> str:
    """A failed trial's ``hpo.error``: what happened, where in the user's code."""
    if isinstance(exc, SystemExit | KeyboardInterrupt):
        what = f"{type(exc).__name__}({exc.args[0]!r})" if exc.args else type(exc).__name__
        where = f" at {at}" if (at := location(exc)) else ""
        return f"the trial's code raised {what}{where}; the search goes on"
    if isinstance(exc, MemoryError):
        where = f" at {at}" if (at := location(exc)) else ""
        return f"MemoryError: the trial's code ran out of memory{where}; the search goes on"
    return one_line(exc)


def judge(record: TrialRecord, tradeoffs: Tradeoffs) -> None:
    """Give a scored trial its objectives and feasibility; fail it if it lacks a metric the
    trade-offs name (a function's result key or logged metric, an entry point's metric)."""
    if not record.scored:
        return
    logged = {key: value for key, value, _ in (record.log.metrics if record.log else [])}
    try:
        record.judged = tradeoffs.judge(record.loss, {**logged, **record.metrics})
    except MissingMetric as exc:
        record.fail(
            f"the trial gave no value for {exc}, named in objective.also or objective.constraints; "
            "return it in the result dict or log it as a metric"
        )
        return


def _keep_steps(record: TrialRecord, reporter: Reporter, log: TrialLog | None) -> None:
    """The trial's own log (if any), plus its reported steps as metric history."""
    record.steps = dict(reporter.steps)
    if reporter.history:
        log = log if log is not None else TrialLog()
        log.metrics.extend(reporter.history)
    record.log = log


def new_record(space: SearchSpace, number: int, point: Any, vals: dict[str, Any]) -> TrialRecord:
    """The record of a proposed trial: ``point`` as hyperopt evaluated it, ``vals`` its labels'
    values (hyperopt's ``misc.vals``, as plain numbers)."""
    plain = {label: value.item() if hasattr(value, "item") else value for label, value in vals.items()}
    return TrialRecord(number, space.trial_params(point), point=space.argument(point), vals=plain)


def hyperopt_result(record: TrialRecord) -> dict[str, Any]:
    """What hyperopt's loop gets back for a trial (its result document).

    A pruned trial is ``ok`` with the loss the search's board gave it (see ``Board.finish``).
    The trial's numeric results ride along (as the extras of a hyperopt objective's result do),
    with its MLflow run id.
    """
    known = {"trial_number": record.number, "run_id": record.run_id}
    if record.status == FINISHED and record.loss is not None:
        result = {**record.metrics, "status": STATUS_OK, **algo_result(record.loss, record.judged), **known}
        return result | ({"pruned_step": record.pruned_step} if record.pruned else {})
    error = record.error or f"pruned at step {record.pruned_step} with no usable value"
    return {"status": STATUS_FAIL, **known, "error": error}


def run_trial(
    record: TrialRecord,
    evaluate: Callable[[TrialRecord], Any],
    sink: TrialSink,
    board: Board | None = None,
    tradeoffs: Tradeoffs | None = None,
) -> dict[str, Any]:
    """The trial protocol: open its run, evaluate it, judge it under the trade-offs, give it to
    the board, record it; hyperopt's result for it."""
    sink.started(record)
    if record.status == RUNNING:  # a sink that could not open the trial's run has failed it
        model = evaluate(record)
        if tradeoffs is not None and tradeoffs.active:
            judge(record, tradeoffs)
        if board is not None:
            board.finish(record)
        sink.finished(record, model)
    return hyperopt_result(record)
