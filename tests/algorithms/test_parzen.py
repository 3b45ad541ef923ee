"""The Parzen TPE (Optuna's sampler to hyperopt's protocol): its estimators, and its searches."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hyperopt import Trials, fmin

from hpo_plugin.algorithms.parzen import Axis, Mixture, ParzenTpe, default_gamma, default_weights
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
            ]
        },
    }
)


def search(loss, n: int, seed: int = 0, space=SPACE, multivariate: bool = False) -> list[dict]:
    """The points a ParzenTpe search of ``n`` trials tries on ``loss`` (of the decoded params)."""
    seen: list[dict] = []

    def objective(point):
        params = decode(point)
        seen.append(params)
        return {"status": "ok", "loss": loss(params)}

    fmin(
        objective,
        to_hyperopt(space),
        algo=ParzenTpe(space, multivariate=multivariate).suggest,
        max_evals=n,
        trials=Trials(),
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return seen


def test_optunas_split_and_weights():
    assert [default_gamma(n) for n in (1, 10, 11, 50, 300)] == [1, 1, 2, 5, 25]
    assert list(default_weights(3)) == [1, 1, 1]
    ramp = default_weights(30)
    assert len(ramp) == 30 and ramp[0] == pytest.approx(1 / 30) and list(ramp[5:]) == [1.0] * 25


def test_bandwidths_are_the_larger_gap_to_a_neighbour_clipped_to_the_range():
    axis = Axis(0.0, 1.0, None, False, None)
    mixture = Mixture.fit(np.array([0.8, 0.1, 0.3]), np.ones(3), axis, prior_weight=1.0)
    # sorted 0.1, 0.3, 0.8 between bounds 0 and 1: 0.1 takes its right gap (bounds are not
    # neighbours of the outermost), 0.3 max(0.2, 0.5), 0.8 its left gap; then the prior.
    assert list(mixture.sigmas) == pytest.approx([0.5, 0.2, 0.5, 1.0])
    assert list(mixture.mus) == pytest.approx([0.8, 0.1, 0.3, 0.5])
    assert list(mixture.weights) == pytest.approx([0.25] * 4)
    crowded = Mixture.fit(np.full(50, 0.5), np.ones(50), axis, prior_weight=1.0)
    assert crowded.sigmas[:-1].min() == pytest.approx(1 / 52)  # range / min(100, 1 + kernels)


def test_a_quantized_axis_gives_each_grid_point_the_mass_of_its_cell():
    axis = Axis.of(parse_space({"d": {"quniform": [2, 6, 1]}})[0])
    mixture = Mixture.fit(np.array([3.0, 4.0]), np.ones(2), axis, prior_weight=1.0)
    grid = np.arange(2.0, 7.0)
    assert np.exp(mixture.log_pdf(grid)).sum() == pytest.approx(1.0)
    draws = mixture.sample(np.random.default_rng(0), 500)
    assert set(np.unique(draws)) <= set(grid)


def test_a_continuous_mixture_is_a_density_on_its_range():
    axis = Axis(0.0, 1.0, None, False, None)
    mixture = Mixture.fit(np.array([0.2, 0.25, 0.9]), np.ones(3), axis, prior_weight=1.0)
    x = np.linspace(0.0, 1.0, 20001)
    assert np.trapezoid(np.exp(mixture.log_pdf(x)), x) == pytest.approx(1.0, abs=1e-3)
    draws = mixture.sample(np.random.default_rng(1), 2000)
    assert draws.min() >= 0 and draws.max() <= 1


@pytest.mark.parametrize("multivariate", [False, True], ids=["independent", "multivariate"])
def test_proposals_stay_in_the_space_and_take_a_branch_at_a_time(multivariate):
    seen = search(lambda p: p["rate"], 30, multivariate=multivariate)
    for params in seen:
        assert 0.001 <= params["rate"] <= 1.0 and 0 <= params["fraction"] <= 1
        assert params["depth"] in range(2, 11) and isinstance(params["depth"], int)
        branch = {"gamma"} if params["kernel"] == "rbf" else {"degree"}
        assert branch <= set(params) and not ({"gamma", "degree"} - branch) & set(params)


@pytest.mark.parametrize("multivariate", [False, True], ids=["independent", "multivariate"])
def test_the_same_seed_proposes_the_same_points(multivariate):
    def loss(p):
        return (math.log10(p["rate"]) + 2) ** 2 + p["fraction"]

    first = search(loss, 25, seed=3, multivariate=multivariate)
    assert first == search(loss, 25, seed=3, multivariate=multivariate)
    assert first != search(loss, 25, seed=4, multivariate=multivariate)


@pytest.mark.parametrize("multivariate", [False, True], ids=["independent", "multivariate"])
def test_it_homes_in_on_the_good_region_after_its_random_start(multivariate):
    """Loss lowest at rate 0.01 and the rbf branch: after 10 random trials, the later proposals
    gather there (random search would keep half on poly and spread rate over 3 decades)."""

    def loss(p):
        return abs(math.log10(p["rate"]) + 2) + (0.0 if p["kernel"] == "rbf" else 1.0)

    seen = search(loss, 60, seed=0, multivariate=multivariate)
    late = seen[30:]
    assert sum(p["kernel"] == "rbf" for p in late) >= 24
    assert np.median([abs(math.log10(p["rate"]) + 2) for p in late]) < 0.3
    assert np.median([loss(p) for p in late]) < np.median([loss(p) for p in seen[:10]]) / 2
