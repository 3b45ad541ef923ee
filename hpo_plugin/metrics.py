"""Metric registry: every metric a trial can report, per task, and its natural direction.

scikit-learn's definitions, computed in plain numpy without scikit-learn's input checks (tested
against scikit-learn's values): a pruned search scores every few boosting rounds, and a fast
trial's checks took longer than its fit.
"""

from __future__ import annotations

import pickle
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

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


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    first = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], len(ordered))
    ranks = np.empty(len(values))
    ranks[order] = ((starts + ends + 1) / 2.0)[np.cumsum(first) - 1]
    return ranks


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic; a tie counts one half)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    return float((_ranks(score)[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _roc_auc(y, pred, proba, task, k):
    """scikit-learn's ``roc_auc_score``: binary, or one-vs-rest macro over ``k`` classes."""
    y = np.asarray(y)
    present = np.unique(y)
    if len(present) < 2 or (task != BINARY and len(present) < k):
        return float("nan")
    proba = np.asarray(proba, dtype=float)
    if task == BINARY:
        return _binary_auc(y == 1, proba[:, 1])
    return float(np.mean([_binary_auc(y == c, proba[:, c]) for c in range(k)]))


def _f1(y, pred, proba, task, k):
    """scikit-learn's ``f1_score`` with ``zero_division=0``: of class 1, or the macro mean over the
    labels in ``y`` or ``pred``."""
    y, pred = np.asarray(y), np.asarray(pred)
    labels = [1] if task == BINARY else np.union1d(y, pred)
    scores = []
    for label in labels:
        is_true, is_pred = y == label, pred == label
        tp = np.count_nonzero(is_true & is_pred)
        denominator = np.count_nonzero(is_true) + np.count_nonzero(is_pred)
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


def _r2(y, pred, proba, task, k):
    """scikit-learn's ``r2_score``: 1.0 for a perfect fit of a constant target, else 0.0 there."""
    y = np.asarray(y, dtype=float)
    residual = float(np.sum((y - pred) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return 1 - residual / total


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
        Metric("r2", frozenset({REGRESSION}), True, _r2),
    )
}


def metrics_for(task: str) -> list[Metric]:
    """The metrics every trial of a task reports, in registry order."""
    return [m for m in METRICS.values() if task in m.tasks]


def score(model, X, y: np.ndarray, task: str, n_classes: int) -> dict[str, float]:
    """Every metric of the task for a fitted model on (X, y).

    A Pipeline's preprocessing runs once for both predictions (what ``Pipeline.predict`` and
    ``predict_proba`` do each time).
    """
    from sklearn.pipeline import Pipeline  # on use: reading an experiment imports no model library

    if isinstance(model, Pipeline) and len(model) > 1:
        X, model = model[:-1].transform(X), model[-1]
    pred = np.asarray(model.predict(X))
    has_proba = task in CLASSIFICATION and hasattr(model, "predict_proba")
    proba = np.asarray(model.predict_proba(X)) if has_proba else None
    return {
        m.name: float("nan")
        if m.needs_proba and proba is None
        else float(m.fn(y, pred, proba, task, n_classes))
        for m in metrics_for(task)
    }


# What a built-in model's trial measures besides its scores (lower is better), for
# ``objective.also`` and ``objective.constraints``: ``fit_s`` always, the others on each trial of
# an experiment that names them (:func:`measure`).
MODEL_MEASURES = {
    "fit_s": "seconds to fit the trial's model (all folds)",
    "predict_ms": "median milliseconds to predict 1,000 validation rows",
    "model_mb": "the pickled model's size in MB",
}


PREDICT_ROWS = 1000
MIN_REPEATS, MAX_REPEATS, BUDGET_S = 5, 25, 0.25  # a median of at least 5, up to 25 within 0.25 s


def predict_ms(model: Any, X) -> float:
    """Median milliseconds for ``model.predict`` on 1,000 rows of ``X`` (its rows repeated or cut
    to 1,000), after one warm-up call; at least 5 calls, more while they take under 0.25 s."""
    rows = X.iloc[np.resize(np.arange(len(X)), PREDICT_ROWS)] if hasattr(X, "iloc") else X
    model.predict(rows)  # warm-up: first-call allocations, lazy imports
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < MAX_REPEATS and (len(times) < MIN_REPEATS or time.perf_counter() - began < BUDGET_S):
        started = time.perf_counter()
        model.predict(rows)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000.0


class _Counter:
    """A file that only counts what is written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)


def model_mb(model: Any) -> float:
    """The model's pickled size in MB (counted as it streams, never held in memory)."""
    counter = _Counter()
    pickle.dump(model, counter, protocol=pickle.HIGHEST_PROTOCOL)
    return counter.size / 2**20


def measure(names, model: Any, X_val) -> dict[str, float]:
    """The measures among ``names``, of ``model`` (``predict_ms`` on validation rows)."""
    out = {}
    if "predict_ms" in names:
        out["predict_ms"] = predict_ms(model, X_val)
    if "model_mb" in names:
        out["model_mb"] = model_mb(model)
    return out
