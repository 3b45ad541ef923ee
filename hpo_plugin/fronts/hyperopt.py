"""hyperopt's own front door: ``MlflowTrials``, a ``Trials`` for hyperopt's ``fmin``, and ``fmin``.

As hyperopt's ``SparkTrials`` changes where trials run and nothing the user wrote, passing
``trials=MlflowTrials(...)`` to ``hyperopt.fmin`` (or calling :func:`fmin`, which makes one)
runs the objective and the ``hp.*`` space as they are through the tracked search: a parent run,
a nested run per evaluation, the best trial's model registered through the champion gate,
resume from MLflow, local or Spark workers. ``Trials.fmin`` is hyperopt's documented hook for
a Trials backend to run its own loop; afterwards the trials read as hyperopt's do.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from typing import Any

from hyperopt import Trials, space_eval

from hpo_plugin.algorithms.points import StartFrom
from hpo_plugin.config import MAX_EVALS
from hpo_plugin.errors import SearchInterrupted
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.search.run import SearchResult, run_search

SEED_ENV = "HYPEROPT_FMIN_SEED"  # hyperopt's own setting for fmin's default seed


class MlflowTrials(Trials):
    """``trials=MlflowTrials()`` in hyperopt's ``fmin``: the search is tracked in MLflow.

    Options (all optional): ``parallelism`` (trials at once: local worker processes, or Spark
    tasks with ``executor="spark"`` and ``spark_master``), ``register`` (a registered model
    name: the best trial's model goes through the champion gate), ``resume`` (a parent run id:
    continue that search, ``max_evals`` counting its trials), ``experiment_name``, ``run_name``,
    ``tracking_uri``, ``pruning`` (``search.pruning`` settings as a dict, the objective reporting
    through :func:`hpo_plugin.current_trial`), ``patience`` (stop after that many trials
    without improvement), ``trial_timeout`` (seconds) and ``trial_memory_mb`` (each trial's
    limits: past them it is stopped and fails; trials then run in worker processes), ``also``
    (further objectives: names of keys of the objective's result dict, or ``{"name": ...,
    "direction": "maximize"}``) and ``constraints`` (``{"latency_ms": {"max": 5}}``): the
    search keeps the Pareto front and ``fmin`` returns the best feasible point, ``seed``
    (else from ``rstate``), ``report``, ``margin``.
    After ``fmin``, ``result`` is the :class:`~hpo_plugin.search.SearchResult` and
    ``parent_run_id`` its parent run; calling ``fmin`` again with these trials continues it.
    """

    def __init__(
        self,
        *,
        parallelism: int | None = None,
        executor: str | None = None,
        spark_master: str | None = None,
        register: str | None = None,
        resume: str | None = None,
        experiment_name: str | None = None,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        pruning: dict[str, Any] | None = None,
        patience: int | None = None,
        trial_timeout: float | None = None,
        trial_memory_mb: int | None = None,
        also: list[str | dict[str, str]] | None = None,
        constraints: dict[str, dict[str, float]] | None = None,
        seed: int | None = None,
        report: bool = True,
        margin: float = 0.0,
        exp_key: str | None = None,
    ) -> None:
        super().__init__(exp_key=exp_key)
        self.options = {
            "parallelism": parallelism,
            "executor": executor,
            "spark_master": spark_master,
            "register": register,
            "experiment_name": experiment_name,
            "run_name": run_name,
            "tracking_uri": tracking_uri,
            "pruning": pruning,
            "patience": patience,
            "trial_timeout": trial_timeout,
            "trial_memory_mb": trial_memory_mb,
            "also": also,
            "constraints": constraints,
            "seed": seed,
            "report": report,
            "margin": margin,
        }
        self.parent_run_id: str | None = resume
        self.result: SearchResult | None = None

    def fmin(
        self,
        fn: Callable,
        space: Any,
        algo: Callable | None = None,
        max_evals: int | None = None,
        timeout: float | None = None,
        loss_threshold: float | None = None,
        max_queue_len: int = 1,
        rstate: Any = None,
        verbose: bool = False,
        pass_expr_memo_ctrl: bool | None = None,
        catch_eval_exceptions: bool = False,
        return_argmin: bool = True,
        show_progressbar: bool = True,
        early_stop_fn: Callable | None = None,
        trials_save_file: str = "",
    ) -> Any:
        """hyperopt's ``fmin`` arguments, run as a tracked search; returns what ``fmin`` returns.

        A failed evaluation fails its trial, never the search (``catch_eval_exceptions`` is
        always on); ``max_queue_len`` is the executor's; ``trials_save_file`` is not needed:
        every trial is in MLflow, and ``resume=`` continues from there.
        """
        if pass_expr_memo_ctrl:
            raise ValueError(
                "MlflowTrials: pass_expr_memo_ctrl is not supported; take the point as fn(params)"
            )
        stops = timeout is not None or loss_threshold is not None or early_stop_fn is not None
        max_evals = _budget(max_evals, stops)
        if self.result is not None and len(self.trials) >= max_evals:
            return self._best(space, return_argmin)  # as hyperopt: nothing left to run
        client, parent = _tracking(self.options)
        seed = _seed(self.options["seed"], rstate, client, self.parent_run_id)
        definition = _definition(fn, space, algo, max_evals, timeout, loss_threshold, seed, early_stop_fn)
        config = load_experiment(_with_options(definition, self.options))
        if (traded := _with_tradeoffs(algo, config.objective.tradeoffs)) is not algo:
            definition["search"]["algo"] = traded
            config = load_experiment(_with_options(definition, self.options))
        made = None
        if parent is None and self.parent_run_id is None:
            parent = made = _new_parent(config, self.options["experiment_name"], self.options["run_name"])
        try:
            result = run_search(
                config,
                progress=bool(show_progressbar),
                resume=self.parent_run_id,
                objective=fn,
                parent_run_id=parent,
            )
        except SearchInterrupted as exc:  # Ctrl-C or SIGTERM: what a script's caller expects
            raise KeyboardInterrupt(str(exc)) from None
        except BaseException:
            _unless_used(client, made)
            raise
        if result.best is None:  # constraints no trial met: argmin is the least outside them
            warnings.warn(f"MlflowTrials: {result.not_registered}", stacklevel=3)
        elif self.options["register"] and result.registration is None:
            warnings.warn(f"MlflowTrials: nothing registered: {result.not_registered}", stacklevel=3)
        self.result, self.parent_run_id = result, result.parent_run_id
        self._dynamic_trials.clear()
        docs = [{**doc, "exp_key": self._exp_key} for doc in (result.trials.trials if result.trials else [])]
        self.insert_trial_docs(docs)
        self.refresh()
        return self._best(space, return_argmin)

    def _best(self, space: Any, return_argmin: bool) -> Any:
        return self.argmin if return_argmin else space_eval(space, self.argmin)


def fmin(
    fn: Callable,
    space: Any,
    algo: Callable | None = None,
    max_evals: int | None = None,
    timeout: float | None = None,
    loss_threshold: float | None = None,
    trials: Trials | None = None,
    rstate: Any = None,
    allow_trials_fmin: bool = True,
    pass_expr_memo_ctrl: bool | None = None,
    catch_eval_exceptions: bool = False,
    verbose: bool = True,
    return_argmin: bool = True,
    points_to_evaluate: list[dict[str, Any]] | None = None,
    max_queue_len: int = 1,
    show_progressbar: bool = True,
    early_stop_fn: Callable | None = None,
    trials_save_file: str = "",
    **options: Any,
) -> Any:
    """hyperopt's ``fmin`` (the same arguments), tracked in MLflow: ``trials`` defaults to
    ``MlflowTrials(**options)`` and ``algo`` to the Gaussian-process default
    (``hpo_plugin.gp.suggest``); ``points_to_evaluate`` (hyperopt's form: label -> value, a
    choice's index) are the first trials.

    ``options`` are :class:`MlflowTrials`'s (``parallelism=2``, ``register="name"``,
    ``resume=<parent run id>``, ...); with other ``Trials`` (hyperopt's, ``SparkTrials``) the
    search runs as hyperopt runs it, untracked by this package.
    """
    import hyperopt

    from hpo_plugin import gp

    if trials is None:
        trials = MlflowTrials(**options)
    elif options:
        raise TypeError(f"options {sorted(options)} are MlflowTrials' own; pass them to MlflowTrials(...)")
    if points_to_evaluate:
        algo = StartFrom(list(points_to_evaluate), algo or gp.suggest).suggest
    settings = {
        "max_evals": max_evals,
        "timeout": timeout,
        "loss_threshold": loss_threshold,
        "rstate": rstate,
        "pass_expr_memo_ctrl": pass_expr_memo_ctrl,
        "catch_eval_exceptions": catch_eval_exceptions,
        "verbose": verbose,
        "return_argmin": return_argmin,
        "max_queue_len": max_queue_len,
        "show_progressbar": show_progressbar,
        "early_stop_fn": early_stop_fn,
        "trials_save_file": trials_save_file,
    }
    if isinstance(trials, MlflowTrials) and allow_trials_fmin:
        return trials.fmin(fn, space, algo=algo, **settings)
    return hyperopt.fmin(
        fn, space, algo=algo or gp.suggest, trials=trials, allow_trials_fmin=allow_trials_fmin, **settings
    )


def _definition(
    fn: Callable,
    space: Any,
    algo: Callable | None,
    max_evals: int,
    timeout: float | None,
    loss_threshold: float | None,
    seed: int,
    early_stop_fn: Callable | None,
) -> dict[str, Any]:
    """The experiment, in the sections a YAML file has."""
    name = re.sub(r"[^\w.-]", "", getattr(fn, "__name__", "") or "") or "objective"
    search: dict[str, Any] = {"algo": algo or "gp", "max_evals": int(max_evals), "seed": seed}
    if timeout is not None:
        search["timeout"] = timeout
    if loss_threshold is not None:
        search["early_stop"] = {"loss_threshold": loss_threshold}
    if early_stop_fn is not None:
        search["early_stop_fn"] = early_stop_fn
    # Its MLflow calls may sit in any module it calls: its trial's run is always the active one.
    return {"name": name, "space": space, "search": search, "objective": {"active_run": "always"}}


def _with_tradeoffs(algo: Any, tradeoffs: Any) -> Any:
    """``hpo_plugin.gp.suggest`` (bare, or after ``points_to_evaluate``) told the experiment's
    trade-offs, so it models them as the YAML default does; any other algo as it is."""
    import dataclasses
    import functools

    from hpo_plugin import gp

    if not tradeoffs.active:
        return algo
    if algo is gp.suggest:
        return functools.partial(gp.suggest, tradeoffs=tradeoffs)
    owner = getattr(algo, "__self__", None)
    if isinstance(owner, StartFrom) and owner.then is gp.suggest:
        return dataclasses.replace(owner, then=functools.partial(gp.suggest, tradeoffs=tradeoffs)).suggest
    return algo


def _with_options(definition: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The MlflowTrials options as the experiment's sections."""
    search = dict(definition["search"], report=options["report"])
    if options["pruning"] is not None:
        search["pruning"] = options["pruning"]
    if options["patience"] is not None:
        search["early_stop"] = {**search.get("early_stop", {}), "patience": options["patience"]}
    for limit in ("trial_timeout", "trial_memory_mb"):
        if options[limit] is not None:
            search[limit] = options[limit]
    workers = options["parallelism"]
    name = options["executor"] or ("local" if workers and workers > 1 else "sequential")
    executor = {"name": name, "parallelism": workers, "spark_master": options["spark_master"]}
    register = {"enabled": bool(options["register"]), "margin": options["margin"]}
    if options["register"]:
        register["model_name"] = options["register"]
    executor = {k: v for k, v in executor.items() if v is not None}
    objective = dict(definition["objective"])
    for key in ("also", "constraints"):
        if options[key]:
            objective[key] = options[key]
    return {
        **definition,
        "search": search,
        "executor": executor,
        "register": register,
        "objective": objective,
    }


def _budget(max_evals: Any, stops: bool) -> int:
    """fmin's ``max_evals`` as a trial count; hyperopt's "no limit" (None, inf, ``sys.maxsize``)
    is the largest search there is when another rule stops it."""
    unbounded = max_evals is None or (isinstance(max_evals, int | float) and max_evals >= MAX_EVALS)
    if unbounded and not stops:
        raise ValueError("MlflowTrials: give max_evals, the number of trials to run in all")
    return MAX_EVALS if unbounded else int(max_evals)


def _tracking(options: dict[str, Any]) -> tuple[Any, str | None]:
    """The client of the store in use, and the active run if it can be the search's parent (a
    run a search already finished cannot: a new parent is made under it)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from hpo_plugin.tracking.client import prepare_store
    from hpo_plugin.tracking.records import RUNNING

    if options["tracking_uri"]:
        mlflow.set_tracking_uri(options["tracking_uri"])
    prepare_store(mlflow.get_tracking_uri())
    client = MlflowClient()
    active = mlflow.active_run()
    usable = active is not None and client.get_run(active.info.run_id).info.status == RUNNING
    return client, active.info.run_id if usable else None


def _new_parent(config: Any, experiment_name: str | None, run_name: str | None) -> str:
    """A parent run made as ``mlflow.start_run`` makes one (MLflow's experiment settings, or
    ``experiment_name`` made the active experiment; its run-context tags; under the active run,
    if there is one), then left to the search, which ends it with its true status."""
    import mlflow

    from hpo_plugin.tracking.schema import run_name as default_name

    experiment_id = mlflow.set_experiment(experiment_name).experiment_id if experiment_name else None
    name = run_name or default_name(config)
    run = mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=mlflow.active_run() is not None)
    mlflow.end_run(status="RUNNING")  # off MLflow's stack of active runs; still RUNNING in the store
    return run.info.run_id


def _unless_used(client: Any, run_id: str | None) -> None:
    """Delete the parent made for a search that stopped before it opened (a bad objective found
    while preparing): no run is left behind for a bad input. A search that opened ends it itself."""
    from hpo_plugin.tracking.records import RUNNING
    from hpo_plugin.tracking.schema import ROLE_TAG

    if run_id is not None:
        run = client.get_run(run_id)
        if run.info.status == RUNNING and ROLE_TAG not in run.data.tags:
            client.delete_run(run_id)


def _seed(given: int | None, rstate: Any, client: Any, resume: str | None) -> int:
    """A resumed search's own seed (its stream continues); else ``seed``, a seed drawn from
    ``rstate`` (as fmin draws from it), ``HYPEROPT_FMIN_SEED``, or 0."""
    if resume:
        logged = client.get_run(resume).data.params.get("search.seed")
        if logged is not None:
            return int(logged)
    if given is not None:
        return given
    if rstate is not None:
        return int(rstate.integers(2**31 - 1))
    return int(os.environ.get(SEED_ENV, 0))
