"""A trial's final value, forecast from its reports so far (``search.pruning.forecast``).

A value after 60 boosting rounds ranks trials by how fast they learn, not by where they end: on
the bundled diabetes data, XGBoost's error after 60 rounds ranks 80 random configurations
nearly the other way round from their error after 1,000 (Spearman -0.53), where this forecast
ranks them much as they end (0.65); benchmarks/README.md has the pruning figures. The forecast
extrapolates the last improvements geometrically: each next interval between reports is taken
to improve by ``r`` times the one before, ``r`` being the ratio of the last two improvements
(at most :data:`MAX_RATIO`), up to the horizon (the last step of the search's first finished
trial). A curve that stopped improving, or has fewer than three reports, is its last value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import islice

MAX_RATIO = 0.95


def forecast(steps: Mapping[int, float], horizon: int | None) -> float:
    """The value ``steps`` (``{step: loss}``, steps rising) is forecast to reach at ``horizon``."""
    return _extrapolate(list(islice(reversed(steps.items()), 3))[::-1], horizon)


def forecasts(steps: Mapping[int, float], horizon: int | None) -> dict[int, float]:
    """At each step of a curve, the forecast from its reports up to that step."""
    items = list(steps.items())
    return {step: _extrapolate(items[max(i - 2, 0) : i + 1], horizon) for i, (step, _) in enumerate(items)}


def _extrapolate(points: list[tuple[int, float]], horizon: int | None) -> float:
    """From a curve's last three points (or fewer)."""
    last_step, last = points[-1]
    if horizon is None or len(points) < 3 or not math.isfinite(last):
        return last
    (_, before), (previous_step, previous) = points[-3], points[-2]
    latest, earlier = previous - last, before - previous  # the last two improvements
    if not latest > 0 or not earlier > 0:
        return last
    ratio = min(latest / earlier, MAX_RATIO)
    intervals = max((horizon - last_step) // (last_step - previous_step), 0)
    return last - latest * ratio * (1 - ratio**intervals) / (1 - ratio)
