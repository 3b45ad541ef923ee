"""``search.pruning``: the rule by name (:data:`hpo_plugin.pruners.PRUNERS`), its knobs, and how
often trials report."""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hpo_plugin.pruners import PRUNERS

_SHARED = {"method", "report_every", "forecast"}  # settings of the search's board, not of a rule


class PruningConfig(BaseModel):
    """``method`` names a rule in :data:`PRUNERS`; each knob belongs to one rule (the names are
    Optuna's, without ``n_``); ``report_every`` is how many boosting rounds a built-in XGBoost or
    LightGBM trial trains between reports; ``forecast`` makes either rule compare each trial's
    forecast of its final value instead of its value at the step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    report_every: int = Field(10, ge=1)
    # both rules: compare each trial's forecast of its final value (pruners/forecast.py)
    forecast: bool = False
    # median
    warmup_trials: int | None = Field(None, ge=0)
    warmup_steps: int | None = Field(None, ge=0)
    interval_steps: int | None = Field(None, ge=1)
    min_trials: int | None = Field(None, ge=1)
    # successive_halving
    min_resource: int | Literal["auto"] | None = None
    reduction_factor: int | None = Field(None, ge=2)
    min_early_stopping_rate: int | None = Field(None, ge=0)
    bootstrap_count: int | None = Field(None, ge=0)

    @field_validator("method")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in PRUNERS:
            raise ValueError(f"unknown pruning method {v!r}; choose one of: {', '.join(sorted(PRUNERS))}")
        return v

    @field_validator("min_resource")
    @classmethod
    def _positive(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, int) and v < 1:
            raise ValueError("min_resource must be 'auto' or a whole number >= 1")
        return v

    @model_validator(mode="after")
    def _knobs_of_the_method(self) -> PruningConfig:
        own = {f.name for f in dataclasses.fields(PRUNERS[self.method])}
        for name in self.model_fields_set - own - _SHARED:
            other = next(m for m, cls in PRUNERS.items() if name in {f.name for f in dataclasses.fields(cls)})
            raise ValueError(f"{name!r} applies to method {other}, not {self.method}; remove it")
        return self

    def pruner(self):
        """The rule, with the knobs the experiment set (the others keep Optuna's defaults)."""
        knobs = {name: getattr(self, name) for name in self.model_fields_set - _SHARED}
        return PRUNERS[self.method](**knobs)
