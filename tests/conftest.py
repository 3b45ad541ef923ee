"""Every test gets its own real sqlite MLflow store in tmp_path (copied from a migrated template)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = REPO / "experiments"


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """Creating MLflow's schema takes seconds; do it once and copy the file."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    # The Default experiment's artifact folder is made from the working folder: not the checkout.
    here = Path.cwd()
    os.chdir(path.parent)
    try:
        MlflowClient(f"sqlite:///{path}").search_experiments()
    finally:
        os.chdir(here)
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
    # mlflow.set_experiment (a test's, or fmin's experiment_name=) is process-wide (a module
    # global and MLFLOW_EXPERIMENT_ID); MLflow has no public way to unset it, and the next test's
    # store does not have that experiment.
    mlflow.tracking.fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


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


@pytest.fixture
def tiny(write_yaml):
    """The tiny search's experiment file (:data:`TINY_XGB`) with sections changed; returns its path.

    ``tiny(search={"max_evals": 6}, register={"enabled": False})``: a mapping is merged into
    that section, any other value replaces it; ``file`` names the file.
    """

    def make(file: str = "exp.yaml", **sections) -> Path:
        return write_yaml(tiny_text(**sections), file)

    return make


def tiny_text(**sections) -> str:
    """:data:`TINY_XGB` with sections changed, as YAML text (see the ``tiny`` fixture)."""
    raw = yaml.safe_load(TINY_XGB)
    for section, value in sections.items():
        raw[section] = {**raw.get(section, {}), **value} if isinstance(value, dict) else value
    return yaml.safe_dump(raw)


QUIET = {"report": False}  # a search section that skips the report (the plots take seconds)
UNREGISTERED = {"enabled": False}  # a register section that registers nothing


def runs_of(client: MlflowClient, experiment_id: str) -> list:
    return client.search_runs([experiment_id], max_results=10_000)


def children_of(client: MlflowClient, parent) -> list:
    return [
        r
        for r in runs_of(client, parent.info.experiment_id)
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp_path: Path, port: int, backend: str | None = None) -> subprocess.Popen:
    """A real `mlflow server` on loopback (backend: a sqlite file in tmp_path unless given)."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    server = subprocess.Popen(
        [
            str(bin_dir / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            backend or f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_until_up(f"http://127.0.0.1:{port}/health", server, "mlflow server")
    return server


def wait_until_up(url: str, process: subprocess.Popen, what: str) -> None:
    """Poll ``url`` until it answers; fail if ``process`` exits or two minutes pass."""
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            assert process.poll() is None and time.time() < deadline, f"{what} did not start"
            time.sleep(0.5)


@contextlib.contextmanager
def model_server(model_uri: str, tracking_uri: str) -> Iterator[int]:
    """A real `mlflow models serve` of ``model_uri`` on a loopback port; yields the port."""
    port = free_port()
    bin_dir = Path(sys.executable).parent  # the server runs uvicorn from this environment
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local"]
    server = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", server, "mlflow models serve")
        yield port
    finally:
        stop_server(server)


def invocations(port: int, payload: dict) -> tuple[int, dict]:
    """POST ``payload`` to a model server's /invocations: (HTTP status, JSON body)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)
