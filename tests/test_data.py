from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hpo_plugin.config import DataConfig, ValidationConfig
from hpo_plugin.data import infer_task, prepare
from hpo_plugin.errors import DataError

HOLDOUT = ValidationConfig(holdout=0.25)


def churn_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A small table like real ones: string categoricals, missing values, string labels."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], n)
    usage = rng.gamma(2.0, 10.0, n)
    tenure = rng.integers(1, 60, n).astype(float)
    churn = np.where((plan == "basic") & (usage < 20) | (tenure < 6), "yes", "no")
    frame = pd.DataFrame(
        {"plan": plan, "usage": usage, "tenure": tenure, "region": rng.choice(["n", "s"], n)}
    )
    frame.loc[rng.random(n) < 0.1, "usage"] = np.nan
    frame.loc[rng.random(n) < 0.1, "plan"] = None
    frame["churn"] = churn
    return frame


@pytest.fixture
def churn_csv(tmp_path):
    path = tmp_path / "churn.csv"
    churn_frame().to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("name", "task", "n_classes"),
    [
        ("breast_cancer", "binary", 2),
        ("wine", "multiclass", 3),
        ("digits", "multiclass", 10),
        ("diabetes", "regression", 0),
        ("iris", "multiclass", 3),
    ],
)
def test_bundled_datasets_infer_their_task(tmp_path, name, task, n_classes):
    data = prepare(DataConfig(dataset=name), HOLDOUT, tmp_path)
    assert (data.task, data.n_classes) == (task, n_classes)
    assert len(data.X_search) + len(data.X_test) == len(data.frame)


def test_test_split_is_disjoint_stratified_and_seeded(tmp_path):
    a = prepare(DataConfig(dataset="breast_cancer", test_size=0.2), HOLDOUT, tmp_path)
    b = prepare(DataConfig(dataset="breast_cancer", test_size=0.2), HOLDOUT, tmp_path)
    assert a.X_test.equals(b.X_test)
    assert len(a.X_test) == round(0.2 * len(a.frame))
    assert abs(a.y_test.mean() - a.y_search.mean()) < 0.02
    ((train, val),) = a.folds
    assert not set(train) & set(val) and len(train) + len(val) == len(a.X_search)


def test_cv_folds_are_stratified_and_cover_the_search_data(tmp_path):
    data = prepare(DataConfig(dataset="wine"), ValidationConfig(cv=4), tmp_path)
    assert len(data.folds) == 4
    assert sorted(np.concatenate([val for _, val in data.folds])) == list(range(len(data.X_search)))


def test_csv_with_categoricals_missing_values_and_string_labels(churn_csv):
    data = prepare(DataConfig(path=churn_csv.name, target="churn"), HOLDOUT, churn_csv.parent)
    assert data.task == "binary"
    assert data.classes == ("no", "yes")
    assert set(data.categorical) == {"plan", "region"}
    assert data.X_search["usage"].isna().any()


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0.5, 1.5, 2.25, 3.0] * 5, "regression"),
        ([1, 2, 3] * 5, "multiclass"),
        (["a", "b"] * 5, "binary"),
        (list(range(100)), "regression"),
        ([True, False] * 4, "binary"),
    ],
)
def test_task_inference(values, task):
    assert infer_task(pd.Series(values)) == task


@pytest.mark.parametrize(
    ("frame", "config", "fragment"),
    [
        (pd.DataFrame({"x": [1.0] * 10, "y": [1] * 10}), {"target": "y"}, "single class"),
        (
            pd.DataFrame({"x": [np.nan] * 10, "z": range(10), "y": [0, 1] * 5}),
            {"target": "y"},
            "['x'] hold no values at all",
        ),
        (pd.DataFrame({"x": range(10), "y": [0, 1] * 5}), {"target": "label"}, "column 'label' is not in"),
        (
            pd.DataFrame({"x": range(10), "y": ["a", "b"] * 5}),
            {"target": "y", "task": "regression"},
            "regression needs a numeric target",
        ),
        (
            pd.DataFrame({"x": range(9), "y": [0, 1, 2] * 3}),
            {"target": "y", "task": "binary"},
            "has 3 classes",
        ),
        (pd.DataFrame({"x": range(10), "y": [0] * 9 + [1]}), {"target": "y"}, "fewer than 2 rows"),
    ],
)
def test_bad_data_gives_one_line_errors(tmp_path, frame, config, fragment):
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        prepare(DataConfig(path=path.name, **config), HOLDOUT, tmp_path)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_empty_missing_and_unsupported_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="cannot read"):
        prepare(DataConfig(path="empty.csv", target="y"), HOLDOUT, tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        prepare(DataConfig(path="nope.csv", target="y"), HOLDOUT, tmp_path)
    with pytest.raises(DataError, match="unsupported suffix"):
        prepare(DataConfig(path="data.xlsx", target="y"), HOLDOUT, tmp_path)


def test_parquet_files_are_read(tmp_path):
    churn_frame().to_parquet(tmp_path / "churn.parquet")
    data = prepare(DataConfig(path="churn.parquet", target="churn"), HOLDOUT, tmp_path)
    assert data.task == "binary"
