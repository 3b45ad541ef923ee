"""Model logging: a model completed from its kind's template is what MLflow itself would log."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from lightgbm import LGBMClassifier
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from hpo_plugin.models.files import FORMATS, ModelFiles
from hpo_plugin.models.logged import ModelLogger, save_model

VOLATILE = {"artifact_path", "model_uuid", "run_id", "model_id", "utc_time_created", "model_size_bytes"}


@pytest.fixture
def data():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


def fitted(kind: str, seed: int, X, y):
    """A fitted model that MLflow's ``kind`` flavor logs natively."""
    if kind == "xgboost":
        return XGBClassifier(n_estimators=5 + seed, max_depth=2, n_jobs=1, random_state=seed).fit(X, y)
    if kind == "lightgbm":
        return LGBMClassifier(n_estimators=5 + seed, num_leaves=4, n_jobs=1, verbosity=-1).fit(X, y)
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1 + seed)).fit(X, y)


@pytest.mark.parametrize("kind", sorted(FORMATS))  # every flavor whose data file we write
def test_templated_model_matches_mlflows_own_save(kind, client, data, tmp_path):
    X, y = data
    experiment_id = client.create_experiment("models")
    run_id = client.create_run(experiment_id).info.run_id
    writer = ModelLogger.for_data(client, experiment_id, X, y)
    first, second = fitted(kind, 0, X, y), fitted(kind, 1, X, y)
    writer.log(run_id, first)  # MLflow saves this kind once: the template
    files = ModelFiles.write(second)  # as a worker process does, without MLflow
    model_id = writer.log(run_id, files)
    assert len(writer.templates) == 1 and not os.path.exists(files.path)

    reference = tmp_path / "reference"
    save_model(second, str(reference), writer.signature, writer.input_example)
    location = client.get_logged_model(model_id).artifact_location
    logged = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(tmp_path / "logged"))
    assert sorted(os.listdir(logged)) == sorted(os.listdir(reference))
    mine = yaml.safe_load(Path(logged, "MLmodel").read_text())
    theirs = yaml.safe_load((reference / "MLmodel").read_text())
    assert {k: v for k, v in mine.items() if k not in VOLATILE} == {
        k: v for k, v in theirs.items() if k not in VOLATILE
    }
    assert mine["model_id"] == model_id and mine["run_id"] == run_id
    assert mine["model_size_bytes"] == theirs["model_size_bytes"]
    for name in os.listdir(reference):
        if name != "MLmodel":
            assert Path(logged, name).read_bytes() == (reference / name).read_bytes(), name
    loaded = mlflow.pyfunc.load_model(f"models:/{model_id}")
    np.testing.assert_array_equal(loaded.predict(X.head(20)), second.predict(X.head(20)))
    assert client.get_logged_model(model_id).status.name == "READY"


def test_each_kind_of_model_gets_its_own_template(client, data):
    X, y = data
    experiment_id = client.create_experiment("kinds")
    run_id = client.create_run(experiment_id).info.run_id
    writer = ModelLogger.for_data(client, experiment_id, X, y)
    ids = [writer.log(run_id, fitted(kind, seed, X, y)) for kind in ("xgboost", "sklearn") for seed in (0, 1)]
    assert len(writer.templates) == 2
    flavors = [set(mlflow.models.get_model_info(f"models:/{i}").flavors) - {"python_function"} for i in ids]
    assert flavors == [{"xgboost"}, {"xgboost"}, {"sklearn"}, {"sklearn"}]


def test_a_model_that_cannot_be_written_leaves_no_logged_model(client, data, monkeypatch):
    X, y = data
    experiment_id = client.create_experiment("broken")
    run_id = client.create_run(experiment_id).info.run_id
    writer = ModelLogger.for_data(client, experiment_id, X, y)
    model = fitted("xgboost", 0, X, y)

    def disk_full(self, path):
        raise OSError("disk full")

    monkeypatch.setattr(type(model), "save_model", disk_full)
    with pytest.raises(OSError, match="disk full"):
        writer.log(run_id, model)
    assert client.search_logged_models([experiment_id]) == []
