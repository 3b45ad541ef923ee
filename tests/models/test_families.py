"""Every registered model family, on every task it serves: it builds, fits and predicts on raw columns."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from hpo_plugin.metrics import BINARY, REGRESSION
from hpo_plugin.models.families import (
    MODEL_FAMILIES,
    estimator_family,
    families_for,
    family_named,
    unsupported_task,
)
from hpo_plugin.models.pipelines import build_model, final_estimator, fit_params, flavor_of

CASES = [
    (name, task)
    for name in sorted(MODEL_FAMILIES)
    for task in (BINARY, REGRESSION)
    if unsupported_task(name, task) is None
]


def frame(n: int = 60) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=n), "colour": rng.choice(["red", "blue", None], size=n)})
    X.loc[::7, "x"] = np.nan
    return X, (X["x"].fillna(0) > 0).to_numpy(dtype=int), rng.normal(size=n)


@pytest.mark.parametrize(("family", "task"), CASES)
def test_family_fits_and_predicts_on_raw_columns_with_missing_values(family, task):
    X, labels, targets = frame()
    y = labels if task == BINARY else targets
    model = build_model(family, task, {}, ("colour",), ("x",), n_threads=1, seed=0)
    model.fit(X, y, **fit_params(family, model, ("colour",)))
    assert len(model.predict(X.head(3))) == 3
    estimator = final_estimator(model)
    assert isinstance(estimator, MODEL_FAMILIES[family].estimator_class(task))
    family_spec = MODEL_FAMILIES[family]
    if family_spec.seed_param:
        assert estimator.get_params()[family_spec.seed_param] == 0
    if family_spec.threads_param:
        assert estimator.get_params()[family_spec.threads_param] == 1
    assert flavor_of(model) == "sklearn"  # with its preprocessing: a scikit-learn Pipeline


@pytest.mark.parametrize("family", sorted(MODEL_FAMILIES))
def test_param_names_are_the_estimators_own_and_the_keywords_it_takes(family):
    for task in (BINARY, REGRESSION):
        cls = MODEL_FAMILIES[family].estimator_class(task)
        names = MODEL_FAMILIES[family].param_names(task)
        expected = set(cls().get_params()) | MODEL_FAMILIES[family].extra_params if cls else set()
        assert names == expected


def test_an_unsupported_task_names_the_families_that_serve_it():
    problem = unsupported_task("ridge", BINARY)
    assert problem == f"ridge does not do classification; choose one of: {', '.join(families_for(BINARY))}"
    assert "ridge" not in families_for(BINARY) and "ridge" in families_for(REGRESSION)


def test_native_libraries_take_categoricals_themselves():
    X, labels, _ = frame(200)
    for family in ("xgboost", "lightgbm", "hist_gradient_boosting"):
        assert MODEL_FAMILIES[family].native is not None
        model = build_model(family, BINARY, {}, ("colour",), ("x",), n_threads=1, seed=0)
        assert type(model[0].transformers[0][1]).__name__ == "OrdinalEncoder"  # codes, not one-hot
        model.fit(X, labels, **fit_params(family, model, ("colour",)))
    assert fit_params("lightgbm", model, ()) == {}  # no categoricals, no fit arguments
    lightgbm = build_model("lightgbm", BINARY, {}, ("colour",), ("x",), 1, 0)
    assert fit_params("lightgbm", lightgbm, ("colour",)) == {"model__categorical_feature": [0]}
    assert flavor_of(build_model("lightgbm", BINARY, {}, (), ("x",), 1, 0)) == "lightgbm"


def test_an_estimator_by_import_path_is_a_family_of_its_own():
    svc = family_named("sklearn.svm.SVC")
    assert svc is estimator_family("sklearn.svm.SVC") and svc.scale and svc.native is None
    assert svc.seed_param == "random_state" and svc.threads_param is None  # SVC has no n_jobs
    assert unsupported_task("sklearn.svm.SVC", REGRESSION).startswith(
        "sklearn.svm.SVC does not do regression"
    )
    knn = family_named("sklearn.neighbors.KNeighborsRegressor")
    assert knn.threads_param == "n_jobs" and knn.seed_param is None
    assert "n_neighbors" in knn.param_names(REGRESSION)


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("SVC", "is not an import path; give package.module.Class"),
        ("sklearn.svm.SVX", "cannot import sklearn.svm.SVX: module sklearn.svm has no 'SVX'"),
        ("no_such_package.Model", "cannot import no_such_package.Model: No module named 'no_such_package'"),
        ("collections.OrderedDict", "is not a scikit-learn estimator"),
        ("sklearn.preprocessing.StandardScaler", "is not a scikit-learn estimator"),
        ("sklearn.cluster.KMeans", "is neither a classifier nor a regressor"),
    ],
)
def test_a_bad_import_path_says_what_to_fix(path, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        estimator_family(path)
