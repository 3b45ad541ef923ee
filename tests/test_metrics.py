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


@pytest.mark.parametrize("k", [2, 3, 7])
def test_roc_auc_and_f1_are_scikit_learns(k):
    rng = np.random.default_rng(k)
    task = "binary" if k == 2 else "multiclass"
    for _ in range(20):
        y = rng.integers(0, k, 60)
        proba = rng.dirichlet(np.ones(k), 60).round(1)  # rounded: many tied scores
        proba /= proba.sum(1, keepdims=True)
        pred = rng.integers(0, k, 60) if rng.random() < 0.5 else np.zeros(60, dtype=int)
        auc = skm.roc_auc_score(y, proba[:, 1]) if k == 2 else skm.roc_auc_score(y, proba, multi_class="ovr")
        f1 = skm.f1_score(y, pred, average="binary" if k == 2 else "macro", zero_division=0)
        assert METRICS["roc_auc"].fn(y, pred, proba, task, k) == pytest.approx(auc, rel=1e-12)
        assert METRICS["f1"].fn(y, pred, proba, task, k) == pytest.approx(f1, rel=1e-12)


def test_roc_auc_is_undefined_without_every_class():
    proba = np.full((4, 3), 1 / 3)
    assert np.isnan(METRICS["roc_auc"].fn(np.array([0, 1, 0, 1]), None, proba, "multiclass", 3))
    assert np.isnan(METRICS["roc_auc"].fn(np.array([1, 1]), None, proba[:2, :2], "binary", 2))


def test_r2_is_scikit_learns():
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=40), rng.normal(size=40)
    assert METRICS["r2"].fn(y, p, None, "regression", 0) == pytest.approx(skm.r2_score(y, p), rel=1e-12)
    constant = np.ones(5)
    assert METRICS["r2"].fn(constant, constant, None, "regression", 0) == skm.r2_score(constant, constant)
    doubled = constant * 2
    assert METRICS["r2"].fn(constant, doubled, None, "regression", 0) == skm.r2_score(constant, doubled)


def test_a_pipeline_scores_as_it_predicts():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from hpo_plugin.metrics import score

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    scores = score(model, X, y.to_numpy(), "multiclass", 3)
    assert scores["accuracy"] == pytest.approx(skm.accuracy_score(y, model.predict(X)))
    assert scores["log_loss"] == pytest.approx(skm.log_loss(y, model.predict_proba(X)))
    assert scores["roc_auc"] == pytest.approx(skm.roc_auc_score(y, model.predict_proba(X), multi_class="ovr"))
