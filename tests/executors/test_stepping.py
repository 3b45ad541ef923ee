"""hyperopt's loop with steps that do not grow with the history: the same search as fmin's."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hyperopt import JOB_STATE_DONE, JOB_STATE_RUNNING, STATUS_OK, Domain, Trials, fmin, hp, rand, tpe
from hyperopt.early_stop import no_progress_loss

from hpo_plugin.executors.loop import NoImprovement
from hpo_plugin.executors.stepping import GrowingTrials, Loop
from hpo_plugin.hyperopt_protocol import insert_done

SPACE = {"x": hp.uniform("x", -5, 5), "k": hp.choice("k", [0, 1, 2])}


def loss(point) -> float:
    return (point["x"] - 1) ** 2 + point["k"]


def search(trials, use_loop: bool, **settings) -> list:
    """Points and losses of a TPE search run by our loop or by hyperopt's fmin."""
    if use_loop:
        Loop(tpe.suggest, Domain(loss, SPACE), trials, np.random.default_rng(7), **settings).exhaust()
    else:
        rstate = np.random.default_rng(7)
        fmin(loss, SPACE, tpe.suggest, trials=trials, rstate=rstate, show_progressbar=False, **settings)
    return [(d["misc"]["vals"], d["result"].get("loss"), d["state"]) for d in trials.trials]


@pytest.mark.parametrize(
    "settings",
    [
        {"max_evals": 40},
        {"max_evals": 200, "loss_threshold": 0.05},
        {"max_evals": 200, "early_stop_fn": no_progress_loss(5)},
        {"max_evals": 30, "max_queue_len": 3},
    ],
    ids=["budget", "loss_threshold", "early_stop", "queue"],
)
def test_the_loop_runs_the_search_fmin_runs(settings):
    ours = search(GrowingTrials(), True, **settings)
    assert ours == search(Trials(), False, **settings)
    if settings["max_evals"] == 200:
        assert len(ours) < 200  # the stop rule ended it


def test_a_resumed_search_continues_as_fmin_continues_it():
    first, again = GrowingTrials(), Trials()
    search(first, True, max_evals=15)
    search(again, False, max_evals=15)
    assert search(first, True, max_evals=30) == search(again, False, max_evals=30)


def test_a_step_never_rescans_every_trial(monkeypatch):
    trials = GrowingTrials()
    search(trials, True, max_evals=10)

    def rescans(*args, **kwargs):
        raise AssertionError("a step rescanned every trial")

    for name in ("refresh", "count_by_state_unsynced", "count_by_state_synced", "losses"):
        monkeypatch.setattr(Trials, name, rescans)
    search(trials, True, max_evals=40)
    assert len(trials.trials) == 40 and len(trials) == 40


def test_growing_trials_refresh_as_hyperopt_refreshes():
    trials = GrowingTrials()
    for i in range(5):
        insert_done(trials, {"x": float(i)}, {"status": STATUS_OK, "loss": float(i)}, ["x"])
        trials.refresh()
    assert [d["tid"] for d in trials.trials] == list(range(5))
    trials.delete_all()
    assert trials.trials == [] and len(trials) == 0
    insert_done(trials, {"x": 1.0}, {"status": STATUS_OK, "loss": 1.0}, ["x"])
    trials.refresh()
    assert len(trials.trials) == 1


def test_a_failing_objective_raises_and_leaves_its_trial_out_as_hyperopt_does():
    def boom(point):
        raise ValueError("boom")

    trials = GrowingTrials()
    with pytest.raises(ValueError, match="boom"):
        Loop(rand.suggest, Domain(boom, SPACE), trials, np.random.default_rng(0), max_evals=3).exhaust()
    assert trials.trials == [] and len(trials._dynamic_trials) == 1


def test_no_improvement_carried_between_calls_decides_as_a_fresh_count():
    rng, trials = random.Random(1), Trials()
    stop, state = NoImprovement(patience=6, min_delta=0.01), []
    running = []
    for step in range(150):
        insert_done(trials, {"x": float(step)}, {"status": STATUS_OK, "loss": rng.random()}, ["x"])
        trials.refresh()
        if rng.random() < 0.3:
            trials.trials[-1]["state"] = JOB_STATE_RUNNING
            running.append(trials.trials[-1])
        if running and rng.random() < 0.4:
            running.pop(rng.randrange(len(running)))["state"] = JOB_STATE_DONE
        decided, state = stop(trials, *state)
        assert decided == stop(trials)[0]
