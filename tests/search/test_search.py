from __future__ import annotations

import math
import os
import signal

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import EXPERIMENTS, QUIET, TINY_XGB, children_of
from test_data import churn_frame

from hpo_plugin.algorithms import ALGORITHMS
from hpo_plugin.errors import ConfigError, SearchError, SearchInterrupted
from hpo_plugin.executors.loop import minimize
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.metrics import METRICS, metrics_for
from hpo_plugin.models.families import MODEL_FAMILIES, families_for, unsupported_task
from hpo_plugin.objectives import EstimatorObjective
from hpo_plugin.search import prepare_search, run_bare, run_search
from hpo_plugin.space import decode


def test_tracked_search_records_parent_children_models_and_summary(tiny, client):
    config = load_experiment(tiny())
    result = run_search(config)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == "search-tiny-tpe"
    children = sorted(children_of(client, parent), key=lambda r: r.info.run_name)
    assert [c.info.run_name for c in children] == ["trial-001", "trial-002", "trial-003", "trial-004"]
    for child in children:
        assert child.info.status == "FINISHED"
        assert set(child.data.params) == {"max_depth", "learning_rate"}
        assert child.data.params["max_depth"] in {"2", "3", "4"}  # ints reach MLflow as ints
        assert {"val_log_loss", "val_roc_auc", "val_accuracy", "val_f1", "fit_s", "loss"} <= set(
            child.data.metrics
        )
        assert child.data.tags["hpo.search_id"] == parent.info.run_id
        assert len(child.outputs.model_outputs) == 1
    # Parent: settings, dataset, summary, best trial read from the trials.
    p = parent.data
    assert p.params["search.algo"] == "tpe" and p.params["space.max_depth"] == "quniform(2, 4, 1) int"
    assert p.tags["hpo.best_run_id"] in {c.info.run_id for c in children}
    best_child = client.get_run(p.tags["hpo.best_run_id"])
    assert p.metrics["best_val_log_loss"] == pytest.approx(
        min(c.data.metrics["val_log_loss"] for c in children)
    )
    assert best_child.data.metrics["val_log_loss"] == p.metrics["best_val_log_loss"]
    assert p.params["best.max_depth"] == best_child.data.params["max_depth"]
    assert (p.metrics["n_trials_ok"], p.metrics["n_trials_failed"]) == (4, 0)
    assert {"test_log_loss", "test_roc_auc", "test_accuracy", "test_f1"} <= set(p.metrics)
    (dataset_input,) = parent.inputs.dataset_inputs
    assert dataset_input.dataset.digest == p.tags["hpo.dataset_digest"]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"config", "trials.csv"} <= artifacts
    table = pd.read_csv(
        mlflow.artifacts.download_artifacts(run_id=parent.info.run_id, artifact_path="trials.csv")
    )
    assert list(table["number"]) == [1, 2, 3, 4]
    assert set(table["run_id"]) == {c.info.run_id for c in children}
    assert {"param_max_depth", "metric_val_log_loss", "status", "duration_s", "loss"} <= set(table.columns)
    assert p.tags["hpo.final_model_id"] == result.model_id


def test_trial_model_round_trips_through_pyfunc_on_original_columns(tiny):
    result = run_search(load_experiment(tiny()))
    model = mlflow.pyfunc.load_model(f"models:/{result.best.model_id}")
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(7)
    assert model.metadata.signature is not None
    assert model.metadata.flavors.keys() >= {"xgboost", "python_function"}
    assert set(np.asarray(model.predict(X)).tolist()) <= {0, 1}
    final = mlflow.pyfunc.load_model(f"models:/{result.model_id}")
    assert len(final.predict(X)) == 7


@pytest.mark.parametrize("algo", sorted(set(ALGORITHMS) - {"grid"}))  # grid: a finite space, below
def test_each_algorithm_runs_the_budget(tiny, client, algo):
    config = load_experiment(tiny(search={"algo": algo, "max_evals": 3}))
    result = run_search(config)
    parent = client.get_run(result.parent_run_id)
    assert len(children_of(client, parent)) == 3
    assert parent.info.run_name == f"search-tiny-{algo}"


def test_grid_sweeps_the_whole_finite_space_and_stops(tiny, client):
    config = load_experiment(
        tiny(
            model={
                "space": {"max_depth": {"quniform": [2, 4, 1]}, "booster": {"choice": ["gbtree", "dart"]}}
            },
            search={"algo": "grid", "max_evals": 50},
        )
    )
    result = run_search(config)
    seen = {(r.params["max_depth"], r.params["booster"]) for r in result.records}
    assert len(result.records) == 6 and len(seen) == 6


def test_grid_on_a_continuous_space_is_a_config_error_before_any_run(tiny, client):
    config = load_experiment(tiny(search={"algo": "grid"}))
    with pytest.raises(ConfigError, match=r"search\.algo: learning_rate: grid search needs only"):
        run_search(config)
    assert client.search_runs(["0"]) == [] and client.get_experiment_by_name("tiny") is None


# A small space and fixed params per family: every registered family needs one.
EXAMPLES = {
    "xgboost": ({"max_depth": {"quniform": [2, 3, 1]}}, {"n_estimators": 10}),
    "lightgbm": ({"num_leaves": {"quniform": [4, 16, 1]}}, {"n_estimators": 10}),
    "hist_gradient_boosting": ({"max_leaf_nodes": {"quniform": [4, 16, 1]}}, {"max_iter": 10}),
    "random_forest": ({"max_depth": {"quniform": [2, 4, 1]}}, {"n_estimators": 10}),
    "logistic_regression": ({"C": {"loguniform": [0.01, 10]}}, {}),
    "ridge": ({"alpha": {"loguniform": [0.01, 10]}}, {}),
    "mlp": ({"alpha": {"loguniform": [1e-5, 1e-2]}}, {"max_iter": 50}),
}
DATASET_OF_TASK = {"binary": "breast_cancer", "multiclass": "wine", "regression": "diabetes"}


def family_cases() -> list[tuple[str, str, str]]:
    """Every family on every task it serves, the metrics of each task taken in turn."""
    cases = []
    for family in sorted(MODEL_FAMILIES):
        for task, dataset in DATASET_OF_TASK.items():
            if unsupported_task(family, task) is None:
                metrics = metrics_for(task)
                cases.append((family, dataset, metrics[len(cases) % len(metrics)].name))
    return cases


def test_every_family_has_an_example():
    assert set(EXAMPLES) == set(MODEL_FAMILIES)


@pytest.mark.parametrize(("family", "dataset", "metric"), family_cases())
def test_every_family_and_task(tiny, client, family, dataset, metric):
    space, params = EXAMPLES[family]
    config = load_experiment(
        tiny(
            data={"dataset": dataset},
            model={"family": family, "params": params, "space": space},
            objective={"metric": metric},
            search={"max_evals": 2},
        )
    )
    result = run_search(config)
    assert result.n_ok == 2
    value = result.best.metrics[f"val_{metric}"]
    # the loss is the metric, sign-flipped for metrics that are maximised
    assert result.best.loss == pytest.approx(-value if METRICS[metric].greater_is_better else value)
    model = mlflow.pyfunc.load_model(f"models:/{result.best.model_id}")
    assert len(model.predict(features_of(dataset))) == 5


def features_of(dataset):
    from hpo_plugin.data import DATASETS

    return DATASETS[dataset](as_frame=True).frame.drop(columns="target").head(5)


@pytest.mark.parametrize("family", families_for("binary"))
def test_csv_with_categoricals_and_missing_values_per_family(tiny, tmp_path, family):
    churn_frame().to_csv(tmp_path / "churn.csv", index=False)
    space, params = EXAMPLES[family]
    config = load_experiment(
        tiny(
            data={"dataset": None, "path": "churn.csv", "target": "churn"},
            model={"family": family, "params": params, "space": space},
            search={"max_evals": 2},
        )
    )
    result = run_search(config)
    assert result.n_ok == 2
    model = mlflow.pyfunc.load_model(f"models:/{result.model_id}")
    rows = churn_frame(seed=1).drop(columns="churn").head(20)
    rows.loc[0, "plan"] = "enterprise"  # a category never seen in training
    rows.loc[1, "usage"] = np.nan
    assert set(np.asarray(model.predict(rows)).tolist()) <= {"no", "yes"}


def test_any_estimator_by_import_path_alone_and_in_model_selection(tiny, client):
    svc = {
        "estimator": "sklearn.svm.SVC",
        "params": {"probability": True},
        "space": {"C": {"loguniform": [0.1, 10]}},
    }
    alone = run_search(load_experiment(tiny(model={"family": None, **svc}, search={"max_evals": 3, **QUIET})))
    assert alone.n_ok == 3 and alone.best.params.keys() == {"C"}
    final = mlflow.sklearn.load_model(f"models:/{alone.model_id}")
    assert final[-1].get_params()["random_state"] == 0 and final[-1].probability  # seeded, fixed params
    knn = {
        "estimator": "sklearn.neighbors.KNeighborsClassifier",
        "space": {"n_neighbors": {"quniform": [3, 15, 1]}},
    }
    path = tiny(search={"max_evals": 4, **QUIET}, model=None, models=[svc, knn])
    both = run_search(load_experiment(path))
    assert {r.params["family"] for r in both.records} == {
        "sklearn.svm.SVC",
        "sklearn.neighbors.KNeighborsClassifier",
    }
    parent = client.get_run(both.parent_run_id).data
    assert parent.params["model.families"] == "sklearn.svm.SVC,sklearn.neighbors.KNeighborsClassifier"
    assert parent.params["space.family:sklearn.svm.SVC/C"] == "loguniform(0.1, 10)"
    # the tuned tpe starts at each estimator's own defaults, in the listed order
    assert [r.params for r in both.records[:2]] == [
        {"family": "sklearn.svm.SVC", "C": 1.0},
        {"family": "sklearn.neighbors.KNeighborsClassifier", "n_neighbors": 5},
    ]
    assert mlflow.pyfunc.load_model(f"models:/{both.model_id}") is not None


def test_lightgbm_stops_early_inside_trials_and_logs_the_round_it_kept(tiny, client):
    config = load_experiment(
        tiny(
            model={"family": "lightgbm", "params": {"n_estimators": 400, "early_stopping_rounds": 10}},
            search={"max_evals": 2, **QUIET},
        )
    )
    result = run_search(config)
    assert result.n_ok == 2
    for child in children_of(client, client.get_run(result.parent_run_id)):
        assert 1 <= child.data.metrics["best_iteration"] < 399
    assert mlflow.pyfunc.load_model(f"models:/{result.model_id}") is not None


def test_cv_logs_per_fold_and_mean_std(tiny, client):
    config = load_experiment(tiny(objective={"validation": {"cv": 3}}, search={"max_evals": 2}))
    result = run_search(config)
    child = client.get_run(result.best.run_id)
    metrics = child.data.metrics
    folds = [metrics[f"val_log_loss_fold{i}"] for i in range(3)]
    assert metrics["val_log_loss"] == pytest.approx(np.mean(folds))
    assert metrics["val_log_loss_std"] == pytest.approx(np.std(folds))


def test_model_selection_searches_families_and_their_params(client):
    from conftest import EXPERIMENTS

    config = load_experiment(EXPERIMENTS / "model_selection_breast_cancer.yaml", {"search.max_evals": 8})
    result = run_search(config)
    families = {r.params["family"] for r in result.records}
    assert families == {m.name for m in config.candidates}  # each family's defaults come first
    parent = client.get_run(result.parent_run_id).data
    assert parent.params["space.family:xgboost/max_depth"] == "quniform(2, 6, 1) int"
    assert parent.tags["hpo.role"] == "search" and parent.tags["hpo.dataset_digest"]
    for record in result.records:
        own = {p.name for p in next(m for m in config.candidates if m.name == record.params["family"]).space}
        assert set(record.params) == own | {"family"}


def test_failing_and_nan_trials_are_failed_children_and_the_search_goes_on(tiny, client, monkeypatch):
    calls = {"n": 0}
    real = EstimatorObjective.evaluate

    def flaky(self, params, *rest):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom in fit")
        outcome = real(self, params)
        if calls["n"] == 3:
            outcome.metrics["val_log_loss"] = math.nan
            return real.__globals__["TrialOutcome"](math.nan, outcome.metrics, outcome.model)
        return outcome

    monkeypatch.setattr(EstimatorObjective, "evaluate", flaky)
    result = run_search(load_experiment(tiny()))
    parent = client.get_run(result.parent_run_id)
    statuses = {c.info.run_name: c.info.status for c in children_of(client, parent)}
    assert statuses == {
        "trial-001": "FINISHED",
        "trial-002": "FAILED",
        "trial-003": "FINISHED",
        "trial-004": "FINISHED",
    }
    failed = client.get_run(result.records[1].run_id)
    assert failed.data.tags["hpo.error"].startswith("RuntimeError: boom in fit")
    assert parent.info.status == "FINISHED" and parent.data.metrics["n_trials_failed"] == 1


def test_nan_loss_fails_the_trial(tiny, monkeypatch):
    from hpo_plugin.objectives import estimator as objective_module

    monkeypatch.setattr(
        objective_module,
        "score",
        lambda *a, **k: {m: math.nan for m in ("log_loss", "roc_auc", "accuracy", "f1")},
    )
    with pytest.raises(
        SearchError, match="all 4 trials failed; first error: TrialFailed: val_log_loss is nan"
    ):
        run_search(load_experiment(tiny()))


def test_all_trials_failing_ends_the_parent_failed_with_one_message(tiny, client, monkeypatch):
    monkeypatch.setattr(EstimatorObjective, "evaluate", lambda self, params, *rest: 1 / 0)
    with pytest.raises(SearchError, match="all 4 trials failed; first error: ZeroDivisionError"):
        run_search(load_experiment(tiny()))
    (parent,) = [
        r
        for r in client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
        if r.data.tags.get("hpo.role") == "search"
    ]
    assert parent.info.status == "FAILED"
    assert {c.info.status for c in children_of(client, parent)} == {"FAILED"}


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C


def _sigterm():
    os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.parametrize(
    ("interrupt", "named"), [(_ctrl_c, "Ctrl-C"), (_sigterm, "SIGTERM")], ids=["ctrl-c", "sigterm"]
)
def test_an_interrupt_in_a_trial_ends_parent_and_in_flight_child_killed(
    tiny, client, monkeypatch, interrupt, named
):
    """Ctrl-C or SIGTERM while the third trial runs (its ``except Exception`` must not take it)."""
    real = EstimatorObjective.evaluate
    calls = {"n": 0}

    def interrupted(self, params, *rest):
        calls["n"] += 1
        if calls["n"] == 3:
            interrupt()
        return real(self, params)

    monkeypatch.setattr(EstimatorObjective, "evaluate", interrupted)
    with pytest.raises(SearchInterrupted, match=rf"stopped by {named}: .* the 2 finished trials are kept"):
        run_search(load_experiment(tiny()))
    assert calls["n"] == 3  # no trial after it
    experiment = client.get_experiment_by_name("tiny")
    by_name = {r.info.run_name: r.info.status for r in client.search_runs([experiment.experiment_id])}
    assert by_name == {
        "search-tiny-tpe": "KILLED",
        "trial-001": "FINISHED",
        "trial-002": "FINISHED",
        "trial-003": "KILLED",
    }


def test_a_model_that_fails_to_log_is_failed_and_never_best(tiny, client, monkeypatch):
    import errno

    from hpo_plugin.models import logged as tracking

    config = load_experiment(tiny(search={"max_evals": 3}))
    monkeypatch.setenv("HPO_TRIAL_WRITER", "thread")  # so the fault below reaches the writer
    real_save, calls = tracking.save_model, []

    def disk_full_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(tracking, "save_model", disk_full_once)
    result = run_search(config)
    failed = [r for r in result.records if r.status == "FAILED"]
    assert [r.number for r in failed] == [1]
    assert "No space left on device" in failed[0].error
    assert result.best.number != 1 and result.best.model_id
    assert client.get_run(failed[0].run_id).info.status == "FAILED"


def test_parent_run_from_mlflow_run_env_is_used(tiny, client, monkeypatch):
    experiment_id = client.create_experiment("from-mlflow-run")
    run = client.create_run(experiment_id)
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    result = run_search(load_experiment(tiny()))
    assert result.parent_run_id == run.info.run_id and result.experiment_id == experiment_id
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_python_api_is_the_documented_two_calls(write_yaml):
    import hpo_plugin

    config = hpo_plugin.load_experiment(write_yaml(TINY_XGB), {"search.max_evals": 2, "search.report": False})
    result = hpo_plugin.run_search(config)
    assert result.n_ok == 2 and result.model_id.startswith("m-")
    with pytest.raises(AttributeError):
        hpo_plugin.nothing_here  # noqa: B018


def test_early_stop_patience_ends_the_search_before_its_budget(write_yaml, client):
    raw = yaml.safe_load(TINY_XGB)
    raw["search"].update({"max_evals": 40, "report": False, "early_stop": {"patience": 3}})
    raw["register"] = {"enabled": False}
    result = run_search(load_experiment(write_yaml(yaml.safe_dump(raw))))
    losses = [r.loss for r in result.records]
    assert len(losses) < 40
    best_at = losses.index(min(losses))
    assert len(losses) - 1 - best_at >= 3  # stopped only after 3 trials without improvement


def test_raw_tpe_settings_reach_hyperopt(write_yaml, monkeypatch):
    from hyperopt import tpe

    seen = {}
    real = tpe.suggest

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(tpe, "suggest", spy)
    raw = yaml.safe_load(TINY_XGB)
    raw["search"].update({"max_evals": 3, "tpe": {"n_startup_jobs": 2, "gamma": 0.1}})
    run_bare(load_experiment(write_yaml(yaml.safe_dump(raw))))
    assert seen["n_startup_jobs"] == 2 and seen["gamma"] == 0.1 and seen["n_EI_candidates"] == 24


@pytest.mark.parametrize(
    "data",
    [
        {"dataset": "breast_cancer"},  # a plain XGBoost model
        {"dataset": None, "path": "churn.csv", "target": "churn"},  # categoricals: a Pipeline
    ],
)
def test_xgboost_early_stopping_inside_each_trial_logs_its_best_iteration(tiny, tmp_path, client, data):
    churn_frame().to_csv(tmp_path / "churn.csv", index=False)
    config = load_experiment(
        tiny(
            data=data,
            model={
                "family": "xgboost",
                "params": {"n_estimators": 400, "early_stopping_rounds": 5, "learning_rate": 0.5},
                "space": {"max_depth": {"quniform": [2, 4, 1]}},
            },
            objective={"metric": "log_loss", "validation": {"cv": 2}},
            search={"max_evals": 2},
        )
    )
    result = run_search(config)
    assert result.n_ok == 2
    for child in children_of(client, client.get_run(result.parent_run_id)):
        assert 0 <= child.data.metrics["best_iteration"] < 399  # stopped well before 400 rounds
    assert mlflow.pyfunc.load_model(f"models:/{result.model_id}") is not None


def test_default_tpe_starts_at_the_library_defaults_inside_the_space(tiny):
    config = load_experiment(
        tiny(search={"max_evals": 2})
    )  # max_depth in [2, 4], learning_rate in [0.05, 0.3]
    records = []
    minimize(
        prepare_search(config),
        lambda point, vals: records.append(decode(point)) or {"status": "ok", "loss": 0.0},
    )
    assert records[0] == {"max_depth": 4, "learning_rate": 0.3}  # XGBoost's 6 and 0.3, clipped


def test_model_selection_starts_with_each_familys_defaults(write_yaml):
    config = load_experiment(EXPERIMENTS / "model_selection_breast_cancer.yaml")
    config = load_experiment(config.source, {"search.max_evals": len(config.candidates)})
    records = []
    minimize(
        prepare_search(config),
        lambda point, vals: records.append(decode(point)) or {"status": "ok", "loss": 1.0},
    )
    assert [r["family"] for r in records] == [m.name for m in config.candidates]


@pytest.mark.slow
def test_a_search_of_a_thousand_fast_trials_runs_end_to_end(write_yaml, client):
    config = load_experiment(
        EXPERIMENTS / "logistic_regression_digits.yaml",
        {"data.dataset": "iris", "search.max_evals": 1000, "search.report": False, "register.enabled": False},
    )
    result = run_search(config)
    parent = client.get_run(result.parent_run_id)
    assert result.n_ok == 1000 and parent.info.status == "FINISHED"
    assert parent.data.metrics["n_trials"] == 1000
    assert len(children_of(client, parent)) == 1000
    assert parent.data.metrics["best_loss"] == pytest.approx(min(r.loss for r in result.records))


def test_early_stop_loss_threshold_ends_the_search_at_the_first_good_enough_trial(tiny):
    result = run_search(
        load_experiment(
            tiny(
                search={"max_evals": 20, "early_stop": {"loss_threshold": 10.0}},
                register={"enabled": False},
            )
        )
    )
    assert len(result.records) == 1  # any log-loss is below 10


@pytest.mark.parametrize(
    ("search", "key", "fragment"),
    [
        ({"early_stop": {}}, "search.early_stop", "set at least one of 'patience'"),
        ({"algo": "random", "tpe": {"gamma": 0.5}}, "search", "'tpe' settings apply to algo: tpe"),
        ({"tpe": {"gamma": 0}}, "search.tpe.gamma", "greater than 0"),
        ({"early_stop": {"patience": 0}}, "search.early_stop.patience", "greater than or equal to 1"),
    ],
)
def test_bad_search_settings_name_the_key(tiny, search, key, fragment):
    with pytest.raises(ConfigError) as err:
        load_experiment(tiny(search=search))
    assert err.value.key == key and fragment in str(err.value)
