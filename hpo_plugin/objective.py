"""One trial: build the model for a point, fit it on each validation fold, score it.

No MLflow here: the same objective runs bare (benchmarks) and tracked (search).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from hpo_plugin.config import ExperimentConfig
from hpo_plugin.data import Dataset
from hpo_plugin.metrics import metrics_for, score
from hpo_plugin.models import build_model


class TrialFailed(Exception):
    """The trial produced no usable loss (an error, NaN or inf)."""


@dataclass(frozen=True)
class TrialOutcome:
    """What a finished trial reports: loss for hyperopt, metrics and model for MLflow."""

    loss: float
    metrics: dict[str, float]
    model: Any


@dataclass(frozen=True)
class Objective:
    config: ExperimentConfig
    dataset: Dataset
    n_threads: int

    @property
    def metric(self) -> str:
        return self.config.objective.metric

    def family_and_params(self, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Split a decoded point into the model family and its full param set."""
        params = dict(params)
        family = params.pop("family", None) or self.config.candidates[0].family
        fixed = next(m.params for m in self.config.candidates if m.family == family)
        return family, {**fixed, **params}

    def build(self, params: Mapping[str, Any]):
        family, model_params = self.family_and_params(params)
        d = self.dataset
        return build_model(
            family, d.task, model_params, d.categorical, d.numeric, self.n_threads, self.config.search.seed
        )

    def loss_of(self, value: float) -> float:
        return -value if self.config.objective.maximize else value

    def evaluate(self, params: Mapping[str, Any]) -> TrialOutcome:
        """Fit and score one point on every fold; raise TrialFailed if the loss is unusable."""
        d = self.dataset
        template = self.build(params)
        per_fold: list[dict[str, float]] = []
        started = time.perf_counter()
        model = None
        for train, val in d.folds:
            model = _fit(clone(template), d.X_search.iloc[train], d.y_search[train])
            per_fold.append(score(model, d.X_search.iloc[val], d.y_search[val], d.task, d.n_classes))
        fit_time = time.perf_counter() - started
        metrics = _summarise(per_fold, d.task)
        value = metrics[f"val_{self.metric}"]
        if not math.isfinite(value):
            raise TrialFailed(f"val_{self.metric} is {value}")
        if len(d.folds) > 1:
            # The trial's model is the configuration trained on all the search data.
            model = _fit(clone(template), d.X_search, d.y_search)
        metrics["fit_time_s"] = fit_time
        return TrialOutcome(self.loss_of(value), metrics, model)

    def refit_and_test(self, params: Mapping[str, Any]) -> tuple[Any, dict[str, float]]:
        """The final model: fit on all search data, scored once on the held-out test set."""
        d = self.dataset
        model = _fit(self.build(params), d.X_search, d.y_search)
        test = score(model, d.X_test, d.y_test, d.task, d.n_classes)
        return model, {f"test_{k}": v for k, v in test.items()}


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _summarise(per_fold: list[dict[str, float]], task: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in metrics_for(task):
        values = np.array([fold[m.name] for fold in per_fold], dtype=float)
        out[f"val_{m.name}"] = float(values.mean())
        if len(per_fold) > 1:
            out[f"val_{m.name}_std"] = float(values.std())
            out.update({f"val_{m.name}_fold{i}": float(v) for i, v in enumerate(values)})
    return out
