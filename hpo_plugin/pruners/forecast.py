"""A trial's final value, forecast from its reports so far (``search.pruning.forecast``).

A value after 60 boosting rounds ranks trials by how fast they learn, not by where they end: on
the bundled diabetes data, XGBoost's error after 60 rounds ranks 80 random configurations
nearly the other way round from their error after 1,000 (Spearman -0.53), where this forecast
ranks them much as they end (0.65); benchmarks/README.md has the pruning figures.

The forecast extrapolates the last improvements geometrically: the improvement per step between
the last two reports is taken to shrink by the same factor per step as it did from the interval
before (at most :data:`MAX_RATIO` per interval as long as the one before), up to the horizon
(the trial's own last step where it is known, such as a boosting trial's rounds; otherwise the
last step of the longest finished trial). Reports need not be evenly spaced: improvements are
compared per step. A curve that did not improve over both of its last two intervals, or has
fewer than three reports, is forecast at its last value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import islice

MAX_RATIO = 0.95  # the most an interval's improvement may be of the one before, as long as it


def forecast(steps: Mapping[int, float], horizon: int | None) -> float:
    """The value ``steps`` (``{step: loss}``, steps rising) is forecast to reach at ``horizon``."""
    return _extrapolate(list(islice(reversed(steps.items()), 3))[::-1], horizon)


def forecasts(steps: Mapping[int, float], horizon: int | None) -> dict[int, float]:
    """At each step of a curve, the forecast from its reports up to that step."""
    items = list(steps.items())
    return {step: _extrapolate(items[max(i - 2, 0) : i + 1], horizon) for i, (step, _) in enumerate(items)}


def _extrapolate(points: list[tuple[int, float]], horizon: int | None) -> float:
    """From a curve's last three points (or fewer).

    With the last interval's length ``d`` and improvement ``latest``: each next ``d`` steps
    improve ``ratio`` times the ``d`` before, ``ratio`` being how much the improvement per step
    shrank from the interval before, scaled to ``d`` steps over the distance between the two
    intervals' middles, and at most :data:`MAX_RATIO` per interval as long as the one before
    (so the cap does not depend on how the reports are spaced either).
    """
    last_step, last = points[-1]
    if horizon is None or len(points) < 3 or not math.isfinite(last) or horizon <= last_step:
        return last
    (before_step, before), (previous_step, previous) = points[-3], points[-2]
    latest, earlier = previous - last, before - previous  # the last two improvements
    if not latest > 0 or not earlier > 0:
        return last
    interval, earlier_interval = last_step - previous_step, previous_step - before_step
    rate_ratio = min((latest * earlier_interval) / (earlier * interval), 1.0)  # per step, <= 1
    ratio = rate_ratio ** (2 * interval / (last_step - before_step))
    cap = MAX_RATIO ** (interval / earlier_interval)
    ratio = ratio if ratio < cap else cap  # (NaN, from infinite improvements, is capped too)
    intervals = (horizon - last_step) / interval
    value = last - latest * ratio * (1 - ratio**intervals) / (1 - ratio)
    return value if math.isfinite(value) else last
