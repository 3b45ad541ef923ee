"""The trial writer: every trial a child run with its true status, in a thread or its own process."""

from __future__ import annotations

import math

import mlflow
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from hpo_plugin.models.logged import ModelLogger
from hpo_plugin.tracking.parent import write_final_model
from hpo_plugin.tracking.records import FAILED, FINISHED, KILLED, TrialRecord
from hpo_plugin.tracking.writer import TrialWriter, WriterSpec


@pytest.fixture
def search(client):
    """A parent run, a fitted model and the writer's spec for them."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X, y = X.iloc[:80, :4], y.iloc[:80].to_numpy()
    experiment_id = client.create_experiment("writer")
    parent = client.create_run(experiment_id, run_name="search")
    models = ModelLogger.for_data(client, experiment_id, X, y)
    tags = {"hpo.role": "trial", "hpo.search_id": parent.info.run_id}
    spec = WriterSpec(
        mlflow.get_tracking_uri(),
        experiment_id,
        parent.info.run_id,
        tags,
        models.signature,
        models.input_example,
    )
    return spec, LogisticRegression(max_iter=500).fit(X, y)


@pytest.mark.parametrize("in_thread", [True, False], ids=["thread", "process"])
def test_each_trial_becomes_a_child_run_with_its_true_status(client, search, in_thread):
    spec, model = search
    writer = TrialWriter(spec, in_thread=in_thread)
    ok, bad, unfinished = TrialRecord(1, {"C": 1.0}), TrialRecord(2, {"C": 2.0}), TrialRecord(3, {"C": 3.0})
    for record in (ok, bad, unfinished):
        writer.started(record)
    ok.succeed(0.25, {"val_log_loss": 0.25})
    writer.finished(ok, model)
    bad.fail("ValueError: boom")
    writer.finished(bad, None)
    writer.call("final", write_final_model, spec.parent_run_id, model)
    records = writer.close(client)
    assert [(r.number, r.status) for r in records] == [(1, FINISHED), (2, FAILED), (3, KILLED)]
    assert ok.model_id and bad.model_id is None and ok.write_s > 0
    runs = {r.info.run_name: r for r in client.search_runs([spec.experiment_id], "tags.`hpo.role` = 'trial'")}
    assert {name: run.info.status for name, run in runs.items()} == {
        "trial-001": "FINISHED",
        "trial-002": "FAILED",
        "trial-003": "KILLED",
    }
    first = runs["trial-001"]
    assert first.data.tags["mlflow.parentRunId"] == spec.parent_run_id
    assert first.data.tags["hpo.trial_number"] == "1" and first.data.params == {"C": "1.0"}
    assert first.data.metrics == {"val_log_loss": 0.25, "loss": 0.25}
    assert runs["trial-002"].data.tags["hpo.error"] == "ValueError: boom"
    assert first.outputs.model_outputs[0].model_id == ok.model_id
    final = client.get_logged_model(writer.results["final"]["model_id"])
    assert final.source_run_id == spec.parent_run_id and final.tags["hpo.role"] == "final"
    assert writer.close(client) is records  # closing twice is harmless


def test_a_store_failure_fails_that_trial_only(client, search, monkeypatch):
    spec, model = search
    real_log, calls = ModelLogger.log, []

    def fails_once(self, run_id, fitted):
        calls.append(run_id)
        if len(calls) == 1:
            raise OSError("disk full")
        return real_log(self, run_id, fitted)

    monkeypatch.setattr(ModelLogger, "log", fails_once)
    writer = TrialWriter(spec, in_thread=True)
    first, second = TrialRecord(1, {"C": 1.0}), TrialRecord(2, {"C": 2.0})
    for record in (first, second):
        writer.started(record)
        record.succeed(0.5, {})
        writer.finished(record, model)
    writer.close(client)
    assert first.status == FAILED and first.error == "OSError: disk full" and first.model_id is None
    assert second.status == FINISHED and second.model_id
    assert client.get_run(first.run_id).info.status == "FAILED"
    assert client.get_run(first.run_id).data.tags["hpo.error"] == "OSError: disk full"
    assert math.isclose(client.get_run(second.run_id).data.metrics["loss"], 0.5)
