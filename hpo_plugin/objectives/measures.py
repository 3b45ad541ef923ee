"""What a built-in model costs to use, measured on each trial of an experiment that names it
(``objective.also``, ``objective.constraints``): ``predict_ms`` and ``model_mb``. ``fit_s`` is
always logged by the estimator objective itself."""

from __future__ import annotations

import pickle
import statistics
import time
from typing import Any

import numpy as np

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


MEASURES = {"predict_ms": predict_ms, "model_mb": model_mb}


def measure(names, model: Any, X_val) -> dict[str, float]:
    """The measures among ``names``, of ``model`` (``predict_ms`` on validation rows)."""
    out = {}
    if "predict_ms" in names:
        out["predict_ms"] = predict_ms(model, X_val)
    if "model_mb" in names:
        out["model_mb"] = model_mb(model)
    return out
