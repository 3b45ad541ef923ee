"""Fast model logging: fitted models as MLflow LoggedModels, without ``log_model``'s per-call costs.

Model logging skips what ``log_model`` repeats per call: pip requirements are pinned from the
installed versions, the signature and input example are computed once per search, and the
serving-input check (a full reload of the model) is left to the tests. MLflow saves the first
model of each kind in full; later ones are completed from that template.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import yaml
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.models import Model, ModelSignature, infer_signature
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient
from mlflow.types.schema import AnyType, ColSpec, Schema

from hpo_plugin.models.files import ModelFiles, pinned_requirements
from hpo_plugin.models.pipelines import flavor_of
from hpo_plugin.models.served import (
    MODEL_ARTIFACT,
    PREDICT_METHOD,
    PREDICT_METHODS,
    ServedModel,
    pickled_by_value,
)

if TYPE_CHECKING:
    from hpo_plugin.data import Dataset

# Our signatures are explicit; MLflow's hint about integer outputs (class labels) is noise.
warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer", category=UserWarning)
# The name of a model directory's metadata file. MLflow keeps it in mlflow.models.model
# (MLMODEL_FILE_NAME), which is not part of its public API; the file name is part of the
# documented MLflow Model format (checked against MLflow 3.17).
MLMODEL_FILE_NAME = "MLmodel"


@dataclass
class ModelLogger:
    """Logs fitted models as MLflow LoggedModels with one signature and example per search.

    MLflow saves the first model of each kind (flavor, class, requirements) in full; that
    directory, less its data file, is the template every later model of the kind is completed
    from: its own data file, the template's other files, and the MLmodel with its own ids.
    """

    client: MlflowClient
    experiment_id: str
    signature: ModelSignature | None
    input_example: pd.DataFrame | None
    served: ServedModel | None = None
    templates: dict[tuple, _Template] = field(default_factory=dict, repr=False)

    @classmethod
    def for_data(
        cls, client: MlflowClient, experiment_id: str, X: pd.DataFrame | None, y: np.ndarray | None
    ) -> ModelLogger:
        """Models trained on ``X``, ``y`` (None: a search without data; no signature, no example)."""
        if X is None:
            return cls(client, experiment_id, None, None)
        return cls(client, experiment_id, infer_signature(X, y), X.head(5))

    @classmethod
    def serving(cls, client: MlflowClient, experiment_id: str, data: Dataset) -> ModelLogger:
        """Models trained on ``data``'s model frame, served by :class:`ServedModel`: their signature
        is the user's columns as read and the user's labels (with a ``predict_method`` param)."""
        raw = data.raw_features
        params = {PREDICT_METHOD: PREDICT_METHODS[0]} if data.classes is not None else None
        signature = infer_signature(raw, data.labels(data.y_search), params=params)
        signature.inputs = _nullable_as_any(signature.inputs, raw)
        served = ServedModel(data.X_search.columns, data.numeric, data.classes)
        return cls(client, experiment_id, signature, raw.head(5), served)

    def log(self, run_id: str, model, name: str = "model", tags: Mapping[str, str] | None = None) -> str:
        """Log ``model`` (or its :class:`ModelFiles`) under ``run_id``; return its LoggedModel id."""
        fitted = None if isinstance(model, ModelFiles) else model
        files = model if fitted is None else ModelFiles.write(model)
        try:
            logged = self.client.create_logged_model(
                self.experiment_id, name=name, source_run_id=run_id, tags=dict(tags or {})
            )
            try:
                self.client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
                template = self._template(files, fitted)
                template.complete(files, logged.artifact_location, run_id, logged.model_id)
                # The repository of the location just created (``log_model_artifacts`` would
                # read the model back from the store to find it).
                repository = get_artifact_repository(logged.artifact_location, self.client.tracking_uri)
                repository.log_artifacts(files.path)
            except BaseException:
                self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
                raise
        finally:
            files.discard()
        self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        return logged.model_id

    def _template(self, files: ModelFiles, fitted=None) -> _Template:
        """The template of ``files``' kind, saved by MLflow from ``fitted`` (or the file) if new."""
        if (template := self.templates.get(files.kind)) is None:
            path = os.path.join(tempfile.mkdtemp(prefix="hpo-template-"), "model")
            weakref.finalize(self, shutil.rmtree, os.path.dirname(path), True)
            model = fitted if fitted is not None else files.load()
            data_name = files.data_name
            if self.served is None:
                save_model(model, path, self.signature, self.input_example, files.requirements)
            else:
                served = self.served.of(files.model_class, files.flavor == "xgboost")
                data_name = save_served(model, path, served, self.signature, self.input_example, files)
            template = self.templates[files.kind] = _Template.take(path, data_name)
        return template


def _nullable_as_any(inputs: Schema, raw: pd.DataFrame) -> Schema:
    """``inputs`` with pandas' nullable integer and boolean columns that miss values declared
    ``any``: MLflow infers ``long``/``boolean`` for them, then refuses their own missing values
    (its check casts them to numpy's, which have none). Checked against MLflow 3.17."""
    nullable = {
        c
        for c in raw.columns
        if isinstance(raw[c].dtype, pd.api.extensions.ExtensionDtype)
        and raw[c].dtype.kind in "iub"
        and raw[c].isna().any()
    }
    if not nullable:
        return inputs
    return Schema(
        [
            ColSpec(AnyType(), spec.name, required=False) if spec.name in nullable else spec
            for spec in inputs.inputs
        ]
    )


@dataclass(frozen=True)
class _Template:
    """An MLflow model directory without its data file, and its MLmodel as a dict."""

    path: str
    mlmodel: dict[str, Any]
    size_without_data: int
    data_name: str  # where a model's data file goes, relative to its directory

    @classmethod
    def take(cls, path: str, data_name: str) -> _Template:
        with open(os.path.join(path, MLMODEL_FILE_NAME)) as f:
            mlmodel = yaml.load(f, Loader=_YAML_LOADER)
        data = os.path.join(path, data_name)
        size = mlmodel.get("model_size_bytes", 0) - os.path.getsize(data)
        os.remove(data)
        os.remove(os.path.join(path, MLMODEL_FILE_NAME))
        return cls(path, mlmodel, size, data_name)

    def complete(self, files: ModelFiles, artifact_location: str, run_id: str, model_id: str) -> None:
        """Make ``files`` a full MLflow model directory of this template's kind."""
        shutil.copytree(self.path, files.path, dirs_exist_ok=True)
        data_file = os.path.join(files.path, self.data_name)
        if data_file != files.data_file:
            os.replace(files.data_file, data_file)
        mlmodel = {
            **self.mlmodel,
            "artifact_path": artifact_location,
            "model_uuid": model_id,
            "run_id": run_id,
            "model_id": model_id,
            "utc_time_created": str(datetime.now(UTC).replace(tzinfo=None)),
            "model_size_bytes": self.size_without_data + os.path.getsize(data_file),
        }
        with open(os.path.join(files.path, MLMODEL_FILE_NAME), "w") as out:
            yaml.dump(mlmodel, out, Dumper=_YAML_DUMPER, default_flow_style=False)


PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"  # documented in mlflow.environment_variables

# libyaml where PyYAML has it: a trial's MLmodel (the signature, one entry per column) takes
# ~10 ms to write in pure Python.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def save_model(model, path: str, signature, example, requirements=None) -> None:
    """Save with the model's native flavor and pinned requirements (no inference subprocess).

    Pickled models (scikit-learn's, LightGBM's scikit-learn API) use cloudpickle: they are our
    own models, loaded only from this store, and cloudpickle is fast and loads anywhere.
    """
    common = dict(
        signature=signature,
        input_example=example,
        pip_requirements=list(requirements or pinned_requirements(model)),
    )
    flavor = flavor_of(model)
    module = importlib.import_module(f"mlflow.{flavor}")
    if flavor == "pyfunc":
        common["python_model"] = model
    elif flavor != "xgboost":
        common["serialization_format"] = "cloudpickle"
    with _quiet(f"mlflow.{flavor}"):
        if flavor == "pyfunc":
            module.save_model(path, **common)
        else:
            module.save_model(model, path, **common)


@contextlib.contextmanager
def _quiet(name: str):
    """Only errors from logger ``name``: the pickle formats' security notice (we know, and the
    README says so) and the input example's check, once per kind of model."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def save_served(model, path: str, served: ServedModel, signature, example, files: ModelFiles) -> str:
    """Save ``model`` behind ``served`` (the pyfunc flavor) with its own flavor beside it, reading
    the same file; return that file's path in the directory."""
    native = f"{path}-native"
    save_model(model, native, None, None, files.requirements)
    requirements = [*files.requirements, f"mlflow=={mlflow.__version__}"]
    with pickled_by_value(), _quiet("mlflow.pyfunc"), _no_progress_bar():
        mlflow.pyfunc.save_model(
            path,
            python_model=served,
            artifacts={MODEL_ARTIFACT: os.path.join(native, files.data_name)},
            signature=signature,
            input_example=example,
            pip_requirements=sorted(set(requirements)),
        )
    info = Model.load(path)
    data_name = info.flavors[mlflow.pyfunc.FLAVOR_NAME]["artifacts"][MODEL_ARTIFACT]["path"]
    own = Model.load(native).flavors[files.flavor]
    info.add_flavor(files.flavor, **{k: data_name if v == files.data_name else v for k, v in own.items()})
    info.save(os.path.join(path, MLMODEL_FILE_NAME))
    shutil.rmtree(native)
    return data_name


@contextlib.contextmanager
def _no_progress_bar():
    """No progress bar for the artifact copy MLflow makes while saving a pyfunc model."""
    previous = os.environ.get(PROGRESS_BAR_ENV)
    os.environ[PROGRESS_BAR_ENV] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(PROGRESS_BAR_ENV, None)
        else:
            os.environ[PROGRESS_BAR_ENV] = previous


def warm_up() -> None:
    """Pay MLflow's first-use costs now (flavor imports, its scan of installed packages)."""
    from sklearn.linear_model import LogisticRegression

    X, y = np.arange(8.0).reshape(4, 2), np.array([0, 1, 0, 1])
    with tempfile.TemporaryDirectory() as tmp, contextlib.suppress(Exception):
        save_model(LogisticRegression().fit(X, y), os.path.join(tmp, "model"), None, None)
