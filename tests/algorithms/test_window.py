"""A long search's history as algorithms see it: exact up to the limit, then the best and the latest."""

from __future__ import annotations

import random

import numpy as np
from hyperopt import JOB_STATE_DONE, JOB_STATE_RUNNING, STATUS_FAIL, STATUS_OK, Domain, Trials, fmin, hp, tpe

from hpo_plugin.algorithms.window import Windowed
from hpo_plugin.hyperopt_protocol import insert_done

SPACE = {"x": hp.uniform("x", -5, 5)}


def history(losses) -> Trials:
    """Finished trials with these losses (None: a failed trial), in order."""
    trials = Trials()
    for i, loss in enumerate(losses):
        result = {"status": STATUS_FAIL} if loss is None else {"status": STATUS_OK, "loss": loss}
        insert_done(trials, {"x": float(i)}, result, ["x"])
    trials.refresh()
    return trials


def seen_by(windowed: Windowed, trials) -> list:
    """The trial documents the wrapped algorithm was handed."""
    handed = []
    windowed.then = lambda new_ids, domain, view, seed: handed.append(view) or []
    windowed.suggest([len(trials.trials)], Domain(lambda p: 0, SPACE), trials, 0)
    return handed[0].trials if handed[0] is not trials else None


def test_up_to_the_limit_the_algorithm_gets_the_trials_themselves():
    trials = history([1.0] * 10)
    assert seen_by(Windowed(tpe.suggest, limit=10), trials) is None


def test_past_the_limit_it_sees_the_best_half_and_the_latest_in_trial_order():
    losses = [float(v) for v in range(20, 0, -1)] + [0.5, None, 7.0, 30.0]
    trials = history(losses)
    docs = seen_by(Windowed(tpe.suggest, limit=8), trials)
    tids = [d["tid"] for d in docs]
    best = sorted((loss, tid) for tid, loss in enumerate(losses) if loss is not None)[:4]
    assert tids == sorted({tid for _, tid in best} | {20, 21, 22, 23})
    assert tids == [17, 18, 19, 20, 21, 22, 23]  # the best four: 0.5 (20), 1 (19), 2 (18), 3 (17)


def test_ties_keep_the_earlier_trial_and_failed_or_running_trials_are_never_the_best():
    trials = history([1.0, 1.0, 1.0, None, 5.0, 5.0, 5.0, 5.0])
    trials.trials[2]["state"] = JOB_STATE_RUNNING
    docs = seen_by(Windowed(tpe.suggest, limit=4), trials)
    assert [d["tid"] for d in docs] == [0, 1, 6, 7]


def test_kept_as_trials_arrive_it_matches_a_fresh_window_at_every_step():
    rng = random.Random(0)
    trials, kept = Trials(), Windowed(tpe.suggest, limit=30)
    running = []
    for step in range(200):
        loss = rng.choice([None, rng.random(), round(rng.random(), 1)])
        insert_done(trials, {"x": float(step)}, {"status": STATUS_OK, "loss": loss or 0.3}, ["x"])
        trials.refresh()
        if rng.random() < 0.3:  # a parallel search: some trials finish later than later ones
            trials.trials[-1]["state"] = JOB_STATE_RUNNING
            running.append(trials.trials[-1])
        if running and rng.random() < 0.3:
            running.pop(rng.randrange(len(running)))["state"] = JOB_STATE_DONE
        if len(trials.trials) > 30:
            assert seen_by(kept, trials) == seen_by(Windowed(tpe.suggest, limit=30), trials)


def test_a_short_search_proposes_what_the_algorithm_alone_proposes():
    def losses(algo) -> list[float]:
        trials = Trials()
        fmin(
            lambda p: (p["x"] - 1) ** 2,
            SPACE,
            algo=algo,
            max_evals=40,
            trials=trials,
            rstate=np.random.default_rng(3),
            show_progressbar=False,
        )
        return trials.losses()

    assert losses(Windowed(tpe.suggest, limit=40).suggest) == losses(tpe.suggest)
    assert losses(Windowed(tpe.suggest, limit=20).suggest) != losses(tpe.suggest)
