"""hp.* expressions as searched spaces: the tree our algorithms read, the params a trial logs."""

from __future__ import annotations

import numpy as np
import pytest
from hyperopt import hp, space_eval
from hyperopt.pyll import scope
from hyperopt.pyll.stochastic import sample

from hpo_plugin.algorithms.axes import prior_point
from hpo_plugin.errors import SpaceError
from hpo_plugin.hyperopt_space import from_hyperopt, is_hyperopt_space
from hpo_plugin.space import CHOICE, flatten

EVERY_KIND = {
    "mf": hp.choice("mf", ["sqrt", None, 0.5]),
    "n": scope.int(hp.quniform("n", 10, 100, 5)),
    "model": hp.choice(
        "model",
        [
            {"type": "svm", "C": hp.lognormal("C", 0, 1), "kernel": hp.choice("kernel", ["rbf", "linear"])},
            {"type": "tree", "depth": hp.randint("depth", 2, 10), "q": hp.qlognormal("q", 0, 1, 2)},
        ],
    ),
    "p": hp.pchoice("p", [(0.2, "a"), (0.8, "b")]),
    "u": hp.uniformint("u", 1, 5),
    "lu": hp.loguniform("lu", -3, 0),
    "ql": hp.qloguniform("ql", 0, 3, 1),
    "norm": hp.normal("norm", 0, 1),
    "qn": hp.qnormal("qn", 0, 3, 1),
    "r": hp.randint("r", 5),
    "constant": 3,
    "pair": (hp.uniform("left", 0, 1), 7),
}


def test_every_hp_distribution_becomes_a_param_with_its_branch():
    space = from_hyperopt(EVERY_KIND)
    params = {p.label: p for p in flatten(space.params)}
    assert set(params) == {
        *("mf", "n", "model", "C", "kernel", "depth", "q", "p", "u", "lu", "ql", "norm", "qn", "r", "left"),
    }
    assert params["lu"].describe() == "loguniform(0.0497871, 1)"  # bounds in the value's units
    assert params["n"].is_int and params["depth"].is_int and params["u"].is_int and not params["q"].is_int
    assert params["r"].args == (0.0, 5.0) and params["depth"].args == (2.0, 10.0)
    assert params["p"].describe() == "pchoice(0.2:a, 0.8:b)"
    assert params["mf"].describe() == "choice(sqrt, None, 0.5)"
    (model,) = [p for p in space.params if p.label == "model"]
    assert model.kind == CHOICE
    assert [[p.label for p in o.space] for o in model.options] == [["C", "kernel"], ["depth", "q"]]


def test_a_point_is_logged_flattened_as_space_eval_gives_it():
    space = from_hyperopt(EVERY_KIND)
    point = sample(EVERY_KIND, rng=np.random.default_rng(1))
    params = space.trial_params(point)
    assert params["constant"] == 3 and params["pair.1"] == 7 and params["pair.0"] == point["pair"][0]
    assert params["model.type"] == point["model"]["type"]
    assert params["mf"] == point["mf"]  # None stays None: MLflow shows it as 'None'
    assert space.argument(point) == (point,)  # the objective gets the point itself
    scalar = from_hyperopt(hp.uniform("x", -1, 1))
    assert scalar.trial_params(0.25) == {"x": 0.25}


def test_prior_draws_are_points_hyperopt_can_evaluate():
    space = from_hyperopt(EVERY_KIND)
    rng = np.random.default_rng(0)
    draws = [prior_point(space.params, rng, {}) for _ in range(200)]
    for vals in draws[:20]:
        point = space_eval(EVERY_KIND, vals)
        assert point["constant"] == 3 and point["n"] % 5 == 0
    share_b = np.mean([d["p"] == 1 for d in draws])
    assert 0.7 < share_b < 0.9  # pchoice's probabilities are the prior's


def test_is_hyperopt_space_finds_an_expression_anywhere_in_the_structure():
    assert is_hyperopt_space({"a": [1, {"b": hp.uniform("b", 0, 1)}]})
    assert not is_hyperopt_space({"a": {"uniform": [0, 1]}})


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"x": hp.uniform("x", 0, hp.uniform("y", 1, 2))}, r"x: its arguments must be constants"),
        ({"constant": 3, "other": [1, 2]}, r"space: it has no hp\.\* parameter"),
    ],
)
def test_a_space_we_cannot_model_is_one_error_naming_the_parameter(space, message):
    with pytest.raises(SpaceError, match=message):
        from_hyperopt(space)
