"""A search's child runs read from MLflow's tables are the runs search_runs gives, field by field."""

from __future__ import annotations

import math
import os
import uuid

import pytest
from mlflow.entities import LoggedModelOutput, Metric
from mlflow.tracking import MlflowClient

from hpo_plugin.tracking import children
from hpo_plugin.tracking.children import ChildRun, child_runs
from hpo_plugin.tracking.schema import PARENT_RUN_TAG, load_trials


def by_id(runs) -> dict[str, ChildRun]:
    return {r.run_id: _comparable(r) for r in runs}


def _comparable(run: ChildRun) -> ChildRun:
    """NaN is not equal to itself: compare it as a string."""
    metrics = {k: "nan" if math.isnan(v) else v for k, v in run.metrics.items()}
    return ChildRun(**{**run.__dict__, "metrics": metrics})


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, client):
    """The test's sqlite store, or a fresh PostgreSQL database (HPO_TEST_POSTGRES, set by .ci/run)."""
    if request.param == "sqlite":
        yield client
        return
    base = os.environ.get("HPO_TEST_POSTGRES")
    if not base:
        pytest.skip("set HPO_TEST_POSTGRES to a PostgreSQL URL (.ci/run starts one)")
    psycopg2 = pytest.importorskip("psycopg2")  # the dev extra (a plain install has no driver)

    name = f"hpo_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(base.replace("postgresql+psycopg2://", "postgresql://") + "/postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    try:
        yield MlflowClient(f"{base}/{name}")
    finally:
        admin.cursor().execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def family(store):
    """A parent with four children (one deleted, one with a logged model), and another parent's child."""
    client = store
    experiment = client.create_experiment("family")
    parent, other = (client.create_run(experiment) for _ in range(2))
    kids = []
    for i in range(4):
        run = client.create_run(
            experiment, tags={PARENT_RUN_TAG: parent.info.run_id, "hpo.trial_number": str(i)}
        )
        client.log_param(run.info.run_id, "x", str(i / 3))
        client.log_metric(run.info.run_id, "loss", 9.0, step=0)
        client.log_metric(run.info.run_id, "loss", float(i), step=1)  # the latest counts
        client.log_metric(run.info.run_id, "odd", math.nan if i == 2 else 1.5)
        kids.append(run.info.run_id)
    model = client.create_logged_model(experiment, source_run_id=kids[1])
    client.log_outputs(kids[1], [LoggedModelOutput(model.model_id, step=0)])
    client.log_batch(kids[0], metrics=[Metric("loss", -1.0, 0, 2)])
    client.set_terminated(kids[0], "FAILED")
    client.set_terminated(kids[1])
    client.delete_run(kids[3])
    client.create_run(experiment, tags={PARENT_RUN_TAG: other.info.run_id})
    return client, client.get_run(parent.info.run_id), kids, model.model_id


def test_read_from_the_tables_as_search_runs_reads_them(family):
    client, parent, kids, model_id = family
    from_tables = by_id(child_runs(client, parent.info.experiment_id, parent.info.run_id))
    assert from_tables == by_id(children._from_search(client, parent.info.experiment_id, parent.info.run_id))
    assert sorted(from_tables) == sorted(kids[:3])  # the deleted child and the other parent's are not
    assert from_tables[kids[1]].model_id == model_id and from_tables[kids[2]].model_id is None
    assert from_tables[kids[0]].status == "FAILED" and from_tables[kids[0]].metrics["loss"] == -1.0
    assert from_tables[kids[2]].metrics == {"loss": 2.0, "odd": "nan"}
    assert from_tables[kids[1]].end_time >= from_tables[kids[1]].start_time > 0


def test_a_sql_store_is_read_from_its_tables_with_what_resume_needs(family, monkeypatch):
    client, parent, kids, model_id = family

    def no_search(*args):
        raise AssertionError("a SQL store is read from its tables")

    monkeypatch.setattr(children, "_from_search", no_search)
    frame = load_trials(client, parent.info.run_id).frame.set_index("run_id")
    assert list(frame["number"]) == [0, 1, 2]
    assert frame.loc[kids[1], "model_id"] == model_id
    assert frame.loc[kids[1], "end_ms"] >= frame.loc[kids[1], "start_ms"]
    assert frame.loc[kids[0], "loss"] == -1.0 and frame.loc[kids[2], "param_x"] == pytest.approx(2 / 3)
