"""The spark executor: hyperopt's SparkTrials, one Spark task per trial.

Each task creates its trial's child run itself, by explicit parent id, through the tracking
URI carried in the task (an executor never relies on its own environment, which only sees
``MLFLOW_TRACKING_URI`` if it was set before the SparkSession started), and logs params,
metrics and model synchronously before it returns. Across machines that URI must be a
tracking server (``mlflow server``), not a sqlite file.

SparkTrials calls the objective with the point only. Each trial's number travels inside its
Spark job instead: the driver-side objective hands out the next number each time SparkTrials
serialises it for a job (once per trial), so every run is ``trial-NNN`` from its creation.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from mlflow.tracking import MlflowClient
from threadpoolctl import threadpool_limits

from hpo_plugin.errors import one_line
from hpo_plugin.executors.context import TrialContext
from hpo_plugin.executors.trial import Numbers, evaluate_trial, run_trial
from hpo_plugin.objectives.base import Objective
from hpo_plugin.space import decode
from hpo_plugin.tracking.client import QUIET_MLFLOW, absolute_uri, end_run
from hpo_plugin.tracking.records import FAILED, KILLED, RUNNING, TrialRecord
from hpo_plugin.tracking.schema import ERROR_TAG, PARENT_RUN_TAG, TRIAL_NUMBER_TAG
from hpo_plugin.tracking.writer import ChildRuns, WriterSpec

_RUNS: dict[tuple[str, str], ChildRuns] = {}  # per Python worker: one MLflow writer per search


class _Synchronous:
    """Records the trial in the task itself, before the task returns."""

    def __init__(self, runs: ChildRuns) -> None:
        self.runs = runs

    def started(self, record: TrialRecord) -> None:
        try:
            record.run_id = self.runs.start(record.number, record.name, record.start_ms)["run_id"]
        except Exception as exc:  # the tracking server is unreachable: the trial is not run
            record.fail(f"could not create the trial's run: {one_line(exc)}")

    def finished(self, record: TrialRecord, model: Any) -> None:
        for key, value in self.runs.finish(record.number, record, model).items():
            setattr(record, key, value)


def _evaluate(objective: Objective, tracking_uri: str, record: TrialRecord) -> Any:
    with threadpool_limits(limits=objective.n_threads):
        return evaluate_trial(objective, record, tracking_uri)


@dataclass(frozen=True)
class ExecutorTrial:
    """One trial as it runs on a Spark executor."""

    objective: Objective
    spec: WriterSpec
    number: int

    def __call__(self, point) -> dict[str, Any]:
        os.environ.update(QUIET_MLFLOW)
        record = TrialRecord(self.number, decode(point))
        key = (self.spec.tracking_uri, self.spec.parent_run_id)
        runs = _RUNS.get(key) or _RUNS.setdefault(key, self.spec.connect())
        result = run_trial(
            record, partial(_evaluate, self.objective, self.spec.tracking_uri), _Synchronous(runs)
        )
        return {**result, "record": record}


class SparkObjective:
    """What SparkTrials ships to executors; numbers each trial as its job is serialised."""

    def __init__(self, objective: Objective, spec: WriterSpec, numbers: Numbers) -> None:
        self.objective, self.spec, self.numbers = objective, spec, numbers

    def __reduce__(self):
        return ExecutorTrial, (self.objective, self.spec, self.numbers.take())

    def __call__(self, point):
        raise AssertionError("SparkTrials runs the objective on executors")


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
    from hyperopt import SparkTrials

    executor = ctx.config.executor
    spark = session(executor.master)
    spark.sparkContext.setLogLevel("ERROR")
    trials = ctx.trials(SparkTrials(parallelism=executor.workers, spark_session=spark))
    spec = replace(ctx.spec, tracking_uri=absolute_uri(ctx.spec.tracking_uri))
    interrupted = True
    try:
        # fmin's loop queues at most max_queue_len new trials per poll (1 s): one per Spark
        # slot, so a trial is ready whenever SparkTrials' dispatcher looks.
        ctx.minimize(SparkObjective(ctx.prepared.objective, spec, ctx.numbers), trials, executor.workers)
        interrupted = False
    finally:
        # A task that returned left its record in its result (SparkTrials marks the trial
        # DONE); a task that died or was cancelled left none, and its run is ended below.
        trials.refresh()
        done = [doc["result"]["record"] for doc in trials.trials if "record" in doc["result"]]
        ctx.records.extend(sorted(done, key=lambda r: r.number))
        ctx.records.extend(_end_lost(ctx, {r.number for r in done}, KILLED if interrupted else FAILED))


def _end_lost(ctx: TrialContext, reported: set[int], status: str) -> list[TrialRecord]:
    """Children whose Spark task died before reporting: ended ``status``, returned as records."""
    client = MlflowClient(ctx.spec.tracking_uri)
    query = f"tags.`{PARENT_RUN_TAG}` = '{ctx.spec.parent_run_id}' and attributes.status = '{RUNNING}'"
    lost = []
    for run in client.search_runs([ctx.spec.experiment_id], query, max_results=5000):
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
