"""What every section shares: frozen pydantic models that forbid unknown keys, and the
registry-name and space checks whose errors pydantic reports under the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from hpo_plugin.errors import SpaceError
from hpo_plugin.space import Param, parse_space


def one_of(value: str, registry: Mapping[str, Any], what: str) -> str:
    """Registry membership check whose error lists every valid name."""
    if value not in registry:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(sorted(registry))}")
    return value


def space_of(raw: Any) -> tuple[Param, ...]:
    """A YAML ``space`` mapping as Params; a SpaceError becomes the ValueError pydantic reports."""
    try:
        return raw if isinstance(raw, tuple) else parse_space(raw)
    except SpaceError as exc:
        raise ValueError(str(exc)) from None


class Frozen(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, populate_by_name=True
    )
