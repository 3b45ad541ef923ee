from __future__ import annotations

import numpy as np
import pytest
from hyperopt import Trials, fmin, rand, space_eval

from hpo_plugin.hyperopt_protocol import point_vals
from hpo_plugin.space import (
    DISTRIBUTIONS,
    SearchSpace,
    SpaceError,
    decode,
    grid_points,
    names,
    parse_space,
    to_hyperopt,
)


def sample(space_yaml: dict, n: int = 30, seed: int = 0) -> list[dict]:
    """Decoded params of n random points of a YAML space."""
    space = parse_space(space_yaml)
    seen: list[dict] = []

    def objective(point):
        seen.append(decode(point))
        return 0.0

    fmin(
        objective,
        to_hyperopt(space),
        rand.suggest,
        n,
        trials=Trials(),
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return seen


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        ({"uniform": [0.5, 1.0]}, lambda v: isinstance(v, float) and 0.5 <= v <= 1.0),
        ({"loguniform": [0.01, 0.3]}, lambda v: 0.01 <= v <= 0.3),
        ({"quniform": [2, 10, 1]}, lambda v: type(v) is int and 2 <= v <= 10),
        ({"quniform": [0.1, 0.9, 0.1]}, lambda v: isinstance(v, float)),
        ({"qloguniform": [16, 256, 16]}, lambda v: type(v) is int and v % 16 == 0),
        ({"quniform": [2, 10, 2], "type": "float"}, lambda v: isinstance(v, float)),
        ({"normal": [0, 1]}, lambda v: isinstance(v, float)),
        ({"randint": [3, 6]}, lambda v: type(v) is int and 3 <= v < 6),
        ({"choice": ["gbtree", "dart"]}, lambda v: v in ("gbtree", "dart")),
        ({"choice": [[64], [64, 32]]}, lambda v: v in ((64,), (64, 32))),  # lists arrive as tuples
    ],
)
def test_each_distribution_samples_values_of_the_right_type(spec, check):
    values = [p["x"] for p in sample({"x": spec})]
    assert all(check(v) for v in values), values


def test_every_registered_distribution_is_covered():
    assert set(DISTRIBUTIONS) == {
        "uniform",
        "loguniform",
        "quniform",
        "qloguniform",
        "normal",
        "qnormal",
        "lognormal",
        "qlognormal",
        "randint",
    }


def test_nested_choice_only_samples_the_chosen_branch():
    space = {
        "booster": {
            "choice": [
                "gbtree",
                {"value": "dart", "space": {"rate_drop": {"uniform": [0.0, 0.3]}}},
            ]
        }
    }
    points = sample(space, n=40)
    assert {p["booster"] for p in points} == {"gbtree", "dart"}
    for p in points:
        assert ("rate_drop" in p) == (p["booster"] == "dart")
    assert names(parse_space(space)) == {"booster", "rate_drop"}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (0.5, "fixed values belong in the model's 'params'"),
        ({"uniform": [1, 0]}, "must be below high"),
        ({"loguniform": [0, 1]}, "must be > 0 for a log scale"),
        ({"quniform": [1, 5]}, "expected [low, high, q]"),
        ({"quniform": [1, 5, 0]}, "q (0.0) must be > 0"),
        ({"normal": [0, -1]}, "sigma"),
        ({"uniform": ["a", 1]}, "as 2 numbers"),
        ({"gaussian": [0, 1]}, "give exactly one distribution"),
        ({"uniform": [0, 1], "normal": [0, 1]}, "give exactly one distribution"),
        ({"uniform": [0, 1], "type": "str"}, "must be 'int' or 'float'"),
        ({"choice": []}, "non-empty list"),
        ({"choice": ["a", "a"]}, "must be distinct"),
        ({"choice": [{"val": 1}]}, "a branch is {value: ..., space: {...}}"),
    ],
)
def test_malformed_distributions_name_the_parameter(spec, fragment):
    with pytest.raises(SpaceError) as err:
        parse_space({"alpha": spec})
    assert str(err.value).startswith("alpha")
    assert fragment in str(err.value)


def test_grid_enumerates_choices_and_quantized_values_with_branches():
    space = parse_space(
        {
            "depth": {"quniform": [2, 4, 1]},
            "kind": {"choice": ["a", {"value": "b", "space": {"k": {"randint": [0, 2]}}}]},
        }
    )
    points = grid_points(space)
    # depth has 3 values; kind a (1) + kind b with k in {0, 1} (2) = 3
    assert len(points) == 9
    assert {p["depth"] for p in points} == {2.0, 3.0, 4.0}
    assert sum("kind=b/k" in p for p in points) == 6


def test_grid_rejects_continuous_distributions():
    with pytest.raises(SpaceError, match="lr: grid search needs only 'choice' and quantized"):
        grid_points(parse_space({"lr": {"loguniform": [0.01, 0.1]}}))


def test_a_yaml_space_reads_a_point_off_its_params_as_hyperopt_evaluates_it():
    params = parse_space(
        {
            "rate": {"loguniform": [0.001, 1]},
            "depth": {"quniform": [2, 9, 1]},
            "seed": {"randint": [3, 9]},
            "q": {"qnormal": [0, 4, 0.5]},
            "kind": {
                "choice": [
                    {"value": "tree", "space": {"leaves": {"quniform": [4, 64, 4]}}},
                    {"value": [64, 32]},
                    {"value": {"a": [1, {"b": [2]}]}, "space": {"alpha": {"uniform": [0, 1]}}},
                    {"value": [[1, 2], [3]]},
                ]
            },
        }
    )
    space, trials = SearchSpace(params), Trials()
    fmin(lambda p: 0.0, space.hyperopt(), rand.suggest, 40, trials=trials, rstate=np.random.default_rng(1))
    for doc in trials.trials:
        vals = point_vals(doc["misc"])
        read, evaluated = space.point_of(vals), space_eval(space.hyperopt(), vals)
        assert read == evaluated and repr(read) == repr(evaluated)  # same types, same key order
        assert list(decode(read).items()) == list(decode(evaluated).items())
