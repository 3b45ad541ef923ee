"""A family's model put together: its preprocessing, its fit arguments, early stopping, its flavor.

Libraries with native support (XGBoost, LightGBM, scikit-learn's HistGradientBoosting) keep
their own handling of missing values and categoricals: an OrdinalEncoder in front turns the
categorical columns into codes and puts them first, and the estimator is told which they are.
Every other family gets imputers, a one-hot encoder (and scaling where it needs it) in a
Pipeline. Either way the fitted model predicts on a frame of the original columns, and it is
made only of the libraries' own classes, so it loads wherever they are installed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from lightgbm import LGBMModel
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from xgboost import XGBModel

from hpo_plugin.models.families import family_named

MODEL_STEP = "model"  # the estimator's step name in a Pipeline (fit arguments go to ``model__*``)


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
    family = family_named(family_name)
    cls = family.estimator_class(task)
    kwargs = dict(family.defaults)
    if family.threads_param:
        kwargs[family.threads_param] = n_threads
    if family.seed_param:
        kwargs[family.seed_param] = seed
    kwargs.update(params)
    if family.native is not None:
        if not categorical:
            return cls(**kwargs)
        # Categorical columns come first out of the transformer, then the numeric ones.
        kwargs.update(family.native.init(len(categorical), len(numeric)))
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
        prep = ColumnTransformer(
            [("categorical", encoder, list(categorical))],
            remainder="passthrough",
            verbose_feature_names_out=False,
        )
        return Pipeline([("preprocess", prep), (MODEL_STEP, cls(**kwargs))])
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
    return Pipeline([("preprocess", ColumnTransformer(transformers)), (MODEL_STEP, cls(**kwargs))])


def fit_params(family_name: str, model, categorical: tuple[str, ...]) -> dict[str, Any]:
    """The ``fit`` arguments ``model`` needs (LightGBM's categorical columns), Pipeline-prefixed."""
    native = family_named(family_name).native
    return for_estimator(model, native.fit(len(categorical))) if native and categorical else {}


def for_estimator(model, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``fit`` arguments for the estimator of ``model``: prefixed if it ends a Pipeline."""
    if isinstance(model, Pipeline):
        return {f"{MODEL_STEP}__{key}": value for key, value in kwargs.items()}
    return dict(kwargs)


@dataclass(frozen=True)
class EarlyStopping:
    """How a boosting library stops on a held-out set: its ``fit`` arguments and what it kept."""

    base: type
    eval_kwargs: Callable[[Any, Any], dict[str, Any]]  # (X_stop, y_stop) -> fit arguments
    best_attr: str


EARLY_STOPPING = (
    EarlyStopping(XGBModel, lambda X, y: {"eval_set": [(X, y)], "verbose": False}, "best_iteration"),
    EarlyStopping(LGBMModel, lambda X, y: {"eval_X": X, "eval_y": y}, "best_iteration_"),
)


def early_stopping(model) -> EarlyStopping | None:
    """How ``model``'s estimator stops early, if it has ``early_stopping_rounds`` set."""
    estimator = final_estimator(model)
    if not estimator.get_params().get("early_stopping_rounds"):
        return None
    return next((s for s in EARLY_STOPPING if isinstance(estimator, s.base)), None)


def final_estimator(model):
    """The estimator at the end of a Pipeline, or the model itself."""
    return model[-1] if isinstance(model, Pipeline) else model


# The MLflow flavor that logs a bare estimator of these bases natively; anything else
# (a Pipeline included) is logged with the sklearn flavor.
FLAVORS: tuple[tuple[type, str], ...] = ((XGBModel, "xgboost"), (LGBMModel, "lightgbm"))


def flavor_of(model) -> str:
    """The MLflow flavor module name that logs this fitted model natively: its library's, pyfunc
    for an ``mlflow.pyfunc.PythonModel``, else sklearn (cloudpickle; pyfunc calls ``predict``)."""
    if is_python_model(model):
        return "pyfunc"
    return next((flavor for base, flavor in FLAVORS if isinstance(model, base)), "sklearn")


def is_python_model(model) -> bool:
    """An ``mlflow.pyfunc.PythonModel``, recognised without importing MLflow (workers never do)."""
    return any(
        c.__name__ == "PythonModel" and c.__module__.startswith("mlflow.pyfunc") for c in type(model).__mro__
    )
