"""Trials whose code misbehaves: it exits its process, raises SystemExit or KeyboardInterrupt, or
fails deep in a library. Nothing already logged is lost or left RUNNING, the failure is recorded
on the trial (with its params, where in the user's code, the whole traceback), and the search
goes on wherever its process survives."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import yaml
from click.testing import CliRunner
from conftest import children_of

from hpo_plugin.fronts.cli import main
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


def slow_square(params):
    time.sleep(0.3)
    return (params["x"] - 0.3) ** 2


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
    if x < 0.75:
        return len(bytearray(2**62))  # MemoryError
    return x


def divide(x):
    return 1 / (x - x)


def exits(params):
    if params["x"] < 0.15:
        os._exit(1)
    return params["x"]


def hangs(params):
    if params["x"] < 0.15:
        time.sleep(3600)
    return params["x"]


def grows(params):
    if params["x"] < 0.15:
        block = b"1" * (1200 * 2**20)  # written, so resident
        time.sleep(30)
        return len(block)
    return params["x"]
"""


def experiment(
    tmp_path, function: str, max_evals: int, executor: str = "sequential", grid: bool = False, **limits
):
    (tmp_path / "functions.py").write_text(textwrap.dedent(FUNCTIONS))
    raw = {
        "name": "misbehaving",
        "space": {"x": {"quniform": [0, 0.9, 0.1]} if grid else {"uniform": [0, 1]}},
        "objective": {"function": f"functions.py:{function}"},
        "search": {
            "algo": "grid" if grid else "random",
            "max_evals": max_evals,
            "seed": 1,
            "report": False,
            **limits,
        },
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
    ends FAILED saying so, nothing is RUNNING, and resume finishes the search."""
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
    assert parent.info.status == "FAILED" and "during trial 5" in parent.data.tags["hpo.error"]

    resumed = load_experiment(path, {"objective.function": "functions.py:square"})  # exits no more
    result = run_search(resumed, resume=parent.info.run_id)
    assert result.n_ok == 8 and result.parent_run_id == parent.info.run_id
    statuses = sorted(c.info.status for c in children_of(client, the_search(client)))
    assert statuses == ["FINISHED"] * 8 + ["KILLED"]  # the killed trial stays, as it ended


@pytest.mark.parametrize("executor", ["sequential", "local", "spark"])
def test_exits_interrupts_and_bad_results_fail_their_trial_only(tmp_path, client, executor):
    """SystemExit, KeyboardInterrupt raised by code, a NaN, an error in the user's helper and a
    MemoryError each fail their trial, named where the user's code is; the search runs every
    trial."""
    result = run_search(load_experiment(experiment(tmp_path, "misbehaves", 10, executor, grid=True)))
    assert len(result.records) == 10 and result.n_ok == 2 and result.n_failed == 8  # x = 0, 0.1, ..., 0.9
    errors = {}
    for child in children_of(client, the_search(client)):
        if (x := float(child.data.params["x"])) >= 0.75:
            continue
        assert child.info.status == "FAILED"
        error = child.data.tags["hpo.error"]
        kinds = [(0.15, "exit"), (0.3, "interrupt"), (0.45, "nan"), (0.6, "error"), (0.75, "memory")]
        kind = next(name for bound, name in kinds if x < bound)
        errors.setdefault(kind, error)
        assert "error.txt" in [f.path for f in client.list_artifacts(child.info.run_id)]
    assert set(errors) == {"exit", "interrupt", "nan", "error", "memory"}
    assert errors["exit"].startswith("the trial's code raised SystemExit(3) at functions.py:")
    assert errors["interrupt"].startswith("the trial's code raised KeyboardInterrupt('from the code')")
    assert re.fullmatch(
        r"TrialFailed: the function returned nan \(misbehaves in functions.py:\d+\)", errors["nan"]
    )
    assert errors["error"].startswith("ZeroDivisionError: float division by zero (at functions.py:")
    assert errors["memory"].startswith("MemoryError: the trial's code ran out of memory at functions.py:")
    error_child = next(
        c for c in children_of(client, the_search(client)) if 0.45 <= float(c.data.params["x"]) < 0.6
    )
    text = client.download_artifacts(error_child.info.run_id, "error.txt", str(tmp_path))
    with open(text) as file:
        trace = file.read()
    assert "Traceback" in trace and "in divide" in trace and "ZeroDivisionError" in trace
    shown = CliRunner().invoke(main, ["show", "--run", error_child.info.run_id])
    assert shown.exit_code == 0, shown.output
    assert "error: ZeroDivisionError: float division by zero (at functions.py:" in shown.output
    assert trace.strip() in shown.output


@pytest.mark.parametrize("executor", ["sequential", "local", "spark"])
@pytest.mark.parametrize(
    ("function", "limits", "error"),
    [
        ("hangs", {"trial_timeout": 2}, r"timed out after 2 s"),
        ("grows", {"trial_memory_mb": 600}, r"exceeded its memory limit of 600 MB \(\d+ MB in use\)"),
    ],
    ids=["timeout", "memory"],
)
def test_a_trial_past_its_limits_is_stopped_and_the_search_goes_on(
    tmp_path, client, executor, function, limits, error
):
    """Two of ten trials hang (or outgrow their memory): each is stopped at its limit, fails with
    its params and why, and the search runs all ten."""
    started = time.monotonic()
    path = experiment(tmp_path, function, 10, executor, grid=True, **limits)
    result = run_search(load_experiment(path))
    assert time.monotonic() - started < 120
    assert len(result.records) == 10 and result.n_ok == 8
    failed = [c for c in children_of(client, the_search(client)) if c.info.status == "FAILED"]
    assert sorted(float(c.data.params["x"]) for c in failed) == [0.0, 0.1]
    assert all(re.fullmatch(error, c.data.tags["hpo.error"]) for c in failed)
    assert not [c for c in children_of(client, the_search(client)) if c.info.status == "RUNNING"]


@pytest.mark.parametrize(
    ("executor", "error"),
    [
        ("local", "the process exited with code 1 during this trial (its worker is replaced)"),
        ("spark", "the Spark task running this trial failed: "),
    ],
)
def test_a_trial_that_exits_its_worker_fails_with_its_params(tmp_path, client, executor, error):
    result = run_search(load_experiment(experiment(tmp_path, "exits", 10, executor, grid=True)))
    assert len(result.records) == 10 and result.n_ok == 8
    failed = [c for c in children_of(client, the_search(client)) if c.info.status == "FAILED"]
    assert sorted(float(c.data.params["x"]) for c in failed) == [0.0, 0.1]
    assert all(c.data.tags["hpo.error"].startswith(error) for c in failed)


def test_a_search_stopped_while_trials_hang_resumes(tmp_path, client):
    """SIGTERM while both workers hang (no trial limit): the hung trials end KILLED with their
    params; resume (here with a function that no longer hangs) finishes the search."""
    path = experiment(tmp_path, "hangs", 10, "local", grid=True)
    code = f"from hpo_plugin import load_experiment, run_search; run_search(load_experiment({str(path)!r}))"
    search = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        experiment_ = client.get_experiment_by_name("misbehaving")
        query = "tags.`hpo.role` = 'trial' and attributes.status = 'RUNNING'"
        running = client.search_runs([experiment_.experiment_id], query) if experiment_ else []
        if sum(float(r.data.params.get("x", 1)) < 0.15 for r in running) == 2:
            break
        time.sleep(0.5)
    search.send_signal(signal.SIGTERM)
    assert search.wait(timeout=120) != 0 and "--resume" in search.stderr.read()
    parent = the_search(client)
    hung = [c for c in children_of(client, parent) if float(c.data.params["x"]) < 0.15]
    assert parent.info.status == "KILLED" and [c.info.status for c in hung] == ["KILLED", "KILLED"]

    resumed = load_experiment(path, {"objective.function": "functions.py:square"})
    result = run_search(resumed, resume=parent.info.run_id)
    assert the_search(client).info.status == "FINISHED" and result.n_ok == 10
    assert not [c for c in children_of(client, the_search(client)) if c.info.status == "RUNNING"]


@pytest.mark.parametrize("algo", ["tpe", "gp"])
def test_a_search_killed_mid_trial_resumes_to_the_same_points(tmp_path, client, tracking_uri, algo):
    """SIGKILL while the 5th trial runs, then resume: the trials are those of an uninterrupted
    search with the same seed (the killed one is proposed again, with the same point)."""

    def search(name: str, kill_at: int | None = None) -> list[float]:
        path = experiment(tmp_path, "slow_square", 10)
        raw = yaml.safe_load(path.read_text())
        raw["search"]["algo"] = algo
        path.write_text(yaml.safe_dump({**raw, "name": name}))
        command = [sys.executable, "-m", "hpo_plugin", "search", str(path), "--quiet"]
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        query = f"tags.`hpo.trial_number` = '{kill_at}'"
        while kill_at is not None and process.poll() is None:
            found = client.get_experiment_by_name(name)
            if found and client.search_runs([found.experiment_id], query):
                process.kill()
                break
            time.sleep(0.05)
        process.wait(timeout=300)
        experiment_id = client.get_experiment_by_name(name).experiment_id
        if kill_at is not None:
            time.sleep(2)  # the writer ends what the search left open
            (parent,) = [
                r for r in client.search_runs([experiment_id]) if r.data.tags.get("hpo.role") == "search"
            ]
            resumed = subprocess.run(
                [*command, "--resume", parent.info.run_id], cwd=tmp_path, capture_output=True
            )
            assert resumed.returncode == 0, resumed.stderr[-2000:]
        runs = client.search_runs(
            [experiment_id], "tags.`hpo.role` = 'trial' and attributes.status = 'FINISHED'"
        )
        return [float(r.data.params["x"]) for r in sorted(runs, key=lambda r: r.info.start_time)]

    assert search("killed", kill_at=5) == search("whole")
