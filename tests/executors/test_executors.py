"""Parallel trials: the local executor (worker processes, sqlite) and Spark (a Spark job per trial with a
real `mlflow server` backed by PostgreSQL). Every trial is a child run of the same parent with
the same params, metrics and model as a sequential search, and true statuses."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import QUIET, REPO, UNREGISTERED, children_of, free_port, start_server, stop_server
from hyperopt import JOB_STATE_NEW, JOB_STATE_RUNNING
from mlflow.tracking import MlflowClient

from hpo_plugin.errors import ConfigError
from hpo_plugin.executors import local, pool
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.hyperopt_protocol import trial_doc
from hpo_plugin.search import run_search, threads_per_trial

POSTGRES_ENV = "HPO_TEST_POSTGRES"  # e.g. postgresql+psycopg2://postgres:pw@127.0.0.1:5432 (.ci/run sets it)


def experiment(tiny, executor: dict, max_evals: int = 6, n_estimators: int = 10) -> Path:
    return tiny(
        model={"params": {"n_estimators": n_estimators}},
        search={"max_evals": max_evals, **QUIET},
        register=UNREGISTERED,
        executor=executor,
    )


@pytest.fixture(autouse=True)
def fresh_workers():
    """Workers stay warm between searches; each test here starts from none."""
    local._stop_spares()
    yield
    local._stop_spares()


def assert_complete_search(client: MlflowClient, result, max_evals: int) -> list:
    parent = client.get_run(result.parent_run_id)
    children = children_of(client, parent)
    assert parent.info.status == "FINISHED"
    assert len(children) == max_evals
    assert sorted(int(c.data.tags["hpo.trial_number"]) for c in children) == list(range(1, max_evals + 1))
    for child in children:
        assert child.info.run_name == f"trial-{int(child.data.tags['hpo.trial_number']):03d}"
        if child.info.status == "FINISHED":
            assert {"max_depth", "learning_rate"} <= set(child.data.params)
            assert {"loss", "val_log_loss"} <= set(child.data.metrics)
            assert len(child.outputs.model_outputs) == 1
    losses = [c.data.metrics["loss"] for c in children if c.info.status == "FINISHED"]
    assert parent.data.metrics["best_loss"] == pytest.approx(min(losses))
    return children


def test_local_executor_runs_trials_in_parallel_into_sqlite(tiny, client):
    config = load_experiment(experiment(tiny, {"name": "local", "parallelism": 2}, max_evals=8))
    assert config.executor.workers == 2
    result = run_search(config)
    children = assert_complete_search(client, result, 8)
    assert all(c.info.status == "FINISHED" for c in children)
    starts = sorted((c.info.start_time, c.info.end_time) for c in children)
    # Two workers: some trial starts before the previous one ended.
    assert any(b[0] < a[1] for a, b in itertools.pairwise(starts))


def test_workers_stay_warm_across_searches_of_a_process(tiny, client):
    path = experiment(tiny, {"name": "local", "parallelism": 2}, max_evals=4)
    run_search(load_experiment(path))
    warm = {process.pid for process in local._SPARES}
    assert len(warm) == 2 and all(process.poll() is None for process in local._SPARES)
    second = run_search(load_experiment(path, {"search.seed": 1}))
    assert {process.pid for process in local._SPARES} == warm
    assert_complete_search(client, second, 4)
    local.prestart(1)  # a search that needs fewer workers stops the others
    assert len(local._SPARES) == 1 and local._SPARES[0].pid in warm


def test_a_worker_process_never_imports_mlflow():
    """Workers write model files natively; MLflow's import would slow every worker's start."""
    code = (
        "import sys, hpo_plugin.executors.local, hpo_plugin.objectives, hpo_plugin.models.files;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_estimator_by_import_path_runs_in_worker_processes(tiny, client):
    svc = {"family": None, "estimator": "sklearn.svm.SVC", "params": {"probability": True}}
    path = tiny(
        model={**svc, "space": {"C": {"loguniform": [0.1, 10]}}},
        search={"max_evals": 4, **QUIET},
        register=UNREGISTERED,
        executor={"name": "local", "parallelism": 2},
    )
    result = run_search(load_experiment(path))
    assert result.n_ok == 4 and all(r.model_id for r in result.records)


def test_the_search_loop_waits_for_a_slot_instead_of_polling(monkeypatch):
    """A refresh while a trial is queued blocks until a slot takes it; with none queued it never waits."""
    monkeypatch.setattr(pool, "WAIT_S", 60.0)
    trials = pool.PoolTrials()
    waits, real_wait = [], trials._changed.wait
    trials._changed.wait = lambda timeout=None: waits.append(timeout) or real_wait(timeout)
    trials.insert_trial_docs([trial_doc(trials, 0, {}, [], {"status": "new"})])
    (queued,) = trials.trials
    assert queued["state"] == JOB_STATE_NEW
    refresher = threading.Thread(target=trials.refresh)
    refresher.start()
    while not waits:  # the refresh is waiting for an event
        refresher.join(0.01)
    assert refresher.is_alive() and waits == [60.0]
    taken = trials.take()  # a slot takes the queued trial: the refresh wakes
    refresher.join(30)
    assert not refresher.is_alive() and taken is queued and taken["state"] == JOB_STATE_RUNNING
    trials.refresh()  # nothing queued: no wait at all
    assert waits == [60.0]
    trials.close()


def test_local_executor_proposes_what_sequential_does_for_its_first_points(tiny, client):
    """Parallelism changes what later proposals know, never the seeded start."""
    sequential = run_search(load_experiment(experiment(tiny, "sequential", max_evals=3)))
    local = run_search(load_experiment(experiment(tiny, {"name": "local", "parallelism": 2}, 3)))
    first = {r.number: r.params for r in sequential.records}
    assert {r.number: r.params for r in local.records}[1] == first[1]


def _workers_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and b"hpo_plugin.executors.local" in cmdline:
            found.append(int(entry.name))
    return found


def running_trials(client: MlflowClient) -> list:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, "attributes.status = 'RUNNING' and tags.`hpo.role` = 'trial'")


def test_a_worker_that_dies_fails_its_trial_and_the_search_goes_on(tiny, client):
    config = load_experiment(
        experiment(tiny, {"name": "local", "parallelism": 2}, max_evals=8, n_estimators=3000)
    )
    outcome: dict = {}
    search = threading.Thread(target=lambda: outcome.setdefault("result", run_search(config)))
    search.start()
    deadline = time.time() + 120
    # Both workers busy (two trials running), so whichever is killed dies mid-trial.
    while len(workers := _workers_of(os.getpid())) < 2 or len(running_trials(client)) < 2:
        assert time.time() < deadline, "no trial started"
        time.sleep(0.1)
    os.kill(workers[0], signal.SIGKILL)
    search.join(timeout=300)
    result = outcome["result"]
    children = assert_complete_search(client, result, 8)
    failed = [c for c in children if c.info.status == "FAILED"]
    assert len(failed) == 1
    assert (
        failed[0].data.tags["hpo.error"]
        == "the process was killed by SIGKILL during this trial (its worker is replaced)"
    )
    assert {"max_depth", "learning_rate"} <= set(failed[0].data.params)  # logged at its start
    assert sum(c.info.status == "FINISHED" for c in children) == 7


@pytest.mark.slow
def test_parallel_search_killed_with_sigkill_resumes_to_its_full_budget(tiny, tracking_uri):
    path = experiment(tiny, {"name": "local", "parallelism": 2}, max_evals=10, n_estimators=200)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    client = MlflowClient(tracking_uri)
    command = [sys.executable, "-m", "hpo_plugin", "search", str(path)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while True:
        finished = client.search_runs(
            [e.experiment_id for e in client.search_experiments()],
            "attributes.status = 'FINISHED' and tags.`hpo.role` = 'trial'",
        )
        if len(finished) >= 3:
            break
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    experiment_id = client.get_experiment_by_name("tiny").experiment_id
    deadline = time.time() + 60  # the trial writer notices and ends the open runs KILLED
    while (parent := _search_parent(client, experiment_id)).info.status == "RUNNING":
        assert time.time() < deadline
        time.sleep(0.5)
    # KILLED: its trials ran in worker processes, so their code could not end the search process
    assert parent.info.status == "KILLED" and "without closing the search" in parent.data.tags["hpo.error"]
    done = subprocess.run(
        [*command, "--resume", parent.info.run_id], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    parent = client.get_run(parent.info.run_id)
    children = children_of(client, parent)
    assert parent.info.status == "FINISHED"
    assert sum(c.info.status == "FINISHED" for c in children) == 10  # nothing lost, nothing run twice
    assert all(c.info.status in ("FINISHED", "KILLED") for c in children)
    numbers = [int(c.data.tags["hpo.trial_number"]) for c in children]
    assert len(numbers) == len(set(numbers))


def _search_parent(client: MlflowClient, experiment_id: str):
    (parent,) = [r for r in client.search_runs([experiment_id]) if r.data.tags.get("hpo.role") == "search"]
    return parent


@pytest.mark.parametrize(
    ("executor", "key", "fragment"),
    [
        ({"name": "sequential", "parallelism": 2}, "executor", "needs executor 'local' or 'spark'"),
        ({"name": "local", "spark_master": "local[2]"}, "executor", "applies to executor 'spark'"),
        ({"name": "threads"}, "executor.name", "choose one of: local, sequential, spark"),
        ({"name": "local", "parallelism": 0}, "executor.parallelism", "greater than or equal to 1"),
    ],
)
def test_bad_executor_settings_name_the_key(tiny, executor, key, fragment):
    with pytest.raises(ConfigError) as err:
        load_experiment(experiment(tiny, executor))
    assert err.value.key == key and fragment in str(err.value)


def test_spark_without_pyspark_names_the_extra_and_logs_nothing(tiny, client, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"pip install 'hpo_plugin\[spark\]'"):
        run_search(load_experiment(experiment(tiny, "spark")))
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


def test_trials_never_oversubscribe_the_cores(tiny, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    threads = {
        name: threads_per_trial(load_experiment(experiment(tiny, executor)))
        for name, executor in {
            "sequential": "sequential",
            "local4": {"name": "local", "parallelism": 4},
            "local16": {"name": "local", "parallelism": 16},
            "spark_local": {"name": "spark", "spark_master": "local[2]"},
            "spark_cluster": {"name": "spark", "spark_master": "spark://host:7077", "parallelism": 8},
        }.items()
    }
    assert threads == {"sequential": 7, "local4": 1, "local16": 1, "spark_local": 3, "spark_cluster": 1}


@pytest.fixture
def postgres_server(tmp_path):
    """A real `mlflow server` on loopback whose backend store is a fresh PostgreSQL database."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"set {POSTGRES_ENV} to a PostgreSQL URL (.ci/run starts one)")
    import psycopg2

    name = f"hpo_{uuid.uuid4().hex[:12]}"
    dsn = base.replace("postgresql+psycopg2://", "postgresql://")
    admin = psycopg2.connect(dsn + "/postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    port = free_port()
    server = start_server(tmp_path, port, backend=f"{base}/{name}")
    yield f"http://127.0.0.1:{port}"
    stop_server(server)
    admin.cursor().execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


@pytest.mark.slow
def test_spark_trials_log_through_a_tracking_server_into_postgres(tiny, postgres_server, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # executors get the server's URI from the search itself
    path = experiment(tiny, {"name": "spark", "spark_master": "local[2]"}, max_evals=6)
    config = load_experiment(path)
    result = run_search(config, tracking_uri=postgres_server)
    client = MlflowClient(postgres_server)
    children = assert_complete_search(client, result, 6)
    assert all(c.info.status == "FINISHED" for c in children)
    local = MlflowClient(f"sqlite:///{Path('mlflow.db').resolve()}")  # nothing fell back to a local store
    assert local.search_runs([e.experiment_id for e in local.search_experiments()]) == []
    model = client.get_logged_model(children[0].outputs.model_outputs[0].model_id)
    assert model.status == "READY"


@pytest.mark.slow
def test_spark_tasks_start_with_the_trial_modules_imported():
    """A Spark Python worker forks from a daemon that preloaded what trials use."""
    pytest.importorskip("pyspark")
    from hpo_plugin.executors.spark import session

    spark = session("local[2]")
    wanted = (
        "xgboost",
        "sklearn",
        "mlflow.store.tracking.sqlalchemy_store",
        "hpo_plugin.objectives.estimator",
    )
    rdd = spark.sparkContext.parallelize([0], 1)
    task = rdd.mapPartitions(lambda _: [[n in sys.modules for n in wanted]])
    assert task.collect() == [[True] * len(wanted)]


def test_cli_flags_choose_the_executor(tiny, client):
    from click.testing import CliRunner

    from hpo_plugin.fronts.cli import main

    path = experiment(tiny, "sequential", max_evals=4)
    out = CliRunner().invoke(
        main, ["search", str(path), "--executor", "local", "--parallelism", "2", "--quiet"]
    )
    assert out.exit_code == 0, out.output
    (parent,) = [r for r in client.search_runs(["1"]) if r.data.tags.get("hpo.role") == "search"]
    assert parent.data.params["search.executor"] == "local"
    assert parent.data.params["search.parallelism"] == "2"
    assert len(children_of(client, parent)) == 4


@pytest.mark.slow
def test_spark_trials_run_on_a_real_standalone_master_and_worker(tiny, client):
    """Not only local[N]: a Spark standalone master and worker (PySpark's own classes) on
    loopback, each trial a task on the worker's executor."""
    pytest.importorskip("pyspark")
    sys.path.insert(0, str(REPO / "benchmarks"))
    from pyspark.sql import SparkSession
    from spark_cluster import standalone_cluster

    with standalone_cluster(cores=2) as master:
        path = experiment(tiny, {"name": "spark", "spark_master": master, "parallelism": 2}, max_evals=4)
        result = run_search(load_experiment(path))
        context = SparkSession.getActiveSession().sparkContext
        assert context.master == master
        executors = context._jsc.sc().getExecutorMemoryStatus().size()  # the driver and the worker's
        SparkSession.getActiveSession().stop()
    children = assert_complete_search(client, result, 4)
    assert all(c.info.status == "FINISHED" for c in children)
    assert executors == 2
