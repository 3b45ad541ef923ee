"""Trials whose code misbehaves: it exits its process, raises SystemExit or KeyboardInterrupt, or
fails deep in a library. Nothing already logged is lost or left RUNNING, the failure is recorded
on the trial (with its params, where in the user's code, the whole traceback), and the search
goes on wherever its process survives."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time

import pytest
import yaml
from conftest import children_of

from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.search import run_search

pytestmark = pytest.mark.slow

FUNCTIONS = """
import os
import time

CALLS = []


def exits_on_the_fifth(params):
    CALLS.append(params)
    if len(CALLS) == 5:
        os._exit(1)
    time.sleep(0.2)
    return (params["x"] - 0.5) ** 2


def square(params):
    return (params["x"] - 0.5) ** 2


def misbehaves(params):
    x = params["x"]
    if x < 0.15:
        raise SystemExit(3)
    if x < 0.3:
        raise KeyboardInterrupt("from the code")
    if x < 0.45:
        return float("nan")
    if x < 0.6:
        return divide(x)
    return x


def divide(x):
    return 1 / (x - x)
"""


def experiment(tmp_path, function: str, max_evals: int, executor: str = "sequential", grid: bool = False):
    (tmp_path / "functions.py").write_text(textwrap.dedent(FUNCTIONS))
    raw = {
        "name": "misbehaving",
        "space": {"x": {"quniform": [0, 0.9, 0.1]} if grid else {"uniform": [0, 1]}},
        "objective": {"function": f"functions.py:{function}"},
        "search": {"algo": "grid" if grid else "random", "max_evals": max_evals, "seed": 1, "report": False},
        "executor": {"name": executor, **({"parallelism": 2} if executor != "sequential" else {})},
        "register": {"enabled": False},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def the_search(client):
    (parent,) = [
        r
        for r in client.search_runs([client.get_experiment_by_name("misbehaving").experiment_id])
        if r.data.tags.get("hpo.role") == "search"
    ]
    return parent


def test_a_trial_that_exits_the_search_process_loses_no_finished_trial(tmp_path, client, tracking_uri):
    """``os._exit`` in the 5th trial of a sequential search: the 4 finished trials are in MLflow
    with their params and metrics, the 5th is KILLED with its params and what happened, the parent
    says so, nothing is RUNNING, and resume finishes the search."""
    path = experiment(tmp_path, "exits_on_the_fifth", 8)
    code = f"from hpo_plugin import load_experiment, run_search; run_search(load_experiment({str(path)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stderr[-2000:]
    deadline = time.time() + 60  # the trial writer sees the search process gone and finishes
    while (parent := the_search(client)).info.status == "RUNNING" and time.time() < deadline:
        time.sleep(0.5)
    children = sorted(children_of(client, parent), key=lambda r: int(r.data.tags["hpo.trial_number"]))
    assert [c.info.status for c in children] == ["FINISHED"] * 4 + ["KILLED"]
    assert all("x" in c.data.params for c in children) and all("loss" in c.data.metrics for c in children[:4])
    assert "the search process ended while this trial ran" in children[4].data.tags["hpo.error"]
    assert parent.info.status == "KILLED" and "during trial 5" in parent.data.tags["hpo.error"]

    resumed = load_experiment(path, {"objective.function": "functions.py:square"})  # exits no more
    result = run_search(resumed, resume=parent.info.run_id)
    assert result.n_ok == 8 and result.parent_run_id == parent.info.run_id
    statuses = sorted(c.info.status for c in children_of(client, the_search(client)))
    assert statuses == ["FINISHED"] * 8 + ["KILLED"]  # the killed trial stays, as it ended


@pytest.mark.parametrize("executor", ["sequential", "local"])
def test_exits_interrupts_and_bad_results_fail_their_trial_only(tmp_path, client, executor):
    """SystemExit, KeyboardInterrupt raised by code, a NaN and an error in the user's helper each
    fail their trial, named where the user's code is; the search runs every trial."""
    result = run_search(load_experiment(experiment(tmp_path, "misbehaves", 10, executor, grid=True)))
    assert len(result.records) == 10 and result.n_ok == 4 and result.n_failed == 6  # x = 0, 0.1, ..., 0.9
    errors = {}
    for child in children_of(client, the_search(client)):
        if (x := float(child.data.params["x"])) >= 0.6:
            continue
        assert child.info.status == "FAILED"
        error = child.data.tags["hpo.error"]
        kind = "exit" if x < 0.15 else "interrupt" if x < 0.3 else "nan" if x < 0.45 else "error"
        errors.setdefault(kind, error)
        assert "error.txt" in [f.path for f in client.list_artifacts(child.info.run_id)]
    assert set(errors) == {"exit", "interrupt", "nan", "error"}
    assert errors["exit"].startswith("the trial's code raised SystemExit(3) at functions.py:")
    assert errors["interrupt"].startswith("the trial's code raised KeyboardInterrupt('from the code')")
    assert re.fullmatch(
        r"TrialFailed: the function returned nan \(misbehaves in functions.py:\d+\)", errors["nan"]
    )
    assert errors["error"].startswith("ZeroDivisionError: float division by zero (at functions.py:")
    error_child = next(
        c for c in children_of(client, the_search(client)) if 0.45 <= float(c.data.params["x"]) < 0.6
    )
    text = client.download_artifacts(error_child.info.run_id, "error.txt", str(tmp_path))
    with open(text) as file:
        trace = file.read()
    assert "Traceback" in trace and "in divide" in trace and "ZeroDivisionError" in trace
