"""The trade-off rules alone: dominance, the front kept as trials arrive, feasibility, the loss
the one-number algorithms see, the hypervolume, and the experiment file's keys."""

from __future__ import annotations

import itertools
import random

import pytest

from hpo_plugin.errors import ConfigError
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.tradeoffs import (
    INFEASIBLE_LOSS,
    Bound,
    Front,
    Goal,
    MissingMetric,
    Tradeoffs,
    algo_loss,
    dominates,
    hypervolume_2d,
    non_dominated,
)


def test_dominance_needs_no_worse_everywhere_and_better_somewhere():
    assert dominates((1, 2), (1, 3)) and dominates((0, 0), (1, 1))
    assert not dominates((1, 2), (1, 2)) and not dominates((0, 3), (1, 2))


def test_the_front_kept_as_trials_arrive_is_the_front_of_all_of_them():
    rng = random.Random(3)
    points = {i: (rng.random(), rng.random(), rng.random()) for i in range(200)}
    feasible = {i: rng.random() < 0.7 for i in points}
    front = Front()
    for i, vector in points.items():
        before = set(front.vectors)
        entered, left = front.add(i, vector, feasible[i])
        assert entered <= {i} and left <= before and set(front.vectors) == (before - left) | entered
        assert set(front.vectors) == non_dominated({k: points[k] for k in points if k <= i and feasible[k]})


def test_an_infeasible_trial_never_enters_nor_pushes_out():
    front = Front()
    front.add("a", (1.0, 1.0), True)
    assert front.add("b", (0.0, 0.0), False) == (set(), set())
    assert set(front.vectors) == {"a"}
    assert front.add("c", (0.5, 0.5), True) == ({"c"}, {"a"})


def test_feasibility_violation_and_the_penalised_loss():
    tradeoffs = Tradeoffs(
        (Goal("size"), Goal("acc", maximize=True)), (Bound("ms", high=5.0), Bound("acc", low=0.9))
    )
    inside = {"size": 3.0, "acc": 0.95, "ms": 4.0}
    outside = {"size": 3.0, "acc": 0.8, "ms": 10.0}
    assert tradeoffs.names == ("size", "acc", "ms")
    assert tradeoffs.feasible(inside) and not tradeoffs.feasible(outside)
    assert tradeoffs.violations(outside) == ["ms 10 > max 5", "acc 0.8 < min 0.9"]
    assert tradeoffs.violation(outside) == pytest.approx(1.0 + 0.1 / 0.9)
    assert tradeoffs.vector(0.2, inside) == (0.2, 3.0, -0.95)
    judged = tradeoffs.judge(0.2, outside)
    assert judged.feasible is False and judged.constrained == (10.0, 0.8)
    assert algo_loss(0.2, 0.0) == 0.2
    assert INFEASIBLE_LOSS < algo_loss(0.2, 0.1) < algo_loss(-5.0, 0.2)  # above any feasible loss
    with pytest.raises(MissingMetric, match="'ms'"):
        tradeoffs.judge(0.2, {"size": 1.0, "acc": 0.9})
    with pytest.raises(MissingMetric, match="not finite"):
        tradeoffs.judge(0.2, {"size": float("nan"), "acc": 0.9, "ms": 1.0})


def test_hypervolume_of_two_objectives_is_the_dominated_area():
    assert hypervolume_2d([(0.5, 0.5)], (1, 1)) == pytest.approx(0.25)
    assert hypervolume_2d([(0, 0.5), (0.5, 0), (0.6, 0.6)], (1, 1)) == pytest.approx(0.75)
    assert hypervolume_2d([(2, 0)], (1, 1)) == 0.0
    rng = random.Random(0)  # against a fine grid count
    points = [(rng.random(), rng.random()) for _ in range(15)]
    cells = sum(
        any(p[0] <= (i + 0.5) / 200 and p[1] <= (j + 0.5) / 200 for p in points)
        for i, j in itertools.product(range(200), range(200))
    )
    assert hypervolume_2d(points, (1, 1)) == pytest.approx(cells / 200**2, abs=0.01)


FUNCTION = {"name": "t", "space": {"x": {"uniform": [0, 1]}}, "objective": {"function": "f.py:f"}}
BUILTIN = {
    "name": "t",
    "data": {"dataset": "breast_cancer"},
    "model": {"family": "xgboost", "space": {"max_depth": {"quniform": [2, 4, 1]}}},
    "objective": {"metric": "log_loss"},
}


def test_the_experiment_file_reads_also_and_constraints(tmp_path):
    (tmp_path / "f.py").write_text("def f(params):\n    return params['x']\n")
    raw = {
        **FUNCTION,
        "objective": {**FUNCTION["objective"], "also": ["latency", {"name": "acc", "direction": "maximize"}]},
    }
    raw["objective"]["constraints"] = {"latency": {"max": 5}, "acc": {"min": 0.5, "max": 1}}
    tradeoffs = load_experiment(raw).objective.tradeoffs
    assert tradeoffs.also == (Goal("latency"), Goal("acc", maximize=True))
    assert tradeoffs.constraints == (Bound("latency", 5.0, None), Bound("acc", 1.0, 0.5))
    builtin = load_experiment(
        {**BUILTIN, "objective": {"metric": "log_loss", "also": ["val_roc_auc", "predict_ms"]}}
    )
    assert builtin.objective.tradeoffs.also == (Goal("val_roc_auc", maximize=True), Goal("predict_ms"))


@pytest.mark.parametrize(
    ("objective", "key", "fragment"),
    [
        ({"also": ["latency"]}, "objective", "a built-in model's trial has no metric 'latency'"),
        ({"constraints": {"size_mb": {"max": 1}}}, "objective", "no metric 'size_mb'"),
        ({"constraints": {"predict_ms": {}}}, "objective.constraints.predict_ms", "give 'max' and/or 'min'"),
        (
            {"constraints": {"predict_ms": {"min": 5, "max": 1}}},
            "objective.constraints.predict_ms",
            "above max",
        ),
        ({"also": ["model_mb", "model_mb"]}, "objective", "names a metric twice"),
        ({"also": ["val_log_loss"]}, "objective", "is the primary metric already"),
        ({"also": [{"name": "model_mb", "direction": "up"}]}, "objective.also.0.direction", "minimize"),
        (
            {"constraints": {"predict_ms": {"below": 3}}},
            "objective.constraints.predict_ms.below",
            "unknown key",
        ),
    ],
)
def test_bad_also_and_constraints_are_one_line_errors_before_any_run(objective, key, fragment):
    raw = {**BUILTIN, "objective": {"metric": "log_loss", **objective}}
    with pytest.raises(ConfigError) as caught:
        load_experiment(raw)
    message = str(caught.value)
    assert "\n" not in message and key in message and fragment in message, message
