"""A fitted model's data file, written as MLflow's flavor writes it, without importing MLflow.

Every trial of a search logs the same MLmodel, environment files and input example: only the
fitted model differs. So trials write just that file here (a worker process never imports
MLflow, and starts faster for it), and the writer completes the directory from a template that
MLflow saved once per kind of model (:class:`~hpo_plugin.models.logged.ModelLogger`).
"""

from __future__ import annotations

import functools
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pydoc import locate

import numpy as np
import pandas as pd

from hpo_plugin.models.pipelines import final_estimator, flavor_of


def _write_xgboost(model, path: str) -> None:
    model.save_model(path)  # what mlflow.xgboost.save_model writes (model_format "ubj")


def _read_xgboost(path: str, model_class: str):
    model = locate(model_class)()
    model.load_model(path)
    return model


def _write_cloudpickle(model, path: str) -> None:
    import cloudpickle

    with open(path, "wb") as out:  # mlflow.sklearn's "cloudpickle" format, default protocol
        cloudpickle.dump(model, out, protocol=pickle.DEFAULT_PROTOCOL)


def _read_cloudpickle(path: str, model_class: str):
    with open(path, "rb") as f:
        return pickle.load(f)


# flavor -> (data file name, writer, reader): the file MLflow's flavor keeps the model in.
FORMATS = {
    "xgboost": ("model.ubj", _write_xgboost, _read_xgboost),
    "lightgbm": ("model.pkl", _write_cloudpickle, _read_cloudpickle),  # its scikit-learn API models
    "pyfunc": ("python_model.pkl", _write_cloudpickle, _read_cloudpickle),  # an mlflow.pyfunc.PythonModel
    "sklearn": ("model.pkl", _write_cloudpickle, _read_cloudpickle),
}


@dataclass(frozen=True)
class ModelFiles:
    """A directory holding one fitted model's data file, and what kind of model it is."""

    path: str
    flavor: str
    model_class: str
    requirements: tuple[str, ...]

    @classmethod
    def write(cls, model) -> ModelFiles:
        flavor = flavor_of(model)
        path = os.path.join(tempfile.mkdtemp(prefix="hpo-model-"), "model")
        os.mkdir(path)
        model_class = f"{type(model).__module__}.{type(model).__name__}"
        files = cls(path, flavor, model_class, pinned_requirements(model))
        try:
            FORMATS[flavor][1](model, files.data_file)
        except BaseException:
            files.discard()
            raise
        return files

    @property
    def kind(self) -> tuple[str, str, tuple[str, ...]]:
        """Models of one kind share everything in their MLflow directory but the data file."""
        return self.flavor, self.model_class, self.requirements

    @property
    def data_name(self) -> str:
        return FORMATS[self.flavor][0]

    @property
    def data_file(self) -> str:
        return os.path.join(self.path, self.data_name)

    def load(self):
        """The fitted model back (to let MLflow save a template of its kind)."""
        return FORMATS[self.flavor][2](self.data_file, self.model_class)

    def discard(self) -> None:
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)


@functools.cache
def _pins(flavor: str, library: str) -> tuple[str, ...]:
    """Pins for a model of ``flavor`` whose estimator comes from the top-level module ``library``."""
    from importlib.metadata import packages_distributions, version

    pins = [f"numpy=={np.__version__}", f"pandas=={pd.__version__}"]
    if library != "sklearn" and (dists := packages_distributions().get(library)):
        pins.append(f"{dists[0]}=={version(dists[0])}")
    if flavor == "pyfunc":  # its loader is MLflow's
        pins.append(f"mlflow=={version('mlflow')}")
    if flavor != "xgboost":  # pickled: scikit-learn's classes (the Pipeline, the wrappers) and cloudpickle
        pins += [f"scikit-learn=={version('scikit-learn')}", f"scipy=={version('scipy')}"]
        pins.append(f"cloudpickle=={version('cloudpickle')}")
    return tuple(pins)


def pinned_requirements(model) -> tuple[str, ...]:
    """Requirements pinned to the installed versions of what the model needs to load."""
    return _pins(flavor_of(model), type(final_estimator(model)).__module__.split(".")[0])
