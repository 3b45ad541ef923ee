"""Start points: each model family's library defaults, moved into the searched ranges.

A search's first trial at the defaults costs one trial and guarantees the result is never
worse than not tuning at all; TPE then models the space around a known-reasonable point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hpo_plugin.models.families import family_named
from hpo_plugin.space import CHOICE, Param


def start_points(config, task: str) -> tuple[dict[str, Any], ...]:
    """One point (hyperopt ``vals``) per candidate family, at that family's defaults."""
    if config.model is not None:
        return (_point(config.space, _defaults(config.model.name, task)),)
    (family_choice,) = config.space
    return tuple(
        {family_choice.label: i, **_point(option.space, _defaults(option.value, task))}
        for i, option in enumerate(family_choice.options)
    )


def _defaults(family: str, task: str) -> dict[str, Any]:
    fam = family_named(family)
    cls = fam.estimator_class(task)
    found = {k: v for k, v in cls().get_params().items() if v is not None} if cls else {}
    return {**found, **fam.library_defaults}


def _point(space: tuple[Param, ...], defaults: Mapping[str, Any]) -> dict[str, Any]:
    vals: dict[str, Any] = {}
    for p in space:
        if p.kind == CHOICE:
            values = [o.value for o in p.options]
            index = values.index(defaults[p.name]) if defaults.get(p.name) in values else 0
            vals[p.label] = index
            vals.update(_point(p.options[index].space, defaults))
        else:
            vals[p.label] = _inside(p, defaults.get(p.name))
    return vals


def _inside(p: Param, value: Any) -> float | int:
    """``value`` clipped into the distribution's range and grid; its centre if not numeric."""
    a = p.args
    if p.kind == "normal":
        return float(value) if isinstance(value, int | float) else a[0]
    low, high = a[0], a[1]
    if not isinstance(value, int | float) or isinstance(value, bool):
        value = math.sqrt(low * high) if p.kind.endswith("loguniform") else (low + high) / 2
    if p.kind == "randint":
        return int(min(max(round(value), low), high - 1))
    value = min(max(float(value), low), high)
    if len(a) == 3:  # quantized: onto the grid, inside the range
        q = a[2]
        value = min(max(round(value / q) * q, math.ceil(low / q) * q), math.floor(high / q) * q)
    return value
