"""The search: validate everything, run hyperopt's fmin, record it all in MLflow.

Nothing is written to MLflow until the config, the data, the space and the algorithm have
all been checked, so a bad input never leaves a run behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from hyperopt import Trials, fmin
from hyperopt.exceptions import AllTrialsFailed
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags
from threadpoolctl import threadpool_limits

from hpo_plugin.algorithms import AlgorithmInput, build_algorithm
from hpo_plugin.config import ExperimentConfig, local_master_cores
from hpo_plugin.data import Dataset, prepare
from hpo_plugin.errors import ConfigError, SearchError, SearchInterrupted
from hpo_plugin.executors import EXECUTORS
from hpo_plugin.metrics import METRICS
from hpo_plugin.models import MODEL_FAMILIES, unsupported_task
from hpo_plugin.objective import Objective
from hpo_plugin.parent import (
    ROLE_TAG,
    flatten,
    log_summary,
    open_parent,
    search_tags,
    setup_payload,
    write_final_model,
    write_setup,
)
from hpo_plugin.plugin import search_context
from hpo_plugin.records import FAILED, FINISHED, KILLED, TrialRecord
from hpo_plugin.resume import check_resumable, load_history
from hpo_plugin.space import SpaceError, decode, names, to_hyperopt
from hpo_plugin.startpoints import start_points
from hpo_plugin.tracking import ModelWriter, end_run, log_batch, prepare_store
from hpo_plugin.trialrun import Numbers, TrialContext, evaluate_trial, max_evals, one_line
from hpo_plugin.warmstart import warm_start
from hpo_plugin.writer import TrialWriter, WriterSpec

for _name in ("hyperopt", "hyperopt-spark", "py4j"):
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class PreparedSearch:
    """A fully validated search, ready to run bare or tracked."""

    config: ExperimentConfig
    dataset: Dataset
    objective: Objective
    suggest: Any
    hyperopt_space: dict[str, Any]


@dataclass(frozen=True)
class SearchResult:
    parent_run_id: str
    experiment_id: str
    best: TrialRecord
    records: tuple[TrialRecord, ...]
    test_metrics: dict[str, float]
    model_id: str
    elapsed_s: float
    warm_used: int = 0
    warm_skipped: int = 0

    @property
    def n_ok(self) -> int:
        return sum(r.status == "FINISHED" for r in self.records)

    @property
    def n_failed(self) -> int:
        return sum(r.status == "FAILED" for r in self.records)


def threads_per_trial(config: ExperimentConfig) -> int:
    """Never oversubscribe: one core is left to the trial writer, the rest shared by the trials
    in flight. Trials on remote Spark executors get one thread unless the config says more."""
    executor = config.executor
    if config.search.threads_per_trial:
        return config.search.threads_per_trial
    if executor.name == "spark" and local_master_cores(executor.master) is None:
        return 1
    return max(1, ((os.cpu_count() or 1) - 1) // executor.workers)


def prepare_search(config: ExperimentConfig) -> PreparedSearch:
    """Load the data and check every cross-section constraint; raises HpoError subclasses."""
    if problem := EXECUTORS[config.executor.name].missing():
        raise ConfigError(config.source, "executor.name", problem)
    base_dir = Path(config.source).parent if config.source else Path.cwd()
    dataset = prepare(config.data, config.objective.validation, base_dir)
    if dataset.task not in METRICS[config.objective.metric].tasks:
        raise ConfigError(
            config.source,
            "objective.metric",
            f"{config.objective.metric} does not apply to a {dataset.task} task",
        )
    for i, candidate in enumerate(config.candidates):
        key = "model.family" if config.model is not None else f"models.{i}.family"
        if problem := unsupported_task(candidate.family, dataset.task):
            raise ConfigError(config.source, key, problem)
        valid = MODEL_FAMILIES[candidate.family].param_names(dataset.task)
        section = key.removesuffix("family")
        for where, keys in (("params", set(candidate.params)), ("space", names(candidate.space))):
            if unknown := sorted(keys - valid):
                raise ConfigError(
                    config.source,
                    f"{section}{where}",
                    f"{unknown} are not parameters of {candidate.family}; check the spelling",
                )
    try:
        raw_tpe = config.search.tpe.settings if config.search.tpe else None
        start = start_points(config, dataset.task)
        spec = AlgorithmInput(config.space, config.search.seed, start, raw_tpe)
        suggest = build_algorithm(config.search.algo, spec)
    except SpaceError as exc:
        raise ConfigError(config.source, "search.algo", str(exc)) from None
    objective = Objective(config, dataset, threads_per_trial(config))
    return PreparedSearch(config, dataset, objective, suggest, to_hyperopt(config.space))


def run_fmin(
    prepared: PreparedSearch, on_trial, progress: bool = False, trials=None, rstate=None, early_stop_fn=None
) -> Trials:
    """hyperopt's fmin over ``on_trial(params) -> result dict``, seeded.

    ``progress`` shows hyperopt's bar (trial count, best loss, rate, ETA). ``trials`` and
    ``rstate`` (a resumed search's) supply the trials so far and the seed stream past them.
    """
    search = prepared.config.search
    trials = trials if trials is not None else Trials()
    rstate = rstate if rstate is not None else np.random.default_rng(search.seed)
    # BLAS and OpenMP pools get the trial's thread budget too (they busy-wait otherwise).
    with threadpool_limits(limits=prepared.objective.n_threads), contextlib.suppress(AllTrialsFailed):
        # AllTrialsFailed: we report that ourselves, with the first error
        fmin(
            lambda point: on_trial(decode(point)),
            space=prepared.hyperopt_space,
            algo=prepared.suggest,
            max_evals=max_evals(search, trials),
            timeout=search.time_limit,
            loss_threshold=search.loss_threshold,
            early_stop_fn=early_stop_fn,
            trials=trials,
            rstate=rstate,
            show_progressbar=progress,
            return_argmin=False,
        )
    return trials


def run_bare(config: ExperimentConfig) -> tuple[TrialRecord, dict[str, float], float]:
    """The same search with no MLflow at all (the overhead benchmark's baseline)."""
    started = time.perf_counter()
    prepared = prepare_search(config)
    records: list[TrialRecord] = []

    def on_trial(params):
        record = TrialRecord(len(records) + 1, params)
        records.append(record)
        return evaluate_trial(prepared.objective, record)[0]

    run_fmin(prepared, on_trial)
    best = min((r for r in records if r.loss is not None), key=lambda r: r.loss)
    _, test_metrics = prepared.objective.refit_and_test(best.params)
    return best, test_metrics, time.perf_counter() - started


@contextlib.contextmanager
def interruptible():
    """Turn SIGTERM into an exception in the search thread, like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        raise SearchInterrupted("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_search(
    config: ExperimentConfig,
    *,
    tracking_uri: str | None = None,
    experiment_name: str | None = None,
    progress: bool = False,
    resume: str | None = None,
) -> SearchResult:
    """Run a tracked search: parent run, one child run per trial, final refit on the parent.

    ``resume`` continues the interrupted search with that parent run id, from MLflow alone.
    """
    EXECUTORS[config.executor.name].prestart(config.executor.workers)
    prepared = prepare_search(config)
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    prepare_store(mlflow.get_tracking_uri())
    client = MlflowClient()
    labels = [p.label for p in flatten(config.space)]
    warm = (
        warm_start(client, list(config.search.warm_start), config, labels)
        if config.search.warm_start
        else None
    )
    history = warm.history if warm else None
    if resume:
        parent_run = check_resumable(client, resume, config)
        history = load_history(client, resume, config, labels, history)
        client.update_run(resume, status="RUNNING")
    else:
        parent_run = open_parent(client, config, experiment_name)
    parent_id, experiment_id = parent_run.info.run_id, parent_run.info.experiment_id
    started = time.perf_counter()
    if warm:
        log_batch(
            client,
            parent_id,
            params={"search.warm_start": ",".join(config.search.warm_start)},
            metrics={"n_warm_start_trials": warm.used, "n_warm_start_skipped": warm.skipped},
        )
    dataset = prepared.dataset
    models = ModelWriter.for_data(client, experiment_id, dataset.X_search, dataset.y_search)
    with search_context(parent_id, config.digest):  # what our run-context provider reads
        trial_tags = {**resolve_tags(), **search_tags(config, parent_id), ROLE_TAG: "trial"}
    spec = WriterSpec(
        mlflow.get_tracking_uri(),
        experiment_id,
        parent_id,
        trial_tags,
        models.signature,
        models.input_example,
    )
    writer = TrialWriter(spec, history=history.records if history else ())
    numbers = Numbers(history.next_number if history else 1)
    ctx = TrialContext(prepared, writer, spec, history, progress, numbers)
    try:
        # A resumed search's settings are logged already, unless it died before its writer did that.
        if "search.algo" not in parent_run.data.params:
            writer.call("setup", write_setup, setup_payload(prepared, parent_id))
        with interruptible():
            EXECUTORS[config.executor.name].runner()(ctx)
            best, test_metrics, model_id = _finish(ctx, client, models, parent_id)
            records = writer.records + ctx.records
    except (KeyboardInterrupt, SearchInterrupted) as exc:
        writer.close(client)
        end_run(client, parent_id, KILLED)
        reason = "Ctrl-C" if isinstance(exc, KeyboardInterrupt) else str(exc)
        raise SearchInterrupted(
            f"search stopped by {reason}: parent run {parent_id} and its unfinished trial "
            f"ended KILLED; the {sum(r.status == 'FINISHED' for r in writer.records + ctx.records)} "
            f"finished trials are kept; continue with: hpo search {config.source} --resume {parent_id}"
        ) from None
    except BaseException:
        writer.close(client)
        end_run(client, parent_id, FAILED)
        raise
    end_run(client, parent_id, FINISHED)
    return SearchResult(
        parent_id,
        experiment_id,
        best,
        tuple(records),
        test_metrics,
        model_id,
        time.perf_counter() - started,
        warm.used if warm else 0,
        warm.skipped if warm else 0,
    )


def _finish(ctx: TrialContext, client, models, parent_id):
    """Refit the best trial while the writer drains, then check it really is eligible.

    The refit of hyperopt's best overlaps the writer's last logs; if that trial's model failed
    to log, the best eligible trial is refit instead and the stray final model deleted.
    """
    prepared, writer = ctx.prepared, ctx.writer
    scored = [r for r in writer.records + ctx.records if r.loss is not None]
    tentative = min(scored, key=lambda r: r.loss) if scored else None
    if tentative is not None:
        model, test_metrics = prepared.objective.refit_and_test(tentative.params)
        writer.call("final", write_final_model, parent_id, model)
    records = writer.close(client) + ctx.records
    if error := writer.results.get("setup", {}).get("error"):
        raise SearchError(f"recording the search's settings and dataset failed: {error}")
    eligible = [r for r in records if r.eligible]
    if not eligible:
        log_summary(client, parent_id, records, None, {}, None)
        raise SearchError(_all_failed(records))
    best = min(eligible, key=lambda r: r.loss)
    final = writer.results.get("final", {})
    if best is not tentative:
        if final.get("model_id"):
            client.delete_logged_model(final["model_id"])
        model, test_metrics = prepared.objective.refit_and_test(best.params)
        final = {"model_id": models.log(parent_id, model, tags={ROLE_TAG: "final"})}
    if not final.get("model_id"):
        raise SearchError(f"the final model could not be logged: {final.get('error')}")
    log_summary(client, parent_id, records, best, test_metrics, final["model_id"])
    if prepared.config.search.report:
        _report(client, parent_id)
    return best, test_metrics, final["model_id"]


def _report(client, parent_id: str) -> None:
    from hpo_plugin.report import log_report

    try:
        log_report(client, parent_id)
    except Exception as exc:  # the search's results stand without the plots
        print(f"hpo: warning: report failed ({one_line(exc)}); retry with `hpo report {parent_id}`")


def _all_failed(records: list[TrialRecord]) -> str:
    if not records:
        return "no trial ran (the timeout may be too short); raise search.timeout"
    first = next((r.error for r in records if r.error), "no trial produced a logged model")
    return f"all {len(records)} trials failed; first error: {first}"
