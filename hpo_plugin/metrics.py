"""Metric registry: every metric a trial can report, per task, and its natural direction.

scikit-learn's definitions; the simple ones (and log loss) in plain numpy, without scikit-learn's
input checks, because a pruned search scores them every few boosting rounds.
"""

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
    """scikit-learn's ``log_loss`` for labels ``0..k-1`` in numpy: the same value without its input
    checks (~4 ms a call), since pruning scores it every few boosting rounds."""
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] != k:
        raise ValueError(f"log_loss needs a probability for each of the {k} classes, got shape {proba.shape}")
    eps = np.finfo(proba.dtype).eps
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), np.asarray(y, dtype=int)], eps, 1 - eps))))


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
        Metric("accuracy", CLASSIFICATION, True, lambda y, p, pr, t, k: float(np.mean(np.asarray(y) == p))),
        Metric("f1", CLASSIFICATION, True, _f1),
        Metric(
            "rmse",
            frozenset({REGRESSION}),
            False,
            lambda y, p, pr, t, k: float(np.sqrt(np.mean((np.asarray(y, dtype=float) - p) ** 2))),
        ),
        Metric(
            "mae",
            frozenset({REGRESSION}),
            False,
            lambda y, p, pr, t, k: float(np.mean(np.abs(np.asarray(y, dtype=float) - p))),
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
