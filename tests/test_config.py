from __future__ import annotations

import pytest
from conftest import EXPERIMENTS, TINY_XGB

from hpo_plugin.errors import ConfigError
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.models.families import MODEL_FAMILIES

SHIPPED = sorted(EXPERIMENTS.glob("*.yaml"))


def test_at_least_the_five_required_experiments_ship():
    names = {p.stem for p in SHIPPED}
    assert {
        "xgboost_breast_cancer",
        "random_forest_wine",
        "logistic_regression_digits",
        "xgboost_diabetes",
        "model_selection_breast_cancer",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_experiments_validate(path):
    config = load_experiment(path)
    assert config.space, "every shipped experiment searches something"
    assert len(config.digest) == 16


def test_default_experiment_matches_the_spec():
    config = load_experiment(EXPERIMENTS / "xgboost_breast_cancer.yaml")
    assert (config.model.family, config.data.dataset) == ("xgboost", "breast_cancer")
    assert (config.search.algo, config.search.max_evals, config.search.seed) == ("gp", 30, 0)


def test_model_selection_is_a_choice_over_families_with_prefixed_labels():
    config = load_experiment(EXPERIMENTS / "model_selection_breast_cancer.yaml")
    (family,) = config.space
    assert family.name == "family"
    assert [o.value for o in family.options] == [m.name for m in config.models]  # in the file's order
    assert {o.value for o in family.options} >= {"xgboost", "lightgbm", "hist_gradient_boosting", "mlp"}
    assert family.options[0].space[0].label == "family=xgboost/max_depth"


def test_overrides_change_the_settings_and_the_digest(write_yaml):
    path = write_yaml(TINY_XGB)
    base = load_experiment(path)
    other = load_experiment(path, {"search.algo": "random", "search.max_evals": 7})
    assert (other.search.algo, other.search.max_evals) == ("random", 7)
    assert other.digest != base.digest


def test_gp_is_the_default_and_tpe_settings_alone_ask_for_tpe(write_yaml):
    plain = TINY_XGB.replace("search: {algo: tpe, max_evals: 4, seed: 0}", "search: {max_evals: 4}")
    assert load_experiment(write_yaml(plain)).search.algo == "gp"
    tuned = plain.replace("search: {max_evals: 4}", "search: {max_evals: 4, tpe: {gamma: 0.5}}")
    assert load_experiment(write_yaml(tuned)).search.algo == "tpe"
    both = plain.replace("search: {max_evals: 4}", "search: {algo: gp, tpe: {gamma: 0.5}}")
    with pytest.raises(ConfigError, match="'tpe' settings apply to algo: tpe, not gp"):
        load_experiment(write_yaml(both))


BAD_CONFIGS = [
    ("search: {algo: tpe, max_evals: 4, sed: 1}", "search.sed", "unknown key 'sed'"),
    ("search: {algo: tpee}", "search.algo", "choose one of: anneal, atpe, gp, grid, random, tpe"),
    ("search: {max_evals: -3}", "search.max_evals", "greater than or equal to 1"),
    ("search: {max_evals: lots}", "search.max_evals", "valid integer"),
    ("data: {dataset: titanic}", "data.dataset", "choose one of: breast_cancer"),
    ("data: {dataset: null, path: x.csv}", "data", "'path' needs 'target'"),
    ("data: {dataset: wine, path: x.csv, target: y}", "data", "exactly one of 'dataset'"),
    ("data: {dataset: wine, test_size: 1.5}", "data.test_size", "less than 1"),
    ("objective: {metric: auc}", "objective.metric", "choose one of: accuracy"),
    ("objective: {metric: log_loss, direction: maximize}", "objective", "set direction: minimize"),
    ("objective: {metric: rmse, validation: {holdout: 0.2, cv: 3}}", "objective.validation", "exactly one"),
    ("model: {family: svm}", "model.family", f"choose one of: {', '.join(sorted(MODEL_FAMILIES))}"),
    ("model: {family: xgboost, space: {max_depth: {uniform: [5, 1]}}}", "model.space", "max_depth.uniform"),
    (
        "model: {family: xgboost, params: {max_depth: 3}, space: {max_depth: {quniform: [2, 4, 1]}}}",
        "model",
        "appear in both",
    ),
    ("surprise: 1", "surprise", "unknown key 'surprise'"),
]


@pytest.mark.parametrize(("patch", "key", "fragment"), BAD_CONFIGS)
def test_bad_configs_name_file_key_and_fix(write_yaml, patch, key, fragment):
    import yaml

    raw = yaml.safe_load(TINY_XGB)
    for section, value in yaml.safe_load(patch).items():
        raw[section] = {**raw[section], **value} if isinstance(value, dict) and section in raw else value
    path = write_yaml(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}:"), message
    assert fragment in message
    assert "\n" not in message


def test_yaml_python_tags_are_rejected_without_executing(write_yaml, tmp_path):
    marker = tmp_path / "pwned"
    path = write_yaml(f"name: !!python/object/apply:os.system ['touch {marker}']\n" + TINY_XGB)
    with pytest.raises(ConfigError, match="yaml: not valid YAML"):
        load_experiment(path)
    assert not marker.exists()


def test_missing_file_and_non_mapping(write_yaml, tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_experiment(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_experiment(write_yaml("- a\n- b\n"))


def test_invalid_override_is_reported_as_the_option(write_yaml):
    with pytest.raises(ConfigError) as err:
        load_experiment(write_yaml(TINY_XGB), {"search.max_evals": 0})
    assert str(err.value).startswith("option --max-evals: search.max_evals:")


def test_an_experiment_can_be_a_mapping_with_an_hp_space_and_a_suggest_function():
    from hyperopt import hp, tpe

    config = load_experiment({"space": {"x": hp.uniform("x", 0, 1)}, "search": {"algo": tpe.suggest}})
    assert config.source == "" and config.name == "experiment" and config.search.algo_name == "tpe.suggest"
    assert config.search_space.expression is not None and [p.label for p in config.space] == ["x"]
    assert "x: uniform(0, 1)" in config.raw_text  # what the parent run keeps of it
    with pytest.raises(ConfigError, match=r"^search\.max_evals: Input should be greater than or equal to 1"):
        load_experiment({"space": {"x": hp.uniform("x", 0, 1)}, "search": {"max_evals": 0}})


@pytest.mark.parametrize(
    ("overrides", "read"),
    [
        ({"name": "renamed"}, lambda c: c.name == "renamed"),
        ({"search.algo": "tpe", "search.tpe.gamma": 0.5}, lambda c: c.search.tpe.gamma == 0.5),
        ({"model.params.n_estimators": 7}, lambda c: c.model.params["n_estimators"] == 7),
        ({"executor": "local"}, lambda c: c.executor.name == "local"),
    ],
)
def test_any_key_at_any_depth_can_be_overridden(write_yaml, overrides, read):
    assert read(load_experiment(write_yaml(TINY_XGB), overrides))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"search.max_evals.x": 1},
            r"search\.max_evals: is 4, not a mapping: cannot set search\.max_evals\.x",
        ),
        ({"search..x": 1}, r"search\.\.x: an override's key is dotted names"),
        ({"search.bogus": 1}, r"option --bogus: search\.bogus: unknown key 'bogus'"),
    ],
)
def test_a_bad_override_is_one_line_naming_the_key(write_yaml, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(write_yaml(TINY_XGB), overrides)
