"""The trial's run while a user's code runs (a function's, in any process): MLflow's active run.

A function that uses MLflow gets its trial's run as the active run, so its ``mlflow.log_*``
calls, autologging and ``log_model`` land in its trial; its own ``mlflow.start_run()`` (an
existing hyperopt objective's ``nested=True`` one included) adopts that run instead of
opening another, and the last model it logged there becomes the trial's model.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@functools.cache  # asked on every trial: decided once per function
def uses_mlflow(fn: Callable) -> bool:
    """Whether ``fn`` uses MLflow: its module imported MLflow (or anything from it), or the
    function itself imports or names it."""
    for value in getattr(fn, "__globals__", {}).values():
        if (getattr(value, "__module__", None) or getattr(value, "__name__", None) or "").split(".")[
            0
        ] == "mlflow":
            return True
    code = getattr(fn, "__code__", None)
    names = (*code.co_names, *code.co_varnames) if code else ()
    return any(name.split(".")[0] == "mlflow" for name in names)


def open_tracking(tracking_uri: str) -> None:
    """Import MLflow and open its store at ``tracking_uri`` in this process, once: a worker does
    it before a limited trial's clock starts, so importing MLflow and connecting to its database
    (seconds on a busy machine) are not counted against ``search.trial_timeout``."""
    if tracking_uri in _OPENED:
        return
    import mlflow

    # MLflow keeps the store it opens per URI: active_run's start_run finds this one open.
    with contextlib.suppress(Exception):  # a store that fails to open fails the trial, with its error
        mlflow.MlflowClient(tracking_uri).search_experiments(max_results=1)
    _OPENED.add(tracking_uri)


_OPENED: set[str] = set()


@dataclass
class LoggedByTrial:
    """What the trial's own MLflow calls left behind: the model it logged in its run, if any."""

    model_id: str | None = None


@contextlib.contextmanager
def active_run(run: tuple[str, str] | None) -> Iterator[LoggedByTrial]:
    """Make the trial's run MLflow's active run, without ending it: its sink ends it, with its
    true status (``end_run(status="RUNNING")`` only pops it from MLflow's active runs).

    Meanwhile a ``mlflow.start_run()`` of the function's own (``nested=True`` or not, as in an
    existing hyperopt objective) adopts the trial's run instead of opening another, so what the
    function logs, models included, lands in its trial; the last model logged in that run
    becomes the trial's model.
    """
    logged = LoggedByTrial()
    if run is None:
        yield logged
        return
    import mlflow

    tracking_uri, run_id = run
    if mlflow.get_tracking_uri() != tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    mlflow.start_run(run_id=run_id, nested=True)  # nested: the caller's own run may be active (fmin's)
    own_start_run, own_end_run = mlflow.start_run, mlflow.end_run
    mlflow.start_run = functools.partial(_adopting_start_run, own_start_run, run_id)
    mlflow.end_run = functools.partial(_sparing_end_run, own_end_run, run_id)
    try:
        yield logged
    finally:
        mlflow.start_run, mlflow.end_run = own_start_run, own_end_run
        while (active := mlflow.active_run()) is not None and active.info.run_id != run_id:
            mlflow.end_run()  # a run the function started and left open
        mlflow.end_run(status="RUNNING")
        logged.model_id = _logged_in(run_id)


def _logged_in(run_id: str) -> str | None:
    """The last model this process logged, if it was logged in ``run_id``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        model = mlflow.last_logged_model()
    except MlflowException:  # logged earlier in another store: not this trial's
        return None
    return model.model_id if model is not None and model.source_run_id == run_id else None


def _sparing_end_run(end_run: Callable, trial_run_id: str, *args: Any, **kwargs: Any) -> None:
    """``mlflow.end_run`` during a trial: ends a run the function opened, never the trial's own
    (its sink ends it with its true status) nor, below it, the caller's."""
    import mlflow

    active = mlflow.active_run()
    if active is not None and active.info.run_id != trial_run_id:
        end_run(*args, **kwargs)


def _adopting_start_run(start_run: Callable, trial_run_id: str, run_id: str | None = None, **kwargs: Any):
    """``mlflow.start_run`` during a trial: with the trial's run active and no run id asked for,
    that run (its tags added), which leaving the ``with`` block does not end."""
    import mlflow
    from mlflow.tracking.fluent import ActiveRun

    active = mlflow.active_run()
    theirs = run_id is not None or kwargs.get("parent_run_id")
    if theirs or active is None or active.info.run_id != trial_run_id:
        return start_run(run_id=run_id, **kwargs)
    if kwargs.get("tags"):
        mlflow.set_tags(kwargs["tags"])

    class Adopted(ActiveRun):
        def __exit__(self, exc_type, exc_val, exc_tb):
            return False  # the trial's sink ends it, with its true status

    return Adopted(active)
