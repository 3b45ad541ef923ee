"""Metric registry: every metric a trial can report, per task, and its natural direction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)
CLASSIFICATION = frozenset({BINARY, MULTICLASS})


@dataclass(frozen=True)
class Metric:
    """``fn(y_true, y_pred, proba, task, n_classes)`` returns a float (nan if undefined)."""

    name: str
    tasks: frozenset[str]
    greater_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray | None, str, int], float]
    needs_proba: bool = False  # nan for a classifier without predict_proba


def _log_loss(y, pred, proba, task, k):
    return skm.log_loss(y, proba, labels=list(range(k)))


def _roc_auc(y, pred, proba, task, k):
    if len(np.unique(y)) < 2:
        return float("nan")
    if task == BINARY:
        return skm.roc_auc_score(y, proba[:, 1])
    if len(np.unique(y)) < k:
        return float("nan")
    return skm.roc_auc_score(y, proba, multi_class="ovr", labels=list(range(k)))


def _f1(y, pred, proba, task, k):
    return skm.f1_score(y, pred, average="binary" if task == BINARY else "macro", zero_division=0)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("log_loss", CLASSIFICATION, False, _log_loss, needs_proba=True),
        Metric("roc_auc", CLASSIFICATION, True, _roc_auc, needs_proba=True),
        Metric("accuracy", CLASSIFICATION, True, lambda y, p, pr, t, k: skm.accuracy_score(y, p)),
        Metric("f1", CLASSIFICATION, True, _f1),
        Metric(
            "rmse",
            frozenset({REGRESSION}),
            False,
            lambda y, p, pr, t, k: float(np.sqrt(skm.mean_squared_error(y, p))),
        ),
        Metric(
            "mae",
            frozenset({REGRESSION}),
            False,
            lambda y, p, pr, t, k: skm.mean_absolute_error(y, p),
        ),
        Metric("r2", frozenset({REGRESSION}), True, lambda y, p, pr, t, k: skm.r2_score(y, p)),
    )
}


def metrics_for(task: str) -> list[Metric]:
    """The metrics every trial of a task reports, in registry order."""
    return [m for m in METRICS.values() if task in m.tasks]


def score(model, X, y: np.ndarray, task: str, n_classes: int) -> dict[str, float]:
    """Every metric of the task for a fitted model on (X, y)."""
    pred = np.asarray(model.predict(X))
    has_proba = task in CLASSIFICATION and hasattr(model, "predict_proba")
    proba = np.asarray(model.predict_proba(X)) if has_proba else None
    return {
        m.name: float("nan")
        if m.needs_proba and proba is None
        else float(m.fn(y, pred, proba, task, n_classes))
        for m in metrics_for(task)
    }
