"""What runs inside a Spark task of the spark executor (:mod:`.spark`): the trial's child run
created and filled in the task, its limits watched there, its pruner fed from MLflow."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from threadpoolctl import threadpool_limits

from hpo_plugin.errors import one_line
from hpo_plugin.executors.limits import WATCH_S, Limits
from hpo_plugin.executors.trial import evaluate_trial, run_trial
from hpo_plugin.objectives.base import Objective
from hpo_plugin.pruners import Board, Reporter, loss_of
from hpo_plugin.tracking.client import QUIET_MLFLOW
from hpo_plugin.tracking.records import FINISHED, TrialRecord, now_ms
from hpo_plugin.tracking.schema import finished_curves
from hpo_plugin.tracking.writer import ChildRuns, WriterSpec
from hpo_plugin.tradeoffs import Tradeoffs

_RUNS: dict[tuple[str, str], ChildRuns] = {}  # per Python worker: one MLflow writer per search
REFRESH_S = 1.0  # how often a pruned trial's task reads the trials finished since it started


class _Synchronous:
    """Records the trial in the task itself, before the task returns."""

    def __init__(self, runs: ChildRuns) -> None:
        self.runs = runs

    def started(self, record: TrialRecord) -> None:
        try:
            opened = self.runs.start(record.number, record.name, record.start_ms, record.params, record.vals)
            record.run_id = opened["run_id"]
        except Exception as exc:  # the tracking server is unreachable: the trial is not run
            record.fail(f"could not create the trial's run: {one_line(exc)}")

    def finished(self, record: TrialRecord, model: Any) -> None:
        for key, value in self.runs.finish(record.number, record, model).items():
            setattr(record, key, value)


def _evaluate(
    objective: Objective, tracking_uri: str, reporter: Reporter, watch: Callable, record: TrialRecord
) -> Any:
    with threadpool_limits(limits=objective.n_threads), watch(record):
        return evaluate_trial(objective, record, tracking_uri, reporter)


@contextlib.contextmanager
def _limits_watch(limits: Limits, runs: ChildRuns, record: TrialRecord) -> Iterator[None]:
    """While the trial runs, its time and its task's memory are watched; past a limit its run
    ends FAILED saying so and the task's process exits (Spark fails the task, and the driver
    reads the run: :func:`.spark._lost_trial`)."""
    if not limits.any:
        yield
        return
    done, started = threading.Event(), time.monotonic()

    def watch() -> None:
        while not done.wait(WATCH_S):
            if reason := limits.past(started, os.getpid()):
                _stop_task(runs, record, reason)

    threading.Thread(target=watch, daemon=True).start()
    try:
        yield
    finally:
        done.set()


def _stop_task(runs: ChildRuns, record: TrialRecord, error: str) -> None:
    if (run_id := runs.open_runs.pop(record.number, None)) is not None:
        runs.end_failed(run_id, record.params, error)
    os._exit(1)


@dataclass(frozen=True)
class Curves:
    """The metric trials' steps are logged under, and its direction: how a task reads them back."""

    key: str
    maximize: bool


class _Refreshed:
    """A task's pruner, on the board copy it was shipped plus, read from MLflow at most once a
    second, the trials that finished since (their curves are logged before their task ends)."""

    def __init__(self, board: Board, runs: ChildRuns, curves: Curves, number: int) -> None:
        self.board, self.runs, self.curves, self.number = board, runs, curves, number
        self._read_at = -math.inf

    def __call__(self, step: int, loss: float, end: int | None = None) -> bool:
        if time.monotonic() - self._read_at >= REFRESH_S:
            self._read_at = time.monotonic()
            self._refresh()
        return self.board.report(self.number, step, loss, end)

    def _refresh(self) -> None:
        known = {*self.board.steps, *self.board.completed, self.number}
        runs, key = self.runs, self.curves.key
        try:
            found = finished_curves(runs.client, runs.experiment_id, runs.parent_run_id, key, known)
        except Exception:  # the store is out of reach: decide on what the task has
            return
        for number, curve, loss, pruned in found:
            steps = {step: loss_of(value, self.curves.maximize) for step, value in curve.items()}
            record = TrialRecord(number, {}, status=FINISHED, loss=loss, steps=steps, pruned_step=pruned)
            self.board.finish(record)


@dataclass(frozen=True)
class SparkTrial:
    """One trial as a Spark task: the objective comes from the search's broadcast, the run is
    created and filled in the task, and the finished record goes back to the driver.

    A task cannot ask the driver mid-trial (that would take a server of our own), so its pruner
    reads a copy of the search's board made when the task started, brought up to date from MLflow
    (:class:`_Refreshed`) with the trials that finished since.
    """

    objective: Any  # a Broadcast of the search's Objective: shipped to each executor once
    spec: WriterSpec
    proposed: TrialRecord  # number, params, point: the trial as proposed
    board: Board  # the search's step values when this trial started
    curves: Curves
    limits: Limits  # search.trial_timeout, search.trial_memory_mb
    tradeoffs: Tradeoffs  # objective.also, objective.constraints

    def __call__(self, partition) -> list[TrialRecord]:
        for _ in partition:  # read to its end, PySpark reuses this Python worker for later tasks
            pass
        os.environ.update(QUIET_MLFLOW)
        objective = self.objective.value
        record = dataclasses.replace(self.proposed, start_ms=now_ms())
        key = (self.spec.tracking_uri, self.spec.parent_run_id)
        runs = _RUNS.get(key) or _RUNS.setdefault(key, self.spec.connect())
        ask = _Refreshed(self.board, runs, self.curves, record.number) if self.board.prunes else None
        watch = partial(_limits_watch, self.limits, runs)
        evaluate = partial(_evaluate, objective, self.spec.tracking_uri, Reporter(ask), watch)
        run_trial(record, evaluate, _Synchronous(runs), self.board, self.tradeoffs)
        return [record]
