"""Every registered algorithm: seeded, inside the space, reproducible; grid and start points exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hyperopt import Trials, fmin

from hpo_plugin.algorithms import ALGORITHMS, AlgorithmInput, build_algorithm
from hpo_plugin.algorithms.grid import GridSearch
from hpo_plugin.algorithms.points import StartFrom
from hpo_plugin.algorithms.tpe import HYPEROPT_TPE, TUNED_TPE
from hpo_plugin.errors import SpaceError
from hpo_plugin.space import decode, parse_space, to_hyperopt

# hyperopt's ATPE draws from global random state besides fmin's seed: it does not repeat.
NOT_SEEDED = {"atpe"}
FINITE = parse_space({"depth": {"quniform": [2, 4, 1]}, "booster": {"choice": ["gbtree", "dart"]}})
CONTINUOUS = parse_space({"rate": {"loguniform": [0.01, 0.3]}, "depth": {"quniform": [2, 8, 1]}})


def proposals(name: str, space, n: int, seed: int = 0, start=()) -> list[dict]:
    suggest = build_algorithm(name, AlgorithmInput(space, seed, tuple(start)))
    seen: list[dict] = []
    fmin(
        lambda point: seen.append(decode(point)) or {"status": "ok", "loss": float(len(seen) % 3)},
        to_hyperopt(space),
        algo=suggest,
        max_evals=n,
        trials=Trials(),
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return seen


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_proposes_inside_the_space_and_repeats_with_its_seed(name):
    space = FINITE if name == "grid" else CONTINUOUS
    first = proposals(name, space, 6)
    assert len(first) == 6
    if name not in NOT_SEEDED:
        assert first == proposals(name, space, 6)
    for point in first:
        assert 2 <= point["depth"] <= (4 if name == "grid" else 8) and isinstance(point["depth"], int)
        if name != "grid":
            assert 0.01 <= point["rate"] <= 0.3


def test_grid_sweeps_every_point_once_then_stops():
    assert len(GridSearch.build(FINITE, 0)) == 6
    seen = proposals("grid", FINITE, 100)
    assert len(seen) == 6 and len({tuple(sorted(p.items())) for p in seen}) == 6


def test_grid_refuses_a_continuous_space_naming_the_parameter():
    with pytest.raises(SpaceError, match="rate: grid search needs only"):
        build_algorithm("grid", AlgorithmInput(CONTINUOUS, 0))


def test_tuned_tpe_starts_from_the_given_points_then_searches():
    start = ({"rate": 0.3, "depth": 6.0}, {"rate": 0.01, "depth": 2.0})
    seen = proposals("tpe", CONTINUOUS, 4, start=start)
    assert seen[:2] == [{"rate": 0.3, "depth": 6}, {"rate": 0.01, "depth": 2}]
    assert TUNED_TPE.n_startup_jobs < HYPEROPT_TPE.n_startup_jobs and TUNED_TPE.gamma > HYPEROPT_TPE.gamma


def test_raw_tpe_settings_skip_the_start_points():
    spec = AlgorithmInput(CONTINUOUS, 0, ({"rate": 0.3, "depth": 6.0},), HYPEROPT_TPE)
    assert not isinstance(getattr(build_algorithm("tpe", spec), "__self__", None), StartFrom)
