"""One table of malformed inputs: each exits 2 with one line naming what to fix, no traceback,
no run left RUNNING, and loading a config never executes code."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import TINY_XGB, tiny_text

from hpo_plugin.fronts.cli import main

CSV_CASES = {
    "empty.csv": "",
    "one_class.csv": pd.DataFrame({"x": range(10), "y": [1] * 10}).to_csv(index=False),
    "all_nan.csv": pd.DataFrame({"x": [None] * 10, "z": range(10), "y": [0, 1] * 5}).to_csv(index=False),
    "no_target.csv": pd.DataFrame({"x": range(10), "label": [0, 1] * 5}).to_csv(index=False),
    "empty_target.csv": pd.DataFrame({"x": range(10), "z": range(10), "y": [None] * 10}).to_csv(index=False),
    "text_target.csv": pd.DataFrame({"x": range(10), "y": ["a", "b"] * 5}).to_csv(index=False),
}


def on_file(name: str, **data) -> str:
    return tiny_text(data={"dataset": None, "path": name, "target": "y", **data})


# (experiment YAML text or None for the default tiny one, extra CLI args, fragment of the one line)
CASES = [
    (tiny_text(search={"sed": 1}), [], "search.sed: unknown key 'sed'"),
    (tiny_text(model={"family": "svm"}), [], "model.family: unknown model family 'svm'"),
    (tiny_text(search={"algo": "bayes"}), [], "search.algo: unknown algorithm 'bayes'"),
    (tiny_text(model={"space": {"max_depth": {"uniform": [5, 1]}}}), [], "must be below high"),
    (tiny_text(model={"space": {"max_depth": {"gaussian": [0, 1]}}}), [], "give exactly one distribution"),
    (
        tiny_text(model={"space": {"max_dept": {"quniform": [2, 4, 1]}}}),
        [],
        "['max_dept'] are not parameters",
    ),
    (tiny_text(model={"params": {"n_estimator": 5}}), [], "['n_estimator'] are not parameters"),
    (tiny_text(search={"max_evals": -3}), [], "search.max_evals: Input should be greater than or equal to 1"),
    (tiny_text(search={"max_evals": "many"}), [], "search.max_evals: Input should be a valid integer"),
    (
        tiny_text(search={"pruning": {"method": "median", "forecast": "sometimes"}}),
        [],
        "search.pruning.forecast: Input should be a valid boolean",
    ),
    (tiny_text(search={"timeout": -1}), [], "search.timeout"),
    (tiny_text(data={"test_size": 1.5}), [], "data.test_size"),
    (tiny_text(objective={"validation": {"cv": 1}}), [], "objective.validation.cv"),
    (tiny_text(objective={"metric": "rmse"}), [], "rmse does not apply to a binary task"),
    (tiny_text(objective={"direction": "maximize"}), [], "set direction: minimize"),
    (tiny_text(search={"algo": "grid"}), [], "grid search needs only"),
    (tiny_text(models=[{"family": "xgboost"}]), [], "give exactly one of 'model'"),
    (tiny_text(data={"dataset": "titanic"}), [], "unknown dataset 'titanic'"),
    (tiny_text(executor="cluster"), [], "executor.name: unknown executor 'cluster'; choose one of: local,"),
    ("!!python/object/apply:os.system ['echo pwned']\n", [], "not valid YAML"),
    ("- just\n- a list\n", [], "must hold a mapping"),
    ("name: [unclosed\n", [], "not valid YAML"),
    (on_file("nope.csv"), [], "does not exist"),
    (on_file("data.xlsx"), [], "unsupported suffix"),
    (on_file("empty.csv"), [], "cannot read"),
    (on_file("one_class.csv"), [], "single class"),
    (on_file("all_nan.csv"), [], "hold no values at all"),
    (on_file("no_target.csv"), [], "column 'y' is not in"),
    (on_file("empty_target.csv"), [], "data.target: the target column 'y' holds no values"),
    (on_file("text_target.csv", task="regression"), [], "regression needs a numeric target"),
    (None, ["--max-evals", "0"], "option --max-evals"),
    (None, ["--max-evals", "2.5"], "is not a whole number"),
    (None, ["--seed", "-1"], "option --seed"),
    (None, ["--algo", "bayes"], "is not one of"),
    (None, ["--register-setting", "maybe"], "is not one of"),
    (None, ["--no-register", "--register-setting", "true"], "contradicts --no-register"),
    (None, ["--resume", "0" * 32], "no such run"),
]


@pytest.mark.parametrize(("text", "args", "fragment"), CASES, ids=[f"case{i:02d}" for i in range(len(CASES))])
def test_bad_input_is_one_line_and_leaves_nothing_running(tmp_path, client, text, args, fragment):
    for name, content in CSV_CASES.items():
        (tmp_path / name).write_text(content)
    path = tmp_path / "exp.yaml"
    path.write_text(text if text is not None else TINY_XGB)
    result = CliRunner().invoke(main, ["search", str(path), *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 or lines[0].startswith("Usage:"), result.output  # click's own usage errors
    running = [
        r
        for e in client.search_experiments()
        for r in client.search_runs([e.experiment_id])
        if r.info.status == "RUNNING"
    ]
    assert running == []
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["register", "--run", "0" * 32],
        ["promote", "nosuch", "1"],
        ["rollback", "nosuch"],
        ["show", "0" * 32],
        ["report", "0" * 32],
        ["compare", "0" * 32],
        ["list", "--experiment", "nope"],
    ],
)
def test_bad_run_ids_and_names_in_other_commands(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "hpo: error:" in result.output and "Traceback" not in result.output
