"""The median rule (Optuna's ``MedianPruner``): stop a trial whose best value so far is worse
than the median of the finished trials' values at the same step. With ``forecast``, a trial's
latest forecast is compared (each forecast is made from the reports so far)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hpo_plugin.pruners.board import Board


@dataclass(frozen=True)
class MedianPruner:
    """``warmup_trials`` finished trials before any pruning; no pruning before step
    ``warmup_steps``; then a check every ``interval_steps`` steps, wherever at least
    ``min_trials`` finished trials reported that step."""

    warmup_trials: int = 5
    warmup_steps: int = 0
    interval_steps: int = 1
    min_trials: int = 1

    def prune(self, board: Board, number: int, step: int) -> bool:
        completed = board.completed
        if not completed or len(completed) < self.warmup_trials or step < self.warmup_steps:
            return False
        own = board.steps[number]
        if not _first_in_interval(step, own, self.warmup_steps, self.interval_steps):
            return False
        if board.forecast:  # the latest forecast: an earlier, too hopeful one is not kept
            if math.isnan(best := own[step]):
                return True  # diverged
        else:
            values = np.asarray(list(own.values()), dtype=float)
            if np.isnan(values).all():
                return True
            best = float(np.nanmin(values))
        at_step = [board.steps[n][step] for n in completed if step in board.steps.get(n, {})]
        if len(at_step) < self.min_trials:
            return False
        median = float(np.nanpercentile(np.asarray(at_step, dtype=float), 50))
        return not math.isnan(median) and best > median


def _first_in_interval(step: int, reported, warmup_steps: int, interval_steps: int) -> bool:
    """Whether ``step`` is the first report at or after its check point (Optuna's rule: a check
    point with no report of its own is checked at the next report)."""
    check_point = (step - warmup_steps) // interval_steps * interval_steps + warmup_steps
    previous = max((s for s in reported if s != step), default=-1)
    return previous < check_point
