"""`mlflow run .` end to end, in a subprocess, against a sqlite store in tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml
from conftest import REPO, children_of
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_breast_cancer

pytestmark = pytest.mark.slow


def mlflow_run(tmp_path: Path, *params: str, entry: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("MLFLOW_RUN_ID", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    args = [
        shutil.which("mlflow", path=env["PATH"]),
        "run",
        str(REPO),
        "--env-manager",
        "local",
        *(entry or []),
    ]
    for p in params:
        args += ["-P", p]
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_mlflow_run_with_no_parameters_runs_the_default_experiment(tmp_path):
    done = mlflow_run(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Search finished" in done.stdout and "30 trials (30 ok, 0 failed)" in done.stdout
    assert "mlflow ui --backend-store-uri" in done.stdout
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (parent,) = [r for r in client.search_runs(["0"]) if r.data.tags.get("hpo.role") == "search"]
    assert parent.info.status == "FINISHED"
    assert parent.data.params["search.max_evals"] == "30" and parent.data.params["search.algo"] == "gp"
    assert parent.data.tags["mlflow.project.entryPoint"] == "main"
    assert len(children_of(client, parent)) == 30
    # ... and the best model is registered and promoted.
    assert "Model 'xgboost_breast_cancer' version 1 registered; alias champion and challenger" in done.stdout
    champion = client.get_model_version_by_alias("xgboost_breast_cancer", "champion")
    assert champion.run_id == parent.info.run_id
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model("models:/xgboost_breast_cancer@champion")
    features = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(4)
    assert len(model.predict(features)) == 4


def test_register_entry_point_registers_a_search_run_with_registration_off(tmp_path):
    done = mlflow_run(tmp_path, "max_evals=2", "register=false")
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.split("hpo register --run ")[1].split()[0]
    env_params = ["-e", "register"]
    registered = mlflow_run(tmp_path, f"run_id={run_id}", "model_name=later", entry=env_params)
    assert registered.returncode == 0, registered.stderr[-3000:]
    assert "Model 'later' version 1 registered" in registered.stdout


def test_mlflow_run_parameters_override_and_bad_ones_fail_cleanly(tmp_path):
    done = mlflow_run(
        tmp_path,
        "experiment=experiments/xgboost_diabetes.yaml",
        "algo=random",
        "max_evals=3",
        "also=model_mb",
        "constraints=predict_ms<=1000,model_mb<=100",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 trials (3 ok, 0 failed)" in done.stdout
    assert "Constraints (predict_ms <= 1000; model_mb <= 100): 3 trials met them." in done.stdout
    assert "Pareto front of loss, model_mb:" in done.stdout
    bad = mlflow_run(tmp_path, "max_evals=-1")
    assert bad.returncode != 0
    assert "hpo: error: option --max-evals: search.max_evals:" in bad.stderr
    assert "Traceback" not in bad.stderr.split("hpo: error")[0][-2000:]


def test_mlproject_declares_typed_parameters_and_conda_env_is_valid():
    project = yaml.safe_load((REPO / "MLproject").read_text())
    params = project["entry_points"]["main"]["parameters"]
    assert {
        "experiment",
        "algo",
        "max_evals",
        "seed",
        "timeout",
        "trial_timeout",
        "also",
        "constraints",
        "register",
    } <= set(params)
    assert "register" in project["entry_points"]
    assert all("type" in p for p in params.values())
    conda = yaml.safe_load((REPO / "conda.yaml").read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    project_deps = __import__("tomllib").loads((REPO / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    assert sorted(pip) == sorted(project_deps)
    assert "python=3.11" in conda["dependencies"]


@pytest.mark.slow
def test_an_entry_point_search_through_mlflow_run_runs_train_in_each_trials_run(tmp_path):
    done = mlflow_run(tmp_path, "experiment=experiments/entry_point_diabetes.yaml", "max_evals=2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 trials (2 ok, 0 failed)" in done.stdout and "version 1 registered" in done.stdout
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs(["0"])
    (parent,) = [r for r in runs if r.data.tags.get("hpo.role") == "search"]
    trials = children_of(client, parent)
    assert len(runs) == 3 and len(trials) == 2  # each entry point ran inside its trial's run
    for trial in trials:
        assert (
            trial.info.status == "FINISHED" and trial.data.metrics["loss"] == trial.data.metrics["val_rmse"]
        )
        assert [m.step for m in client.get_metric_history(trial.info.run_id, "val_rmse_curve")][:2] == [
            25,
            50,
        ]
        assert trial.outputs.model_outputs  # the model train.py logged is the trial's model
    assert parent.data.params["objective.entry_point"] == "train"
