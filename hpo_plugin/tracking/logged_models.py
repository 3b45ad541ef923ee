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
from typing import Any

import numpy as np
import pandas as pd
import yaml
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient

from hpo_plugin.objectives.pipelines import flavor_of
from hpo_plugin.tracking.modelfiles import ModelFiles, pinned_requirements

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
    templates: dict[tuple, _Template] = field(default_factory=dict, repr=False)

    @classmethod
    def for_data(
        cls, client: MlflowClient, experiment_id: str, X: pd.DataFrame | None, y: np.ndarray | None
    ) -> ModelLogger:
        """Models trained on ``X``, ``y`` (None: a search without data; no signature, no example)."""
        if X is None:
            return cls(client, experiment_id, None, None)
        return cls(client, experiment_id, infer_signature(X, y), X.head(5))

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
                self.client.log_model_artifacts(logged.model_id, files.path)
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
            save_model(model, path, self.signature, self.input_example, files.requirements)
            template = self.templates[files.kind] = _Template.take(path, files.data_name)
        return template


@dataclass(frozen=True)
class _Template:
    """An MLflow model directory without its data file, and its MLmodel as a dict."""

    path: str
    mlmodel: dict[str, Any]
    size_without_data: int

    @classmethod
    def take(cls, path: str, data_name: str) -> _Template:
        with open(os.path.join(path, MLMODEL_FILE_NAME)) as f:
            mlmodel = yaml.load(f, Loader=_YAML_LOADER)
        data = os.path.join(path, data_name)
        size = mlmodel.get("model_size_bytes", 0) - os.path.getsize(data)
        os.remove(data)
        os.remove(os.path.join(path, MLMODEL_FILE_NAME))
        return cls(path, mlmodel, size)

    def complete(self, files: ModelFiles, artifact_location: str, run_id: str, model_id: str) -> None:
        """Make ``files`` a full MLflow model directory of this template's kind."""
        shutil.copytree(self.path, files.path, dirs_exist_ok=True)
        mlmodel = {
            **self.mlmodel,
            "artifact_path": artifact_location,
            "model_uuid": model_id,
            "run_id": run_id,
            "model_id": model_id,
            "utc_time_created": str(datetime.now(UTC).replace(tzinfo=None)),
            "model_size_bytes": self.size_without_data + os.path.getsize(files.data_file),
        }
        with open(os.path.join(files.path, MLMODEL_FILE_NAME), "w") as out:
            yaml.dump(mlmodel, out, Dumper=_YAML_DUMPER, default_flow_style=False)


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
    # The pickle formats' security notice, once per save: we know, and say so in the README.
    logger = logging.getLogger(f"mlflow.{flavor}")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        if flavor == "pyfunc":
            module.save_model(path, **common)
        else:
            module.save_model(model, path, **common)
    finally:
        logger.setLevel(level)


def warm_up() -> None:
    """Pay MLflow's first-use costs now (flavor imports, its scan of installed packages)."""
    from sklearn.linear_model import LogisticRegression

    X, y = np.arange(8.0).reshape(4, 2), np.array([0, 1, 0, 1])
    with tempfile.TemporaryDirectory() as tmp, contextlib.suppress(Exception):
        save_model(LogisticRegression().fit(X, y), os.path.join(tmp, "model"), None, None)
