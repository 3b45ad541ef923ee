"""The metric registry: each metric's value and direction."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from hpo_plugin.metrics import METRICS


@pytest.mark.parametrize("k", [2, 3, 10])
def test_log_loss_is_scikit_learns_value(k):
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 200)
    proba = rng.dirichlet(np.ones(k), 200)
    proba[0] = np.eye(k)[(y[0] + 1) % k]  # a confident mistake: clipped, not infinite
    expected = skm.log_loss(y, proba, labels=list(range(k)))
    assert METRICS["log_loss"].fn(y, proba.argmax(1), proba, "multiclass", k) == pytest.approx(
        expected, rel=1e-12
    )


def test_log_loss_without_a_column_per_class_is_an_error():
    with pytest.raises(ValueError, match="a probability for each of the 3 classes"):
        METRICS["log_loss"].fn(np.array([0, 1]), None, np.array([[0.5, 0.5], [0.2, 0.8]]), "multiclass", 3)


def test_the_numpy_metrics_are_scikit_learns():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=50), rng.normal(size=50)
    assert METRICS["rmse"].fn(y, p, None, "regression", 0) == pytest.approx(skm.root_mean_squared_error(y, p))
    assert METRICS["mae"].fn(y, p, None, "regression", 0) == pytest.approx(skm.mean_absolute_error(y, p))
    labels, predicted = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    expected = skm.accuracy_score(labels, predicted)
    assert METRICS["accuracy"].fn(labels, predicted, None, "multiclass", 3) == pytest.approx(expected)
