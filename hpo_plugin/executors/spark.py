"""The spark executor: one Spark job of one task per trial, started as soon as hyperopt
proposes it (the pool driver of :mod:`.pool`, as the local executor, with Spark jobs in place
of worker processes; hyperopt's SparkTrials waits a second between looks).

The objective (and its data) is broadcast once per search. Each task creates its trial's
child run itself, by explicit parent id, through the tracking URI carried in the task (an
executor never relies on its own environment, which only sees ``MLFLOW_TRACKING_URI`` if it
was set before the SparkSession started), and logs params, metrics and model synchronously
before it returns. Across machines that URI must be a
tracking server (``mlflow server``), not a sqlite file.

Each slot's jobs run in a job group of its own, so an interrupted search cancels them.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from mlflow.tracking import MlflowClient
from threadpoolctl import threadpool_limits

from hpo_plugin.errors import one_line
from hpo_plugin.executors.context import TrialContext
from hpo_plugin.executors.pool import PoolTrials, drive, proposed
from hpo_plugin.executors.trial import evaluate_trial, hyperopt_result, run_trial
from hpo_plugin.objectives.base import Objective
from hpo_plugin.pruners import Board, Reporter, loss_of
from hpo_plugin.tracking.client import QUIET_MLFLOW, absolute_uri, end_run
from hpo_plugin.tracking.records import FAILED, FINISHED, KILLED, RUNNING, TrialRecord, now_ms
from hpo_plugin.tracking.schema import (
    ERROR_TAG,
    PARENT_RUN_TAG,
    TRIAL_NUMBER_TAG,
    curve_metric,
    finished_curves,
    paged,
)
from hpo_plugin.tracking.writer import ChildRuns, WriterSpec

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


def _evaluate(objective: Objective, tracking_uri: str, reporter: Reporter, record: TrialRecord) -> Any:
    with threadpool_limits(limits=objective.n_threads):
        return evaluate_trial(objective, record, tracking_uri, reporter)


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

    def __call__(self, step: int, loss: float) -> bool:
        if time.monotonic() - self._read_at >= REFRESH_S:
            self._read_at = time.monotonic()
            self._refresh()
        return self.board.report(self.number, step, loss)

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

    def __call__(self, partition) -> list[TrialRecord]:
        for _ in partition:  # read to its end, PySpark reuses this Python worker for later tasks
            pass
        os.environ.update(QUIET_MLFLOW)
        objective = self.objective.value
        record = dataclasses.replace(self.proposed, start_ms=now_ms())
        key = (self.spec.tracking_uri, self.spec.parent_run_id)
        runs = _RUNS.get(key) or _RUNS.setdefault(key, self.spec.connect())
        ask = _Refreshed(self.board, runs, self.curves, record.number) if self.board.prunes else None
        evaluate = partial(_evaluate, objective, self.spec.tracking_uri, Reporter(ask))
        run_trial(record, evaluate, _Synchronous(runs), self.board)
        return [record]


def session(master: str):
    """The active SparkSession if it has this master, else a new one."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        if active.sparkContext.master == master:
            return active
        active.stop()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this environment
    return (
        SparkSession.builder.master(master)
        .appName("hpo_plugin")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.daemon.module", "hpo_plugin.executors.sparkdaemon")
        .getOrCreate()
    )


def run(ctx: TrialContext) -> None:
    """Each worker slot's thread takes a proposed trial the moment it is queued and runs it as
    a one-task Spark job; hyperopt's loop polls every POLL_S (SparkTrials' dispatcher and
    loop each wait a second between looks)."""
    executor = ctx.config.executor
    spark = session(executor.master)
    context = spark.sparkContext
    context.setLogLevel("ERROR")
    spec = replace(ctx.spec, tracking_uri=absolute_uri(ctx.spec.tracking_uri))
    shipped = context.broadcast(ctx.prepared.objective)
    groups = [f"hpo-{spec.parent_run_id}-{slot}" for slot in range(executor.workers)]
    curves = Curves(curve_metric(ctx.config), ctx.config.objective.maximize)

    def serve(trials: PoolTrials, slot: int) -> None:
        context.setJobGroup(groups[slot], "hpo_plugin trials", interruptOnCancel=True)
        while (doc := trials.take()) is not None:
            record = proposed(ctx, doc)
            task = SparkTrial(shipped, spec, record, ctx.board.snapshot(), curves)
            try:
                (record,) = context.parallelize([0], 1).mapPartitions(task).collect()
            except Exception as exc:  # the task died (executor lost) or was cancelled
                if trials.cancelled:
                    return
                record.fail(f"the Spark task running this trial failed: {one_line(exc)}")
            else:
                ctx.board.finish(record)
                ctx.records.append(record)
            trials.finish(doc, hyperopt_result(record))

    def stop(cancelled: bool) -> None:
        for group in groups if cancelled else ():
            context.cancelJobGroup(group)

    interrupted = True
    try:
        drive(ctx, serve, len(groups), stop)
        interrupted = False
    finally:
        shipped.unpersist()
        # A task that returned left its record; one that died or was cancelled left none, and
        # its run is ended below.
        reported = {r.number for r in ctx.records}
        ctx.records.extend(_end_lost(ctx, reported, KILLED if interrupted else FAILED))
        ctx.records.sort(key=lambda r: r.number)


def _end_lost(ctx: TrialContext, reported: set[int], status: str) -> list[TrialRecord]:
    """Children whose Spark task died before reporting: ended ``status``, returned as records."""
    client = MlflowClient(ctx.spec.tracking_uri)
    query = f"tags.`{PARENT_RUN_TAG}` = '{ctx.spec.parent_run_id}' and attributes.status = '{RUNNING}'"
    lost = []
    for run in paged(client.search_runs, [ctx.spec.experiment_id], query, max_results=5000):
        number = int(run.data.tags.get(TRIAL_NUMBER_TAG, 0))
        if number in reported:
            continue
        error = "the Spark task running this trial ended before it reported (executor lost or cancelled)"
        if status == FAILED:
            client.set_tag(run.info.run_id, ERROR_TAG, error)
        end_run(client, run.info.run_id, status)
        params = dict(run.data.params)
        lost.append(
            TrialRecord(
                number, params, run.info.start_time, None, status, error=error, run_id=run.info.run_id
            )
        )
    return lost
