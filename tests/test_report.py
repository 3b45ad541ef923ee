from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import QUIET

from hpo_plugin.fronts.cli import main
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.report import PLOTS, build_report, importance
from hpo_plugin.search import run_search
from hpo_plugin.tracking.schema import SearchTrials, load_trials


@pytest.fixture
def finished_search(tiny):
    return run_search(load_experiment(tiny(search={"max_evals": 8}, register={"model_name": "tiny-model"})))


def test_search_logs_a_report_with_every_plot_and_importance_metrics(finished_search, client, tmp_path):
    run_id = finished_search.parent_run_id
    paths = {a.path for a in client.list_artifacts(run_id, "report")}
    assert paths == {f"report/{name}.png" for name in PLOTS} | {"report/index.html"}
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="report", dst_path=str(tmp_path))
    page = (tmp_path / "report" / "index.html").read_text()
    for name in PLOTS:
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 1000
        assert f'alt="{name}"' in page and "data:image/png;base64," in page
    assert "max_depth" in page and "test_log_loss" in page
    metrics = client.get_run(run_id).data.metrics
    assert {"importance_max_depth", "importance_learning_rate"} <= set(metrics)
    assert sum(metrics[k] for k in metrics if k.startswith("importance_")) == pytest.approx(1.0)
    assert local


def test_importance_ranks_the_param_that_drives_the_loss_first():
    rng = np.random.default_rng(0)
    n = 60
    x, noise, kind = rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.choice(["a", "b"], n)
    frame = pd.DataFrame(
        {
            "number": range(n),
            "status": "FINISHED",
            "loss": (x - 0.3) ** 2 + rng.normal(0, 0.001, n),
            "param_x": x,
            "param_noise": noise,
            "param_kind": kind,
        }
    )
    scores = importance(SearchTrials(None, frame, ("kind", "noise", "x")))
    assert max(scores, key=scores.get) == "x"
    assert scores["x"] > 3 * max(scores["noise"], scores["kind"])


def test_report_handles_failed_trials_and_too_few_trials(tmp_path):
    frame = pd.DataFrame(
        {
            "number": [1, 2, 3],
            "status": ["FINISHED", "FAILED", "FINISHED"],
            "loss": [0.3, np.nan, 0.2],
            "param_x": [1.0, 2.0, 3.0],
        }
    )

    class Parent:
        class info:
            run_id, run_name = "r", "search-x"

        class data:
            params, metrics, tags = {"best.x": "3.0"}, {"test_log_loss": 0.2}, {}

    scores = build_report(SearchTrials(Parent, frame, ("x",)), tmp_path)
    assert scores == {}
    assert all((tmp_path / f"{name}.png").stat().st_size > 0 for name in PLOTS)


def invoke(*args):
    result = CliRunner().invoke(main, list(args))
    return result


def test_list_show_compare_and_report_commands(finished_search, client):
    run_id = finished_search.parent_run_id
    for fmt in ("table", "csv", "json"):
        result = invoke("list", "--experiment", "tiny", "--format", fmt)
        assert result.exit_code == 0 and run_id in result.output
    rows = json.loads(invoke("list", "--experiment", "tiny", "--format", "json").output)
    assert rows[0]["algo"] == "tpe" and rows[0]["metric"] == "log_loss" and rows[0]["status"] == "FINISHED"
    shown = json.loads(invoke("show", run_id, "--top", "3", "--format", "json").output)
    assert len(shown["top_trials"]) == 3
    assert shown["top_trials"][0]["loss"] == pytest.approx(finished_search.best.loss)
    # run_search registers as `hpo search` does: the first version is the champion
    assert shown["registered"] == ["tiny-model v1 (challenger, champion)"]
    table = invoke("show", run_id).output
    assert "best params" in table and "tiny-model v1" in table
    csv_out = invoke("show", run_id, "--format", "csv").output
    assert csv_out.splitlines()[0].startswith("number,status,loss,run_id")
    report = invoke("report", run_id)
    assert report.exit_code == 0 and "importance:" in report.output
    other = run_search(load_experiment(finished_search_path(client, run_id), {"search.seed": 1}))
    compared = json.loads(invoke("compare", run_id, other.parent_run_id, "--format", "json").output)
    assert compared[run_id]["search.seed"] == "0" and compared[other.parent_run_id]["search.seed"] == "1"


def finished_search_path(client, run_id):
    return client.get_run(run_id).data.tags["hpo.experiment_file"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["show", "f" * 32], "no such run in this tracking store"),
        (["report", "f" * 32], "no such run in this tracking store"),
        (["list", "--experiment", "nope"], "no MLflow experiment named 'nope'"),
        (["list", "--format", "xml"], "'xml' is not one of"),
    ],
)
def test_inspection_errors_are_one_line(args, fragment):
    result = invoke(*args)
    assert result.exit_code == 2 and fragment in result.output and "Traceback" not in result.output


def test_show_rejects_a_run_that_is_not_a_search(client):
    with mlflow.start_run() as run:
        pass
    result = invoke("show", run.info.run_id)
    assert result.exit_code == 2 and "not a search parent run" in result.output


def test_progress_bar_reports_trials_and_best_loss(tiny, capfd):
    run_search(load_experiment(tiny(search=QUIET)), progress=True)
    shown = "".join(capfd.readouterr())  # hyperopt's tqdm bar
    assert "4/4" in shown and "best loss" in shown


def test_log_uniform_params_get_log_axes_and_importance_is_sorted(finished_search, client):
    from hpo_plugin.report import _parallel, _params, log_params

    trials = load_trials(client, finished_search.parent_run_id)
    assert log_params(trials) == {"learning_rate"}  # loguniform; max_depth is quniform
    figure = _params(trials)
    scales = {ax.get_title(): ax.get_xscale() for ax in figure.axes if ax.get_title()}
    assert scales == {"learning_rate": "log", "max_depth": "linear"}
    ticks = [t.get_text() for t in _parallel(trials).axes[0].get_xticklabels()]
    assert ticks == ["learning_rate (log)", "max_depth"]
    scores = importance(trials)
    assert list(scores.values()) == sorted(scores.values(), reverse=True)
    page = client.download_artifacts(finished_search.parent_run_id, "report/index.html")
    text = Path(page).read_text()
    section = text.split("<h2>Importance</h2>")[1].split("<h2>")[0]
    first = max(scores, key=scores.get)
    assert section.index(first) < min(section.index(n) for n in scores if n != first)
