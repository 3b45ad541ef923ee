"""Learning curves of the boosting libraries: the validation score every k boosting rounds.

While XGBoost or LightGBM trains, a callback predicts the validation fold with the rounds so
far, scores it with the search's metric and reports it (step = rounds trained); the trial's
pruner may stop it there (:class:`~hpo_plugin.pruners.TrialPruned` ends the library's training
loop, which is Python in both), except at the last round, where the trial has trained it all
(XGBoost's early stopping runs after this callback: a round where it stops is judged). The
validation fold only scores: early stopping keeps its own slice of the training rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from lightgbm import LGBMModel
from sklearn.pipeline import Pipeline
from xgboost import DMatrix, XGBModel
from xgboost.callback import TrainingCallback

from hpo_plugin.metrics import CLASSIFICATION, METRICS
from hpo_plugin.models.pipelines import final_estimator, for_estimator
from hpo_plugin.pruners import Reporter, loss_of

DEFAULT_ROUNDS = 100  # both libraries' n_estimators when the params leave it unset


@dataclass
class Curve:
    """Scores predictions of the validation fold and reports them, every ``every`` rounds."""

    reporter: Reporter
    y: np.ndarray
    task: str
    n_classes: int
    metric: str
    every: int
    rounds: int = 0  # the rounds the estimator trains at most (set by with_curve): always reported

    def due(self, done: int) -> bool:
        return done % self.every == 0 or done == self.rounds

    def report(self, done: int, raw: np.ndarray) -> None:
        """``raw``: the booster's prediction after ``done`` rounds (probabilities for a classifier)."""
        proba = None
        if self.task in CLASSIFICATION:
            proba = raw.reshape(len(self.y), -1)
            proba = np.column_stack([1 - proba[:, 0], proba[:, 0]]) if proba.shape[1] == 1 else proba
            pred = proba.argmax(axis=1)
        else:
            pred = raw
        metric = METRICS[self.metric]
        value = float(metric.fn(self.y, pred, proba, self.task, self.n_classes))
        loss = loss_of(value, metric.greater_is_better)
        self.reporter.report(done, loss, (f"val_{self.metric}", value))
        self.reporter.check()  # not at the last round (the reporter's end): the trial trained it all


class _XGBoostCurve(TrainingCallback):
    def __init__(self, curve: Curve, X, estimator: XGBModel) -> None:
        super().__init__()
        self.curve, self.X, self.estimator = curve, X, estimator

    def before_training(self, model):
        types = self.estimator.feature_types
        self.matrix = DMatrix(self.X, feature_types=types, enable_categorical=types is not None)
        return model

    def after_iteration(self, model, epoch: int, evals_log) -> bool:
        if self.curve.due(done := epoch + 1):
            self.curve.report(done, np.asarray(model.predict(self.matrix, iteration_range=(0, done))))
        return False


def _attach_xgboost(model, curve: Curve, X) -> tuple[dict[str, Any], Callable[[], None]]:
    estimator = final_estimator(model)
    estimator.set_params(callbacks=[_XGBoostCurve(curve, X, estimator)])
    return {}, lambda: estimator.set_params(callbacks=None)  # the fitted model keeps no callback


def _attach_lightgbm(model, curve: Curve, X) -> tuple[dict[str, Any], Callable[[], None]]:
    def after_round(env) -> None:
        if curve.due(done := env.iteration + 1):
            curve.report(done, np.asarray(env.model.predict(X, num_iteration=done)))

    after_round.order = 40  # after LightGBM's own early stopping check (order 30)
    return for_estimator(model, {"callbacks": [after_round]}), lambda: None


CURVES: tuple[tuple[type, Callable], ...] = ((XGBModel, _attach_xgboost), (LGBMModel, _attach_lightgbm))


def reports_rounds(model) -> bool:
    """Whether ``model``'s estimator is a boosting library that reports every k rounds."""
    return any(isinstance(final_estimator(model), base) for base, _ in CURVES)


def reports_rounds_class(cls: type | None) -> bool:
    return cls is not None and any(issubclass(cls, base) for base, _ in CURVES)


def with_curve(model, X_train, y_train, X_val, curve: Curve) -> tuple[dict[str, Any], Callable[[], None]]:
    """``fit`` arguments (and an undo, called after the fit) that make ``model`` report ``curve``
    on ``X_val`` as it trains."""
    estimator = final_estimator(model)
    if isinstance(model, Pipeline):  # the booster sees the validation fold as the pipeline would
        from sklearn.base import clone

        X_val = clone(model[:-1]).fit(X_train, y_train).transform(X_val)
    attach = next(fn for base, fn in CURVES if isinstance(estimator, base))
    curve.rounds = curve.reporter.end = estimator.get_params().get("n_estimators") or DEFAULT_ROUNDS
    return attach(model, curve, X_val)
