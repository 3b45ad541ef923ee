"""Resume, early stop, the report and the CLI's views work for a function objective too."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from hpo_plugin.errors import SearchInterrupted
from hpo_plugin.fronts.cli import main
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.search import run_search

FUNCTION = """
import os
import signal

CALLS = []


def quadratic(params):
    return {"loss": (params["x"] - 2.0) ** 2, "distance": abs(params["x"] - 2.0)}


def interrupted(params):  # Ctrl-C during this process's fourth trial
    CALLS.append(params)
    if len(CALLS) == 4:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C
    return quadratic(params)
"""


def experiment(write_yaml, name: str = "quadratic", **search) -> object:
    write_yaml(FUNCTION, "quad.py")
    raw = {
        "name": "quad",
        "space": {"x": {"uniform": [-5, 5]}},
        "objective": {"function": f"quad.py:{name}"},
        "search": {"max_evals": 8, "seed": 0, **search},
        "register": {"enabled": False},
    }
    return write_yaml(yaml.safe_dump(raw), "quad.yaml")


def test_an_interrupted_function_search_resumes_to_its_budget(write_yaml, client):
    path = experiment(write_yaml, "interrupted", report=False)
    with pytest.raises(SearchInterrupted, match="--resume") as stopped:
        run_search(load_experiment(path))
    parent_id = str(stopped.value).split("--resume ")[1].split()[0]
    resumed = run_search(load_experiment(path), resume=parent_id)
    assert resumed.parent_run_id == parent_id and resumed.n_ok == 8
    assert sorted(r.number for r in resumed.records if r.status == "FINISHED") == list(range(1, 4)) + list(
        range(5, 10)
    )


def test_a_function_search_stops_early_and_reports_and_shows(write_yaml, client):
    result = run_search(load_experiment(experiment(write_yaml, max_evals=40, early_stop={"patience": 3})))
    assert len(result.records) < 40  # patience ended it
    artifacts = {a.path for a in client.list_artifacts(result.parent_run_id, "report")}
    assert "report/index.html" in artifacts
    shown = json.loads(CliRunner().invoke(main, ["show", result.parent_run_id, "--format", "json"]).output)
    assert shown["top_trials"][0]["loss"] == pytest.approx(result.best.loss)
    assert "distance" in {k.removeprefix("best_") for k in shown["search"]}
