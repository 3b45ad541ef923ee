from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import invocations, model_server
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_breast_cancer

import hpo_plugin
from hpo_plugin import promotion
from hpo_plugin.errors import TrackingError
from hpo_plugin.fronts.cli import main

FEATURES = load_breast_cancer(as_frame=True).frame.drop(columns="target")


def experiment(tiny, name="exp.yaml", **sections) -> Path:
    return tiny(name, **{**sections, "register": {"model_name": "cancer", **sections.get("register", {})}})


GOOD = {"model": {"params": {"n_estimators": 60}}}
POOR = {"model": {"params": {"n_estimators": 1}, "space": {"max_depth": {"quniform": [1, 2, 1]}}}}


def search(path, *args):
    result = CliRunner().invoke(main, ["search", str(path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_search_registers_its_final_model_with_lineage_and_champion(tiny, client):
    output = search(experiment(tiny, **GOOD))
    assert "Model 'cancer' version 1 registered; alias champion and challenger: no champion yet" in output
    version = client.get_model_version("cancer", "1")
    parent = client.get_run(version.run_id)
    assert parent.data.tags["hpo.role"] == "search"
    assert version.source == f"models:/{parent.data.tags['hpo.final_model_id']}"
    tags = version.tags
    assert tags["hpo.search_id"] == parent.info.run_id
    assert tags["hpo.best_run_id"] == parent.data.tags["hpo.best_run_id"]
    assert tags["hpo.algo"] == "tpe" and tags["hpo.metric"] == "log_loss"
    assert float(tags["hpo.val_log_loss"]) == parent.data.metrics["best_val_log_loss"]
    assert float(tags["hpo.test_log_loss"]) == parent.data.metrics["test_log_loss"]
    assert tags["hpo.dataset_digest"] == parent.data.tags["hpo.dataset_digest"]
    assert tags["hpo.config_digest"] == parent.data.tags["hpo.config_digest"]
    assert tags["hpo.decision"] == "promoted" and tags["hpo.version"] == hpo_plugin.__version__
    assert "test_log_loss" in version.description
    assert {a for a in client.get_registered_model("cancer").aliases} == {"champion", "challenger"}
    model = mlflow.pyfunc.load_model("models:/cancer@champion")
    assert set(np.asarray(model.predict(FEATURES.head(10))).tolist()) <= {0, 1}


def test_registration_is_idempotent(tiny, client):
    search(experiment(tiny, **GOOD))
    parent_id = client.get_model_version("cancer", "1").run_id
    again = promotion.register_search(client, parent_id)
    assert (again.version, again.created, again.promoted) == ("1", False, True)
    assert [str(v.version) for v in client.search_model_versions("name='cancer'")] == ["1"]


def test_worse_challenger_stays_challenger_and_better_one_takes_over(tiny, client):
    search(
        experiment(tiny, "medium.yaml", model={"params": {"n_estimators": 3}})
    )  # beaten by 60 trees, not by 1
    output = search(experiment(tiny, "poor.yaml", **POOR))
    assert "version 2 registered; alias challenger: test_log_loss" in output and "does not beat" in output
    assert client.get_model_version_by_alias("cancer", "champion").version == 1
    assert client.get_model_version_by_alias("cancer", "challenger").version == 2
    poor = client.get_model_version("cancer", "2").tags
    assert poor["hpo.decision"] == "kept_challenger" and poor["hpo.champion_version"] == "1"
    assert float(poor["hpo.champion_score"]) < float(poor["hpo.challenger_score"])
    output = search(experiment(tiny, "good.yaml", **GOOD))
    assert (
        "version 3 registered; alias champion and challenger: test_log_loss" in output and " beats " in output
    )
    good = client.get_model_version("cancer", "3").tags
    assert good["hpo.decision"] == "promoted" and good["hpo.champion_version"] == "1"
    assert float(good["hpo.challenger_score"]) < float(good["hpo.champion_score"])
    assert client.get_model_version_by_alias("cancer", "champion").version == 3


def test_models_tested_on_different_data_are_not_compared(tiny, client):
    search(experiment(tiny, "a.yaml", **GOOD))
    output = search(experiment(tiny, "b.yaml", data={"test_size": 0.3}, **GOOD))
    assert "not comparable: tested on different data" in output
    assert client.get_model_version_by_alias("cancer", "champion").version == 1


def test_margin_is_required_to_take_over(tiny, client):
    search(experiment(tiny, "poor.yaml", **POOR))
    output = search(experiment(tiny, "good.yaml", register={"model_name": "cancer", "margin": 10}, **GOOD))
    assert "does not beat champion v1" in output and "margin 10" in output


def test_register_later_and_manual_promote_and_rollback(tiny, client):
    first = search(experiment(tiny, "good.yaml", **GOOD), "--no-register")
    assert "Not registered" in first and client.search_registered_models() == []
    parent_id = first.split("hpo register --run ")[1].split()[0]
    runner = CliRunner()
    result = runner.invoke(main, ["register", "--run", parent_id])
    assert result.exit_code == 0 and "version 1 registered" in result.output
    search(experiment(tiny, "poor.yaml", **POOR))
    result = runner.invoke(main, ["promote", "cancer", "2"])
    assert result.exit_code == 0 and "manual promotion" in result.output
    assert client.get_model_version_by_alias("cancer", "champion").version == 2
    assert "hpo.manual_champion" in client.get_model_version("cancer", "2").tags
    result = runner.invoke(main, ["rollback", "cancer"])
    assert result.exit_code == 0 and "rolled back from version 2 to 1" in result.output
    assert client.get_model_version_by_alias("cancer", "champion").version == 1
    assert client.get_model_version("cancer", "1").tags["hpo.rolled_back_from"] == "2"
    result = runner.invoke(main, ["rollback", "cancer"])
    assert result.exit_code == 2 and "no previous champion before version 1" in result.output


def test_a_crash_between_version_and_aliases_is_repaired(tiny, client, monkeypatch):
    search(experiment(tiny, **GOOD), "--no-register")
    (parent,) = [r for r in client.search_runs(["1"]) if r.data.tags.get("hpo.role") == "search"]

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed between create_model_version and the aliases")

    monkeypatch.setattr(promotion, "gate", crash)
    with pytest.raises(KeyboardInterrupt):
        promotion.register_search(client, parent.info.run_id, "cancer")
    monkeypatch.undo()
    assert client.get_registered_model("cancer").aliases == {"challenger": 1}
    repaired = promotion.register_search(client, parent.info.run_id, "cancer")
    assert (repaired.version, repaired.created, repaired.promoted) == ("1", False, True)
    assert client.get_model_version_by_alias("cancer", "champion").version == 1
    assert len(client.search_model_versions("name='cancer'")) == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["register", "--run", "0" * 32], "does not exist in this tracking store"),
        (["promote", "nosuch", "1"], "model 'nosuch' has no version 1"),
        (["rollback", "nosuch"], "model 'nosuch' has no 'champion' alias"),
    ],
)
def test_bad_registry_commands_are_one_line_errors(args, fragment):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and fragment in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_only_search_parents_with_a_successful_trial_are_registered(tiny, client, monkeypatch):
    with mlflow.start_run() as run:
        pass
    with pytest.raises(TrackingError, match="is not a search parent run"):
        promotion.register_search(client, run.info.run_id, "cancer")
    from hpo_plugin.objectives import EstimatorObjective

    monkeypatch.setattr(EstimatorObjective, "evaluate", lambda self, params, *rest: 1 / 0)
    result = CliRunner().invoke(main, ["search", str(experiment(tiny))])
    assert result.exit_code == 2 and "all 4 trials failed" in result.output
    (parent,) = [r for r in client.search_runs(["1"]) if r.data.tags.get("hpo.role") == "search"]
    with pytest.raises(TrackingError, match="is FAILED with no successful trial"):
        promotion.register_search(client, parent.info.run_id, "cancer")
    assert client.search_registered_models() == []


@pytest.mark.slow
def test_two_searches_finishing_together_leave_the_better_one_champion(tiny, tracking_uri):
    paths = [experiment(tiny, "poor.yaml", **POOR), experiment(tiny, "good.yaml", **GOOD)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hpo_plugin", "search", str(p)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in paths
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    client = MlflowClient(tracking_uri)
    versions = client.search_model_versions("name='cancer'")
    assert len(versions) == 2
    score = {str(v.version): float(v.tags["hpo.test_log_loss"]) for v in versions}
    assert str(client.get_model_version_by_alias("cancer", "champion").version) == min(score, key=score.get)


@pytest.mark.slow
def test_champion_is_served_by_mlflow_models_serve(tiny, tracking_uri):
    search(experiment(tiny, **GOOD))
    with model_server("models:/cancer@champion", tracking_uri) as port:
        split = json.loads(FEATURES.head(3).to_json(orient="split"))
        status, answer = invocations(port, {"dataframe_split": split})
    assert status == 200 and len(answer["predictions"]) == 3 and set(answer["predictions"]) <= {0, 1}
