"""Model-family registry: name -> estimator per task, how it takes the data, its library defaults.

A family is either built in (:data:`MODEL_FAMILIES`) or any scikit-learn-compatible class named
by its import path in the experiment (``model: {estimator: sklearn.svm.SVC}``), which becomes a
family of its own (:func:`family_named`). How a family's model is put together with its
preprocessing lives in :mod:`.pipelines`.

Built-in families name their estimators by import path, imported on first use: reading an
experiment (``hpo_plugin.config``) checks a family's name without importing its library.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hpo_plugin.metrics import CLASSIFICATION, REGRESSION

CLASSIFIER, REGRESSOR = "classifier", "regressor"


@dataclass(frozen=True)
class Native:
    """A library that takes categorical columns (as ordinal codes, first) and missing values itself.

    ``init(n_categorical, n_numeric)`` gives the estimator's keyword arguments that mark the
    categorical columns, ``fit(n_categorical)`` the ``fit`` arguments that do (LightGBM reads
    them at fit time only).
    """

    init: Callable[[int, int], dict[str, Any]]
    fit: Callable[[int], dict[str, Any]] = lambda n_categorical: {}


@dataclass(frozen=True)
class ModelFamily:
    """One family: an estimator class per task kind and how to wrap it."""

    name: str
    estimators: Mapping[str, str | type]  # task kind -> the class, or its import path
    scale: bool = False
    native: Native | None = None  # None: imputers, one-hot encoding (and scaling) in front
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # The library's own defaults where ``get_params()`` shows None (XGBoost keeps them in C++).
    library_defaults: Mapping[str, Any] = field(default_factory=dict)
    threads_param: str | None = "n_jobs"
    seed_param: str | None = "random_state"
    # Keyword arguments the estimator takes that ``get_params()`` does not list.
    extra_params: frozenset[str] = frozenset()

    def estimator_class(self, task: str) -> type | None:
        cls = self.estimators.get(CLASSIFIER if task in CLASSIFICATION else REGRESSOR)
        return _imported(cls) if isinstance(cls, str) else cls

    def param_names(self, task: str) -> set[str]:
        cls = self.estimator_class(task)
        return set(cls().get_params()) | self.extra_params if cls is not None else set()


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

XGBOOST_NATIVE = Native(
    init=lambda n_cat, n_num: {"feature_types": ["c"] * n_cat + ["q"] * n_num, "enable_categorical": True}
)
LIGHTGBM_NATIVE = Native(
    init=lambda n_cat, n_num: {}, fit=lambda n_cat: {"categorical_feature": list(range(n_cat))}
)
HIST_GRADIENT_BOOSTING_NATIVE = Native(
    init=lambda n_cat, n_num: {"categorical_features": [True] * n_cat + [False] * n_num}
)

MODEL_FAMILIES: dict[str, ModelFamily] = {
    f.name: f
    for f in (
        ModelFamily(
            "xgboost",
            {CLASSIFIER: "xgboost.XGBClassifier", REGRESSOR: "xgboost.XGBRegressor"},
            native=XGBOOST_NATIVE,
            defaults={"tree_method": "hist", "verbosity": 0},
            library_defaults=XGBOOST_DEFAULTS,
        ),
        ModelFamily(
            "lightgbm",
            {CLASSIFIER: "lightgbm.LGBMClassifier", REGRESSOR: "lightgbm.LGBMRegressor"},
            native=LIGHTGBM_NATIVE,
            defaults={"verbosity": -1},
            extra_params=frozenset({"early_stopping_rounds"}),  # LightGBM's own, taken as a keyword
        ),
        ModelFamily(
            "hist_gradient_boosting",
            {
                CLASSIFIER: "sklearn.ensemble.HistGradientBoostingClassifier",
                REGRESSOR: "sklearn.ensemble.HistGradientBoostingRegressor",
            },
            native=HIST_GRADIENT_BOOSTING_NATIVE,
            threads_param=None,  # OpenMP: limited with the trial's thread budget like BLAS
        ),
        ModelFamily(
            "random_forest",
            {
                CLASSIFIER: "sklearn.ensemble.RandomForestClassifier",
                REGRESSOR: "sklearn.ensemble.RandomForestRegressor",
            },
        ),
        ModelFamily(
            "logistic_regression",
            {CLASSIFIER: "sklearn.linear_model.LogisticRegression"},
            scale=True,
            defaults={"max_iter": 1000},
            threads_param=None,
        ),
        ModelFamily("ridge", {REGRESSOR: "sklearn.linear_model.Ridge"}, scale=True, threads_param=None),
        ModelFamily(
            "mlp",
            {
                CLASSIFIER: "sklearn.neural_network.MLPClassifier",
                REGRESSOR: "sklearn.neural_network.MLPRegressor",
            },
            scale=True,
            defaults={"max_iter": 300},
            threads_param=None,
        ),
    )
}


@functools.cache
def _imported(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def family_named(name: str) -> ModelFamily:
    """A built-in family, or the family of the estimator class at import path ``name``."""
    return MODEL_FAMILIES[name] if name in MODEL_FAMILIES else estimator_family(name)


@functools.cache
def estimator_family(path: str) -> ModelFamily:
    """Any scikit-learn-compatible class as a family, behind the scikit-learn families' preprocessing.

    Raises ValueError saying what is wrong with ``path`` (the config reports it under its key).
    """
    from sklearn.base import is_classifier, is_regressor

    cls = import_estimator(path)
    instance = cls()
    kinds = {CLASSIFIER: is_classifier(instance), REGRESSOR: is_regressor(instance)}
    if not any(kinds.values()):
        raise ValueError(f"{path} is neither a classifier nor a regressor (scikit-learn's is_classifier)")
    params = instance.get_params()
    return ModelFamily(
        path,
        {kind: cls for kind, yes in kinds.items() if yes},
        scale=True,  # harmless for trees, needed by kernels and distances (SVC, KNN)
        threads_param="n_jobs" if "n_jobs" in params else None,
        seed_param="random_state" if "random_state" in params else None,
    )


def import_estimator(path: str) -> type:
    """The class at ``package.module.Class``; ValueError naming what to fix."""
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise ValueError(f"{path!r} is not an import path; give package.module.Class, e.g. sklearn.svm.SVC")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {path}: {exc}; check the module path (is it installed?)") from None
    except AttributeError:
        raise ValueError(f"cannot import {path}: module {module_name} has no {class_name!r}") from None
    if not isinstance(cls, type) or not all(hasattr(cls, m) for m in ("fit", "predict", "get_params")):
        raise ValueError(f"{path} is not a scikit-learn estimator (a class with fit, predict and get_params)")
    try:
        cls()
    except Exception as exc:
        raise ValueError(
            f"{path}() fails without arguments ({type(exc).__name__}: {exc}); a scikit-learn "
            "estimator takes every parameter as a keyword with a default"
        ) from None
    return cls


def families_for(task: str) -> list[str]:
    return sorted(n for n, f in MODEL_FAMILIES.items() if f.estimator_class(task) is not None)


def unsupported_task(family_name: str, task: str) -> str | None:
    """Why a family cannot serve a task, or None."""
    if family_named(family_name).estimator_class(task) is not None:
        return None
    kind = "regression" if task == REGRESSION else "classification"
    return f"{family_name} does not do {kind}; choose one of: {', '.join(families_for(task))}"
