"""``model`` / ``models``: a built-in family or any scikit-learn estimator, its params and space."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from hpo_plugin.config.base import Frozen, one_of, space_of
from hpo_plugin.models.families import MODEL_FAMILIES, estimator_family
from hpo_plugin.space import Param


class ModelConfig(Frozen):
    """One model to tune: a built-in ``family``, or any scikit-learn-compatible class by its
    import path (``estimator: sklearn.svm.SVC``)."""

    family: str | None = None
    estimator: str | None = None
    params: dict[str, Any] = {}
    space: tuple[Param, ...] = ()

    @field_validator("family")
    @classmethod
    def _known_family(cls, v: str | None) -> str | None:
        return None if v is None else one_of(v, MODEL_FAMILIES, "model family")

    @field_validator("estimator")
    @classmethod
    def _importable(cls, v: str | None) -> str | None:
        if v is not None:
            estimator_family(v)  # importable, an estimator, a classifier or regressor
        return v

    @field_validator("space", mode="before")
    @classmethod
    def _parse(cls, v: Any) -> tuple[Param, ...]:
        return space_of(v)

    @model_validator(mode="after")
    def _one_model(self) -> ModelConfig:
        if (self.family is None) == (self.estimator is None):
            raise ValueError("give exactly one of 'family' (built in) or 'estimator' (an import path)")
        if both := sorted(set(self.params) & {p.name for p in self.space}):
            raise ValueError(f"{both} appear in both 'params' and 'space'; keep one")
        return self

    @property
    def name(self) -> str:
        """The family's name, or the estimator's import path: how trials and params name it."""
        return self.family or self.estimator  # type: ignore[return-value]
