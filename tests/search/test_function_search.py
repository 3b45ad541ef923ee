"""Searches whose objective is the user's own function: every executor, the CLI, the registry."""

from __future__ import annotations

import json
import math
import re
import textwrap
import threading

import mlflow
import pytest
import yaml
from click.testing import CliRunner
from conftest import QUIET, UNREGISTERED, children_of
from sklearn.datasets import load_breast_cancer

from hpo_plugin.errors import ConfigError
from hpo_plugin.fronts.cli import main
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.search import run_search

TRAIN = '''
import math

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss


def fit(params, trial):
    X_train, y_train, X_val, y_val = trial.train_and_validation()
    model = LogisticRegression(C=params["C"], max_iter=300).fit(X_train, y_train)
    for step in (1, 2, 3):
        trial.log_metric("curve", params["C"] * step, step=step)
    trial.log_param("solver", "lbfgs")
    trial.set_tag("author", "me")
    with open("notes.txt", "w") as out:
        out.write(str(params))
    trial.log_artifact("notes.txt", "extras")
    return {"loss": log_loss(y_val, model.predict_proba(X_val)), "model": model, "val_accuracy": 0.5}


def uses_mlflow(params, trial):
    """Logs through MLflow itself: the fluent API and autologging, no trial handle."""
    import mlflow.sklearn

    mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
    X_train, y_train, X_val, y_val = trial.train_and_validation()
    model = LogisticRegression(C=params["C"], max_iter=300).fit(X_train, y_train)
    for step in (1, 2):
        mlflow.log_metric("fluent_curve", params["C"] * step, step=step)
    mlflow.set_tag("fluent", "yes")
    mlflow.sklearn.autolog(disable=True)
    return log_loss(y_val, model.predict_proba(X_val))


class Mean:
    """A model class of the user's own file (not importable by name elsewhere)."""

    def fit(self, X, y):
        self.mean = float(y.mean())
        return self

    def predict(self, X):
        return [self.mean] * len(X)


def own_model(params, trial):
    X_train, y_train, _, _ = trial.train_and_validation()
    return {"loss": abs(params["x"]), "model": Mean().fit(X_train, y_train)}


def python_model(params):
    import mlflow.pyfunc

    class Constant(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return [0.5] * len(model_input)

    return {"loss": abs(params["x"]), "model": Constant()}


def quadratic(params):
    """An existing hyperopt objective: a number, no data, no model."""
    return (params["x"] - 2.0) ** 2


def flaky(params):
    if params["x"] < 0:
        raise RuntimeError("negative x")
    return math.nan if params["x"] > 4 else params["x"]
'''


def function_experiment(write_yaml, name: str = "fit", data: bool = True, **sections) -> object:
    write_yaml(TRAIN, "train.py")
    raw = {
        "name": "fn",
        "space": {"C": {"loguniform": [0.01, 10]}}
        if name in ("fit", "uses_mlflow")
        else {"x": {"uniform": [-5, 5]}},
        "objective": {"function": f"train.py:{name}"},
        "search": {"max_evals": 4, "seed": 0, **QUIET},
        **({"data": {"dataset": "breast_cancer"}} if data else {}),
        **sections,
    }
    return write_yaml(yaml.safe_dump(raw), "fn.yaml")


def test_a_function_logs_into_its_trials_runs_and_its_best_model_is_registered(write_yaml, client):
    path = function_experiment(write_yaml)
    out = CliRunner().invoke(main, ["search", str(path)])
    assert out.exit_code == 0, out.output
    assert "Model 'fn' version 1 registered" in out.output and "loss=" in out.output
    (parent,) = [
        r
        for r in client.search_runs([client.get_experiment_by_name("fn").experiment_id])
        if r.data.tags.get("hpo.role") == "search"
    ]
    assert parent.data.params["objective.function"] == "train.py:fit"
    children = children_of(client, parent)
    assert len(children) == 4 and {c.info.status for c in children} == {"FINISHED"}
    trial = children[0]
    assert trial.data.params["solver"] == "lbfgs" and trial.data.tags["author"] == "me"
    assert {"loss", "val_accuracy", "curve"} <= set(trial.data.metrics)
    assert [m.step for m in client.get_metric_history(trial.info.run_id, "curve")] == [1, 2, 3]
    assert [a.path for a in client.list_artifacts(trial.info.run_id, "extras")] == ["extras/notes.txt"]
    best = client.get_run(parent.data.tags["hpo.best_run_id"])
    final_id = parent.data.tags["hpo.final_model_id"]
    assert final_id == best.outputs.model_outputs[0].model_id  # the best trial's own model, not a refit
    version = client.get_model_version_by_alias("fn", "champion")
    assert version.tags["hpo.val_loss"] == str(parent.data.metrics["best_loss"])
    X = load_breast_cancer(as_frame=True).data.head(3)
    assert len(mlflow.pyfunc.load_model("models:/fn@champion").predict(X)) == 3


def test_an_existing_hyperopt_objective_works_unchanged_without_data_or_model(write_yaml, client):
    path = function_experiment(write_yaml, "quadratic", data=False, search={"max_evals": 15, **QUIET})
    out = CliRunner().invoke(main, ["search", str(path)])
    assert out.exit_code == 0, out.output
    assert "Not registered: no trial logged a model" in out.output
    (parent,) = [
        r
        for r in client.search_runs([client.get_experiment_by_name("fn").experiment_id])
        if r.data.tags.get("hpo.role") == "search"
    ]
    assert parent.info.status == "FINISHED" and parent.data.metrics["best_loss"] < 1.0
    assert "hpo.final_model_id" not in parent.data.tags
    (row,) = json.loads(CliRunner().invoke(main, ["list", "--experiment", "fn", "--format", "json"]).output)
    assert row["metric"] == "loss" and row["best_val"] == pytest.approx(parent.data.metrics["best_loss"])


def test_a_function_given_in_python(write_yaml, client):
    config = load_experiment(
        write_yaml("name: api\nspace: {x: {uniform: [-5, 5]}}\nsearch: {max_evals: 6}\n")
    )
    seen = []

    def objective(params):
        seen.append(params)
        return {"loss": abs(params["x"]), "status": "ok"}

    result = run_search(config, objective=objective)
    assert len(seen) == 6 and result.best.loss == min(abs(p["x"]) for p in seen) and result.model_id is None


def test_failures_and_nan_fail_their_trials_and_the_search_goes_on(write_yaml, client):
    result = run_search(
        load_experiment(function_experiment(write_yaml, "flaky", data=False, search={"max_evals": 12}))
    )
    errors = {re.sub(r":\d+\)$", ")", r.error) for r in result.records if r.status == "FAILED"}
    assert errors == {  # where in the user's file: the raising line, or the function that returned NaN
        "RuntimeError: negative x (at train.py)",
        "TrialFailed: the function returned nan (flaky in train.py)",
    }
    assert result.n_ok >= 1 and math.isfinite(result.best.loss)
    failed = next(r for r in result.records if r.status == "FAILED")
    assert client.get_run(failed.run_id).data.tags["hpo.error"] == failed.error


def test_a_function_runs_in_local_worker_processes(write_yaml, client):
    path = function_experiment(
        write_yaml, executor={"name": "local", "parallelism": 2}, register=UNREGISTERED
    )
    result = run_search(load_experiment(path))
    assert result.n_ok == 4 and all(r.model_id for r in result.records)
    trial = client.get_run(result.records[-1].run_id)
    assert trial.data.tags["author"] == "me" and [
        a.path for a in client.list_artifacts(trial.info.run_id, "extras")
    ]


def test_a_lambda_travels_to_local_workers_by_value(write_yaml, client):
    config = load_experiment(
        write_yaml("name: api\nspace: {x: {uniform: [0, 1]}}\nexecutor: {name: local, parallelism: 2}\n"),
        {"search.max_evals": 3, "register.enabled": False},
    )
    offset = 0.5  # a closure's value goes with it
    result = run_search(config, objective=lambda params: params["x"] + offset)
    assert result.n_ok == 3 and all(r.loss == r.params["x"] + 0.5 for r in result.records)


def test_a_function_that_cannot_be_pickled_is_refused_for_workers_before_any_run(write_yaml, client):
    config = load_experiment(write_yaml("name: api\nspace: {x: {uniform: [0, 1]}}\nexecutor: local\n"))
    lock = threading.Lock()

    def holds_a_lock(params):
        with lock:
            return params["x"]

    with pytest.raises(ConfigError, match=r"executor\.name: local workers get the function by value"):
        run_search(config, objective=holds_a_lock)
    assert client.search_experiments(filter_string="name = 'api'") == []


@pytest.mark.parametrize(("name", "flavor"), [("own_model", "sklearn"), ("python_model", "python_function")])
def test_a_model_of_the_users_own_class_or_a_python_model_is_logged_and_serves(
    write_yaml, client, name, flavor
):
    path = function_experiment(write_yaml, name, register=UNREGISTERED)
    result = run_search(load_experiment(path))
    assert result.n_ok == 4 and all(r.model_id for r in result.records)
    model = mlflow.pyfunc.load_model(f"models:/{result.model_id}")
    assert flavor in model.metadata.flavors
    assert len(model.predict(load_breast_cancer(as_frame=True).data.head(3))) == 3


@pytest.mark.parametrize("executor", ["sequential", "local"])
def test_mlflow_calls_and_autologging_inside_the_function_land_in_its_trial_run(write_yaml, client, executor):
    path = function_experiment(write_yaml, "uses_mlflow", executor={"name": executor}, register=UNREGISTERED)
    result = run_search(load_experiment(path))
    assert result.n_ok == 4
    runs = client.search_runs([client.get_experiment_by_name("fn").experiment_id])
    assert len(runs) == 5  # the parent and its 4 trials: no run of the function's own
    for record in result.records:
        run = client.get_run(record.run_id)
        assert run.info.status == "FINISHED" and run.data.tags["fluent"] == "yes"
        assert [m.step for m in client.get_metric_history(record.run_id, "fluent_curve")] == [1, 2]
        assert "training_score" in run.data.metrics  # autologging's, for the fit inside the trial
        assert run.data.params["C"] == str(record.params["C"])


@pytest.mark.slow
def test_a_function_runs_in_spark_tasks(write_yaml, client):
    pytest.importorskip("pyspark")
    path = function_experiment(
        write_yaml, executor={"name": "spark", "spark_master": "local[2]"}, register=UNREGISTERED
    )
    result = run_search(load_experiment(path))
    assert result.n_ok == 4 and all(r.model_id for r in result.records)
    assert [m.step for m in client.get_metric_history(result.best.run_id, "curve")] == [1, 2, 3]
    path = function_experiment(
        write_yaml, "uses_mlflow", executor={"name": "spark", "spark_master": "local[2]"}
    )
    result = run_search(load_experiment(path))
    assert [m.step for m in client.get_metric_history(result.best.run_id, "fluent_curve")] == [1, 2]


@pytest.mark.parametrize(
    ("sections", "key", "fragment"),
    [
        ({"objective": {"function": "nope.py:fit"}}, "objective.function", "nope.py does not exist"),
        ({"objective": {"function": "train.py:missing"}}, "objective.function", "train.py has no 'missing'"),
        ({"objective": {"function": "train.py:fit", "metric": "log_loss"}}, "objective", "not several"),
        ({"model": {"family": "xgboost"}}, "experiment", "a function objective takes no 'model'"),
        ({"space": {}}, "experiment", "objective searches the top-level 'space'"),
    ],
)
def test_bad_function_experiments_fail_in_one_line_before_any_run(
    write_yaml, client, sections, key, fragment
):
    path = function_experiment(write_yaml, **sections)
    out = CliRunner().invoke(main, ["search", str(path)])
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1, out.output
    assert f"{key}: " in out.output and fragment in out.output
    assert client.get_experiment_by_name("fn") is None


def test_a_function_with_an_unusable_signature_is_refused(write_yaml, client):
    write_yaml(TRAIN + "\n\ndef three(a, b, c):\n    return 0.0\n", "train.py")
    path = write_yaml(
        yaml.safe_dump({"space": {"x": {"uniform": [0, 1]}}, "objective": {"function": "train.py:three"}}),
        "fn.yaml",
    )
    out = CliRunner().invoke(main, ["search", str(path)])
    assert (
        out.exit_code == 2
        and "objective.function: three(a, b, c) cannot be called as fn(params)" in out.output
    )


def test_a_top_level_space_without_a_function_needs_one(write_yaml):
    path = write_yaml(
        textwrap.dedent("""
        space: {x: {uniform: [0, 1]}}
        search: {max_evals: 2}
        """)
    )
    with pytest.raises(
        ConfigError, match=r"objective\.function: give your function as 'file\.py:name' or pass objective="
    ):
        run_search(load_experiment(path))
