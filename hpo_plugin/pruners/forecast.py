"""A trial's final value, forecast from its reports so far (``search.pruning.forecast``).

A value after 60 boosting rounds ranks trials by how fast they learn, not by where they end: on
the bundled diabetes data, XGBoost's error after 60 rounds ranks 80 random configurations
nearly the other way round from their error after 1,000 (Spearman -0.53), where this forecast
ranks them much as they end (0.65); benchmarks/README.md has the pruning figures.

The forecast extrapolates the last improvements geometrically: the improvement per step between
the last two reports is taken to shrink by the same factor per step as it did from the interval
before (at most :data:`MAX_RATIO` per last interval), up to the horizon (the last step of the
longest finished trial). Reports need not be evenly spaced: improvements are compared per step.
A curve that did not improve over both of its last two intervals, or has fewer than three
reports, is forecast at its last value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import islice

MAX_RATIO = 0.95  # the most an interval's improvement may be of the one before (as long)


def forecast(steps: Mapping[int, float], horizon: int | None) -> float:
    """The value ``steps`` (``{step: loss}``, steps rising) is forecast to reach at ``horizon``."""
    return _extrapolate(list(islice(reversed(steps.items()), 3))[::-1], horizon)


def forecasts(steps: Mapping[int, float], horizon: int | None) -> dict[int, float]:
    """At each step of a curve, the forecast from its reports up to that step."""
    items = list(steps.items())
    return {step: _extrapolate(items[max(i - 2, 0) : i + 1], horizon) for i, (step, _) in enumerate(items)}


def _extrapolate(points: list[tuple[int, float]], horizon: int | None) -> float:
    """From a curve's last three points (or fewer).

    With the last interval's length ``d`` and improvement ``latest``, and the interval before's
    improvement per step ``earlier_rate``: each next interval of ``d`` steps improves ``ratio``
    times the one before, ``ratio`` being how much the improvement per step shrank, scaled to
    ``d`` steps over the distance between the two intervals' middles.
    """
    last_step, last = points[-1]
    if horizon is None or len(points) < 3 or not math.isfinite(last) or horizon <= last_step:
        return last
    (before_step, before), (previous_step, previous) = points[-3], points[-2]
    latest, earlier = previous - last, before - previous  # the last two improvements
    if not latest > 0 or not earlier > 0:
        return last
    interval = last_step - previous_step
    rate_ratio = (latest / interval) / (earlier / (previous_step - before_step))
    ratio = min(rate_ratio ** (2 * interval / (last_step - before_step)), MAX_RATIO)
    intervals = (horizon - last_step) / interval
    return last - latest * ratio * (1 - ratio**intervals) / (1 - ratio)
