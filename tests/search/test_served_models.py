"""Models speak the user's data: the columns as pandas reads them in, the user's labels or class
probabilities out, through pyfunc, the native flavors and a real `mlflow models serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import QUIET, invocations, model_server
from mlflow.exceptions import MlflowException

from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.models.families import families_for
from hpo_plugin.models.served import PREDICT_METHOD
from hpo_plugin.promotion import register_search
from hpo_plugin.search import run_search

LABELS = {
    "string": ("Adelie", "Chinstrap", "Gentoo"),
    "boolean": (False, True),
    "integer": (3, 5, 9),  # not 0..K-1
}
PROBA = {PREDICT_METHOD: "predict_proba"}
# A small space per family, so each search takes a second or two.
SPACES = {
    "xgboost": ({"n_estimators": 20}, {"max_depth": {"quniform": [2, 4, 1]}}),
    "lightgbm": ({"n_estimators": 20, "min_child_samples": 5}, {"num_leaves": {"quniform": [4, 16, 1]}}),
    "hist_gradient_boosting": ({"max_iter": 20}, {"max_depth": {"quniform": [2, 4, 1]}}),
    "random_forest": ({"n_estimators": 20}, {"max_depth": {"quniform": [2, 6, 1]}}),
    "logistic_regression": ({}, {"C": {"loguniform": [0.1, 10]}}),
    "ridge": ({}, {"alpha": {"loguniform": [0.1, 10]}}),
    "mlp": ({"max_iter": 300}, {"alpha": {"loguniform": [0.0001, 0.01]}}),
}


def user_frame(target: str, n: int = 160, seed: int = 0) -> pd.DataFrame:
    """Integer, float, string and boolean columns with missing values, and a target that
    follows ``year``: string, boolean or integer labels, or a number."""
    rng = np.random.default_rng(seed)
    year = rng.integers(2000, 2020, n)
    missing = lambda: rng.random(n) < 0.1  # noqa: E731
    frame = pd.DataFrame(
        {
            "year": year,
            "rooms": np.where(missing(), np.nan, rng.integers(1, 6, n)),
            "price": np.where(missing(), np.nan, rng.normal(size=n)),
            "color": np.where(missing(), None, rng.choice(["red", "blue", "green"], n)),
            "member": np.where(missing(), None, rng.choice([True, False], n)),
        }
    )
    band = np.digitize(year, [2007, 2013])
    if target == "regression":
        frame["y"] = 0.5 * (year - 2000) + rng.normal(0, 0.3, n)
    elif target == "boolean":
        frame["y"] = year >= 2010
    else:
        frame["y"] = np.asarray(LABELS[target], dtype=object)[band]
    return frame


def search_file(tiny, tmp_path: Path, frame: pd.DataFrame, family: str, suffix: str = "csv", **search):
    """Write ``frame`` as the data file, run a tiny search of ``family`` on it; (result, file)."""
    path = tmp_path / f"data.{suffix}"
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    params, space = SPACES[family]
    task_metric = {"objective": {"metric": "rmse"}} if frame["y"].dtype.kind == "f" else {}
    config = load_experiment(
        tiny(
            data={"dataset": None, "path": path.name, "target": "y"},
            model={"family": family, "params": params, "space": space},
            search={"max_evals": 2, **QUIET, **search},
            register={"model_name": "animals"},
            **task_metric,
        )
    )
    return run_search(config), path


def read_back(path: Path) -> pd.DataFrame:
    """The file as a user reads it again, the target dropped."""
    frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    return frame.drop(columns="y")


@pytest.mark.parametrize("target", sorted(LABELS))
def test_classifiers_answer_in_the_users_labels_with_probabilities_per_label(tiny, tmp_path, client, target):
    result, path = search_file(tiny, tmp_path, user_frame(target), "xgboost")
    register_search(client, result.parent_run_id)
    X, truth = read_back(path), pd.read_csv(path)["y"].to_numpy()
    labels = LABELS[target]
    for uri in (f"models:/{result.best.model_id}", f"models:/{result.model_id}", "models:/animals@champion"):
        model = mlflow.pyfunc.load_model(uri)
        predicted = np.asarray(model.predict(X))
        assert set(predicted.tolist()) <= set(labels)
        assert type(predicted[0].item() if hasattr(predicted[0], "item") else predicted[0]) is type(labels[0])
        assert (predicted == truth).mean() > 0.9  # the labels map to the right codes
        proba = model.predict(X, params=PROBA)
        assert list(proba.columns) == list(labels)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
        assert (proba.idxmax(axis=1).to_numpy() == predicted).all()
    # Its own flavor still loads (sklearn: the encoder of categoricals and XGBoost in a Pipeline).
    native = mlflow.sklearn.load_model(f"models:/{result.model_id}")
    assert set(native.predict(trained_form(X)).tolist()) <= set(range(len(labels)))


def trained_form(X: pd.DataFrame) -> pd.DataFrame:
    """The frame the native model was trained on (what ServedModel feeds it)."""
    from hpo_plugin.features import model_frame, numeric_columns

    return model_frame(X, X.columns, numeric_columns(X))


@pytest.mark.parametrize("family", families_for("multiclass"))
def test_every_classifier_family_predicts_on_the_csv_as_read(tiny, tmp_path, family):
    result, path = search_file(tiny, tmp_path, user_frame("string"), family)
    model = mlflow.pyfunc.load_model(f"models:/{result.model_id}")
    X = read_back(path)
    assert set(np.asarray(model.predict(X)).tolist()) <= set(LABELS["string"])
    assert list(model.predict(X.head(3), params=PROBA).columns) == list(LABELS["string"])
    inputs = {c.name: (c.type.name, c.required) for c in model.metadata.get_input_schema().inputs}
    assert inputs == {
        "year": ("long", True),  # integers stay integers
        "rooms": ("double", False),  # pandas reads an integer column with gaps as floats; optional
        "price": ("double", False),
        "color": ("string", False),
        "member": ("boolean", False),
    }
    rows = X.head(4).copy()
    rows.loc[0, "color"] = "purple"  # a category never seen in training
    rows = rows.drop(columns=["member"])  # an optional column left out
    assert len(model.predict(rows)) == 4


@pytest.mark.parametrize("family", families_for("regression"))
def test_every_regressor_family_predicts_on_nullable_dtypes_from_parquet(tiny, tmp_path, family):
    frame = user_frame("regression").convert_dtypes()  # Int64, Float64, string, boolean with <NA>
    assert str(frame["year"].dtype) == "Int64" and str(frame["member"].dtype) == "boolean"
    result, path = search_file(tiny, tmp_path, frame, family, suffix="parquet")
    X = read_back(path)
    assert str(X["rooms"].dtype) == "Int64" and X["rooms"].isna().any() and X["member"].isna().any()
    inputs = mlflow.models.get_model_info(f"models:/{result.model_id}").signature.inputs
    # MLflow's check refuses missing values in nullable integer and boolean columns it calls
    # long and boolean, so those that miss values are declared `any`.
    assert {c.name: (c.to_dict()["type"], c.required) for c in inputs.inputs} == {
        "year": ("long", True),
        "rooms": ("any", False),
        "price": ("double", False),
        "color": ("string", False),
        "member": ("any", False),
    }
    for uri in (f"models:/{result.best.model_id}", f"models:/{result.model_id}"):
        predicted = np.asarray(mlflow.pyfunc.load_model(uri).predict(X))
        assert predicted.dtype.kind == "f" and np.isfinite(predicted).all()
    info = mlflow.models.get_model_info(f"models:/{result.model_id}")
    assert info.signature.params is None  # no predict_method for a regressor


def test_a_bad_predict_method_and_a_model_without_probabilities_say_what_to_change(tiny, tmp_path):
    frame = user_frame("string")
    frame.to_csv(tmp_path / "data.csv", index=False)
    svc = {"estimator": "sklearn.svm.SVC", "params": {}, "space": {"C": {"loguniform": [0.1, 10]}}}
    config = load_experiment(
        tiny(
            data={"dataset": None, "path": "data.csv", "target": "y"},
            model={"family": None, **svc},
            objective={"metric": "accuracy"},  # log_loss would need probabilities
            search={"max_evals": 2, **QUIET},
        )
    )
    model = mlflow.pyfunc.load_model(f"models:/{run_search(config).model_id}")
    X = read_back(tmp_path / "data.csv")
    assert set(np.asarray(model.predict(X)).tolist()) <= set(LABELS["string"])
    with pytest.raises(MlflowException, match=r"SVC gives no probabilities .*probability: true"):
        model.predict(X, params=PROBA)
    with pytest.raises(MlflowException, match="'guess' is not one of predict, predict_proba"):
        model.predict(X, params={PREDICT_METHOD: "guess"})


def test_a_served_model_loads_where_hpo_plugin_is_not_installed(tiny, tmp_path, tracking_uri):
    result, path = search_file(tiny, tmp_path, user_frame("integer"), "lightgbm")
    code = (
        "import sys; sys.modules['hpo_plugin'] = None\n"  # importing hpo_plugin now fails
        "import mlflow, pandas as pd\n"
        f"model = mlflow.pyfunc.load_model('models:/{result.model_id}')\n"
        f"X = pd.read_csv({str(path)!r}).drop(columns='y')\n"
        "print(sorted(set(model.predict(X).tolist())))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd="/", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert set(json.loads(out.stdout.strip().splitlines()[-1])) <= {3, 5, 9}


@pytest.mark.slow
def test_mlflow_models_serve_answers_labels_and_probabilities(tiny, tmp_path, client, tracking_uri):
    result, _ = search_file(tiny, tmp_path, user_frame("string"), "lightgbm")
    register_search(client, result.parent_run_id)
    with model_server("models:/animals@champion", tracking_uri) as port:
        rows = [
            {"year": 2016, "rooms": 3, "price": None, "color": "red", "member": True},
            {"year": 2001, "rooms": None, "price": 0.5, "color": None, "member": None},
            {"year": 2009},  # optional columns left out
        ]
        status, body = invocations(port, {"dataframe_records": rows})
        assert status == 200 and body["predictions"] == ["Gentoo", "Adelie", "Chinstrap"]
        columns = list(rows[0])
        split = {"columns": columns, "data": [[row.get(c) for c in columns] for row in rows]}
        status, body = invocations(port, {"dataframe_split": split, "params": PROBA})
        assert status == 200 and len(body["predictions"]) == 3
        assert [max(p, key=p.get) for p in body["predictions"]] == ["Gentoo", "Adelie", "Chinstrap"]
        assert all(set(p) == set(LABELS["string"]) for p in body["predictions"])
        whole = [{"year": 2016, "rooms": 2, "price": 1, "color": "blue", "member": False}]  # JSON integers
        assert invocations(port, {"dataframe_records": whole}) == (200, {"predictions": ["Gentoo"]})
        status, body = invocations(port, {"dataframe_records": rows, "params": {PREDICT_METHOD: "guess"}})
        assert status == 400 and "'guess' is not one of predict, predict_proba" in body["message"]
