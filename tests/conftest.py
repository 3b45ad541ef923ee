"""Every test gets its own real sqlite MLflow store in tmp_path (copied from a migrated template)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = REPO / "experiments"


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """Creating MLflow's schema takes seconds; do it once and copy the file."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(autouse=True)
def tracking_uri(tmp_path, template_db, monkeypatch) -> str:
    db = tmp_path / "mlflow.db"
    shutil.copy(template_db, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture
def client(tracking_uri) -> MlflowClient:
    return MlflowClient(tracking_uri)


@pytest.fixture
def write_yaml(tmp_path):
    """Write an experiment file from a YAML string; returns its path."""

    def write(text: str, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


TINY_XGB = """
name: tiny
data: {dataset: breast_cancer}
model:
  family: xgboost
  params: {n_estimators: 10}
  space:
    max_depth: {quniform: [2, 4, 1]}
    learning_rate: {loguniform: [0.05, 0.3]}
objective: {metric: log_loss}
search: {algo: tpe, max_evals: 4, seed: 0}
"""


def runs_of(client: MlflowClient, experiment_id: str) -> list:
    return client.search_runs([experiment_id], max_results=10_000)


def children_of(client: MlflowClient, parent) -> list:
    return [
        r
        for r in runs_of(client, parent.info.experiment_id)
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    ]
