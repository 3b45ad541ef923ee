"""``objective``: what a trial minimises (a built-in model's metric, a function, an entry point)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hpo_plugin.config.base import Frozen, one_of
from hpo_plugin.config.data import ValidationConfig
from hpo_plugin.metrics import METRICS


class ObjectiveConfig(Frozen):
    """What a trial minimises: a built-in model's ``metric``, your own ``function``, or the
    ``metric`` your MLproject ``entry_point`` logs.

    ``function`` is ``file.py:name`` (relative to the experiment file) or ``package.module:name``;
    it returns a loss (hyperopt's protocol), which ``direction: maximize`` negates. Neither is
    needed when the function comes from the Python API (``run_search(config, objective=fn)``).
    ``project`` is the MLflow project of ``entry_point``: a local path (relative to the
    experiment file; default: the nearest directory with an MLproject file) or a Git URI.
    """

    # Field order matters: ``metric``'s check reads ``entry_point`` (validated before it).
    entry_point: str | None = Field(None, min_length=1)
    function: str | None = Field(None, min_length=1)
    metric: str | None = None
    project: str | None = Field(None, min_length=1)
    env_manager: Literal["local", "virtualenv", "uv", "conda"] = "local"
    direction: Literal["minimize", "maximize"] | None = None
    validation: ValidationConfig = ValidationConfig(holdout=0.25)
    # A function's trial run is MLflow's active run while it runs: "auto" when its module uses
    # MLflow, "always" when code it calls may (what fmin's objectives get).
    active_run: Literal["auto", "always"] = "auto"

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None or info.data.get("entry_point") is not None:  # an entry point logs any name
            return v
        return one_of(v, METRICS, "metric")

    @model_validator(mode="after")
    def _one_kind(self) -> ObjectiveConfig:
        if self.function is not None and (self.metric is not None or self.entry_point is not None):
            raise ValueError("give 'metric' (built-in models), 'function' or 'entry_point', not several")
        if self.entry_point is not None:
            if self.metric is None:
                raise ValueError("an entry point needs 'metric': the name of the metric it logs")
            return self
        if self.project is not None:
            raise ValueError("'project' applies to 'entry_point'; remove it or add an entry point")
        if self.metric is not None:
            natural = "maximize" if METRICS[self.metric].greater_is_better else "minimize"
            if self.direction not in (None, natural):
                raise ValueError(f"{self.metric} is meant to {natural}; set direction: {natural}")
        return self

    @property
    def builtin(self) -> bool:
        """The objective is a built-in model's metric (not a function or an entry point)."""
        return self.metric is not None and self.entry_point is None

    @property
    def maximize(self) -> bool:
        if self.builtin:
            return METRICS[self.metric].greater_is_better
        return self.direction == "maximize"
