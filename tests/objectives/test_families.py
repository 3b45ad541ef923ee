"""Every registered model family, on every task it serves: it builds, fits and predicts on raw columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hpo_plugin.metrics import BINARY, REGRESSION
from hpo_plugin.objectives.families import (
    MODEL_FAMILIES,
    build_model,
    families_for,
    final_estimator,
    flavor_of,
    unsupported_task,
)

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
    model = build_model(family, task, {}, ("colour",), ("x",), n_threads=1, seed=0).fit(X, y)
    assert len(model.predict(X.head(3))) == 3
    estimator = final_estimator(model)
    assert isinstance(estimator, MODEL_FAMILIES[family].estimator_class(task))
    family_spec = MODEL_FAMILIES[family]
    if family_spec.seed_param:
        assert estimator.get_params()[family_spec.seed_param] == 0
    if family_spec.threads_param:
        assert estimator.get_params()[family_spec.threads_param] == 1
    assert flavor_of(model) in ("xgboost", "sklearn")


@pytest.mark.parametrize("family", sorted(MODEL_FAMILIES))
def test_param_names_are_the_estimators_own(family):
    for task in (BINARY, REGRESSION):
        cls = MODEL_FAMILIES[family].estimator_class(task)
        names = MODEL_FAMILIES[family].param_names(task)
        assert names == (set(cls().get_params()) if cls else set())


def test_an_unsupported_task_names_the_families_that_serve_it():
    problem = unsupported_task("ridge", BINARY)
    assert problem == f"ridge does not do classification; choose one of: {', '.join(families_for(BINARY))}"
    assert "ridge" not in families_for(BINARY) and "ridge" in families_for(REGRESSION)
