"""Datasets by name or file -> one frozen :class:`Dataset` with its splits and digest.

The test split is carved out first and never seen by the search; validation is a holdout
or k folds (stratified for classification) inside what remains. Splits are seeded.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hpo_plugin.errors import DataError
from hpo_plugin.features import holds_booleans, model_frame, numeric_columns
from hpo_plugin.metrics import BINARY, CLASSIFICATION, MULTICLASS, REGRESSION


def _bundled(loader: str, **kwargs) -> object:
    """scikit-learn's bundled dataset ``loader`` (imported on use)."""
    return getattr(importlib.import_module("sklearn.datasets"), loader)(**kwargs)


DATASETS: dict[str, Callable[..., object]] = {
    name: functools.partial(_bundled, f"load_{name}")
    for name in ("breast_cancer", "diabetes", "digits", "iris", "wine")
}
READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
}
MAX_CLASSES_FOR_INTEGER_TARGET = 20


@dataclass(frozen=True)
class Dataset:
    """Features, encoded target, splits and identity of the data a search runs on."""

    name: str
    source: str
    target: str
    task: str
    classes: tuple | None
    X_search: pd.DataFrame
    y_search: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    categorical: tuple[str, ...]
    frame: pd.DataFrame

    @property
    def n_classes(self) -> int:
        return len(self.classes) if self.classes is not None else 0

    @property
    def test_digest(self) -> str:
        """Identity of the held-out test set: test scores are comparable only when it matches."""
        rows = pd.util.hash_pandas_object(self.X_test, index=False).to_numpy()
        payload = rows.tobytes() + np.asarray(self.y_test, dtype=float).tobytes()
        return hashlib.sha256(payload).hexdigest()[:16]

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(c for c in self.X_search.columns if c not in self.categorical)

    @property
    def raw_features(self) -> pd.DataFrame:
        """The feature columns as read from the source, before :func:`model_frame`."""
        return self.frame.drop(columns=[self.target])

    def labels(self, y: np.ndarray) -> np.ndarray:
        """Encoded targets back as the user's labels (a regression target as it is)."""
        return y if self.classes is None else np.asarray(self.classes)[np.asarray(y, dtype=np.int64)]


def load_frame(data, base_dir: Path, source: str = "") -> tuple[pd.DataFrame, str, str, str]:
    """Return (frame, target column, dataset name, its location) for a DataConfig.

    ``source`` (the experiment file) is what errors name.
    """
    if data.dataset is not None:
        bunch = DATASETS[data.dataset](as_frame=True)
        frame = bunch.frame
        target = data.target or "target"
        if target not in frame.columns:
            raise DataError(source, "data.target", f"column {target!r} is not in dataset {data.dataset!r}")
        return frame, target, data.dataset, f"sklearn.datasets.load_{data.dataset}"
    path = Path(data.path)
    if not path.is_absolute():
        path = base_dir / path
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            source, "data.path", f"{path.name} has an unsupported suffix; use {', '.join(READERS)}"
        )
    if not path.is_file():
        raise DataError(
            source, "data.path", f"{path} does not exist; fix the path (relative to the YAML file)"
        )
    try:
        frame = reader(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(source, "data.path", f"cannot read {path}: {reason}") from None
    if data.target not in frame.columns:
        raise DataError(
            source,
            "data.target",
            f"column {data.target!r} is not in {path.name}; "
            f"columns are {', '.join(map(str, frame.columns[:20]))}",
        )
    return frame, data.target, path.stem, str(path.resolve())


def infer_task(y: pd.Series) -> str:
    """Classification for labels and small integer sets, regression for real numbers."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return BINARY if y.nunique() == 2 else MULTICLASS
    values = y.to_numpy(dtype=float)
    if np.all(np.isclose(values, np.round(values))) and y.nunique() <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return BINARY if y.nunique() == 2 else MULTICLASS
    return REGRESSION


def labels_of(y: pd.Series) -> np.ndarray:
    """A classification target's values as labels of their own kind: booleans (also when read as
    objects), integers (also pandas' nullable ones), other numbers, or else strings."""
    if pd.api.types.is_bool_dtype(y) or holds_booleans(y):
        return y.astype(bool).to_numpy()
    if pd.api.types.is_numeric_dtype(y):
        numbers = y.to_numpy(dtype=float)
        return numbers.astype(np.int64) if np.all(numbers == np.round(numbers)) else numbers
    return y.astype(str).to_numpy(dtype=object)


def prepare(data, validation, base_dir: Path, source: str = "") -> Dataset:
    """Load, check and split the data described by a DataConfig and ValidationConfig.

    ``source`` (the experiment file) is what errors name; paths are relative to ``base_dir``.
    """
    frame, target, name, location = load_frame(data, base_dir, source)
    if frame.empty or len(frame.columns) < 2:
        raise DataError(source, "data", "the table is empty or has no feature columns; check the file")
    if frame[target].isna().all():
        raise DataError(
            source, "data.target", f"the target column {target!r} holds no values; fill it or pick another"
        )
    frame = frame.dropna(subset=[target]).reset_index(drop=True)
    features = frame.drop(columns=[target])
    if empty := [str(c) for c in features.columns if features[c].isna().all()]:
        raise DataError(source, "data", f"column(s) {empty} hold no values at all; drop or fill them")
    numeric = numeric_columns(features)
    features = model_frame(features, features.columns, numeric)
    y_raw = frame[target]
    task = data.task or infer_task(y_raw)
    classes = None
    if task in CLASSIFICATION:
        classes_arr, y = np.unique(labels_of(y_raw), return_inverse=True)
        classes = tuple(c.item() if hasattr(c, "item") else c for c in classes_arr)
        if len(classes) < 2:
            raise DataError(
                source, "data.target", f"{target!r} has a single class; a classifier needs two or more"
            )
        if task == BINARY and len(classes) != 2:
            raise DataError(
                source, "data.task", f"binary, but {target!r} has {len(classes)} classes; use multiclass"
            )
        if (counts := np.bincount(y)).min() < 2:
            raise DataError(
                source,
                "data.target",
                f"class {classes[int(counts.argmin())]!r} has fewer than 2 rows; "
                "drop it or merge it with another class",
            )
    else:
        if not pd.api.types.is_numeric_dtype(y_raw) or pd.api.types.is_bool_dtype(y_raw):
            raise DataError(
                source, "data.task", f"regression needs a numeric target; {target!r} is {y_raw.dtype}"
            )
        y = y_raw.to_numpy(dtype=float)
    categorical = tuple(str(c) for c in features.columns if c not in numeric)
    stratify = y if task in CLASSIFICATION else None
    from sklearn.model_selection import train_test_split  # on use: configs name datasets cheaply

    try:
        X_search, X_test, y_search, y_test = train_test_split(
            features, y, test_size=data.test_size, random_state=data.split_seed, stratify=stratify
        )
        folds = _folds(y_search, task, validation, data.split_seed)
    except ValueError as exc:
        raise DataError(source, "data", f"cannot split {len(frame)} rows: {exc}") from None
    return Dataset(
        name=name,
        source=location,
        target=target,
        task=task,
        classes=classes,
        X_search=X_search.reset_index(drop=True),
        y_search=y_search,
        X_test=X_test.reset_index(drop=True),
        y_test=y_test,
        folds=folds,
        categorical=categorical,
        frame=frame,
    )


def _folds(y: np.ndarray, task: str, validation, seed: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    index = np.arange(len(y))
    stratify = y if task in CLASSIFICATION else None
    if validation.holdout is not None:
        train, val = train_test_split(
            index, test_size=validation.holdout, random_state=seed, stratify=stratify
        )
        return ((np.sort(train), np.sort(val)),)
    splitter = (
        StratifiedKFold(validation.cv, shuffle=True, random_state=seed)
        if task in CLASSIFICATION
        else KFold(validation.cv, shuffle=True, random_state=seed)
    )
    return tuple(splitter.split(index, y))
