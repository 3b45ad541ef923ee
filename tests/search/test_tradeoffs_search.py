"""Searches with trade-offs against real MLflow stores: every trial says whether it is feasible
and on the front (checked against the front computed from what landed in MLflow), the parent
carries the front, the final model and the champion are the best feasible trial, a point of the
front can be promoted by hand, the gate never promotes a version outside its constraints."""

from __future__ import annotations

import json
import textwrap
import warnings

import pytest
import yaml
from click.testing import CliRunner
from conftest import QUIET, children_of
from hyperopt import hp

from hpo_plugin import promotion
from hpo_plugin.errors import ConfigError
from hpo_plugin.fronts.cli import main
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.fronts.hyperopt import MlflowTrials, fmin
from hpo_plugin.search import run_search
from hpo_plugin.tracking.schema import score_tag
from hpo_plugin.tradeoffs import non_dominated

FUNCTIONS = """
from sklearn.dummy import DummyClassifier


def traded(params):
    x, y = params["x"], params["y"]
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    return {"loss": (x - 0.8) ** 2 + y, "size": 10 * x + 5 * y, "model": model}
"""


def experiment(tmp_path, executor="sequential", constraint=5.0, max_evals=10, algo="grid", **objective):
    (tmp_path / "functions.py").write_text(textwrap.dedent(FUNCTIONS))
    raw = {
        "name": "traded",
        "space": {"x": {"quniform": [0, 1, 0.25]}, "y": {"choice": [0, 0.5]}},
        "objective": {
            "function": "functions.py:traded",
            "also": ["size"],
            "constraints": {"size": {"max": constraint}},
            **objective,
        },
        "search": {"algo": algo, "max_evals": max_evals, "seed": 2, **QUIET},
        "executor": {"name": executor, **({"parallelism": 2} if executor != "sequential" else {})},
        "register": {"model_name": "traded"},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def landed(client, parent_id: str, bound: float = 5.0):
    """The trials as MLflow holds them, checked against the front computed from their metrics."""
    parent = client.get_run(parent_id)
    children = children_of(client, parent)
    feasible = {}
    for child in children:
        m, tags = child.data.metrics, child.data.tags
        assert child.info.status == "FINISHED"
        feasible[child.info.run_id] = m["size"] <= bound
        assert tags["hpo.feasible"] == str(feasible[child.info.run_id]).lower()
    vectors = {c.info.run_id: (c.data.metrics["loss"], c.data.metrics["size"]) for c in children}
    front = non_dominated({k: v for k, v in vectors.items() if feasible[k]})
    assert {c.info.run_id for c in children if c.data.tags.get("hpo.pareto") == "true"} == front
    assert all(c.data.tags.get("hpo.pareto") in ("true", "false") for c in children)
    return parent, children, front


@pytest.mark.parametrize("executor", ["sequential", "local", pytest.param("spark", marks=pytest.mark.slow)])
def test_every_trial_says_where_it_stands_and_the_best_feasible_is_champion(tmp_path, client, executor):
    result = run_search(load_experiment(experiment(tmp_path, executor)))
    parent, children, front = landed(client, result.parent_run_id)
    # The grid: x in {0, .25, .5, .75, 1}, y in {0, .5}; size <= 5 leaves (0,0) (.25,0) (.5,0) (0,.5)
    # and (.25,.5), of which (0,.5) is dominated by (.25,0) and (.25,.5) by (.5,0).
    points = {c.info.run_id: (float(c.data.params["x"]), float(c.data.params["y"])) for c in children}
    assert sorted(points[r] for r in front) == [(0.0, 0.0), (0.25, 0.0), (0.5, 0.0)]
    assert parent.data.metrics["n_pareto"] == 3 and parent.data.metrics["n_feasible"] == 5
    assert points[result.best.run_id] == (0.5, 0.0)  # (0.75, 0) has a lower loss but size 7.5
    assert parent.data.tags["hpo.best_run_id"] == result.best.run_id
    with open(client.download_artifacts(parent.info.run_id, "pareto_front.json", str(tmp_path))) as file:
        table = json.load(file)
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert sorted(r["run_id"] for r in rows if r["pareto"]) == sorted(front)
    assert {"trial", "run_id", "loss", "size", "feasible", "pareto"} <= set(table["columns"]) and len(
        rows
    ) == 10
    version = client.get_model_version_by_alias("traded", "champion")
    assert version.tags["hpo.best_run_id"] == result.best.run_id
    assert float(version.tags[score_tag("size")]) == 5.0


def test_resumed_search_keeps_the_front_of_all_its_trials(tmp_path, client):
    path = experiment(tmp_path, algo="random", max_evals=6, constraint=6.0)
    first = run_search(load_experiment(path))
    more = load_experiment(path, {"search.max_evals": 14})
    result = run_search(more, resume=first.parent_run_id)
    assert result.parent_run_id == first.parent_run_id and len(result.records) == 14
    parent, children, front = landed(client, result.parent_run_id, 6.0)
    assert len(children) == 14 and parent.data.metrics["n_pareto"] == len(front)


def test_gp_models_the_constraint_and_scalarises_the_objectives(tmp_path, client):
    """With gp, proposals after the random start mostly meet the constraint, and they spread
    along the front rather than only at the lowest loss."""
    path = experiment(tmp_path, algo="gp", max_evals=30)
    raw = yaml.safe_load(path.read_text())
    raw["space"] = {"x": {"uniform": [0, 1]}, "y": {"uniform": [0, 1]}}
    raw["register"] = {"enabled": False}
    path.write_text(yaml.safe_dump(raw))
    result = run_search(load_experiment(path))
    later = [r for r in result.records if r.number > 10]
    assert sum(r.feasible for r in later) >= 0.7 * len(later)
    _, children, front = landed(client, result.parent_run_id)
    sizes = sorted(c.data.metrics["size"] for c in children if c.info.run_id in front)
    assert len(front) >= 6 and sizes[-1] - sizes[0] > 2.5  # the front spans loss against size


def test_no_feasible_trial_registers_nothing_and_finishes(tmp_path, client):
    result = run_search(load_experiment(experiment(tmp_path, constraint=-1.0)))
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and result.best is None and result.registration is None
    assert result.not_registered.startswith("no trial met the constraints (size <= -1;")
    assert parent.data.metrics["n_feasible"] == 0 and parent.data.metrics["n_pareto"] == 0
    assert "hpo.final_model_id" not in parent.data.tags
    assert not client.search_registered_models()
    shown = CliRunner().invoke(main, ["search", str(tmp_path / "exp.yaml")])
    assert shown.exit_code == 0 and "No final model: no trial met the constraints" in shown.output


def test_a_point_of_the_front_promoted_by_hand(tmp_path, client):
    result = run_search(load_experiment(experiment(tmp_path)))
    _, children, front = landed(client, result.parent_run_id)
    pick = next(c for c in children if c.info.run_id in front and c.info.run_id != result.best.run_id)
    done = CliRunner().invoke(main, ["promote", "--run", pick.info.run_id])
    assert done.exit_code == 0, done.output
    champion = client.get_model_version_by_alias("traded", "champion")
    assert (
        champion.source == f"models:/{pick.outputs.model_outputs[0].model_id}"
        and str(champion.version) == "2"
    )
    assert "hpo.manual_champion" in champion.tags
    outside = next(c for c in children if c.data.tags["hpo.feasible"] == "false")
    refused = CliRunner().invoke(main, ["promote", "--run", outside.info.run_id])
    assert refused.exit_code != 0
    assert "does not meet its search's constraints (size" in refused.output
    shown = CliRunner().invoke(main, ["show", result.parent_run_id])
    assert "Pareto front (3 trials; pick one with: hpo promote --run <run_id>)" in shown.output


def test_the_gate_never_promotes_a_version_outside_its_constraints(tmp_path, client):
    first = run_search(load_experiment(experiment(tmp_path)))
    assert first.registration.version == "1" and first.registration.promoted
    # v1's recorded size moved outside its constraint: a later, worse, feasible version wins.
    client.set_model_version_tag("traded", "1", score_tag("size"), "9.0")
    assert promotion.violations(client.get_model_version("traded", "1")) == ["size 9 > max 5"]
    tmp2 = tmp_path / "second"
    tmp2.mkdir()
    second = run_search(load_experiment(experiment(tmp2, max_evals=2, algo="random")))
    assert second.registration.promoted
    assert (
        second.registration.reason == "champion v1 does not meet this search's constraints (size 9 > max 5)"
    )
    # A version outside its own constraints stays challenger.
    promotion.promote(client, "traded", "1", "champion")
    promoted, reason = promotion.gate(client, "traded", "1", 0.0)
    assert not promoted and reason.startswith(
        "not promoted: it does not meet its search's constraints (size 9"
    )


def test_builtin_model_measures_what_its_constraints_name(tiny, client):
    path = tiny(
        objective={"metric": "log_loss", "also": ["model_mb"], "constraints": {"predict_ms": {"max": 1000}}},
        search={"max_evals": 4, **QUIET},
        register={"enabled": False},
    )
    result = run_search(load_experiment(path))
    children = children_of(client, client.get_run(result.parent_run_id))
    for child in children:
        m = child.data.metrics
        assert 0 < m["predict_ms"] < 1000 and 0 < m["model_mb"] < 5 and m["fit_s"] > 0
        assert child.data.tags["hpo.feasible"] == "true"
    vectors = {c.info.run_id: (c.data.metrics["loss"], c.data.metrics["model_mb"]) for c in children}
    assert {c.info.run_id for c in children if c.data.tags["hpo.pareto"] == "true"} == non_dominated(vectors)
    parent = client.get_run(result.parent_run_id)
    assert 0 < parent.data.metrics["final_model_mb"] < 5 and parent.data.metrics["final_predict_ms"] > 0
    strict = load_experiment(path, {"objective.constraints": {"predict_ms": {"max": 1e-6}}})
    assert run_search(strict).best is None


def test_without_trade_offs_nothing_is_measured_or_tagged(tiny, client):
    result = run_search(load_experiment(tiny(search={"max_evals": 2, **QUIET}, register={"enabled": False})))
    for child in children_of(client, client.get_run(result.parent_run_id)):
        assert "predict_ms" not in child.data.metrics and "hpo.pareto" not in child.data.tags
        assert "hpo.feasible" not in child.data.tags


def test_fmin_takes_also_and_constraints_and_returns_the_best_feasible_point(client):
    def objective(params):
        return {"loss": (params["x"] - 0.8) ** 2, "size": 10 * params["x"], "status": "ok"}

    trials = MlflowTrials(also=["size"], constraints={"size": {"max": 5}}, report=False)
    space = {"x": hp.quniform("x", 0, 1, 0.1)}
    best = fmin(objective, space, algo="grid", max_evals=11, trials=trials, show_progressbar=False)
    assert best["x"] == pytest.approx(0.5)
    parent = client.get_run(trials.parent_run_id)
    assert parent.data.metrics["n_feasible"] == 6 and parent.data.metrics["n_pareto"] == 6
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        none = MlflowTrials(constraints={"size": {"max": -1}}, report=False)
        fmin(objective, space, algo="grid", max_evals=3, trials=none, show_progressbar=False)
    assert any("no trial met the constraints" in str(w.message) for w in caught)


def test_a_function_that_lacks_a_named_metric_fails_its_trials_saying_so(tmp_path, client):
    path = experiment(tmp_path, max_evals=2, also=["latency"])
    with pytest.raises(Exception, match=r"the trial gave no value for 'latency', named in objective\.also"):
        run_search(load_experiment(path))


def test_cli_also_and_constraint_options(tmp_path, client):
    path = experiment(tmp_path, max_evals=4)
    raw = yaml.safe_load(path.read_text())
    raw["objective"] = {"function": "functions.py:traded"}
    raw["register"] = {"enabled": False}
    path.write_text(yaml.safe_dump(raw))
    done = CliRunner().invoke(main, ["search", str(path), "--also", "size", "--constraint", "size<=5"])
    assert done.exit_code == 0, done.output
    assert "Constraints (size <= 5):" in done.output and "Pareto front of loss, size:" in done.output
    bad = CliRunner().invoke(main, ["search", str(path), "--constraint", "size<5"])
    assert bad.exit_code == 2 and "write NAME<=X or NAME>=X" in bad.output


def test_the_report_draws_the_front(tmp_path, client):
    result = run_search(load_experiment(experiment(tmp_path), {"register.enabled": False}))
    done = CliRunner().invoke(main, ["report", result.parent_run_id])
    assert done.exit_code == 0, done.output
    paths = [a.path for a in client.list_artifacts(result.parent_run_id, "report")]
    assert "report/pareto.png" in paths
    with open(client.download_artifacts(result.parent_run_id, "report/index.html", str(tmp_path))) as file:
        assert '<img alt="pareto"' in file.read()


def test_a_resume_with_other_trade_offs_is_refused(tmp_path, client):
    path = experiment(tmp_path, algo="random", max_evals=3)
    first = run_search(load_experiment(path, {"register.enabled": False}))
    other = load_experiment(path, {"search.max_evals": 6, "objective.constraints": {"size": {"max": 2}}})
    with pytest.raises(ConfigError, match=r"objective: also/constraints differ from those of search"):
        run_search(other, resume=first.parent_run_id)


def test_fmin_hands_the_trade_offs_to_gp_given_as_algo_or_after_start_points():
    from hpo_plugin import gp
    from hpo_plugin.algorithms.points import StartFrom
    from hpo_plugin.fronts.hyperopt import _with_tradeoffs
    from hpo_plugin.tradeoffs import Goal, Tradeoffs

    tradeoffs = Tradeoffs((Goal("size"),))
    assert _with_tradeoffs(gp.suggest, tradeoffs).keywords == {"tradeoffs": tradeoffs}
    started = _with_tradeoffs(StartFrom([{"x": 0.5}], gp.suggest).suggest, tradeoffs)
    assert started.__self__.then.keywords == {"tradeoffs": tradeoffs} and started.__self__.points == [
        {"x": 0.5}
    ]
    assert _with_tradeoffs(gp.suggest, Tradeoffs()) is gp.suggest
