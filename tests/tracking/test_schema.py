"""A search's layout in MLflow, read back by the one query everything uses."""

from __future__ import annotations

import math

import pytest

from hpo_plugin.errors import TrackingError
from hpo_plugin.tracking.schema import load_trials, logged_metrics, logged_params, param_key, search_parent


@pytest.fixture
def search(client):
    experiment_id = client.create_experiment("schema")
    parent = client.create_run(experiment_id, tags={"hpo.role": "search"})
    for number, status, loss in ((2, "FAILED", None), (1, "FINISHED", 0.3), (3, "KILLED", None)):
        child = client.create_run(
            experiment_id, tags={"mlflow.parentRunId": parent.info.run_id, "hpo.trial_number": str(number)}
        )
        client.log_param(child.info.run_id, "max_depth", str(number + 1))
        client.log_param(child.info.run_id, "booster", "gbtree")
        if number == 1:
            client.log_param(child.info.run_id, "rate", "0.5")
        if loss is not None:
            client.log_metric(child.info.run_id, "loss", loss)
            client.log_metric(child.info.run_id, "val_log_loss", loss)
        client.set_terminated(child.info.run_id, status)
    return parent.info.run_id


def test_load_trials_reads_every_child_in_trial_order(client, search):
    trials = load_trials(client, search)
    frame = trials.frame
    assert list(frame["number"]) == [1, 2, 3] and list(frame["status"]) == ["FINISHED", "FAILED", "KILLED"]
    assert frame["loss"][0] == 0.3 and math.isnan(frame["loss"][1])
    assert trials.params == ("booster", "max_depth", "rate")
    assert frame["param_max_depth"].tolist() == [2, 3, 4]  # numbers come back as numbers
    row = frame.to_dict("records")[0]
    assert logged_params(row) == {"booster": "gbtree", "max_depth": "2", "rate": "0.5"}
    assert logged_metrics(row) == {"val_log_loss": 0.3}
    assert "rate" not in logged_params(frame.to_dict("records")[1])  # absent from that trial


def test_search_parent_refuses_other_runs_naming_what_was_given(client, search):
    assert search_parent(client, search).info.run_id == search
    trial = load_trials(client, search).frame["run_id"][0]
    with pytest.raises(TrackingError, match=f"--resume {trial}: not a search parent run"):
        search_parent(client, trial, "--resume")
    with pytest.raises(TrackingError, match="nope: no such run in this tracking store"):
        search_parent(client, "nope")


def test_param_keys_keep_only_characters_mlflow_allows():
    assert param_key("family=xgboost/max_depth") == "family:xgboost/max_depth"
