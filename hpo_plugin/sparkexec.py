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

import contextlib
import os
import sys
from dataclasses import dataclass, replace
from typing import Any

from hyperopt import STATUS_FAIL, fmin
from hyperopt.exceptions import AllTrialsFailed
from mlflow.tracking import MlflowClient
from threadpoolctl import threadpool_limits

from hpo_plugin.objective import Objective
from hpo_plugin.space import decode
from hpo_plugin.tracking import end_run
from hpo_plugin.trialrun import Numbers, TrialContext, evaluate_trial, one_line
from hpo_plugin.writer import (
    ERROR_TAG,
    FAILED,
    KILLED,
    QUIET_MLFLOW,
    RUNNING,
    TRIAL_NUMBER_TAG,
    TrialRecord,
    WriterSpec,
)

_WORKERS: dict[tuple[str, str], Any] = {}  # per Python worker: one MLflow writer per search


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
        worker = _WORKERS.get(key) or _WORKERS.setdefault(key, self.spec.worker())
        try:
            record.run_id = worker.start(record.number, record.name, record.start_ms)["run_id"]
        except Exception as exc:  # the tracking server is unreachable: the trial is not run
            record.fail(f"could not create the trial's run: {one_line(exc)}")
            return {"status": STATUS_FAIL, "trial_number": record.number, "record": record}
        with threadpool_limits(limits=self.objective.n_threads):
            result, model = evaluate_trial(self.objective, record)
        for key_, value in worker.finish(record.number, record, model).items():
            setattr(record, key_, value)
        if record.status == FAILED:
            result = {"status": STATUS_FAIL, "trial_number": record.number}
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
        .config("spark.python.daemon.module", "hpo_plugin.sparkdaemon")
        .getOrCreate()
    )


def run(ctx: TrialContext) -> None:
    from hyperopt import SparkTrials

    prepared, search, executor = ctx.prepared, ctx.config.search, ctx.config.executor
    spark = session(executor.master)
    spark.sparkContext.setLogLevel("ERROR")
    trials = ctx.trials(SparkTrials(parallelism=executor.workers, spark_session=spark))
    spec = replace(ctx.spec, tracking_uri=_absolute(ctx.spec.tracking_uri))
    interrupted = True
    try:
        with contextlib.suppress(AllTrialsFailed):
            fmin(
                SparkObjective(prepared.objective, spec, ctx.numbers),
                space=prepared.hyperopt_space,
                algo=prepared.suggest,
                max_evals=ctx.max_evals(trials),
                timeout=search.time_limit,
                loss_threshold=search.loss_threshold,
                early_stop_fn=ctx.early_stop_fn(),
                trials=trials,
                # fmin's loop queues at most this many new trials per poll (1 s): one per
                # Spark slot, so a trial is ready whenever SparkTrials' dispatcher looks.
                max_queue_len=executor.workers,
                rstate=ctx.rstate(),
                show_progressbar=ctx.progress,
                return_argmin=False,
            )
        interrupted = False
    finally:
        done = [doc["result"]["record"] for doc in trials._dynamic_trials if "record" in doc["result"]]
        ctx.records.extend(sorted(done, key=lambda r: r.number))
        ctx.records.extend(_end_lost(ctx, {r.number for r in done}, KILLED if interrupted else FAILED))


def _absolute(uri: str) -> str:
    """A relative sqlite path means the driver's directory, wherever an executor runs."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + os.path.abspath(uri.removeprefix("sqlite:///"))
    return uri


def _end_lost(ctx: TrialContext, reported: set[int], status: str) -> list[TrialRecord]:
    """Children whose Spark task died before reporting: ended ``status``, returned as records."""
    client = MlflowClient(ctx.spec.tracking_uri)
    query = f"tags.`mlflow.parentRunId` = '{ctx.spec.parent_run_id}' and attributes.status = '{RUNNING}'"
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
