"""GP-EI (hpo_plugin.algorithms.gp): its coordinates, its Gaussian process, and its searches."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hyperopt import JOB_STATE_RUNNING, STATUS_FAIL, Trials, fmin, rand
from scipy.optimize import approx_fprime

from hpo_plugin.algorithms.gp import (
    Coordinates,
    GaussianProcess,
    GaussianProcessSearch,
    _neg_log_posterior,
    normal_scores,
    observations,
)
from hpo_plugin.space import decode, parse_space, to_hyperopt

SPACE = parse_space(
    {
        "rate": {"loguniform": [0.001, 1.0]},
        "depth": {"quniform": [2, 10, 1]},
        "fraction": {"uniform": [0.0, 1.0]},
        "kernel": {
            "choice": [
                {"value": "rbf", "space": {"gamma": {"loguniform": [0.01, 10]}}},
                {"value": "poly", "space": {"degree": {"quniform": [2, 5, 1]}}},
                "linear",
            ]
        },
    }
)
BOWL = parse_space({"x": {"uniform": [-2.0, 2.0]}, "y": {"uniform": [-2.0, 2.0]}})


def bowl(params) -> float:
    return (params["x"] - 0.7) ** 2 + (params["y"] + 0.4) ** 2


def search(loss, n: int, seed: int = 0, space=SPACE, algo=None) -> list[float]:
    """The losses, in order, of a search of ``n`` trials on ``loss`` (of the decoded params)."""
    losses: list[float] = []

    def objective(point):
        losses.append(loss(decode(point)))
        return {"status": "ok", "loss": losses[-1]}

    fmin(
        objective,
        to_hyperopt(space),
        algo=algo or GaussianProcessSearch(space, n_startup=5).suggest,
        max_evals=n,
        trials=Trials(),
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return losses


def test_normal_scores_keep_the_order_and_share_ties():
    scores = normal_scores(np.array([3.0, 1.0, 2.0, 2.0, math.inf, 100.0]))
    assert scores[1] < scores[2] == scores[3] < scores[0] < scores[5] < scores[4]
    assert normal_scores(np.array([5.0, 1.0, 3.0])) == pytest.approx([0.9674, -0.9674, 0.0], abs=1e-4)


def test_points_go_to_the_unit_cube_and_back():
    coords = Coordinates.of(SPACE)
    assert coords.size == 3 + 3 + 2  # three numeric, a choice of three, one numeric per branch
    point = {"rate": 0.01, "depth": 7.0, "fraction": 0.25, "kernel": 1, "kernel=poly/degree": 3.0}
    x = coords.encode(point)
    assert x.min() >= 0 and x.max() <= 1
    assert x[3:6].tolist() == [0.0, 1.0, 0.0]  # the choice, one-hot
    back = coords.decode(x)
    assert back.keys() == point.keys()  # the branch not chosen stays out
    assert back == pytest.approx(point)


def test_prior_draws_are_points_of_the_space():
    coords = Coordinates.of(SPACE)
    X = coords.sample(np.random.default_rng(0), 300)
    kernels = set()
    for x in X:
        point = coords.decode(x)
        kernels.add(point["kernel"])
        assert 0.001 <= point["rate"] <= 1.0 and 0.0 <= point["fraction"] <= 1.0
        assert point["depth"] in {float(d) for d in range(2, 11)}
        assert ("kernel=rbf/gamma" in point) == (point["kernel"] == 0)
        assert ("kernel=poly/degree" in point) == (point["kernel"] == 1)
        assert coords.encode(point) == pytest.approx(x)  # an inactive parameter sits at 0.5
    assert kernels == {0, 1, 2}


def test_the_gradient_of_the_marginal_likelihood_is_exact():
    rng = np.random.default_rng(1)
    X = rng.random((25, 3))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    diff2 = (X[:, None, :] - X[None, :, :]) ** 2
    theta = np.array([np.log(0.3), np.log(0.8), np.log(2.0), 0.1, np.log(0.02)])
    _, grad = _neg_log_posterior(theta, diff2, y)
    numeric = approx_fprime(theta, lambda t: _neg_log_posterior(t, diff2, y)[0], 1e-6)
    assert grad == pytest.approx(numeric, rel=1e-4, abs=1e-4)


def test_the_process_learns_a_smooth_function_and_which_coordinate_matters():
    rng = np.random.default_rng(2)
    X = rng.random((40, 2))
    gp = GaussianProcess.fit(X, np.sin(4 * X[:, 0]))  # the second coordinate is irrelevant
    Z = rng.random((20, 2))
    mean, std = gp.predict(Z)
    assert np.abs(mean - np.sin(4 * Z[:, 0])).max() < 0.1
    assert std.max() < 0.2
    assert gp.lengths[1] > 5 * gp.lengths[0]


def test_the_same_seed_proposes_the_same_points():
    assert search(bowl, 12, seed=3, space=BOWL) == search(bowl, 12, seed=3, space=BOWL)
    assert search(bowl, 12, seed=3, space=BOWL) != search(bowl, 12, seed=4, space=BOWL)


def test_it_beats_random_search_on_a_bowl():
    ours = [min(search(bowl, 25, seed=s, space=BOWL)) for s in range(3)]
    random = [min(search(bowl, 25, seed=s, space=BOWL, algo=rand.suggest)) for s in range(3)]
    assert max(ours) < 0.01 < min(random)


def test_branches_are_searched_and_a_failed_or_running_trial_counts_as_bad():
    def loss(params):
        return abs(math.log10(params["rate"]) + 2) + (0 if params["kernel"] == "poly" else 1)

    losses = search(loss, 30, seed=0)
    assert min(losses) < 0.3  # the poly branch, rate near 0.01

    trials = Trials()
    fmin(
        lambda p: 0.0,
        to_hyperopt(BOWL),
        algo=rand.suggest,
        max_evals=6,
        trials=trials,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    trials.trials[0]["result"] = {"status": STATUS_FAIL}
    trials.trials[1]["state"] = JOB_STATE_RUNNING
    found = observations(trials)
    assert [loss for _, loss in found] == [math.inf, math.inf, 0, 0, 0, 0]
    assert found[1][0].keys() == {"x", "y"}  # a running trial's point is known: proposals avoid it


def test_a_parameter_with_one_possible_value_is_searched_without_error():
    space = parse_space({"depth": {"quniform": [2, 2.4, 1]}, "x": {"uniform": [-2.0, 2.0]}})
    losses = search(lambda p: (p["x"] - 0.5) ** 2 + p["depth"], 10, space=space)
    assert len(losses) == 10 and all(math.isfinite(v) for v in losses)


def test_every_option_of_a_choice_is_tried_before_the_model_alone_decides():
    def loss(params):  # rbf looks best at once: EI alone would stay there
        return (0.0 if params["kernel"] == "rbf" else 1.0) + params["fraction"]

    def kernels(min_option_trials: int) -> list[str]:
        trials: list[str] = []
        algo = GaussianProcessSearch(SPACE, n_startup=3, min_option_trials=min_option_trials).suggest
        search(lambda p: trials.append(p["kernel"]) or loss(p), 12, seed=1, algo=algo)
        return trials

    tried = kernels(2)
    assert all(tried[:9].count(k) >= 2 for k in ("rbf", "poly", "linear")), tried
    assert not all(kernels(0).count(k) >= 2 for k in ("rbf", "poly", "linear"))


def test_past_max_points_options_are_not_taken_again_for_falling_out_of_the_models_view():
    # beyond max_points the model sees the best half and the latest half: the options that did
    # badly leave its view, which must not count as untried (they were taken round robin forever)
    tried: list[str] = []
    algo = GaussianProcessSearch(SPACE, n_startup=3, max_points=8).suggest
    search(
        lambda p: tried.append(p["kernel"]) or (p["kernel"] != "rbf") + p["fraction"], 30, seed=0, algo=algo
    )
    assert all(tried[:8].count(k) >= 2 for k in ("rbf", "poly", "linear")), tried
    assert tried[10:].count("rbf") > len(tried[10:]) / 2, tried


def test_the_least_tried_option_is_found_where_its_choice_is_active():
    coords = Coordinates.of(SPACE)
    points = [{"kernel": 0, "gamma": 1.0}, {"kernel": 0, "gamma": 2.0}, {"kernel": 1, "degree": 3}]
    X = np.array([coords.encode(p) for p in points])
    kernel = next(s for s in coords.slots if s.param.label == "kernel")
    assert coords.untried_option(X, 2) == kernel.at + 2  # "linear": never
    X = np.vstack([X, coords.encode({"kernel": 2}), coords.encode({"kernel": 2})])
    assert coords.untried_option(X, 2) == kernel.at + 1  # "poly": once
    assert coords.untried_option(X, 1) is None


def test_a_space_without_a_choice_proposes_what_it_did_before_options_were_counted():
    def run(min_option_trials: int) -> list[float]:
        algo = GaussianProcessSearch(BOWL, n_startup=3, min_option_trials=min_option_trials).suggest
        return search(bowl, 10, seed=2, space=BOWL, algo=algo)

    assert run(2) == run(0)


def _clustered_history() -> list[tuple[dict, float]]:
    """Twelve good trials packed around (0.3, 0.3) of the bowl's square and three bad ones far
    from it: expected improvement stays in the cluster."""
    rng = np.random.default_rng(0)
    near = [{"x": 0.3 + a, "y": 0.3 + b} for a, b in rng.normal(0.0, 0.05, (12, 2))]
    far = [{"x": -1.5, "y": 1.5}, {"x": 1.5, "y": -1.5}, {"x": -1.5, "y": -1.5}]
    return [(p, bowl(p) * 0.01) for p in near] + [(p, 10.0 + bowl(p)) for p in far]


def _distance_to_tried(point: dict, history: list) -> float:
    return min(math.hypot(point["x"] - p["x"], point["y"] - p["y"]) for p, _ in history)


def test_a_confidence_bound_proposal_goes_where_the_model_is_unsure_every_kth_trial():
    history = _clustered_history()
    plain = GaussianProcessSearch(BOWL, n_startup=3, stall=0)  # expected improvement alone
    bound = GaussianProcessSearch(BOWL, n_startup=3, explore_every=4, beta=3.0, stall=0)
    exploit = plain._propose(list(history), np.random.default_rng(1), new_id=15)
    assert _distance_to_tried(exploit, history) < 0.3, exploit
    explored = bound._propose(list(history), np.random.default_rng(1), new_id=15)  # the 16th: 4th of 4
    assert _distance_to_tried(explored, history) > 1.5 * _distance_to_tried(exploit, history), explored
    between = bound._propose(list(history), np.random.default_rng(1), new_id=16)
    assert between == exploit  # the others are expected improvement, as without the setting


def test_a_stalled_search_takes_the_confidence_bound_until_a_new_best():
    history = _clustered_history()
    stalled = GaussianProcessSearch(BOWL, n_startup=3, stall=3)
    always = GaussianProcessSearch(BOWL, n_startup=3, explore_every=1)
    plain = GaussianProcessSearch(BOWL, n_startup=3, stall=0)
    best = int(np.argmin([loss for _, loss in history]))
    assert len(history) - 1 - best >= 3  # the best of the cluster is not among the last three
    rng = np.random.default_rng(5)
    assert stalled._propose(list(history), rng, 15) == always._propose(
        list(history), np.random.default_rng(5), 15
    )
    fresh = [*history, ({"x": 0.7, "y": -0.4}, -1.0)]  # a new best: expected improvement again
    got = stalled._propose(list(fresh), np.random.default_rng(5), 16)
    assert got == plain._propose(list(fresh), np.random.default_rng(5), 16)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"min_option_trials": -1}, "gp min_option_trials: must be a whole number >= 0 (got -1)"),
        ({"stall": 2.5}, "gp stall: must be a whole number >= 0 (got 2.5)"),
        ({"explore_every": -3}, "gp explore_every: must be a whole number >= 0 (got -3)"),
        ({"beta": -1.0}, "gp beta: must be a number >= 0 (got -1.0)"),
        ({"n_candidates": 0}, "gp n_candidates: must be a whole number >= 1 (got 0)"),
    ],
)
def test_a_setting_out_of_range_is_a_one_line_error_naming_it(setting, message):
    from hpo_plugin import gp
    from hpo_plugin.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        search(bowl, 3, space=BOWL, algo=functools.partial(gp.suggest, **setting))
    assert str(raised.value) == message


def test_by_default_eight_trials_without_a_new_best_make_a_stall():
    history = _clustered_history()
    best = int(np.argmin([loss for _, loss in history]))
    others = [trial for i, trial in enumerate(history) if i != best]
    worse = [({"x": -1.0 + 0.2 * i, "y": 1.2}, 20.0 + i) for i in range(8)]
    stalled = [*others, history[best], *worse]  # the best is exactly eight trials back
    default = GaussianProcessSearch(BOWL, n_startup=3)
    always = GaussianProcessSearch(BOWL, n_startup=3, explore_every=1)
    plain = GaussianProcessSearch(BOWL, n_startup=3, stall=0)
    new_id = len(stalled)
    assert default._propose(list(stalled), np.random.default_rng(3), new_id) == always._propose(
        list(stalled), np.random.default_rng(3), new_id
    )
    one_short = stalled[:-1]
    assert default._propose(list(one_short), np.random.default_rng(3), new_id - 1) == plain._propose(
        list(one_short), np.random.default_rng(3), new_id - 1
    )
