"""Model-family registry: name -> estimator per task, preprocessing, and its MLflow flavor.

XGBoost keeps its native handling of missing values and categoricals (an OrdinalEncoder in
front marks the categorical columns); scikit-learn families get imputers and a one-hot
encoder in a Pipeline. Either way the fitted model predicts on a frame of original columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from xgboost import XGBClassifier, XGBModel, XGBRegressor

from hpo_plugin.metrics import CLASSIFICATION, REGRESSION

CLASSIFIER, REGRESSOR = "classifier", "regressor"


@dataclass(frozen=True)
class ModelFamily:
    """One family: an estimator class per task kind and how to wrap it."""

    name: str
    estimators: Mapping[str, type]
    scale: bool = False
    native_categorical: bool = False
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # The library's own defaults where ``get_params()`` shows None (XGBoost keeps them in C++).
    library_defaults: Mapping[str, Any] = field(default_factory=dict)
    threads_param: str | None = "n_jobs"
    seed_param: str | None = "random_state"

    def estimator_class(self, task: str) -> type | None:
        return self.estimators.get(CLASSIFIER if task in CLASSIFICATION else REGRESSOR)

    def param_names(self, task: str) -> set[str]:
        cls = self.estimator_class(task)
        return set(cls().get_params()) if cls is not None else set()


XGBOOST_DEFAULTS = {
    "n_estimators": 100,
    "max_depth": 6,
    "learning_rate": 0.3,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "colsample_bylevel": 1.0,
    "colsample_bynode": 1.0,
    "min_child_weight": 1.0,
    "reg_lambda": 1.0,
    "reg_alpha": 0.0,
    "gamma": 0.0,
    "max_delta_step": 0.0,
    "max_bin": 256,
}

MODEL_FAMILIES: dict[str, ModelFamily] = {
    f.name: f
    for f in (
        ModelFamily(
            "xgboost",
            {CLASSIFIER: XGBClassifier, REGRESSOR: XGBRegressor},
            native_categorical=True,
            defaults={"tree_method": "hist", "verbosity": 0},
            library_defaults=XGBOOST_DEFAULTS,
        ),
        ModelFamily("random_forest", {CLASSIFIER: RandomForestClassifier, REGRESSOR: RandomForestRegressor}),
        ModelFamily(
            "logistic_regression",
            {CLASSIFIER: LogisticRegression},
            scale=True,
            defaults={"max_iter": 1000},
            threads_param=None,
        ),
        ModelFamily("ridge", {REGRESSOR: Ridge}, scale=True, threads_param=None),
        ModelFamily(
            "mlp",
            {CLASSIFIER: MLPClassifier, REGRESSOR: MLPRegressor},
            scale=True,
            defaults={"max_iter": 300},
            threads_param=None,
        ),
    )
}


def families_for(task: str) -> list[str]:
    return sorted(n for n, f in MODEL_FAMILIES.items() if f.estimator_class(task) is not None)


def build_model(
    family_name: str,
    task: str,
    params: Mapping[str, Any],
    categorical: tuple[str, ...],
    numeric: tuple[str, ...],
    n_threads: int,
    seed: int,
):
    """An unfitted estimator (or Pipeline) for the family, task and params."""
    family = MODEL_FAMILIES[family_name]
    cls = family.estimator_class(task)
    kwargs = dict(family.defaults)
    if family.threads_param:
        kwargs[family.threads_param] = n_threads
    if family.seed_param:
        kwargs[family.seed_param] = seed
    kwargs.update(params)
    if family.native_categorical:
        if not categorical:
            return cls(**kwargs)
        # Categorical columns come first out of the transformer, then the numeric ones.
        kwargs["feature_types"] = ["c"] * len(categorical) + ["q"] * len(numeric)
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
        prep = ColumnTransformer(
            [("categorical", encoder, list(categorical))],
            remainder="passthrough",
            verbose_feature_names_out=False,
        )
        return Pipeline([("preprocess", prep), ("model", cls(enable_categorical=True, **kwargs))])
    numeric_steps = [SimpleImputer(strategy="median")]
    if family.scale:
        numeric_steps.append(StandardScaler())
    transformers = [("numeric", make_pipeline(*numeric_steps), list(numeric))]
    if categorical:
        categorical_steps = make_pipeline(
            SimpleImputer(strategy="constant", fill_value="missing"),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        )
        transformers.append(("categorical", categorical_steps, list(categorical)))
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("model", cls(**kwargs))])


def final_estimator(model):
    """The estimator at the end of a Pipeline, or the model itself."""
    return model[-1] if isinstance(model, Pipeline) else model


def flavor_of(model) -> str:
    """The MLflow flavor module name that logs this fitted model natively."""
    return "xgboost" if isinstance(model, XGBModel) else "sklearn"


def unsupported_task(family_name: str, task: str) -> str | None:
    """Why a family cannot serve a task, or None."""
    if MODEL_FAMILIES[family_name].estimator_class(task) is not None:
        return None
    kind = "regression" if task == REGRESSION else "classification"
    return f"{family_name} does not do {kind}; choose one of: {', '.join(families_for(task))}"
