"""sqlite stores: WAL journal mode on the file, relaxed syncs only in WAL mode."""

from __future__ import annotations

import sqlite3

import sqlalchemy
from mlflow.tracking import MlflowClient

from hpo_plugin.tracking.client import absolute_uri, prepare_store
from hpo_plugin.tracking.sqlite import relax_syncs, sqlite_path, use_wal

FULL, NORMAL = 2, 1


def _synchronous(path) -> int:
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql("PRAGMA synchronous").scalar()
    finally:
        engine.dispose()


def test_a_prepared_store_is_in_wal_mode_and_mlflow_reads_it(tmp_path):
    db = tmp_path / "mlflow.db"
    prepare_store(f"sqlite:///{db}")
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert _synchronous(db) == NORMAL  # this process's connections to it
    client = MlflowClient(f"sqlite:///{db}")
    experiment = client.create_experiment("e")
    run = client.create_run(experiment)
    assert client.get_run(run.info.run_id).info.experiment_id == experiment


def test_relaxed_syncs_apply_to_the_stores_named_and_in_wal_mode_only(tmp_path):
    wal, journal, other = tmp_path / "wal.db", tmp_path / "journal.db", tmp_path / "users_own.db"
    for path in (wal, journal, other):
        sqlite3.connect(path).close()
    use_wal(str(wal))
    use_wal(str(other))
    relax_syncs(f"sqlite:///{wal}")
    relax_syncs(f"sqlite:///{journal}")
    relax_syncs("http://127.0.0.1:5000")  # not a file: nothing to relax
    assert _synchronous(wal) == NORMAL
    assert _synchronous(journal) == FULL  # a rollback journal keeps its syncs
    assert _synchronous(other) == FULL  # a database of the user's own, not a store of ours


def test_a_file_another_process_holds_keeps_its_mode(tmp_path):
    db = tmp_path / "held.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        use_wal(str(db))  # no error: this search is only slower
    finally:
        holder.execute("COMMIT")
    assert holder.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    holder.close()


def test_the_file_of_a_uri_with_a_query_string_is_the_file(tmp_path, monkeypatch):
    assert sqlite_path("sqlite:///mlflow.db?timeout=20") == "mlflow.db"
    assert sqlite_path("sqlite:////abs/mlflow.db") == "/abs/mlflow.db"
    assert sqlite_path("postgresql+psycopg2://u@h/db") is None
    monkeypatch.chdir(tmp_path)
    assert absolute_uri("sqlite:///mlflow.db?timeout=20") == f"sqlite:///{tmp_path}/mlflow.db?timeout=20"
    assert absolute_uri("sqlite:////abs/mlflow.db") == "sqlite:////abs/mlflow.db"
    prepare_store("sqlite:///queried.db?timeout=20")
    assert _synchronous(tmp_path / "queried.db") == NORMAL  # the store is the file, query or not
