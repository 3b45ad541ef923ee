"""hyperopt's own API, tracked: MlflowTrials in hyperopt's fmin, hpo_plugin.fmin, gp.suggest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import hyperopt
import mlflow
import numpy as np
import pytest
from conftest import children_of
from hyperopt import STATUS_OK, Trials, hp, space_eval, tpe
from hyperopt.early_stop import no_progress_loss
from hyperopt.pyll import scope

import hpo_plugin
from hpo_plugin import MlflowTrials, current_trial, fmin
from hpo_plugin.errors import ConfigError

SPACE = {
    "kind": hp.choice(
        "kind",
        [
            {"name": "quad", "scale": hp.uniform("scale", 0.5, 2.0)},
            {"name": "abs", "offset": hp.normal("offset", 0, 1)},
        ],
    ),
    "x": hp.uniform("x", -2, 2),
    "steps": scope.int(hp.quniform("steps", 1, 4, 1)),
    "mode": hp.choice("mode", ["fast", None]),
    "weight": hp.pchoice("weight", [(0.3, 1.0), (0.7, 2.0)]),
    "tiny": hp.lognormal("tiny", 0, 0.5),
    "lr": hp.qloguniform("lr", -3, 0, 0.01),
    "version": 2,
}


def loss_of(point) -> float:
    kind = point["kind"]
    value = kind["scale"] * point["x"] ** 2 if kind["name"] == "quad" else abs(point["x"] - kind["offset"])
    return value + 0.01 * point["steps"] + (0.1 if point["mode"] is None else 0.0)


def trial_runs(client, parent_id):
    return sorted(children_of(client, client.get_run(parent_id)), key=lambda r: r.info.run_name)


def test_mlflow_trials_in_hyperopts_own_fmin_track_every_evaluation(client):
    seen = []

    def objective(point):
        seen.append(point)
        return {"loss": loss_of(point), "status": STATUS_OK, "x_squared": point["x"] ** 2, "note": "text"}

    trials = MlflowTrials(experiment_name="drop-in", run_name="my-search")
    best = hyperopt.fmin(
        objective, SPACE, algo=tpe.suggest, max_evals=6, trials=trials, rstate=np.random.default_rng(3)
    )
    # What hyperopt's own Trials offer, after the search
    assert len(trials.trials) == 6 and len(trials.results) == 6 and len(trials.losses()) == 6
    assert best == trials.argmin and trials.best_trial["result"]["loss"] == min(trials.losses())
    assert space_eval(SPACE, best)["version"] == 2
    for doc, point in zip(trials.trials, seen, strict=True):  # the objective got space_eval's point
        assert space_eval(SPACE, {k: v[0] for k, v in doc["misc"]["vals"].items() if v}) == point
    # ... and in MLflow: one parent, one child per evaluation, in the named experiment
    experiment = client.get_experiment_by_name("drop-in")
    parent = client.get_run(trials.parent_run_id)
    assert parent.info.run_name == "my-search" and parent.info.status == "FINISHED"
    assert parent.info.experiment_id == experiment.experiment_id
    assert parent.data.params["search.algo"] == "tpe.suggest"
    runs = trial_runs(client, trials.parent_run_id)
    assert len(runs) == 6 and {r.info.status for r in runs} == {"FINISHED"}
    assert len(client.search_runs([experiment.experiment_id])) == 7
    for run, point in zip(runs, seen, strict=True):
        params = run.data.params
        assert params["kind.name"] == point["kind"]["name"] and params["mode"] == str(point["mode"])
        assert params["steps"] == str(point["steps"]) and params["version"] == "2"
        assert run.data.metrics["x_squared"] == pytest.approx(point["x"] ** 2)
        assert run.data.metrics["loss"] == pytest.approx(loss_of(point))
    assert trials.results[0]["run_id"] == runs[0].info.run_id  # each result names its run


def test_fmin_with_an_active_run_makes_it_the_parent_and_returns_the_point(client):
    mlflow.set_experiment("mine")
    with mlflow.start_run(run_name="outer") as outer:
        point = fmin(lambda p: loss_of(p), SPACE, max_evals=4, return_argmin=False, show_progressbar=False)
        mlflow.log_metric("after", 1.0)  # the user's run is still theirs to log to
    assert {"kind", "x", "steps", "mode", "version"} <= set(point) and point["version"] == 2
    parent = client.get_run(outer.info.run_id)
    assert parent.data.tags["hpo.role"] == "search" and parent.info.run_name == "outer"
    assert parent.data.params["search.algo"] == "gp" and parent.data.metrics["after"] == 1.0
    assert len(trial_runs(client, outer.info.run_id)) == 4


def test_the_objectives_own_nested_runs_and_models_land_in_its_trial(client):
    from sklearn.linear_model import LogisticRegression

    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2

    def objective(params):
        with mlflow.start_run(nested=True, tags={"mine": "yes"}):
            mlflow.log_params({"C_given": params["C"]})
            model = LogisticRegression(C=params["C"]).fit(X, y)
            mlflow.log_metric("train_acc", model.score(X, y))
            mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle")
        return 1.0 / params["C"]

    trials = MlflowTrials(experiment_name="own", register="own-model")
    fmin(objective, {"C": hp.loguniform("C", -2, 2)}, max_evals=3, trials=trials, show_progressbar=False)
    experiment = client.get_experiment_by_name("own")
    assert len(client.search_runs([experiment.experiment_id])) == 4  # no run of the objective's own
    assert client.get_experiment_by_name("Default") is None or not client.search_runs(["0"])
    runs = trial_runs(client, trials.parent_run_id)
    for run in runs:
        assert run.data.tags["mine"] == "yes" and "train_acc" in run.data.metrics
        assert float(run.data.params["C_given"]) == pytest.approx(float(run.data.params["C"]))
        assert len(run.outputs.model_outputs) == 1  # the user's model, logged once
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert len(models) == 3  # one per trial, none elsewhere
    best = min(runs, key=lambda r: r.data.metrics["loss"])
    version = client.get_model_version_by_alias("own-model", "champion")
    assert version.source == f"models:/{best.outputs.model_outputs[0].model_id}"
    assert trials.result.registration.promoted


def test_results_extras_attachments_and_failures(client):
    def objective(point):
        if point["x"] > 1.5:
            return {"status": "fail", "error": "too big"}
        return {
            "loss": point["x"] ** 2,
            "status": STATUS_OK,
            "attachments": {"notes.txt": "hello", "raw": b"\x00"},
        }

    trials = MlflowTrials()
    fmin(objective, {"x": hp.uniform("x", 0, 2)}, max_evals=8, trials=trials, show_progressbar=False)
    runs = trial_runs(client, trials.parent_run_id)
    failed = [r for r in runs if r.info.status == "FAILED"]
    ok = [r for r in runs if r.info.status == "FINISHED"]
    assert failed and ok and all("too big" in r.data.tags["hpo.error"] for r in failed)
    paths = {a.path for a in client.list_artifacts(ok[0].info.run_id, "attachments")}
    assert paths == {"attachments/notes.txt", "attachments/raw"}
    assert [r["status"] for r in trials.results].count("fail") == len(failed)


@pytest.mark.slow
def test_parallel_workers_run_an_objective_defined_in_main_and_resume_continues(tmp_path, client):
    """The issue's script: objective in __main__ with its own nested run and log_model, a choice
    including None, parallelism=2, register=, gp.suggest; resumed from another process."""
    script = tmp_path / "search.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import mlflow
            import numpy as np
            from hyperopt import hp
            from sklearn.linear_model import LogisticRegression
            import hpo_plugin
            from hpo_plugin import MlflowTrials, fmin

            X, y = np.random.default_rng(0).normal(size=(60, 3)), np.arange(60) % 2

            def objective(params):
                with mlflow.start_run(nested=True):
                    mlflow.log_params(params)
                    model = LogisticRegression(C=params["C"], class_weight=params["weight"]).fit(X, y)
                    mlflow.log_metric("train_acc", model.score(X, y))
                    mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle")
                return 1 - model.score(X, y) + 0.01 / params["C"]

            space = {"C": hp.loguniform("C", -3, 3), "weight": hp.choice("weight", [None, "balanced"])}
            trials = MlflowTrials(
                parallelism=2, register="script-model", resume=sys.argv[2] or None, experiment_name="script"
            )
            budget = int(sys.argv[1])
            fmin(objective, space, algo=hpo_plugin.gp.suggest, max_evals=budget, trials=trials)
            print("PARENT", trials.parent_run_id, len(trials.trials))
            """
        )
    )
    first = subprocess.run([sys.executable, str(script), "4", ""], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    parent_id = first.stdout.split("PARENT")[1].split()[0]
    again = subprocess.run([sys.executable, str(script), "7", parent_id], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.split()[-1] == "7"  # the trials read back, and the new ones
    experiment = client.get_experiment_by_name("script")
    assert len(client.search_runs([experiment.experiment_id])) == 8  # one parent, 7 trials
    runs = trial_runs(client, parent_id)
    assert [r.info.run_name for r in runs] == [f"trial-{n:03d}" for n in range(1, 8)]
    for run in runs:
        assert run.info.status == "FINISHED" and "train_acc" in run.data.metrics
        assert len(run.outputs.model_outputs) == 1
    assert {r.data.params["weight"] for r in runs} <= {"None", "balanced"}
    assert len(client.search_logged_models(experiment_ids=[experiment.experiment_id])) == 7
    best = min(runs, key=lambda r: r.data.metrics["loss"])
    final = client.get_run(parent_id).data.tags["hpo.final_model_id"]
    assert final == best.outputs.model_outputs[0].model_id  # the best trial's own model
    # The first run registered its best as champion; the continued search's final model is the
    # challenger (a function's model has no held-out score to beat the champion with).
    assert str(client.get_model_version_by_alias("script-model", "champion").version) == "1"
    assert client.get_model_version_by_alias("script-model", "challenger").source == f"models:/{final}"


def test_current_trial_reports_steps_and_the_pruner_stops_bad_trials(client):
    def objective(point):
        trial = current_trial()
        for step in range(1, 6):
            trial.report(step, point["x"] * step)
            if trial.should_prune():
                raise hpo_plugin.TrialPruned()
        return point["x"] * 5

    trials = MlflowTrials(pruning={"method": "median", "min_trials": 2, "warmup_steps": 1, "report_every": 1})
    fmin(objective, {"x": hp.uniform("x", 0, 1)}, algo=tpe.suggest, max_evals=12, trials=trials)
    runs = trial_runs(client, trials.parent_run_id)
    assert any("hpo.pruned" in r.data.tags for r in runs)
    assert trials.result.n_pruned > 0
    with pytest.raises(RuntimeError, match="only available while a trial"):
        current_trial()


def test_stop_rules_timeout_loss_threshold_and_early_stop_fn(client):
    trials = MlflowTrials()
    fmin(
        lambda p: 1.0,
        {"x": hp.uniform("x", 0, 1)},
        max_evals=50,
        trials=trials,
        early_stop_fn=no_progress_loss(3),
    )
    assert 3 <= len(trials.trials) <= 5  # hyperopt's rule stopped it, far before max_evals
    trials = MlflowTrials()
    fmin(lambda p: p["x"], {"x": hp.uniform("x", 0, 1)}, max_evals=50, trials=trials, loss_threshold=0.5)
    assert min(trials.losses()) < 0.5 and len(trials.trials) < 50
    trials = MlflowTrials()
    fmin(
        lambda p: time.sleep(0.3) or p["x"],
        {"x": hp.uniform("x", 0, 1)},
        max_evals=50,
        trials=trials,
        timeout=1,
    )
    assert 1 <= len(trials.trials) < 10


def test_calling_fmin_again_with_the_same_trials_continues_the_search(client):
    trials = MlflowTrials()
    fmin(
        lambda p: p["x"] ** 2,
        {"x": hp.uniform("x", -1, 1)},
        max_evals=3,
        trials=trials,
        show_progressbar=False,
    )
    first = trials.parent_run_id
    fmin(
        lambda p: p["x"] ** 2,
        {"x": hp.uniform("x", -1, 1)},
        max_evals=5,
        trials=trials,
        show_progressbar=False,
    )
    assert trials.parent_run_id == first and len(trials.trials) == 5
    assert len(trial_runs(client, first)) == 5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fmin(lambda p: 0.0, {"x": hp.uniform("x", 0, 1)}, trials=MlflowTrials()), "give max_evals"),
        (
            lambda: fmin(
                lambda p: 0.0, {"x": hp.uniform("x", 0, 1)}, max_evals=2, trials=Trials(), register="m"
            ),
            "MlflowTrials",
        ),
        (
            lambda: fmin(lambda p: 0.0, {"x": hp.uniform("x", 0, hp.uniform("y", 1, 2))}, max_evals=2),
            r"space: x: its arguments must be constants",
        ),
        (
            lambda: fmin(lambda p: 0.0, {"x": hp.uniform("x", 0, 1)}, max_evals=2, parallelism=0),
            r"executor\.parallelism",
        ),
    ],
)
def test_bad_input_is_one_clear_error_before_any_run(client, call, message):
    with pytest.raises((ValueError, TypeError, ConfigError), match=message):
        call()
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


def test_gp_suggest_is_a_hyperopt_algo_for_any_trials():
    def search() -> Trials:
        trials = Trials()
        rstate = np.random.default_rng(0)
        hyperopt.fmin(loss_of, SPACE, algo=hpo_plugin.gp.suggest, max_evals=20, trials=trials, rstate=rstate)
        return trials

    trials = search()
    assert len(trials.trials) == 20 and set(trials.argmin) >= {"kind", "x", "steps"}
    assert search().losses() == trials.losses()  # seeded by hyperopt's loop: reproducible
    assert min(trials.losses()) < np.median(trials.losses()[:5])


def test_a_search_records_its_vals_for_resume(client):
    trials = MlflowTrials()
    fmin(loss_of, SPACE, max_evals=3, trials=trials, show_progressbar=False)
    for run, doc in zip(trial_runs(client, trials.parent_run_id), trials.trials, strict=True):
        vals = {k: v[0] for k, v in doc["misc"]["vals"].items() if v}
        assert json.loads(run.data.tags["hpo.vals"]) == pytest.approx(vals)


def test_an_fmin_search_reads_like_any_other_in_the_cli(client):
    from click.testing import CliRunner

    from hpo_plugin.fronts.cli import main

    trials = MlflowTrials(experiment_name="views")
    fmin(loss_of, SPACE, max_evals=6, trials=trials, show_progressbar=False)
    runner = CliRunner()
    listed = runner.invoke(main, ["list", "--experiment", "views", "--format", "json"])
    assert listed.exit_code == 0 and json.loads(listed.output)[0]["algo"] == "gp"
    shown = json.loads(runner.invoke(main, ["show", trials.parent_run_id, "--format", "json"]).output)
    assert shown["top_trials"][0]["loss"] == pytest.approx(min(trials.losses()))
    assert {"kind.name", "x", "steps"} <= set(shown["top_trials"][0])
    report = runner.invoke(main, ["report", trials.parent_run_id])
    assert report.exit_code == 0, report.output
    assert {a.path for a in client.list_artifacts(trials.parent_run_id)} >= {"report", "trials.csv"}


@pytest.mark.slow
def test_spark_executes_an_fmin_search(client):
    pytest.importorskip("pyspark")
    trials = MlflowTrials(executor="spark", spark_master="local[2]", parallelism=2)
    fmin(loss_of, SPACE, max_evals=4, trials=trials, show_progressbar=False)
    runs = trial_runs(client, trials.parent_run_id)
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    assert client.get_run(trials.parent_run_id).data.params["search.executor"] == "spark"


def test_mlflow_calls_in_a_module_the_objective_calls_land_in_its_trial(tmp_path, monkeypatch, client):
    (tmp_path / "deep_helper.py").write_text(
        "import mlflow\n\n\ndef train(params):\n"
        "    with mlflow.start_run(nested=True):\n"
        "        mlflow.log_metric('deep', params['x'])\n"
        "    return params['x'] ** 2\n"
    )
    (tmp_path / "deep_plain.py").write_text(
        "from deep_helper import train\n\n\ndef objective(params):\n    return train(params)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import deep_plain  # its module has no MLflow: only the helper it calls does

        trials = MlflowTrials(experiment_name="deep")
        fmin(
            deep_plain.objective,
            {"x": hp.uniform("x", 0, 1)},
            max_evals=3,
            trials=trials,
            show_progressbar=False,
        )
    finally:  # other tests write modules of their own names
        for name in ("deep_plain", "deep_helper"):
            sys.modules.pop(name, None)
    experiment = client.get_experiment_by_name("deep")
    assert len(client.search_runs([experiment.experiment_id])) == 4
    assert all("deep" in r.data.metrics for r in trial_runs(client, trials.parent_run_id))


@pytest.mark.slow
def test_sigterm_keeps_the_finished_trials_and_resume_runs_the_rest(tmp_path, client):
    import signal

    script = tmp_path / "slow.py"
    script.write_text(
        "import sys, time\nfrom hyperopt import hp\nfrom hpo_plugin import MlflowTrials, fmin\n\n"
        "def objective(params):\n    time.sleep(0.4)\n    return params['x']\n\n"
        "trials = MlflowTrials(resume=sys.argv[1] or None, experiment_name='signals')\n"
        "fmin(objective, {'x': hp.uniform('x', 0, 1)}, max_evals=12, trials=trials, show_progressbar=False)\n"
        "print('DONE', len(trials.trials))\n"
    )
    proc = subprocess.Popen([sys.executable, str(script), ""], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # signalled once a few trials are done
        experiment = client.get_experiment_by_name("signals")
        runs = client.search_runs([experiment.experiment_id]) if experiment else []
        if sum(r.info.status == "FINISHED" for r in runs) >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "resume='" in stderr, stderr[-2000:]
    parent_id = stderr.split("resume='")[1].split("'")[0]
    assert client.get_run(parent_id).info.status == "KILLED"
    kept = [r for r in trial_runs(client, parent_id) if r.info.status == "FINISHED"]
    assert len(kept) >= 3 and all("loss" in r.data.metrics for r in kept)
    done = subprocess.run(
        [sys.executable, str(script), parent_id], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "DONE 12" in done.stdout, done.stderr[-2000:]
    finished = [r for r in trial_runs(client, parent_id) if r.info.status == "FINISHED"]
    assert len(finished) == 12 and client.get_run(parent_id).info.status == "FINISHED"


def test_fmin_takes_hyperopts_arguments_in_its_order_and_points_to_evaluate_come_first(client):
    import inspect

    ours = list(inspect.signature(fmin).parameters)
    theirs = list(inspect.signature(hyperopt.fmin).parameters)
    assert ours[: len(theirs)] == theirs and ours[len(theirs) :] == ["options"]
    trials = MlflowTrials()
    points = [{"x": 0.125, "kind": 1}, {"x": -0.5, "kind": 0}]
    fmin(
        lambda p: p["x"] ** 2,
        {"x": hp.uniform("x", -1, 1), "kind": hp.choice("kind", ["a", "b"])},
        max_evals=4,
        trials=trials,
        points_to_evaluate=points,
        verbose=False,
        show_progressbar=False,
    )
    runs = trial_runs(client, trials.parent_run_id)
    assert [(r.data.params["x"], r.data.params["kind"]) for r in runs[:2]] == [("0.125", "b"), ("-0.5", "a")]


def test_an_objective_refused_while_preparing_leaves_no_run(client):
    import threading

    lock = threading.Lock()

    def holds_a_lock(params):
        with lock:
            return params["x"]

    with pytest.raises(ConfigError, match=r"executor\.name: local workers get the function by value"):
        fmin(holds_a_lock, {"x": hp.uniform("x", 0, 1)}, max_evals=2, parallelism=2)
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


class Model:  # a class as a choice's option, as spaces of estimators have
    pass


def test_real_script_habits_each_work(client):
    """end_run in the objective, classes and functions in the space, a label two branches share,
    a second parameter with a default, a bare expression as the space."""
    shared = hp.uniform("shared", 0, 1)
    space = {
        "cls": hp.choice("cls", [Model, None]),
        "transform": hp.choice("transform", [abs, round]),
        "branch": hp.choice(
            "branch", [{"t": "a", "s": shared}, {"t": "b", "s": shared, "k": hp.uniform("k", 0, 1)}]
        ),
    }

    def objective(point, verbose=False):
        assert verbose is False  # hyperopt calls fn(point): the default stays
        mlflow.start_run(nested=True)
        mlflow.log_metric("s", point["branch"]["s"])
        mlflow.end_run()  # ends nothing of the search's, nor the caller's run
        return point["transform"](point["branch"]["s"])

    with mlflow.start_run() as outer:
        trials = MlflowTrials()
        fmin(objective, space, max_evals=8, trials=trials, show_progressbar=False)
        assert mlflow.active_run().info.run_id == outer.info.run_id
        fmin(lambda x: x, hp.uniform("x", 0, 1) * 2, max_evals=2, trials=(again := MlflowTrials()))
    runs = [r for r in trial_runs(client, outer.info.run_id) if r.data.tags["hpo.role"] == "trial"]
    assert len(runs) == 8 and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.params["cls"] for r in runs} <= {str(Model), "None"} and all(
        "s" in r.data.metrics for r in runs
    )
    assert client.get_run(outer.info.run_id).data.params["space.cls"] == "choice(Model, None)"
    # the second fmin in the same block: a parent of its own under the finished search
    second = client.get_run(again.parent_run_id)
    assert second.data.tags["mlflow.parentRunId"] == outer.info.run_id
    assert {r.data.params["value"] for r in trial_runs(client, again.parent_run_id)} != set()


def test_unbounded_max_evals_with_a_timeout_and_repeated_fmin_calls(client):
    trials = MlflowTrials()
    hyperopt.fmin(lambda p: time.sleep(0.2) or p, hp.uniform("x", 0, 1), trials=trials, timeout=1)
    assert 1 <= len(trials.trials) < 20
    done = len(trials.trials)
    best = fmin(lambda p: p, hp.uniform("x", 0, 1), max_evals=done, trials=trials)  # as hyperopt: a no-op
    assert best == trials.argmin and len(trial_runs(client, trials.parent_run_id)) == done


def test_resumed_trials_keep_distinct_ids(client):
    trials = MlflowTrials()
    fmin(lambda p: p, hp.uniform("x", 0, 1), max_evals=3, trials=trials, show_progressbar=False)
    again = MlflowTrials(resume=trials.parent_run_id)
    fmin(lambda p: p, hp.uniform("x", 0, 1), max_evals=5, trials=again, show_progressbar=False)
    assert sorted(again.tids) == [0, 1, 2, 3, 4]


def test_an_interrupted_fmin_is_a_keyboard_interrupt_naming_the_resume(client):
    def objective(point):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C

    with pytest.raises(KeyboardInterrupt, match=r"resume='\w+'"):
        fmin(objective, hp.uniform("x", 0, 1), max_evals=3, show_progressbar=False)


def test_a_param_name_mlflow_rejects_is_logged_under_a_name_it_accepts(client):
    trials = MlflowTrials()
    fmin(lambda p: p["lr (log)"], {"lr (log)": hp.uniform("lr", 0, 1)}, max_evals=2, trials=trials)
    runs = trial_runs(client, trials.parent_run_id)
    assert {r.info.status for r in runs} == {"FINISHED"} and all("lr :log:" in r.data.params for r in runs)


def _hangs_below(point):
    if point < 0.15:
        time.sleep(3600)
    return point


def test_fmin_takes_a_trial_timeout_and_the_search_goes_on(client):
    trials = MlflowTrials(trial_timeout=2)
    best = fmin(
        _hangs_below,
        hp.uniform("x", 0.2, 1),
        max_evals=3,
        trials=trials,
        points_to_evaluate=[{"x": 0.1}],
        show_progressbar=False,
    )
    assert best["x"] >= 0.2 and len(trials.trials) == 3
    failed = [r for r in trials.results if r["status"] == "fail"]
    assert [r["error"] for r in failed] == ["timed out after 2 s"]
    run = client.get_run(failed[0]["run_id"])
    assert run.info.status == "FAILED" and run.data.params["value"] == "0.1"
