"""A tracking server gets one request per MLflow call of a trial and one per model file, no more."""

from __future__ import annotations

import pytest
import requests
from conftest import free_port, start_server, stop_server
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from hpo_plugin.models.logged import ModelLogger
from hpo_plugin.tracking.client import QUIET_MLFLOW
from hpo_plugin.tracking.records import TrialRecord
from hpo_plugin.tracking.writer import WriterSpec

pytestmark = pytest.mark.slow

# create the run; log its params (at its start: a trial that kills its process keeps them); log
# its metrics; create the LoggedModel; link it as the run's output; finalize it; end the run.
# Plus one upload per file of the model's directory.
CALLS_PER_TRIAL = 7


def test_a_trial_with_a_model_costs_one_request_per_call_and_file(tmp_path, monkeypatch):
    for name, value in QUIET_MLFLOW.items():  # as in the writer process
        monkeypatch.setenv(name, value)
    port = free_port()
    server = start_server(tmp_path, port)
    try:
        uri = f"http://127.0.0.1:{port}"
        client = MlflowClient(uri)
        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        X, y = X.iloc[:80, :4], y.iloc[:80].to_numpy()
        experiment_id = client.create_experiment("requests")
        parent = client.create_run(experiment_id).info.run_id
        models = ModelLogger.for_data(client, experiment_id, X, y)
        runs = WriterSpec(uri, experiment_id, parent, {}, models.signature, models.input_example).connect()
        model = LogisticRegression(max_iter=500).fit(X, y)
        urls: list[str] = []
        real = requests.Session.request

        def counted(self, method, url, *args, **kwargs):
            urls.append(f"{method} {url}")
            return real(self, method, url, *args, **kwargs)

        def trial(number: int) -> str:
            record = TrialRecord(number, {"C": 1.0})
            runs.start(number, record.name, record.start_ms, record.params, None)
            record.succeed(0.2, {"val_log_loss": 0.2})
            return runs.finish(number, record, model)["model_id"]

        trial(1)  # the first model of its kind is saved in full as the template
        monkeypatch.setattr(requests.Session, "request", counted)
        model_id = trial(2)
        monkeypatch.setattr(requests.Session, "request", real)
        files = client.list_logged_model_artifacts(model_id)
        assert len(files) >= 5  # MLmodel, the model file, requirements, environments, example
        assert len(urls) == CALLS_PER_TRIAL + len(files), "\n".join(urls)
        assert sum("/artifacts/" in url for url in urls) == len(files)
        assert client.get_logged_model(model_id).status.name == "READY"
    finally:
        stop_server(server)
