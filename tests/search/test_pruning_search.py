"""Searches with ``search.pruning``: built-in boosting rounds, folds, a function's trial handle and
an entry point report their steps; the pruner stops the hopeless ones under every executor."""

from __future__ import annotations

import html
import os
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import EXPERIMENTS, QUIET, UNREGISTERED, children_of

from hpo_plugin.errors import SearchInterrupted
from hpo_plugin.fronts.cli import main
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.pruners import Board, MedianPruner
from hpo_plugin.report import build_report
from hpo_plugin.search import run_search
from hpo_plugin.search.bare import run_bare
from hpo_plugin.tracking.schema import load_trials

CURVE = '''
import os
import signal

from hpo_plugin import TrialPruned


def curve(params, trial):
    """The same ranking at every step: a trial worse than the median at step 1 stays worse."""
    gap = (params["x"] - 1.0) ** 2
    for step in range(1, 6):
        trial.report(step, gap + 1.0 / step)
        if trial.should_prune():
            raise TrialPruned()
    return gap


CALLS = []


def interrupted(params, trial):  # Ctrl-C during this process's seventh trial
    CALLS.append(params)
    if len(CALLS) == 7:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C
    return curve(params, trial)
'''


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def trials_of(client, result) -> list:
    parent = client.get_run(result.parent_run_id)
    return sorted(children_of(client, parent), key=lambda r: int(r.data.tags["hpo.trial_number"]))


def check_pruned_trials(client, result, key: str, exact: bool = True) -> list:
    """What every pruned search shows: tags, metric history, counts, a best that was not pruned.

    ``exact``: the curve ends at the pruned step (an entry point, stopped from outside, may log
    one more step before it is stopped)."""
    runs = trials_of(client, result)
    pruned = [r for r in runs if "hpo.pruned" in r.data.tags]
    assert pruned and len(pruned) == result.n_pruned < len(runs)
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = history(client, run.info.run_id, key)
        assert steps, f"no {key} history on {run.info.run_name}"
        if "hpo.pruned" in run.data.tags:
            stopped = int(run.data.tags["hpo.pruned"])
            assert stopped == steps[-1][0] if exact else stopped in {s for s, _ in steps}
        else:  # the curve's last point is the trial's final value
            assert steps[-1][1] == pytest.approx(run.data.metrics[key])
    parent = client.get_run(result.parent_run_id)
    assert "hpo.pruned" not in client.get_run(parent.data.tags["hpo.best_run_id"]).data.tags
    assert parent.data.metrics["n_trials_pruned"] == len(pruned)
    assert parent.data.metrics["n_trials_ok"] == len(runs) - len(pruned)
    assert "pruned" in parent.data.tags["mlflow.note.content"]
    return runs


def function_experiment(write_yaml, executor="sequential", **search) -> Path:
    write_yaml(CURVE, "curve.py")
    raw = {
        "name": "pruned_fn",
        "space": {"x": {"uniform": [-4, 6]}},
        "objective": {"function": "curve.py:curve"},
        "search": {"algo": "random", "max_evals": 14, "seed": 3, **QUIET, **search},
        "executor": executor,
        "register": UNREGISTERED,
    }
    raw["search"].setdefault("pruning", {"method": "median", "warmup_trials": 3})
    return write_yaml(yaml.safe_dump(raw), "fn.yaml")


def test_median_pruning_of_a_function_stops_exactly_the_trials_worse_than_the_median(write_yaml, client):
    result = run_search(load_experiment(function_experiment(write_yaml)))
    check_median_decisions(client, check_pruned_trials(client, result, "value"))


def test_the_report_and_show_set_pruned_trials_apart(write_yaml, client, tmp_path):
    result = run_search(load_experiment(function_experiment(write_yaml)))
    trials = load_trials(client, result.parent_run_id)
    build_report(trials, tmp_path / "report")
    page = html.unescape((tmp_path / "report" / "index.html").read_text())
    assert f"'PRUNED': {result.n_pruned}" in page and f"'FINISHED': {result.n_ok}" in page
    shown = CliRunner().invoke(main, ["show", result.parent_run_id, "--top", "100"])
    assert shown.exit_code == 0, shown.output
    pruned_ids = {r.run_id for r in result.records if r.pruned}
    assert not any(run_id in shown.output for run_id in pruned_ids)


def check_median_decisions(client, runs) -> None:
    """Sequential trials, in order: pruned at step 1 exactly when worse than the finished trials'
    median there (the curves keep their ranking at every step), with the loss the board gives."""
    done: list[float] = []  # finished trials' gaps so far
    for run in runs:
        gap = (float(run.data.params["x"]) - 1.0) ** 2
        at_step_1 = gap + 1.0
        if len(done) >= 3 and at_step_1 > np.median([g + 1.0 for g in done]):
            assert run.data.tags["hpo.pruned"] == "1", run.info.run_name
            # The loss the algorithm got: its value when stopped, or the worst finished loss.
            assert run.data.metrics["loss"] == pytest.approx(max(at_step_1, max(done)))
            assert history(client, run.info.run_id, "value") == [(1, pytest.approx(at_step_1))]
        else:
            assert "hpo.pruned" not in run.data.tags, run.info.run_name
            assert [s for s, _ in history(client, run.info.run_id, "value")] == [1, 2, 3, 4, 5]
            done.append(gap)


LEARNER = """
from hpo_plugin import TrialPruned


def learner(params, trial):
    \"\"\"The larger x, the slower it learns and the lower it ends: behind at every early step.\"\"\"
    for step in range(1, 11):
        trial.report(step, learned(params["x"], step))
        if trial.should_prune():
            raise TrialPruned()
    return learned(params["x"], 10)


def learned(x, step):
    final, rate = 1.0 - 0.5 * x, 0.3 + 0.5 * x
    return final + (3.0 - final) * rate**step
"""


def learned(x: float, step: int) -> float:
    final, rate = 1.0 - 0.5 * x, 0.3 + 0.5 * x
    return final + (3.0 - final) * rate**step


def test_with_forecast_the_median_rule_judges_each_trial_by_where_it_will_end(write_yaml, client):
    """Geometric curves: from three reports the forecast is the last step's value, so a trial is
    stopped at step 3 exactly when it would end worse than the finished trials' median."""
    write_yaml(LEARNER, "learner.py")
    raw = {
        "name": "forecast_fn",
        "space": {"x": {"uniform": [0, 1]}},
        "objective": {"function": "learner.py:learner"},
        "search": {
            "algo": "random",
            "max_evals": 14,
            "seed": 3,
            "pruning": {"method": "median", "warmup_trials": 3, "warmup_steps": 3, "forecast": True},
            **QUIET,
        },
        "register": UNREGISTERED,
    }
    result = run_search(load_experiment(write_yaml(yaml.safe_dump(raw), "forecast.yaml")))
    runs = check_pruned_trials(client, result, "value")
    done: list[float] = []  # finished trials' x so far
    by_value_at_3 = []  # what the rule would have decided on the values at step 3
    for run in runs:
        x = float(run.data.params["x"])
        if len(done) >= 3:
            ends_worse = learned(x, 10) > np.median([learned(d, 10) for d in done])
            stopped_at_3 = learned(x, 3) > np.median([learned(d, 3) for d in done])
            by_value_at_3.append(stopped_at_3 != ends_worse)
        else:
            ends_worse = False
        if ends_worse:
            assert run.data.tags["hpo.pruned"] == "3", run.info.run_name
            # the logged curve is what the trial reported, not the forecasts
            assert history(client, run.info.run_id, "value") == [
                (s, pytest.approx(learned(x, s))) for s in (1, 2, 3)
            ]
        else:
            assert "hpo.pruned" not in run.data.tags, run.info.run_name
            done.append(x)
    assert any(by_value_at_3)  # the values at step 3 would have decided otherwise somewhere
    assert float(client.get_run(result.parent_run_id).data.metrics["best_loss"]) == pytest.approx(
        min(learned(x, 10) for x in done)
    )


def test_a_resumed_search_prunes_with_the_curves_of_the_trials_before_it(write_yaml, client):
    path = function_experiment(write_yaml)
    raw = yaml.safe_load(path.read_text())
    raw["objective"]["function"] = "curve.py:interrupted"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SearchInterrupted, match="--resume") as stopped:
        run_search(load_experiment(path))
    parent_id = str(stopped.value).split("--resume ")[1].split()[0]
    resumed = run_search(load_experiment(path), resume=parent_id)
    assert resumed.n_ok + resumed.n_pruned == 14 and resumed.n_pruned > 0
    runs = [r for r in trials_of(client, resumed) if r.info.status != "KILLED"]
    check_median_decisions(client, runs)
    assert not resumed.best.pruned


@pytest.mark.parametrize("executor", [{"name": "local", "parallelism": 2}, "spark"], ids=["local", "spark"])
@pytest.mark.slow
def test_the_pruner_decides_across_worker_processes_and_spark_tasks(write_yaml, client, executor):
    if executor == "spark":
        pytest.importorskip("pyspark")
        executor = {"name": "spark", "spark_master": "local[2]"}
    result = run_search(load_experiment(function_experiment(write_yaml, executor)))
    runs = check_pruned_trials(client, result, "value")
    finished_gaps = [(float(r.data.params["x"]) - 1.0) ** 2 for r in runs if "hpo.pruned" not in r.data.tags]
    for run in runs:
        if "hpo.pruned" in run.data.tags:  # stopped because finished trials did better at that step
            assert (float(run.data.params["x"]) - 1.0) ** 2 > min(finished_gaps)


def test_a_spark_task_reads_the_trials_finished_after_it_started_from_mlflow(write_yaml, client):
    from hpo_plugin.executors.spark_task import Curves, _Refreshed

    result = run_search(load_experiment(function_experiment(write_yaml)))
    parent = client.get_run(result.parent_run_id)
    runs = SimpleNamespace(
        client=client, experiment_id=parent.info.experiment_id, parent_run_id=parent.info.run_id
    )
    board = Board(MedianPruner(warmup_trials=3))  # what a task launched before any trial finished got
    ask = _Refreshed(board, runs, Curves("value", False), number=99)
    finished = [r for r in result.records if r.scored]
    median = float(np.median([r.loss + 1.0 for r in finished]))
    assert ask(1, median + 0.5) is True  # judged against every finished trial, read back from MLflow
    assert set(board.completed) == {r.number for r in finished}
    assert {n for n in board.steps if n != 99} == {r.number for r in result.records}
    first = board.steps[finished[0].number]  # its curve, ending at its final value
    assert first[4] == pytest.approx(finished[0].loss + 0.25) and first[5] == pytest.approx(finished[0].loss)


def test_xgboost_reports_every_k_rounds_and_pruned_trials_stop_early(tiny, client):
    path = tiny(
        model={
            "family": "xgboost",
            "params": {"n_estimators": 60},
            "space": {"learning_rate": {"loguniform": [0.001, 0.5]}, "max_depth": {"quniform": [2, 4, 1]}},
        },
        search={
            "algo": "random",
            "max_evals": 10,
            "pruning": {"method": "median", "warmup_trials": 2, "report_every": 20},
            **QUIET,
        },
        register=UNREGISTERED,
    )
    result = run_search(load_experiment(path))
    runs = check_pruned_trials(client, result, "val_log_loss")
    for run in runs:
        steps = [s for s, _ in history(client, run.info.run_id, "val_log_loss")]
        if "hpo.pruned" in run.data.tags:
            assert steps == list(range(20, steps[-1] + 1, 20)) and steps[-1] < 60
            assert not run.outputs.model_outputs  # a pruned trial logs no model
        else:
            assert steps == [20, 40, 60] and run.outputs.model_outputs


def test_lightgbm_with_successive_halving_under_the_local_executor(tiny, client):
    path = tiny(
        data={"dataset": "wine"},
        model={
            "family": "lightgbm",
            "params": {"n_estimators": 40},
            "space": {"learning_rate": {"loguniform": [0.001, 0.5]}, "num_leaves": {"quniform": [4, 16, 1]}},
        },
        objective={"metric": "log_loss"},
        search={
            "algo": "random",
            "max_evals": 8,
            "pruning": {"method": "successive_halving", "min_resource": 5, "report_every": 5},
            **QUIET,
        },
        executor={"name": "local", "parallelism": 2},
        register=UNREGISTERED,
    )
    result = run_search(load_experiment(path))
    runs = check_pruned_trials(client, result, "val_log_loss")
    for run in runs:
        if "hpo.pruned" in run.data.tags:
            assert int(run.data.tags["hpo.pruned"]) in (5, 20)  # the rungs at 5 * 4**r rounds


def test_cross_validation_reports_the_mean_so_far_after_each_fold(tiny, client):
    path = tiny(
        model={
            "family": "random_forest",
            "params": {},
            "space": {"max_depth": {"quniform": [1, 6, 1]}, "n_estimators": {"quniform": [3, 20, 1]}},
        },
        objective={"metric": "accuracy", "validation": {"cv": 3}},
        search={
            "algo": "random",
            "max_evals": 10,
            "seed": 1,
            "pruning": {"method": "median", "warmup_trials": 2},
            **QUIET,
        },
        register=UNREGISTERED,
    )
    result = run_search(load_experiment(path))
    runs = check_pruned_trials(client, result, "val_accuracy")
    for run in runs:
        curve = history(client, run.info.run_id, "val_accuracy")
        folds = [run.data.metrics.get(f"val_accuracy_fold{i}") for i in range(3)]
        if "hpo.pruned" not in run.data.tags:
            assert [s for s, _ in curve] == [1, 2, 3]
            assert curve[0][1] == pytest.approx(folds[0])
            assert curve[1][1] == pytest.approx((folds[0] + folds[1]) / 2)


def test_a_bare_search_prunes_too_and_never_picks_a_pruned_best(write_yaml):
    best, _, _ = run_bare(load_experiment(function_experiment(write_yaml)))
    assert not best.pruned and best.loss == pytest.approx((best.params["x"] - 1.0) ** 2)


@pytest.mark.parametrize(
    ("pruning", "validation", "message"),
    [
        (
            {"method": "hyperband"},
            None,
            "search.pruning.method: unknown pruning method 'hyperband'; "
            "choose one of: median, successive_halving",
        ),
        (
            {"method": "median", "reduction_factor": 3},
            None,
            "search.pruning: 'reduction_factor' applies to method successive_halving, not median; remove it",
        ),
        ({"method": "successive_halving", "min_resource": 0}, None, "min_resource must be 'auto' or"),
        ({"method": "median", "report_every": 0}, None, "search.pruning.report_every:"),
        (
            {"method": "median"},
            {"holdout": 0.25},
            "search.pruning: with a holdout split only xgboost and lightgbm trials report steps",
        ),
    ],
)
def test_bad_pruning_settings_are_one_line_errors(tiny, pruning, validation, message):
    sections = {"search": {"pruning": pruning}}
    if validation:
        sections |= {
            "model": {"family": "random_forest", "space": {"max_depth": {"quniform": [1, 3, 1]}}},
            "objective": {"metric": "log_loss", "validation": validation},
        }
    out = CliRunner().invoke(main, ["search", str(tiny(**sections))])
    assert out.exit_code != 0 and message in out.output, out.output
    assert len(out.output.strip().splitlines()) == 1


MLPROJECT = """
name: curve_project
entry_points:
  train:
    parameters: {x: {type: float, default: 0.0}}
    command: "python train.py --x {x}"
"""
TRAIN = """
import argparse
import time

import mlflow

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
x = parser.parse_args().x
with mlflow.start_run():
    for step in range(1, 7):
        mlflow.log_metric("score", (x - 1.0) ** 2 + 1.0 / step, step=step)
        time.sleep(0.4)
"""


@pytest.mark.slow
def test_an_entry_point_that_logs_its_metric_with_steps_is_pruned_and_stopped(tmp_path, client, monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "MLproject").write_text(MLPROJECT)
    (tmp_path / "train.py").write_text(textwrap.dedent(TRAIN))
    raw = {
        "name": "pruned_ep",
        "space": {"x": {"uniform": [-4, 6]}},
        "objective": {"entry_point": "train", "metric": "score"},
        "search": {
            "algo": "random",
            "max_evals": 6,
            "seed": 3,
            **QUIET,
            "pruning": {"method": "median", "warmup_trials": 2},
        },
        "register": UNREGISTERED,
    }
    (tmp_path / "search.yaml").write_text(yaml.safe_dump(raw))
    result = run_search(load_experiment(tmp_path / "search.yaml"))
    runs = check_pruned_trials(client, result, "score", exact=False)
    for run in runs:
        if "hpo.pruned" in run.data.tags:  # stopped before its last step
            assert history(client, run.info.run_id, "score")[-1][0] < 6


def test_the_shipped_pruning_experiments_prune(client, tmp_path):
    for name, key in (("function_pruning_breast_cancer", "value"), ("pruning_breast_cancer", "val_log_loss")):
        overrides = {"search.max_evals": 12, "search.report": False, "register.enabled": False}
        if name == "pruning_breast_cancer":
            overrides["search.threads_per_trial"] = 1
        result = run_search(load_experiment(EXPERIMENTS / f"{name}.yaml", overrides))
        check_pruned_trials(client, result, key)
