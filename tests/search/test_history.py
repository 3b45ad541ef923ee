from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest import QUIET, UNREGISTERED, children_of
from mlflow.tracking import MlflowClient

from hpo_plugin.algorithms import ALGORITHMS
from hpo_plugin.errors import SearchInterrupted, TrackingError
from hpo_plugin.fronts.cli import main
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.objectives import EstimatorObjective
from hpo_plugin.search import run_search


def config_file(tiny, max_evals=6, algo="tpe"):
    return tiny(search={"max_evals": max_evals, "algo": algo, **QUIET}, register=UNREGISTERED)


def interrupt_at(monkeypatch, call: int):
    real, calls = EstimatorObjective.evaluate, {"n": 0}

    def evaluate(self, params, run=None, reporter=None):
        calls["n"] += 1
        if calls["n"] == call:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C
        return real(self, params)

    monkeypatch.setattr(EstimatorObjective, "evaluate", evaluate)


# grid needs a finite space; ATPE draws from global random state (see tests/algorithms).
@pytest.mark.parametrize("algo", sorted(set(ALGORITHMS) - {"grid", "atpe"}))
def test_resume_after_ctrl_c_proposes_what_the_uninterrupted_search_would(tiny, client, monkeypatch, algo):
    path = config_file(tiny, algo=algo)
    straight = run_search(load_experiment(path))
    interrupt_at(monkeypatch, 4)
    with pytest.raises(SearchInterrupted, match="--resume") as stopped:
        run_search(load_experiment(path))
    parent_id = str(stopped.value).split("--resume ")[1].split()[0]
    monkeypatch.undo()
    resumed = run_search(load_experiment(path), resume=parent_id)
    assert resumed.parent_run_id == parent_id
    done = [r for r in resumed.records if r.status == "FINISHED"]
    if algo in ("gp", "tpe", "random"):  # see README: what resume reproduces
        assert [r.params for r in done] == [r.params for r in straight.records]
    else:
        assert [r.params for r in done[:3]] == [r.params for r in straight.records[:3]]
    assert [r.number for r in resumed.records] == [1, 2, 3, 5, 6, 7]
    runs = {r.info.run_name: r.info.status for r in children_of(client, client.get_run(parent_id))}
    assert runs["trial-004"] == "KILLED" and sum(s == "FINISHED" for s in runs.values()) == 6
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_loss"] == pytest.approx(min(r.loss for r in done))


def test_resume_rejects_finished_unknown_and_foreign_runs(tiny, client):
    path = config_file(tiny, max_evals=2)
    finished = run_search(load_experiment(path))
    with pytest.raises(TrackingError, match=r"already finished its 2 trials; raise max_evals \(search"):
        run_search(load_experiment(path), resume=finished.parent_run_id)
    assert client.get_run(finished.parent_run_id).info.status == "FINISHED"  # untouched
    with pytest.raises(TrackingError, match="no such run"):
        run_search(load_experiment(path), resume="0" * 32)
    result = CliRunner().invoke(main, ["search", str(path), "--resume", finished.best.run_id])
    assert result.exit_code == 2 and "not a search parent run" in result.output


def search_command(path, parent_id: str | None) -> list[str]:
    """`hpo search`, resuming ``parent_id`` once there is one."""
    resume = ["--resume", parent_id] if parent_id else []
    return [sys.executable, "-m", "hpo_plugin", "search", str(path), *resume]


@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing(tiny, tracking_uri):
    path = tiny(
        model={"params": {"n_estimators": 150}}, search={"max_evals": 12, **QUIET}, register=UNREGISTERED
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    client = MlflowClient(tracking_uri)
    rng = random.Random(0)
    parent_id = None
    for _ in range(3):
        proc = subprocess.Popen(
            search_command(path, parent_id), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(rng.uniform(4.0, 8.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        experiment = client.get_experiment_by_name("tiny")
        if experiment is None:
            continue
        deadline = time.time() + 30  # the trial writer notices and ends the open runs KILLED
        while True:
            (parent,) = [
                r
                for r in client.search_runs([experiment.experiment_id])
                if r.data.tags.get("hpo.role") == "search"
            ]
            # Still RUNNING only if killed before its writer got going: resume repairs that.
            if parent.info.status != "RUNNING" or time.time() > deadline:
                break
            time.sleep(0.5)
        parent_id = parent.info.run_id
    done = subprocess.run(
        search_command(path, parent_id), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 or "already finished" in done.stderr, done.stderr[-2000:]
    (parent,) = [
        r
        for r in client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
        if r.data.tags.get("hpo.role") == "search"
    ]
    children = children_of(client, parent)
    finished = [c for c in children if c.info.status == "FINISHED"]
    assert parent.info.status == "FINISHED"
    assert len(finished) == 12  # no completed trial lost, none run twice
    assert all(c.info.status in ("FINISHED", "KILLED") for c in children)  # nothing left RUNNING
    assert parent.data.metrics["best_loss"] == pytest.approx(min(c.data.metrics["loss"] for c in finished))


def test_warm_start_seeds_a_new_search_without_spending_its_budget(tiny, client):
    first = run_search(load_experiment(config_file(tiny, max_evals=4)))
    narrower = {  # some old trials' learning rates fall outside
        "max_depth": {"quniform": [2, 4, 1]},
        "learning_rate": {"loguniform": [0.05, 0.15]},
    }
    path = tiny(
        "warm.yaml",
        model={"space": narrower},
        search={"max_evals": 3, "warm_start": [first.parent_run_id], **QUIET},
        register=UNREGISTERED,
    )
    result = run_search(load_experiment(path))
    inside = [r for r in first.records if 0.05 <= r.params["learning_rate"] <= 0.15]
    assert (result.warm_used, result.warm_skipped) == (len(inside), 4 - len(inside))
    assert len(result.records) == 3  # the budget is this search's own trials
    parent = client.get_run(result.parent_run_id)
    assert parent.data.params["search.warm_start"] == first.parent_run_id
    assert parent.data.metrics["n_warm_start_trials"] == len(inside)
    assert parent.data.tags["hpo.best_run_id"] in {r.run_id for r in result.records}


def test_warm_start_from_a_run_that_is_not_a_search_is_an_error(tiny):
    path = config_file(tiny, max_evals=2)
    result = CliRunner().invoke(main, ["search", str(path), "--warm-start", "0" * 32])
    assert result.exit_code == 2 and "warm start" in result.output and "no such run" in result.output


@pytest.mark.slow
def test_eight_searches_on_one_new_sqlite_file_all_complete(tiny, tmp_path):
    path = tiny(name="together", search={"algo": "random", "max_evals": 3, **QUIET}, register=UNREGISTERED)
    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"  # created by the searches themselves
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hpo_plugin", "search", str(path), "--seed", str(seed)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(8)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err[-500:] for _, err in outputs]
    client = MlflowClient(uri)
    experiments = [e for e in client.search_experiments() if e.name == "together"]
    assert len(experiments) == 1
    runs = client.search_runs([experiments[0].experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("hpo.role") == "search"]
    assert len(parents) == 8 and all(p.info.status == "FINISHED" for p in parents)
    for parent in parents:
        numbers = [c.data.tags["hpo.trial_number"] for c in children_of(client, parent)]
        assert sorted(numbers) == ["1", "2", "3"]  # every trial logged once
    assert all(r.info.status == "FINISHED" for r in runs)


def test_resume_of_a_search_killed_before_anything_was_logged(tiny, client):
    from hpo_plugin.promotion import register_search
    from hpo_plugin.tracking.parent import open_parent

    config = load_experiment(config_file(tiny, max_evals=2))
    parent = open_parent(client, config)  # the process died right after creating its parent run
    result = run_search(config, resume=parent.info.run_id)
    params = client.get_run(result.parent_run_id).data.params
    assert params["search.algo"] == "tpe" and params["objective.metric"] == "log_loss"
    assert register_search(client, result.parent_run_id, "resumed").version == "1"
