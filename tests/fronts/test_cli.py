from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import TINY_XGB, children_of

from hpo_plugin.algorithms import ALGORITHMS
from hpo_plugin.fronts.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_search_command_runs_and_prints_where_results_are(write_yaml, client, tracking_uri):
    path = write_yaml(TINY_XGB)
    result = invoke("search", str(path), "--algo", "random", "--max-evals", "3", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert "Search finished" in result.output and "3 trials (3 ok, 0 failed)" in result.output
    assert f"mlflow ui --backend-store-uri {tracking_uri}" in result.output
    assert "#/experiments/" in result.output and "/runs/" in result.output
    (parent,) = [
        r
        for r in client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
        if r.data.tags.get("hpo.role") == "search"
    ]
    assert parent.data.params["search.algo"] == "random" and parent.data.params["search.seed"] == "5"
    assert len(children_of(client, parent)) == 3


def test_help_lists_the_registered_algorithms():
    output = invoke("search", "--help").output
    for name in ALGORITHMS:
        assert name in output


def test_blank_options_mean_as_in_the_file(write_yaml, client):
    path = write_yaml(TINY_XGB)
    result = invoke(
        "search",
        str(path),
        "--algo=",
        "--max-evals=",
        "--seed=",
        "--timeout=",
        "--trial-timeout=",
        "--trial-memory-mb=",
    )
    assert result.exit_code == 0, result.output
    assert "4 trials" in result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["--max-evals", "0"],
            "option --max-evals: search.max_evals: Input should be greater than or equal to 1",
        ),
        (["--max-evals", "2.5"], "'2.5' is not a whole number"),
        (["--max-evals", "many"], "'many' is not a number"),
        (["--seed", "-1"], "option --seed: search.seed"),
        (["--timeout", "-5"], "option --timeout: search.timeout"),
        (
            ["--trial-timeout", "0"],
            "option --trial-timeout: search.trial_timeout: Input should be greater than 0",
        ),
        (["--trial-memory-mb", "10"], "option --trial-memory-mb: search.trial_memory_mb"),
        (["--algo", "bayes"], "'bayes' is not one of"),
    ],
)
def test_bad_options_exit_non_zero_with_one_line_and_no_runs(write_yaml, client, args, fragment):
    path = write_yaml(TINY_XGB)
    result = CliRunner().invoke(main, ["search", str(path), *args])
    assert result.exit_code == 2
    assert fragment in result.output
    assert "Traceback" not in result.output
    assert client.get_experiment_by_name("tiny") is None


SVC = """
name: tiny
data: {dataset: breast_cancer}
model:
  estimator: sklearn.svm.SVC
  space: {C: {loguniform: [0.1, 10]}}
objective: {metric: log_loss}
"""


@pytest.mark.parametrize(
    ("yaml_text", "fragment"),
    [
        (
            TINY_XGB.replace("max_depth:", "max_dept:"),
            "model.space: ['max_dept'] are not parameters of xgboost",
        ),
        (
            TINY_XGB.replace("metric: log_loss", "metric: rmse"),
            "objective.metric: rmse does not apply to a binary task",
        ),
        (
            TINY_XGB.replace("family: xgboost", "family: ridge")
            .replace("max_depth: {quniform: [2, 4, 1]}", "")
            .replace("learning_rate: {loguniform: [0.05, 0.3]}", "alpha: {uniform: [0.1, 1]}")
            .replace("params: {n_estimators: 10}", ""),
            "model.family: ridge does not do classification",
        ),
        (TINY_XGB.replace("dataset: breast_cancer", "path: missing.csv, target: y"), "data.path:"),
        (SVC.replace("sklearn.svm.SVC", "sklearn.svm.SVX"), "model.estimator: cannot import sklearn.svm.SVX"),
        (
            SVC.replace("sklearn.svm.SVC", "sklearn.cluster.KMeans"),
            "model.estimator: sklearn.cluster.KMeans is neither",
        ),
        (
            SVC.replace("C:", "Cee:"),
            "model.space: ['Cee'] are not parameters of sklearn.svm.SVC; check the spelling",
        ),
        (
            SVC.replace("breast_cancer", "diabetes").replace("log_loss", "rmse"),
            "model.estimator: sklearn.svm.SVC does not do regression",
        ),
        (
            SVC.replace("model:", "model:\n  family: xgboost"),
            "model: give exactly one of 'family' (built in) or",
        ),
    ],
)
def test_bad_experiments_fail_before_any_run(write_yaml, client, yaml_text, fragment):
    result = CliRunner().invoke(main, ["search", str(write_yaml(yaml_text))])
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert client.get_experiment_by_name("tiny") is None


def test_debug_shows_the_traceback(write_yaml):
    result = CliRunner().invoke(main, ["search", str(write_yaml(TINY_XGB.replace("tpe", "tpee"))), "--debug"])
    assert result.exit_code == 2 and "Traceback" in result.output


def test_list_finds_the_searches_just_run_in_every_experiment_newest_first(tiny, client):
    """`hpo search x.yaml` puts its search in the experiment named after the file; `hpo list`
    without --experiment finds it there (and in any other), newest first."""
    for name in ("first", "second"):
        path = tiny(name=name, file=f"{name}.yaml", search={"max_evals": 2, "report": False})
        assert invoke("search", str(path), "--no-register", "--quiet").exit_code == 0
    listed = invoke("list", "--format", "csv").output.splitlines()
    assert listed[0].startswith("experiment,run_id,name,status")
    assert [line.split(",")[0] for line in listed[1:]] == ["second", "first"]
    only = invoke("list", "--experiment", "first", "--format", "csv").output.splitlines()
    assert len(only) == 2 and only[1].startswith("first,")
    run_id = listed[2].split(",")[1]  # the search in experiment "first": show, report, compare take it
    assert "best params" in invoke("show", run_id).output
    assert invoke("report", run_id).exit_code == 0
    assert run_id in invoke("compare", run_id, listed[1].split(",")[1]).output


def test_register_flags_override_the_file_both_ways(tiny, client):
    off = tiny(register={"enabled": False}, search={"max_evals": 2, "report": False})
    assert "registered; alias champion" in invoke("search", str(off), "--register", "--quiet").output
    on = tiny(file="on.yaml", search={"max_evals": 2, "report": False})
    assert "Not registered" in invoke("search", str(on), "--no-register", "--quiet").output
    assert "Not registered" in invoke("search", str(on), "--register-setting=false", "--quiet").output
    assert "registered; alias" in invoke("search", str(on), "--register-setting=", "--quiet").output


def test_the_parent_run_note_summarises_the_search_and_its_registration(tiny, client):
    path = tiny(search={"max_evals": 3})
    output = invoke("search", str(path), "--quiet").output
    run_id = output.split("Parent run: ")[1].split()[0]
    note = client.get_run(run_id).data.tags["mlflow.note.content"]
    best = client.get_run(client.get_run(run_id).data.tags["hpo.best_run_id"])
    assert "3 trials (3 ok, 0 failed)" in note and f"run `{best.info.run_id}`" in note
    for name, value in best.data.params.items():
        assert f"`{name}={value}`" in note
    assert "**Validation**: val_accuracy" in note and "val_log_loss" in note
    assert "**Test** (refit on train+validation): test_accuracy" in note
    assert "`tiny` version 1 (alias champion and challenger" in note
    assert "**Report**: artifact `report/index.html`" in note
    unregistered = tiny(file="quiet.yaml", search={"max_evals": 2, "report": False})
    output = invoke("search", str(unregistered), "--no-register", "--quiet").output
    run_id = output.split("Parent run: ")[1].split()[0]
    note = client.get_run(run_id).data.tags["mlflow.note.content"]
    assert f"not yet (`hpo register --run {run_id}`)" in note and f"none yet (`hpo report {run_id}`)" in note


def test_the_closing_line_says_where_the_wait_went_when_it_was_not_the_trials():
    from hpo_plugin.fronts.cli.search import where_the_time_went

    slow_start = {
        "preparing (data, the objective's imports)": 10.0,
        "the tracking store": 9.0,
        "trials": 20.0,
    }
    assert where_the_time_went(slow_start, 40.0) == (
        "starting (imports, the experiment file) 1.0 s, preparing (data, the objective's imports) 10.0 s, "
        "the tracking store 9.0 s, trials 20.0 s"
    )
    assert where_the_time_went({"preparing (data, the objective's imports)": 0.5, "trials": 60.0}, 61.0) == ""


def test_a_search_with_a_trial_timeout_from_the_command_line(write_yaml, client):
    result = invoke("search", str(write_yaml(TINY_XGB)), "--trial-timeout", "120", "--max-evals", "2")
    assert result.exit_code == 0, result.output
    (parent,) = [r for r in client.search_runs(["1"]) if r.data.tags.get("hpo.role") == "search"]
    assert (
        parent.data.params["search.trial_timeout"] == "120.0" and "2 trials (2 ok, 0 failed)" in result.output
    )
