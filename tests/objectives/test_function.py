"""A user's function as the objective: how it is loaded, called and read."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from hpo_plugin.objectives import FunctionObjective, Trial, TrialFailed
from hpo_plugin.objectives.function import check_signature, load_function, read_result, takes_trial


def objective(spec: str, base_dir, maximize: bool = False, fn=None, dataset=None) -> FunctionObjective:
    return FunctionObjective(spec, str(base_dir), dataset, n_threads=1, maximize=maximize, fn=fn)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (0.5, (0.5, {}, None)),
        (3, (3.0, {}, None)),
        (
            {"loss": 0.25, "status": "ok", "accuracy": 0.9, "note": "x", "flag": True},
            (0.25, {"accuracy": 0.9}, None),
        ),
        ({"loss": 1.0, "model": "m"}, (1.0, {}, "m")),
    ],
)
def test_a_number_or_hyperopts_dict_is_read_as_loss_metrics_and_model(result, expected):
    assert read_result(result) == expected


@pytest.mark.parametrize(
    ("result", "fragment"),
    [
        ({"status": "fail", "error": "diverged"}, "diverged"),
        ({"status": "fail"}, "the function returned status 'fail'"),
        ({"accuracy": 0.9}, "the function's result has no 'loss'"),
        ("0.5", "the function returned str; return a number"),
        (None, "the function returned NoneType"),
        (math.nan, "the function returned nan"),
        ({"loss": math.inf}, "the function returned inf"),
    ],
)
def test_an_unusable_result_fails_the_trial_saying_why(result, fragment):
    with pytest.raises(TrialFailed, match=fragment):
        read_result(result)


def test_one_or_two_arguments_decide_whether_the_trial_handle_is_passed():
    assert takes_trial(lambda params, trial: 0) and takes_trial(lambda *args: 0)
    assert not takes_trial(lambda params: 0) and not takes_trial(lambda params, *, scale=1: 0)
    for bad in (lambda: 0, lambda a, b, c: 0, lambda params, *, scale: 0):
        with pytest.raises(ValueError, match="cannot be called as fn\\(params\\) or fn\\(params, trial\\)"):
            check_signature(bad, "f")
    with pytest.raises(ValueError, match="f is a int, not a function"):
        check_signature(3, "f")


def test_a_function_is_loaded_from_a_file_next_to_the_experiment_or_a_module(tmp_path):
    (tmp_path / "helper.py").write_text("OFFSET = 1.0\n")
    (tmp_path / "train.py").write_text(
        "from helper import OFFSET\n\ndef f(params):\n    return params['x'] + OFFSET\n"
    )
    fn = load_function("train.py:f", str(tmp_path))  # its own imports resolve as for a script
    assert fn({"x": 1.0}) == 2.0 and load_function("train.py:f", str(tmp_path)) is fn  # once per process
    assert load_function("math:sqrt", str(tmp_path))(4.0) == 2.0


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("train.py", "give 'file.py:name'"),
        ("nope.py:f", "nope.py does not exist; the file is relative to the experiment file"),
        ("train.py:missing", "train.py has no 'missing'"),
        ("broken.py:f", "broken.py failed to load: ZeroDivisionError"),
        ("no_such_module:f", "cannot import no_such_module"),
        ("train.py:NUMBER", "NUMBER is a int, not a function"),
    ],
)
def test_a_bad_function_spec_says_what_to_fix(tmp_path, spec, fragment):
    (tmp_path / "train.py").write_text("NUMBER = 3\n\ndef f(params):\n    return 0.0\n")
    (tmp_path / "broken.py").write_text("1 / 0\n")
    with pytest.raises(ValueError, match=fragment):
        load_function(spec, str(tmp_path))


def test_evaluate_passes_the_handle_and_keeps_what_it_logged(tmp_path):
    artifact = tmp_path / "notes.txt"
    artifact.write_text("hello")
    (tmp_path / "train.py").write_text(
        textwrap.dedent(
            f"""
            def f(params, trial):
                for step in range(3):
                    trial.log_metric("curve", params["x"] * step, step=step)
                trial.log_param("kind", "demo")
                trial.set_tag("owner", "me")
                trial.log_artifact({str(artifact)!r}, "extras")
                trial.log_model("the model")
                return {{"loss": params["x"], "accuracy": 0.5}}
            """
        )
    )
    outcome = objective("train.py:f", tmp_path).evaluate({"x": 2.0})
    assert (outcome.loss, outcome.metrics, outcome.model) == (2.0, {"accuracy": 0.5}, "the model")
    assert outcome.log.metrics == [("curve", 0.0, 0), ("curve", 2.0, 1), ("curve", 4.0, 2)]
    assert outcome.log.params == {"kind": "demo"} and outcome.log.tags == {"owner": "me"}
    ((copy, where),) = outcome.log.artifacts
    artifact.unlink()  # the function may delete its own file: the handle kept a copy
    assert Path(copy).read_text() == "hello" and where == "extras"


def test_maximize_negates_the_value_and_keeps_it_as_a_metric(tmp_path):
    outcome = objective(None, tmp_path, maximize=True, fn=lambda params: 0.75).evaluate({})
    assert outcome.loss == -0.75 and outcome.metrics == {"value": 0.75}


def test_the_handle_without_data_says_so():
    with pytest.raises(RuntimeError, match="this experiment has no 'data:' section"):
        Trial({}, None).train_and_validation()


def test_a_function_uses_mlflow_if_its_module_or_its_body_names_it(tmp_path):
    from hpo_plugin.objectives.trial_run import uses_mlflow

    (tmp_path / "a.py").write_text("import mlflow\n\ndef f(params):\n    return 0.0\n")
    (tmp_path / "b.py").write_text("from mlflow import log_metric\n\ndef f(params):\n    return 0.0\n")
    (tmp_path / "c.py").write_text("def f(params):\n    import mlflow.sklearn\n    return 0.0\n")
    (tmp_path / "d.py").write_text("import math\n\ndef f(params):\n    return math.sqrt(params['x'])\n")
    found = {name: uses_mlflow(load_function(f"{name}.py:f", str(tmp_path))) for name in "abcd"}
    assert found == {"a": True, "b": True, "c": True, "d": False}
