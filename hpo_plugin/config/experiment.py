"""The whole experiment: its sections, the searched space, and what the parent run records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from hpo_plugin.config.base import Frozen, space_of
from hpo_plugin.config.data import DataConfig
from hpo_plugin.config.executor import ExecutorConfig, executor_mapping
from hpo_plugin.config.model import ModelConfig
from hpo_plugin.config.objective import ObjectiveConfig
from hpo_plugin.config.search import SearchConfig
from hpo_plugin.errors import SpaceError
from hpo_plugin.hyperopt_space import from_hyperopt, is_hyperopt_space
from hpo_plugin.space import CHOICE, Option, Param, SearchSpace, relabel


class RegisterConfig(Frozen):
    enabled: bool = True
    model_name: str | None = Field(None, min_length=1, max_length=200)
    margin: float = Field(0.0, ge=0)


class ExperimentConfig(Frozen):
    name: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    description: str = ""
    mlflow_experiment: str | None = None
    data: DataConfig | None = None
    model: ModelConfig | None = None
    models: tuple[ModelConfig, ...] | None = None
    # A function objective's searched params (a model's live under ``model.space``), from YAML's
    # form or, in Python, an hp.* expression (kept in ``space_expression``).
    function_space: tuple[Param, ...] = Field((), alias="space")
    space_expression: Any = Field(None, exclude=True)
    objective: ObjectiveConfig = ObjectiveConfig()
    search: SearchConfig = SearchConfig()
    registration: RegisterConfig = Field(RegisterConfig(), alias="register")
    executor: ExecutorConfig = ExecutorConfig()
    source: str = ""
    raw_text: str = ""

    @field_validator("executor", mode="before")
    @classmethod
    def _executor_shorthand(cls, v: Any) -> Any:
        return executor_mapping(v)

    @model_validator(mode="before")
    @classmethod
    def _hyperopt_space(cls, data: Any) -> Any:
        """An hp.* expression as ``space``: its tree for the algorithms, the expression as given."""
        if isinstance(data, Mapping) and is_hyperopt_space(space := data.get("space")):
            try:
                parsed = from_hyperopt(space)
            except SpaceError:
                return data  # reported under 'space' by its field's validator
            return {**data, "space": parsed.params, "space_expression": parsed.expression}
        return data

    @field_validator("function_space", mode="before")
    @classmethod
    def _parse_space(cls, v: Any) -> tuple[Param, ...]:
        if is_hyperopt_space(v):  # one that _hyperopt_space could not read: its error, under 'space'
            try:
                from_hyperopt(v)
            except SpaceError as exc:
                raise ValueError(str(exc)) from None
        return space_of(v)

    @model_validator(mode="after")
    def _one_model_section(self) -> ExperimentConfig:
        if self.uses_function:
            if self.model is not None or self.models is not None:
                raise ValueError("a function objective takes no 'model'/'models'; remove them")
            if not self.function_space:
                raise ValueError("a function or entry-point objective searches the top-level 'space'; add it")
            return self
        if self.function_space:
            raise ValueError("a top-level 'space' is for a function objective; put it under 'model'")
        if self.objective.metric is None:
            raise ValueError(
                "give objective.metric (built-in models) or objective.function (your own: 'train.py:name')"
            )
        if self.data is None:
            raise ValueError("'data' is required with built-in models; add data.dataset or data.path")
        if (self.model is None) == (self.models is None):
            raise ValueError("give exactly one of 'model' (one family) or 'models' (a list)")
        if self.models is not None:
            names = [m.name for m in self.models]
            if len(set(names)) != len(names) or not names:
                raise ValueError(f"'models' must list distinct families or estimators, got {names}")
        return self

    @property
    def uses_function(self) -> bool:
        """The objective is the user's code (a function, from the file or given in Python, or an
        MLproject entry point): it searches the top-level ``space``."""
        return not self.objective.builtin and (
            self.objective.function is not None
            or self.objective.entry_point is not None
            or bool(self.function_space)
        )

    @property
    def search_space(self) -> SearchSpace:
        """The space with how its points become trials (a YAML space's or an hp.* expression's)."""
        return SearchSpace(self.space, self.space_expression)

    @property
    def candidates(self) -> tuple[ModelConfig, ...]:
        if self.uses_function:
            return ()
        return (self.model,) if self.model is not None else self.models  # type: ignore[return-value]

    @property
    def space(self) -> tuple[Param, ...]:
        """The searched space; model selection is a choice over families with their spaces."""
        if self.uses_function:
            return self.function_space
        if self.model is not None:
            return self.model.space
        options = tuple(Option(m.name, relabel(m.space, f"family={m.name}/")) for m in self.candidates)
        return (Param("family", "family", CHOICE, options=options),)

    @property
    def base_dir(self) -> Path:
        """Where the experiment's relative paths start: its file's directory (else the cwd)."""
        return Path(self.source).parent if self.source else Path.cwd()

    @property
    def registered_model_name(self) -> str:
        return self.registration.model_name or self.name

    @property
    def mlflow_experiment_name(self) -> str:
        return self.mlflow_experiment or self.name

    @property
    def digest(self) -> str:
        """Digest of the effective settings (after overrides), stable across formatting."""
        payload = self.model_dump(mode="json", exclude={"source", "raw_text"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
