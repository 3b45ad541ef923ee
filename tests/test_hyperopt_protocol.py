"""Our copies of hyperopt's protocol agree with hyperopt itself (checked against the pinned version)."""

from __future__ import annotations

import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, hp, rand, space_eval

from hpo_plugin.hyperopt_protocol import FMIN_CMD, advance_seed_stream, insert_done, point_vals

SPACE = {"x": hp.uniform("x", 0, 1), "kind": hp.choice("kind", ["a", {"y": hp.uniform("y", 0, 1)}])}


def seeds_fmin_draws(n: int, seed: int) -> list[int]:
    seeds: list[int] = []

    def recording(new_ids, domain, trials, seed):
        seeds.append(seed)
        return rand.suggest(new_ids, domain, trials, seed)

    fmin(
        lambda p: 0.0,
        SPACE,
        recording,
        max_evals=n,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return seeds


def test_advance_seed_stream_skips_exactly_the_seeds_fmin_drew():
    drawn = seeds_fmin_draws(5, seed=3)
    for done in range(5):
        rng = advance_seed_stream(np.random.default_rng(3), done)
        assert rng.integers(2**31 - 1) == drawn[done]


def test_a_done_trial_reads_back_as_its_point_and_hyperopt_accepts_it():
    trials = Trials()
    insert_done(
        trials, {"x": 0.25, "kind": 1, "y": 0.5}, {"status": STATUS_OK, "loss": 0.1}, ["x", "kind", "y"]
    )
    insert_done(trials, {"x": 0.75, "kind": 0}, {"status": STATUS_OK, "loss": 0.2}, ["x", "kind", "y"])
    trials.refresh()
    first, second = trials.trials
    assert first["misc"]["cmd"] == FMIN_CMD and second["misc"]["idxs"]["y"] == []
    assert space_eval(SPACE, point_vals(first["misc"])) == {"x": 0.25, "kind": {"y": 0.5}}
    assert space_eval(SPACE, point_vals(second["misc"])) == {"x": 0.75, "kind": "a"}
    assert trials.best_trial["tid"] == 0
    fmin(
        lambda p: 1.0,
        SPACE,
        rand.suggest,
        max_evals=3,
        trials=trials,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    assert len(trials.trials) == 3  # hyperopt continues from them
