"""`mlflow run .` end to end, in a subprocess, against a sqlite store in tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, children_of
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow


def mlflow_run(tmp_path: Path, *params: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("MLFLOW_RUN_ID", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    args = [shutil.which("mlflow", path=env["PATH"]), "run", str(REPO), "--env-manager", "local"]
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
    assert parent.data.params["search.max_evals"] == "30" and parent.data.params["search.algo"] == "tpe"
    assert parent.data.tags["mlflow.project.entryPoint"] == "main"
    assert len(children_of(client, parent)) == 30


def test_mlflow_run_parameters_override_and_bad_ones_fail_cleanly(tmp_path):
    done = mlflow_run(tmp_path, "experiment=experiments/xgboost_diabetes.yaml", "algo=random", "max_evals=3")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 trials (3 ok, 0 failed)" in done.stdout
    bad = mlflow_run(tmp_path, "max_evals=-1")
    assert bad.returncode != 0
    assert "hpo: error: option --max-evals: search.max_evals:" in bad.stderr
    assert "Traceback" not in bad.stderr.split("hpo: error")[0][-2000:]


def test_mlproject_declares_typed_parameters_and_conda_env_is_valid():
    project = yaml.safe_load((REPO / "MLproject").read_text())
    params = project["entry_points"]["main"]["parameters"]
    assert {"experiment", "algo", "max_evals", "seed", "timeout"} <= set(params)
    assert all("type" in p for p in params.values())
    conda = yaml.safe_load((REPO / "conda.yaml").read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    project_deps = __import__("tomllib").loads((REPO / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    assert sorted(pip) == sorted(project_deps)
    assert "python=3.11" in conda["dependencies"]
