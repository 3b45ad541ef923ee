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

import os
import sys
from dataclasses import replace

from mlflow.tracking import MlflowClient

from hpo_plugin.errors import one_line
from hpo_plugin.executors.context import TrialContext
from hpo_plugin.executors.limits import Limits
from hpo_plugin.executors.pool import PoolTrials, drive, proposed
from hpo_plugin.executors.spark_task import Curves, SparkTrial
from hpo_plugin.executors.trial import hyperopt_result
from hpo_plugin.tracking.client import absolute_uri, end_run
from hpo_plugin.tracking.records import FAILED, KILLED, RUNNING, TrialRecord
from hpo_plugin.tracking.schema import ERROR_TAG, PARENT_RUN_TAG, TRIAL_NUMBER_TAG, curve_metric, paged
from hpo_plugin.tracking.writer import front_entries, place_in_front


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
        .config("spark.task.maxFailures", "1")  # a failed trial is the trial's, never run twice
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
    tradeoffs, limits = ctx.config.objective.tradeoffs, Limits.of(ctx.config.search)

    def serve(trials: PoolTrials, slot: int) -> None:
        context.setJobGroup(groups[slot], "hpo_plugin trials", interruptOnCancel=True)
        while (doc := trials.take()) is not None:
            record = proposed(ctx, doc)
            task = SparkTrial(shipped, spec, record, ctx.board.snapshot(), curves, limits, tradeoffs)
            try:
                (record,) = context.parallelize([0], 1).mapPartitions(task).collect()
            except Exception as exc:  # the task died (a limit, executor lost) or was cancelled
                if trials.cancelled:
                    return
                record = _lost_trial(
                    ctx, record, f"the Spark task running this trial failed: {one_line(exc)}"
                )
            ctx.board.finish(record)
            ctx.records.append(record)
            if judged := front_entries([record]):
                ctx.writer.call("front", place_in_front, judged)
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


def _lost_trial(ctx: TrialContext, record: TrialRecord, error: str) -> TrialRecord:
    """A trial whose task ended without returning: its run (if the task opened one) ends FAILED
    with ``error``, unless the task ended it itself (a memory limit), whose error then stands."""
    record.fail(error)
    client = MlflowClient(ctx.spec.tracking_uri)
    query = (
        f"tags.`{PARENT_RUN_TAG}` = '{ctx.spec.parent_run_id}' "
        f"and tags.`{TRIAL_NUMBER_TAG}` = '{record.number}'"
    )
    for run in client.search_runs([ctx.spec.experiment_id], query, max_results=1):
        record.run_id = run.info.run_id
        if run.info.status == RUNNING:
            client.set_tag(run.info.run_id, ERROR_TAG, error)
            end_run(client, run.info.run_id, FAILED)
        else:
            record.error = run.data.tags.get(ERROR_TAG, error)
    return record


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
