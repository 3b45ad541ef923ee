"""The built-in objective: one trial's loss, metrics and model; the final refit; its own checks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hpo_plugin.data import prepare
from hpo_plugin.errors import ConfigError
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.objectives import EstimatorObjective, Objective, TrialFailed, build_objective, check_objective
from hpo_plugin.pruners import Reporter, TrialPruned


def objective_for(path: Path) -> EstimatorObjective:
    config = load_experiment(path)
    dataset = prepare(config.data, config.objective.validation, path.parent, config.source)
    return build_objective(config, dataset, n_threads=1)


def test_evaluate_scores_the_validation_fold_and_returns_the_fitted_model(tiny):
    objective = objective_for(tiny())
    assert isinstance(objective, Objective)  # the interface every executor calls
    outcome = objective.evaluate({"max_depth": 3, "learning_rate": 0.1})
    assert outcome.loss == outcome.metrics["val_log_loss"] > 0
    assert {"val_roc_auc", "val_accuracy", "val_f1", "fit_s"} <= set(outcome.metrics)
    assert outcome.model.get_params()["max_depth"] == 3 and outcome.model.get_params()["n_estimators"] == 10


def test_a_metric_to_maximize_becomes_a_negative_loss(tiny):
    outcome = objective_for(tiny(objective={"metric": "roc_auc"})).evaluate(
        {"max_depth": 3, "learning_rate": 0.1}
    )
    assert outcome.loss == -outcome.metrics["val_roc_auc"] < 0


def test_cv_reports_every_fold_and_the_model_is_refit_on_all_search_rows(tiny):
    objective = objective_for(tiny(objective={"validation": {"cv": 3}}))
    outcome = objective.evaluate({"max_depth": 2, "learning_rate": 0.2})
    folds = [outcome.metrics[f"val_log_loss_fold{i}"] for i in range(3)]
    assert outcome.metrics["val_log_loss"] == pytest.approx(sum(folds) / 3)
    assert outcome.model.n_features_in_ == objective.dataset.X_search.shape[1]


@pytest.mark.parametrize(
    ("validation", "steps"), [({"holdout": 0.25}, [5, 10]), ({"cv": 3}, [1, 2, 3])], ids=["rounds", "folds"]
)
def test_the_last_round_or_fold_is_reported_but_never_pruned(tiny, validation, steps):
    """A pruner that says stop at the last step (10 rounds of 10, fold 3 of 3) stops nothing: the
    trial has done all its work; one step earlier it stops the trial."""
    pruning = {"method": "median", "report_every": 5}
    objective = objective_for(tiny(objective={"validation": validation}, search={"pruning": pruning}))
    params = {"max_depth": 2, "learning_rate": 0.2}
    last = Reporter(lambda step, loss, end: step == steps[-1] == end)
    outcome = objective.evaluate(params, reporter=last)
    assert list(last.steps) == steps and last.pruned and outcome.model is not None
    earlier = Reporter(lambda step, loss, end: step == steps[-2])
    with pytest.raises(TrialPruned):
        objective.evaluate(params, reporter=earlier)
    assert list(earlier.steps) == steps[:-1]


def test_refit_and_test_scores_the_held_out_test_set_once(tiny):
    objective = objective_for(tiny())
    model, test = objective.refit_and_test({"max_depth": 3, "learning_rate": 0.1})
    assert set(test) == {"test_log_loss", "test_roc_auc", "test_accuracy", "test_f1"}
    assert all(math.isfinite(v) for v in test.values()) and model is not None


def test_an_unusable_loss_raises_trial_failed(tiny, monkeypatch):
    from hpo_plugin.objectives import estimator

    monkeypatch.setattr(
        estimator, "score", lambda *a, **k: dict.fromkeys(("log_loss", "roc_auc", "accuracy", "f1"), math.inf)
    )
    with pytest.raises(TrialFailed, match="val_log_loss is inf"):
        objective_for(tiny()).evaluate({"max_depth": 3, "learning_rate": 0.1})


@pytest.mark.parametrize(
    ("sections", "key", "fragment"),
    [
        ({"model": {"space": {"max_dept": {"uniform": [1, 2]}}}}, "model.space", "not parameters of xgboost"),
        ({"model": {"params": {"alpha_": 1}}}, "model.params", "['alpha_'] are not parameters"),
        (
            {"model": {"family": "ridge", "space": {}, "params": {}}},
            "model.family",
            "ridge does not do classification",
        ),
        ({"objective": {"metric": "rmse"}}, "objective.metric", "rmse does not apply to a binary task"),
    ],
)
def test_check_names_the_file_the_key_and_the_fix(tiny, sections, key, fragment):
    path = tiny(**sections)
    with pytest.raises(ConfigError) as err:
        check_objective(load_experiment(path), "binary")
    assert err.value.key == key and fragment in str(err.value) and str(err.value).startswith(str(path))
