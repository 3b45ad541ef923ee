"""The one hyperopt loop every search runs: ``fmin``'s loop with the search's budget and stop rules.

Sequential, local and Spark searches (and the bare baseline) differ only in the objective
function and the ``Trials`` they pass: :class:`~hpo_plugin.executors.stepping.GrowingTrials`
(trials run in the loop), :class:`~hpo_plugin.executors.pool.PoolTrials` (worker processes or
Spark jobs). The loop is hyperopt's ``FMinIter`` with steps that do not grow with the history
(:mod:`~hpo_plugin.executors.stepping`), built as ``fmin`` builds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hyperopt import JOB_STATE_DONE, STATUS_OK, Domain, Trials
from hyperopt.pyll import rec_eval
from threadpoolctl import threadpool_limits

from hpo_plugin.executors.stepping import GrowingTrials, Loop
from hpo_plugin.hyperopt_protocol import point_vals
from hpo_plugin.tracking.records import WARM_WORKDIR

POLL_S = 0.02  # the loop's pause between looks at asynchronous trials (hyperopt's default: 1 s)


def minimize(
    prepared,
    fn: Callable[[Any], dict[str, Any]],
    trials: Trials | None = None,
    rstate: np.random.Generator | None = None,
    progress: bool = False,
    early_stop_fn: Callable | None = None,
    max_queue_len: int = 1,
) -> Trials:
    """hyperopt's fmin over ``fn(point, vals) -> result dict`` for a prepared search, seeded.

    ``prepared`` is a :class:`~hpo_plugin.search.prepare.PreparedSearch`. ``progress`` shows
    hyperopt's bar (trial count, best loss, rate, ETA). ``trials`` and ``rstate`` (a resumed
    search's) supply the trials so far and the seed stream past them.
    """
    search = prepared.config.search
    trials = trials if trials is not None else GrowingTrials()
    rstate = rstate if rstate is not None else np.random.default_rng(search.seed)
    loop = Loop(
        prepared.suggest,
        Domain(_with_vals(fn), prepared.space.hyperopt()),
        trials,
        rstate,
        max_queue_len=max_queue_len,
        poll_interval_secs=POLL_S,
        max_evals=max_evals(search, trials),
        timeout=search.time_limit,
        loss_threshold=search.loss_threshold,
        verbose=progress,
        show_progressbar=progress,
        early_stop_fn=early_stop_fn,
    )
    # BLAS and OpenMP pools get the trial's thread budget too (they busy-wait otherwise).
    with threadpool_limits(limits=prepared.objective.n_threads):
        loop.exhaust()
    return trials


def _with_vals(fn: Callable[[Any, dict[str, Any]], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """``fn(point, vals)`` as fmin's objective: hyperopt's documented ``pass_expr_memo_ctrl``
    form hands over the trial being run, whose ``misc.vals`` a resumed search reads back."""

    def objective(expr, memo, ctrl):
        return fn(rec_eval(expr, memo=memo), point_vals(ctrl.current_trial["misc"]))

    objective.fmin_pass_expr_memo_ctrl = True
    return objective


def max_evals(search, trials: Trials) -> int:
    """fmin's budget: the trials already in ``trials`` count, warm-start ones do not."""
    warm = sum(1 for t in trials.trials if t["misc"].get("workdir") == WARM_WORKDIR)
    return search.max_evals + warm


@dataclass(frozen=True)
class NoImprovement:
    """Stop once ``patience`` finished trials in a row brought no improvement over ``min_delta``.

    Counts this search's trials (resumed ones included, warm-start ones not), in trial order.
    """

    patience: int
    min_delta: float = 0.0

    def __call__(self, trials: Trials, *state) -> tuple[bool, list]:
        # ``state`` (hyperopt hands back what the last call returned): how far the leading
        # finished trials go, and the best loss and count without improvement there, so each
        # call reads only the trials after them.
        settled, best, since = state if state else (0, float("inf"), 0)
        kept, open_seen = [settled, best, since], False
        for doc in trials.trials[settled:]:
            if doc["state"] != JOB_STATE_DONE:
                open_seen = True  # it and the trials after it are read again next time
                continue
            if doc["misc"].get("workdir") != WARM_WORKDIR:
                loss = doc["result"].get("loss") if doc["result"].get("status") == STATUS_OK else None
                if loss is not None and loss < best - self.min_delta:
                    best, since = loss, 0
                else:
                    since += 1
            if not open_seen:
                kept = [kept[0] + 1, best, since]
        return since >= self.patience, kept


@dataclass(frozen=True)
class Either:
    """Two hyperopt ``early_stop_fn``s: stop when either says so (each keeps its own state)."""

    first: Callable
    second: Callable

    def __call__(self, trials: Trials, *state) -> tuple[bool, list]:
        mine, theirs = state if state else ([], [])
        stop_first, mine = self.first(trials, *mine)
        stop_second, theirs = self.second(trials, *theirs)
        return stop_first or stop_second, [mine, theirs]


def early_stop_fn(search) -> Callable | None:
    """hyperopt's ``early_stop_fn`` for ``search.early_stop.patience`` and the function given in
    Python (``search.early_stop_fn``), or None."""
    early = search.early_stop
    patience = NoImprovement(early.patience, early.min_delta) if early and early.patience else None
    given = search.early_stop_fn
    if patience is not None and given is not None:
        return Either(patience, given)
    return patience or given
