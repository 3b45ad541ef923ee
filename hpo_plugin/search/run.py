"""A tracked search, step by step: prepare -> open (history, parent run, writer) -> trials -> summary.

Each step is a named function below; :func:`run_search` only puts them in order and makes
sure that, whatever happens, the parent run and every trial run end with their true status.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import mlflow
from hyperopt import Trials
from mlflow.tracking import MlflowClient

from hpo_plugin.config import ExperimentConfig
from hpo_plugin.errors import SearchInterrupted, StopSignal
from hpo_plugin.executors.context import TrialContext
from hpo_plugin.promotion import Registration, register_search
from hpo_plugin.search.prepare import executor_of, prepare_search
from hpo_plugin.search.start import open_search
from hpo_plugin.search.summary import finish
from hpo_plugin.tracking.client import end_run, prepare_store
from hpo_plugin.tracking.records import FAILED, FINISHED, KILLED, TrialRecord

for _name in ("hyperopt", "hyperopt-spark", "py4j"):
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class SearchResult:
    parent_run_id: str
    experiment_id: str
    best: TrialRecord | None  # None: constraints no trial met (``not_registered`` says so)
    records: tuple[TrialRecord, ...]
    test_metrics: dict[str, float]
    model_id: str | None  # None: a function objective whose trials logged no model
    elapsed_s: float
    warm_used: int = 0
    warm_skipped: int = 0
    registration: Registration | None = None  # None: not registered (see ``not_registered``)
    not_registered: str = ""  # why not, in a line
    trials: Trials | None = None  # hyperopt's trials of this run (documents, results, losses)
    phases: dict[str, float] = field(default_factory=dict)  # where run_search's time went, in order

    @property
    def n_ok(self) -> int:
        return sum(r.status == FINISHED and not r.pruned for r in self.records)

    @property
    def n_pruned(self) -> int:
        return sum(r.pruned for r in self.records)

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
    objective: Callable | None = None,
    parent_run_id: str | None = None,
) -> SearchResult:
    """Run a tracked search: parent run, one child run per trial, the final model on the parent,
    registered through the champion gate (as ``hpo search`` does) unless ``register.enabled``
    is false.

    ``resume`` continues the interrupted search with that parent run id, from MLflow alone.
    ``objective`` is your training function (``fn(params)`` or ``fn(params, trial)``; with an
    hp.* space, ``fn(point)`` as hyperopt calls it), for an experiment with a top-level
    ``space`` and no model. ``parent_run_id`` is a RUNNING run to be the search's parent (the
    active run when ``fmin`` starts); by default ``MLFLOW_RUN_ID`` or a new run.
    """
    clock = Clock()
    executor = executor_of(config)
    executor.prestart(config.executor.workers)  # worker processes start while we prepare
    prepared = prepare_search(config, objective)
    clock.lap("preparing (data, the objective's imports)")
    client = _connect(tracking_uri)
    clock.lap("the tracking store")
    search = open_search(client, prepared, experiment_name, resume, progress, parent_run_id)
    with _ends_runs(search.ctx, client, search.parent_id, config.source, objective is not None):
        clock.lap("opening the search")
        executor.runner()(search.ctx)
        clock.lap("trials")
        records, best, test_metrics, model_id = finish(search.ctx, client, search.models, search.parent_id)
        clock.lap("refit and summary" if prepared.objective.refits else "summary")
    if best is None:
        registration, why_not = None, no_feasible_trial(config, records)
    else:
        registration, why_not = _register(client, config, search.parent_id, model_id)
    clock.lap("registration")
    warm = search.warm
    return SearchResult(
        search.parent_id,
        search.parent.info.experiment_id,
        best,
        tuple(records),
        test_metrics,
        model_id,
        time.perf_counter() - search.started,
        warm.used if warm else 0,
        warm.skipped if warm else 0,
        registration,
        why_not,
        search.ctx.hyperopt_trials,
        clock.laps,
    )


class Clock:
    """Where a search's time went: seconds per phase, in order."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.laps[phase] = self.laps.get(phase, 0.0) + now - self._last
        self._last = now


def _register(
    client: MlflowClient, config: ExperimentConfig, parent_id: str, model_id: str | None
) -> tuple[Registration | None, str]:
    """The final model registered through the champion gate, or why it was not."""
    if not config.registration.enabled:
        return None, f"register.enabled is false; register later with: hpo register --run {parent_id}"
    if model_id is None:
        return None, "no trial logged a model (return one as result['model'], or log it with MLflow)"
    name, margin = config.registered_model_name, config.registration.margin
    return register_search(client, parent_id, name, margin), ""


def no_feasible_trial(config: ExperimentConfig, records) -> str:
    """Why a search with constraints has no final model, in a line."""
    bounds = "; ".join(b.text() for b in config.objective.tradeoffs.constraints)
    judged = sum(r.feasible is False for r in records)
    return f"no trial met the constraints ({bounds}; {judged} judged trials missed them): nothing registered"


def _connect(tracking_uri: str | None) -> MlflowClient:
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    prepare_store(mlflow.get_tracking_uri())
    return MlflowClient()


@contextlib.contextmanager
def _ends_runs(
    ctx: TrialContext, client: MlflowClient, parent_id: str, source: str, from_python: bool
) -> Iterator[None]:
    """End the parent FINISHED, or KILLED (Ctrl-C, SIGTERM) or FAILED with the writer's runs."""
    try:
        with _interruptible():
            yield
    except (KeyboardInterrupt, StopSignal) as exc:
        ctx.writer.close(client)
        end_run(client, parent_id, KILLED)
        reason = exc.name if isinstance(exc, StopSignal) else "Ctrl-C"
        kept = sum(r.status == FINISHED for r in ctx.writer.records + ctx.records)
        raise SearchInterrupted(
            f"search stopped by {reason}: parent run {parent_id} and its unfinished trial "
            f"ended KILLED; the {kept} finished trials are kept; continue with: "
            + (
                f"hpo search {source} --resume {parent_id}"
                if source and not from_python
                else f"resume='{parent_id}' and the same objective function (it is not stored)"
            )
        ) from None
    except BaseException:
        ctx.writer.close(client)
        end_run(client, parent_id, FAILED)
        raise
    end_run(client, parent_id, FINISHED)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C and SIGTERM as a StopSignal in the search thread: it stops the search wherever it
    lands, even in a trial's code (whose own KeyboardInterrupt or SystemExit fails that trial)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame):
        raise StopSignal("Ctrl-C" if signum == signal.SIGINT else "SIGTERM")

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
