"""What ``mlflow.pyfunc`` and ``mlflow models serve`` call: a search's model speaking the user's data.

The fitted model sits beside this wrapper as its own flavor's file (so ``mlflow.sklearn``,
``mlflow.xgboost`` and ``mlflow.lightgbm`` load it too); the wrapper feeds it the columns in
the form it was trained on (:mod:`hpo_plugin.features`) and answers a classifier's prediction in
the user's labels, or class probabilities when asked with ``params={"predict_method":
"predict_proba"}``: one column per label. It is pickled by value with
:mod:`hpo_plugin.features`, so a served model needs MLflow and the model's libraries, not
hpo_plugin.
"""
# No ``from __future__ import annotations``: MLflow reads ``predict``'s input hint, and a
# DataFrame hint leaves checking the input to the signature.

import contextlib
import pickle
import sys
from collections.abc import Iterator, Sequence
from pydoc import locate
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

from hpo_plugin import features
from hpo_plugin.features import model_frame

PREDICT_METHOD = "predict_method"
PREDICT_METHODS = ("predict", "predict_proba")
MODEL_ARTIFACT = "model"


class ServedModel(PythonModel):
    """A fitted model read from its flavor's file, fed the columns it was trained on.

    ``classes``: a classifier's labels in the order of its codes (None: a regressor).
    ``model_class`` says how to read the file: an XGBoost class's own format, else a pickle.
    """

    def __init__(
        self,
        columns: Sequence,
        numeric: Sequence,
        classes: Sequence | None,
        model_class: str = "",
        xgboost_format: bool = False,
    ) -> None:
        self.columns = list(columns)
        self.numeric = list(numeric)
        self.classes = None if classes is None else list(classes)
        self.model_class = model_class
        self.xgboost_format = xgboost_format
        self.model = None

    def of(self, model_class: str, xgboost_format: bool) -> "ServedModel":
        """This wrapper, for a fitted model of ``model_class`` (its file in XGBoost's format or not)."""
        return ServedModel(self.columns, self.numeric, self.classes, model_class, xgboost_format)

    def load_context(self, context) -> None:
        path = context.artifacts[MODEL_ARTIFACT]
        if self.xgboost_format:
            self.model = locate(self.model_class)()
            self.model.load_model(path)
        else:
            with open(path, "rb") as f:
                self.model = pickle.load(f)

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None):
        method = (params or {}).get(PREDICT_METHOD) or "predict"
        allowed = PREDICT_METHODS if self.classes is not None else PREDICT_METHODS[:1]
        if method not in allowed:
            raise MlflowException.invalid_parameter_value(
                f"params {PREDICT_METHOD}={method!r} is not one of {', '.join(allowed)}"
            )
        X = model_frame(pd.DataFrame(model_input), self.columns, self.numeric)
        if self.classes is None:
            return self.model.predict(X)
        if method == "predict_proba":
            if not hasattr(self.model, "predict_proba"):
                estimator = self.model[-1] if hasattr(self.model, "steps") else self.model
                raise MlflowException.invalid_parameter_value(
                    f"{type(estimator).__name__} gives no probabilities "
                    "(for SVC, set probability: true in model.params)"
                )
            return pd.DataFrame(self.model.predict_proba(X), columns=self.classes)
        codes = np.asarray(self.model.predict(X)).astype(np.int64)
        return np.asarray(self.classes)[codes]


@contextlib.contextmanager
def pickled_by_value() -> Iterator[None]:
    """While MLflow pickles a :class:`ServedModel`, its code goes into the pickle with it."""
    modules = [features, sys.modules[__name__]]
    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)
