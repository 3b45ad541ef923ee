"""A tracked search, step by step: prepare -> history -> parent run -> trials -> summary.

Each step is a named function below; :func:`run_search` only puts them in order and makes
sure that, whatever happens, the parent run and every trial run end with their true status.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import mlflow
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from hpo_plugin.config import ExperimentConfig
from hpo_plugin.errors import SearchInterrupted
from hpo_plugin.executors import EXECUTORS
from hpo_plugin.executors.context import TrialContext
from hpo_plugin.executors.trial import Numbers
from hpo_plugin.search.history import History, WarmStart, check_resumable, load_history, warm_start
from hpo_plugin.search.prepare import PreparedSearch, prepare_search
from hpo_plugin.search.summary import finish
from hpo_plugin.space import flatten
from hpo_plugin.tracking.client import end_run, log_batch, prepare_store
from hpo_plugin.tracking.logged_models import ModelLogger
from hpo_plugin.tracking.parent import open_parent, setup_payload, trial_tags, write_setup
from hpo_plugin.tracking.records import FAILED, FINISHED, KILLED, TrialRecord
from hpo_plugin.tracking.writer import TrialWriter, WriterSpec

for _name in ("hyperopt", "hyperopt-spark", "py4j"):
    logging.getLogger(_name).setLevel(logging.WARNING)


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
        return sum(r.status == FINISHED for r in self.records)

    @property
    def n_failed(self) -> int:
        return sum(r.status == FAILED for r in self.records)


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
    EXECUTORS[config.executor.name].prestart(config.executor.workers)  # overlaps the setup
    prepared = prepare_search(config)
    client = _connect(tracking_uri)
    warm = _warm_start(client, config)
    parent, history = _open_parent(client, config, experiment_name, resume, warm.history if warm else None)
    started = time.perf_counter()
    _log_warm_start(client, parent, config, warm)
    models = ModelLogger.for_data(
        client, parent.info.experiment_id, prepared.dataset.X_search, prepared.dataset.y_search
    )
    ctx = _start_trials(prepared, parent, models, history, progress)
    with _ends_runs(ctx, client, parent.info.run_id, config.source):
        EXECUTORS[config.executor.name].runner()(ctx)
        records, best, test_metrics, model_id = finish(ctx, client, models, parent.info.run_id)
    return SearchResult(
        parent.info.run_id,
        parent.info.experiment_id,
        best,
        tuple(records),
        test_metrics,
        model_id,
        time.perf_counter() - started,
        warm.used if warm else 0,
        warm.skipped if warm else 0,
    )


def _connect(tracking_uri: str | None) -> MlflowClient:
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    prepare_store(mlflow.get_tracking_uri())
    return MlflowClient()


def _labels(config: ExperimentConfig) -> list[str]:
    return [p.label for p in flatten(config.space)]


def _warm_start(client: MlflowClient, config: ExperimentConfig) -> WarmStart | None:
    if not config.search.warm_start:
        return None
    return warm_start(client, list(config.search.warm_start), config, _labels(config))


def _open_parent(
    client: MlflowClient,
    config: ExperimentConfig,
    experiment_name: str | None,
    resume: str | None,
    history: History | None,
) -> tuple[Run, History | None]:
    """A new parent run, or the resumed one (RUNNING again) with its trials added to ``history``."""
    if not resume:
        return open_parent(client, config, experiment_name), history
    parent = check_resumable(client, resume, config)
    history = load_history(client, resume, config, _labels(config), history)
    client.update_run(resume, status="RUNNING")
    return parent, history


def _log_warm_start(
    client: MlflowClient, parent: Run, config: ExperimentConfig, warm: WarmStart | None
) -> None:
    if warm:
        log_batch(
            client,
            parent.info.run_id,
            params={"search.warm_start": ",".join(config.search.warm_start)},
            metrics={"n_warm_start_trials": warm.used, "n_warm_start_skipped": warm.skipped},
        )


def _start_trials(
    prepared: PreparedSearch, parent: Run, models: ModelLogger, history: History | None, progress: bool
) -> TrialContext:
    """The trial writer, and the search's settings and dataset handed to it (unless resumed)."""
    parent_id = parent.info.run_id
    spec = WriterSpec(
        mlflow.get_tracking_uri(),
        parent.info.experiment_id,
        parent_id,
        trial_tags(prepared.config, parent_id),
        models.signature,
        models.input_example,
    )
    writer = TrialWriter(spec, history=history.records if history else ())
    # A resumed search's settings are logged already, unless it died before its writer did that.
    if "search.algo" not in parent.data.params:
        writer.call("setup", write_setup, setup_payload(prepared, parent_id))
    numbers = Numbers(history.next_number if history else 1)
    return TrialContext(prepared, writer, spec, history, progress, numbers)


@contextlib.contextmanager
def _ends_runs(ctx: TrialContext, client: MlflowClient, parent_id: str, source: str) -> Iterator[None]:
    """End the parent FINISHED, or KILLED (Ctrl-C, SIGTERM) or FAILED with the writer's runs."""
    try:
        with _interruptible():
            yield
    except (KeyboardInterrupt, SearchInterrupted) as exc:
        ctx.writer.close(client)
        end_run(client, parent_id, KILLED)
        reason = "Ctrl-C" if isinstance(exc, KeyboardInterrupt) else str(exc)
        kept = sum(r.status == FINISHED for r in ctx.writer.records + ctx.records)
        raise SearchInterrupted(
            f"search stopped by {reason}: parent run {parent_id} and its unfinished trial "
            f"ended KILLED; the {kept} finished trials are kept; continue with: "
            f"hpo search {source} --resume {parent_id}"
        ) from None
    except BaseException:
        ctx.writer.close(client)
        end_run(client, parent_id, FAILED)
        raise
    end_run(client, parent_id, FINISHED)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
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
