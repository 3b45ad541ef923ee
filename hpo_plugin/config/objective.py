"""``objective``: what a trial minimises (a built-in model's metric, a function, an entry point)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hpo_plugin.config.base import Frozen, one_of
from hpo_plugin.config.data import ValidationConfig
from hpo_plugin.metrics import METRICS, MODEL_MEASURES
from hpo_plugin.tradeoffs import Bound, Goal, Tradeoffs


class AlsoConfig(Frozen):
    """A further objective: a metric's name (``fit_s``, ``predict_ms``, ``model_mb``, ``val_<metric>``
    for built-in models; a key of a function's result; a metric an entry point logs)."""

    name: str = Field(min_length=1)
    direction: Literal["minimize", "maximize"] | None = None


class ConstraintConfig(Frozen):
    """``max`` and/or ``min`` of one metric: a trial is feasible when every constraint holds."""

    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _a_side(self) -> ConstraintConfig:
        if self.max is None and self.min is None:
            raise ValueError("give 'max' and/or 'min'")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}; no trial could meet it")
        return self


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
    # Trade-offs: further objectives (the search finds the Pareto front of the primary loss and
    # these) and constraints on metrics (only feasible trials make the front and the final model).
    also: tuple[AlsoConfig, ...] = ()
    constraints: dict[str, ConstraintConfig] = Field(default_factory=dict)

    @field_validator("also", mode="before")
    @classmethod
    def _names_alone(cls, v: Any) -> Any:
        if isinstance(v, str | dict):
            v = [v]
        return [{"name": item} if isinstance(item, str) else item for item in v or ()]

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
            self._check_tradeoffs()
            return self
        if self.project is not None:
            raise ValueError("'project' applies to 'entry_point'; remove it or add an entry point")
        self._check_tradeoffs()
        if self.metric is not None:
            natural = "maximize" if METRICS[self.metric].greater_is_better else "minimize"
            if self.direction not in (None, natural):
                raise ValueError(f"{self.metric} is meant to {natural}; set direction: {natural}")
        return self

    def _check_tradeoffs(self) -> None:
        """A name no trial can produce is an error here, for built-in models (a function's or an
        entry point's metrics are known when a trial ends: one that lacks one fails, saying so)."""
        names = [a.name for a in self.also]
        if len(set(names)) < len(names):
            raise ValueError(f"also names a metric twice: {names}")
        if self.metric is None or self.entry_point is not None:
            return
        known = builtin_metric_names()
        for where, name in [*(("also", n) for n in names), *(("constraints", n) for n in self.constraints)]:
            if name not in known:
                raise ValueError(
                    f"{where}: a built-in model's trial has no metric {name!r}; choose one of: "
                    f"{', '.join(sorted(known))}"
                )
        if f"val_{self.metric}" in names:
            raise ValueError(f"also: val_{self.metric} is the primary metric already")

    @property
    def tradeoffs(self) -> Tradeoffs:
        """The further objectives (direction: given, else the metric's own, else minimize) and
        the constraints."""
        goals = []
        for a in self.also:
            natural = a.name.startswith("val_") and self.builtin and METRICS[a.name[4:]].greater_is_better
            goals.append(Goal(a.name, a.direction == "maximize" if a.direction else bool(natural)))
        bounds = tuple(Bound(name, c.max, c.min) for name, c in self.constraints.items())
        return Tradeoffs(tuple(goals), bounds)

    @property
    def builtin(self) -> bool:
        """The objective is a built-in model's metric (not a function or an entry point)."""
        return self.metric is not None and self.entry_point is None

    @property
    def maximize(self) -> bool:
        if self.builtin:
            return METRICS[self.metric].greater_is_better
        return self.direction == "maximize"


def builtin_metric_names() -> set[str]:
    """What a built-in model's trial logs that trade-offs may name."""
    return {*MODEL_MEASURES, *(f"val_{name}" for name in METRICS)}
