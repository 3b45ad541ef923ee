"""Your own training function as the objective: hyperopt's protocol, plus a trial handle.

``fn(params)`` returns a loss, or hyperopt's result dict (``loss``, ``status``, extras); an
existing hyperopt objective works unchanged. ``fn(params, trial)`` also gets a :class:`Trial`:
log metrics (with steps), params, tags, artifacts and a model to this trial's child run, and
read the experiment's prepared data. A ``model`` in the result (or ``trial.log_model``) is the
trial's model; the best trial's model is the search's final model (nothing is refit).
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import importlib.util
import inspect
import math
import numbers
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo_plugin.errors import one_line
from hpo_plugin.objectives.base import TrialFailed, TrialOutcome
from hpo_plugin.objectives.trial_run import active_run, uses_mlflow
from hpo_plugin.pruners import Reporter, loss_of
from hpo_plugin.tracking.records import TrialLog
from hpo_plugin.tracking.schema import VALUE_METRIC

if TYPE_CHECKING:
    from hpo_plugin.data import Dataset

RESERVED = {"loss", "status", "model", "error", "attachments"}  # result keys that are not metrics
_CURRENT: contextvars.ContextVar[Trial | None] = contextvars.ContextVar("hpo_trial", default=None)


def current_trial() -> Trial:
    """The running trial's handle, from inside an objective that takes only its params (an
    existing hyperopt objective): report steps for pruning, log to the trial's run."""
    trial = _CURRENT.get()
    if trial is None:
        raise RuntimeError("hpo_plugin.current_trial() is only available while a trial's objective runs")
    return trial


class Trial:
    """A function objective's handle on its trial: what it logs lands in the trial's child run."""

    def __init__(
        self,
        params: Mapping[str, Any],
        data: Dataset | None,
        reporter: Reporter | None = None,
        maximize: bool = False,
    ) -> None:
        self.params = dict(params)
        self._data = data
        self.log = TrialLog()
        self.model: Any = None
        self._reporter = reporter if reporter is not None else Reporter()
        self._maximize = maximize

    def report(self, step: int, value: float) -> None:
        """The trial's value so far at ``step`` (an epoch, a round, a fold), in the direction of
        its result: the pruner compares it with the other trials' values at the same step, and
        it is logged as the ``value`` metric at that step (a learning curve in the MLflow UI)."""
        try:
            loss = loss_of(float(value), self._maximize)
        except (TypeError, ValueError):
            raise ValueError(f"trial.report: the value must be a number, got {value!r}") from None
        try:
            self._reporter.report(step, loss, (VALUE_METRIC, float(value)))
        except ValueError as exc:
            raise ValueError(f"trial.report: {exc}") from None

    def should_prune(self) -> bool:
        """Whether the search's pruner says to stop after the last report; then ``raise
        hpo_plugin.TrialPruned()``. Always False when the experiment sets no ``search.pruning``."""
        return self._reporter.pruned

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        """One value of a metric; logged at several steps it is a curve in the MLflow UI."""
        self.log.metrics.append((key, float(value), int(step)))

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step)

    def log_param(self, key: str, value: Any) -> None:
        self.log.params[key] = value

    def set_tag(self, key: str, value: Any) -> None:
        self.log.tags[key] = str(value)

    def log_artifact(self, local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
        """A file for the trial's run; copied now, so the function may delete its own."""
        keep = Path(tempfile.mkdtemp(prefix="hpo-artifact-")) / Path(local_path).name
        shutil.copyfile(local_path, keep)
        self.log.artifacts.append((str(keep), artifact_path))

    def log_model(self, model: Any) -> None:
        """The trial's model (the same as returning it as ``result["model"]``)."""
        self.model = model

    @property
    def data(self) -> Dataset:
        """The experiment's prepared data: ``X_search``/``y_search``, ``folds``, ``X_test``/``y_test``."""
        if self._data is None:
            raise RuntimeError("this experiment has no 'data:' section; add one to read data from the trial")
        return self._data

    def train_and_validation(self) -> tuple[Any, Any, Any, Any]:
        """``(X_train, y_train, X_val, y_val)``: the first validation split of the search data."""
        data = self.data
        train, val = data.folds[0]
        return data.X_search.iloc[train], data.y_search[train], data.X_search.iloc[val], data.y_search[val]


@dataclass(frozen=True)
class FunctionObjective:
    """A user's function as the search's objective.

    ``spec`` (``file.py:name`` or ``package.module:name``) is what crosses to worker processes
    and Spark tasks, each of which loads the function once; ``fn`` is a function given in Python.
    """

    spec: str | None
    base_dir: str
    dataset: Dataset | None
    n_threads: int
    maximize: bool = False
    fn: Callable | None = None
    active_run: str = "auto"  # "always": the trial's run is active even if fn's module has no MLflow
    # Called as hyperopt calls it, fn(point) only (an hp.* space's objective, whose second
    # parameter, if any, is its own): the handle is hpo_plugin.current_trial().
    point_only: bool = False
    refits = False

    def __getstate__(self) -> dict[str, Any]:
        """``fn`` travels by value where it must (defined in ``__main__`` or a notebook cell), by
        reference otherwise: cloudpickle, as hyperopt's SparkTrials ships its objective."""
        state = dict(self.__dict__)
        if state["fn"] is not None:
            state["fn"] = dumps_function(state["fn"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("fn"), bytes):
            import cloudpickle

            state = {**state, "fn": cloudpickle.loads(state["fn"])}
        self.__dict__.update(state)

    def function(self) -> Callable:
        return self.fn if self.fn is not None else load_function(self.spec, self.base_dir)

    @property
    def uses_mlflow(self) -> bool:
        """Whether its trial's run must be active: ``active_run: always``, or its module uses MLflow."""
        return self.active_run == "always" or uses_mlflow(self.function())

    def evaluate(
        self, params: Mapping[str, Any], run: tuple[str, str] | None = None, reporter: Reporter | None = None
    ) -> TrialOutcome:
        """Call the function; with ``run`` (tracking URI, run id), that run is MLflow's active run
        meanwhile, so the function's own ``mlflow.log_*`` calls and autologging land in it."""
        fn = self.function()
        trial = Trial(params if isinstance(params, Mapping) else {}, self.dataset, reporter, self.maximize)
        argument = dict(params) if isinstance(params, Mapping) else params  # an hp.* point as it is
        token = _CURRENT.set(trial)
        try:
            with active_run(run) as logged:
                with_trial = takes_trial(fn) and not self.point_only
                result = fn(argument, trial) if with_trial else fn(argument)
        finally:
            _CURRENT.reset(token)
        try:
            value, metrics, model = read_result(result)
        except TrialFailed as exc:  # about the function's result: name the function
            raise TrialFailed(f"{exc} ({_defined_at(fn)})") from None
        _keep_attachments(result, trial)
        if self.maximize or trial._reporter.steps:  # the last point of its curve, if it reported
            metrics[VALUE_METRIC] = value
        model_id = logged.model_id
        model = None if model_id else (model or trial.model)  # a model it logged itself comes first
        return TrialOutcome(-value if self.maximize else value, metrics, model, trial.log, model_id)

    def refit_and_test(self, params: Mapping[str, Any]) -> tuple[Any, dict[str, float]]:
        raise NotImplementedError("a function objective's final model is its best trial's model")


def dumps_function(fn: Callable) -> bytes:
    """``fn`` pickled so that a fresh process loads it: by value unless its module is installed
    (a test module, a script's sibling module: not importable from a worker's ``sys.path``)."""
    import cloudpickle

    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    by_value = module is not None and module.__name__ != "__main__" and not _installed(module)
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(fn)
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def _installed(module: Any) -> bool:
    """Whether ``module`` is a file of this environment's library folders (or built in)."""
    file = getattr(module, "__file__", None)
    if file is None:
        return True
    roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib", "platstdlib")}
    return any(Path(file).resolve().is_relative_to(Path(root).resolve()) for root in roots)


def _keep_attachments(result: Any, trial: Trial) -> None:
    """hyperopt's ``result["attachments"]`` (name -> bytes or text) as the trial's artifacts."""
    attachments = result.get("attachments") if isinstance(result, Mapping) else None
    if not isinstance(attachments, Mapping):
        return
    folder = Path(tempfile.mkdtemp(prefix="hpo-attachments-"))
    for name, content in attachments.items():
        path = folder / Path(str(name)).name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(str(content))
        trial.log_artifact(path, "attachments")
    shutil.rmtree(folder, ignore_errors=True)


def _defined_at(fn: Callable) -> str:
    """``name`` and where it is defined (``objective in train.py:12``), for errors about its result."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"{name} in {Path(code.co_filename).name}:{code.co_firstlineno}" if code else name


def read_result(result: Any) -> tuple[float, dict[str, float], Any]:
    """(the returned value, numeric extras as metrics, the model) from a number or hyperopt's dict."""
    if isinstance(result, Mapping):
        if (status := result.get("status", "ok")) != "ok":
            raise TrialFailed(str(result.get("error") or f"the function returned status {status!r}"))
        if "loss" not in result:
            raise TrialFailed("the function's result has no 'loss'; return a number or {'loss': ...}")
        value, model = result["loss"], result.get("model")
        metrics = {
            k: float(v)
            for k, v in result.items()
            if k not in RESERVED and isinstance(v, numbers.Real) and not isinstance(v, bool)
        }
    else:
        value, model, metrics = result, None, {}
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TrialFailed(f"the function returned {type(value).__name__}; return a number (the loss)")
    if not math.isfinite(value):
        raise TrialFailed(f"the function returned {value}")
    return float(value), metrics, model


def takes_trial(fn: Callable) -> bool:
    """Whether ``fn`` takes a second positional argument (the trial handle)."""
    positional = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


def check_signature(fn: Callable, name: str) -> None:
    """ValueError unless ``fn`` can be called as ``fn(params)`` or ``fn(params, trial)``."""
    if not callable(fn):
        raise ValueError(f"{name} is a {type(fn).__name__}, not a function")
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return  # a builtin or C function: it will say so itself
    required = [
        p for p in parameters if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    positional = [
        p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if not positional or len(required) > 2 or any(p.kind == p.KEYWORD_ONLY for p in required):
        raise ValueError(f"{name}{inspect.signature(fn)} cannot be called as fn(params) or fn(params, trial)")


@functools.cache
def load_function(spec: str, base_dir: str) -> Callable:
    """The function at ``file.py:name`` (relative to ``base_dir``) or ``package.module:name``.

    Raises ValueError saying what to fix. Loaded once per process.
    """
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise ValueError(
            f"{spec!r}: give 'file.py:name' (next to the experiment file) or 'package.module:name'"
        )
    if where.endswith(".py"):
        path = Path(where) if Path(where).is_absolute() else Path(base_dir) / where
        if not path.is_file():
            raise ValueError(f"{path} does not exist; the file is relative to the experiment file")
        if str(path.parent) not in sys.path:  # its own imports resolve as when run as a script
            sys.path.insert(0, str(path.parent))
        module_spec = importlib.util.spec_from_file_location(f"hpo_objective_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise ValueError(f"{path} failed to load: {one_line(exc)}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise ValueError(
                f"cannot import {where}: {exc}; check the module path (is it installed?)"
            ) from None
    if not hasattr(module, name):
        raise ValueError(f"{where} has no {name!r}")
    fn = getattr(module, name)
    check_signature(fn, name)
    return fn
