"""``data`` and ``objective.validation``: where the rows come from and how trials are scored."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from hpo_plugin.config.base import Frozen, one_of
from hpo_plugin.data import DATASETS


class DataConfig(Frozen):
    dataset: str | None = None
    path: str | None = None
    target: str | None = None
    task: Literal["binary", "multiclass", "regression"] | None = None
    test_size: float = Field(0.2, gt=0, lt=1)
    split_seed: int = 0

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str | None) -> str | None:
        return None if v is None else one_of(v, DATASETS, "dataset")

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give exactly one of 'dataset' (a bundled name) or 'path' (a file)")
        if self.path is not None and not self.target:
            raise ValueError("'path' needs 'target': the name of the column to predict")
        return self


class ValidationConfig(Frozen):
    holdout: float | None = Field(None, gt=0, lt=1)
    cv: int | None = Field(None, ge=2, le=20)

    @model_validator(mode="after")
    def _one_method(self) -> ValidationConfig:
        if (self.holdout is None) == (self.cv is None):
            raise ValueError("give exactly one of 'holdout' (a fraction) or 'cv' (a fold count)")
        return self
