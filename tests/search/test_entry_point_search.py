"""Searches whose trial is an MLproject entry point, run inside the trial's own run."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import QUIET, UNREGISTERED, children_of

from hpo_plugin.fronts.cli import main
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.search import run_search

MLPROJECT = """
name: tiny_project
entry_points:
  train:
    parameters: {x: {type: float, default: 0.0}}
    command: "python train.py --x {x}"
"""
TRAIN = """
import argparse
import mlflow

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
x = parser.parse_args().x
if x > 4:
    raise SystemExit("x is too large")
with mlflow.start_run():
    for step in (1, 2):
        mlflow.log_metric("score_curve", x * step, step=step)
    if x > -4:
        mlflow.log_metric("score", (x - 1.0) ** 2)
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A tiny MLflow project whose `train` logs `score`, fails for x > 4, logs nothing for x <= -4."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "project"
    root.mkdir()
    (root / "MLproject").write_text(MLPROJECT)
    (root / "train.py").write_text(textwrap.dedent(TRAIN))
    return root


def experiment(root: Path, space=None, **objective) -> Path:
    raw = {
        "name": "ep",
        "space": space or {"x": {"uniform": [-3, 3]}},
        "objective": {"entry_point": "train", "metric": "score", **objective},
        "search": {"max_evals": 3, "seed": 0, **QUIET},
        "register": UNREGISTERED,
    }
    path = root / "search.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_each_trial_runs_the_entry_point_in_its_own_run_and_reads_its_metric(project, client):
    result = run_search(load_experiment(experiment(project)))
    assert result.n_ok == 3
    experiment_id = client.get_experiment_by_name("ep").experiment_id
    runs = client.search_runs([experiment_id])
    assert len(runs) == 4  # the parent and 3 trials: no run of the entry point's own
    for record in result.records:
        trial = client.get_run(record.run_id)
        assert (
            trial.data.metrics["loss"]
            == trial.data.metrics["score"]
            == pytest.approx((record.params["x"] - 1) ** 2)
        )
        assert trial.data.params["x"] == str(record.params["x"])
        assert [m.step for m in client.get_metric_history(record.run_id, "score_curve")] == [1, 2]


def test_a_failing_entry_point_or_a_missing_metric_fails_that_trial_only(project, client):
    path = experiment(project, space={"x": {"uniform": [-8, 8]}}, direction="minimize")
    result = run_search(load_experiment(path.parent / path.name, {"search.max_evals": 14}))
    errors = {r.error.split(": ", 2)[1] for r in result.records if r.status == "FAILED"}
    assert any("entry point 'train' failed" in e for e in errors), errors
    assert any("never logged the metric 'score'" in e for e in errors), errors
    assert result.n_ok >= 1
    failed = next(r for r in result.records if r.status == "FAILED")
    assert client.get_run(failed.run_id).info.status == "FAILED"
    assert client.get_run(failed.run_id).data.tags["hpo.error"] == failed.error


def test_an_entry_point_runs_in_local_worker_processes(project, client):
    path = experiment(project)
    raw = yaml.safe_load(path.read_text())
    raw["executor"] = {"name": "local", "parallelism": 2}
    path.write_text(yaml.safe_dump(raw))
    result = run_search(load_experiment(path))
    assert result.n_ok == 3
    parent = client.get_run(result.parent_run_id)
    assert len(children_of(client, parent)) == 3


@pytest.mark.parametrize(
    ("objective", "key", "fragment"),
    [
        ({"entry_point": "fit"}, "objective.entry_point", "'fit' is not an entry point of"),
        ({"project": "elsewhere"}, "objective.entry_point", "has no MLproject file"),
        ({"metric": None}, "objective", "an entry point needs 'metric'"),
    ],
)
def test_bad_entry_points_fail_in_one_line_before_any_run(project, client, objective, key, fragment):
    (project / "elsewhere").mkdir()
    path = experiment(project, **objective)
    out = CliRunner().invoke(main, ["search", str(path)])
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1, out.output
    assert f"{key}: " in out.output and fragment in out.output
    assert client.get_experiment_by_name("ep") is None
