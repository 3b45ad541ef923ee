"""A trial's side of pruning: the values it reports, step by step, and whether it should stop.

The objective reports through a :class:`Reporter`; where the trial runs decides who answers
(``ask``): the search's board directly (sequential), over the worker's pipe (local), a copy of
the board (a Spark task), or nobody (no pruning: the steps are only recorded).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

from hpo_plugin.pruners.base import TrialPruned


class Reporter:
    """Collects ``{step: loss}`` and the metric history to log; knows whether to stop."""

    def __init__(self, ask: Callable[[int, float, int | None], bool] | None = None) -> None:
        self.ask = ask  # (step, loss, end) -> stop?
        self.end: int | None = None  # the trial's last step, where it is known (rounds, folds)
        self.steps: dict[int, float] = {}  # step -> loss (lower is better)
        self.history: list[tuple[str, float, int]] = []  # (metric key, value, step) to log
        self.pruned = False

    @property
    def prunes(self) -> bool:
        """Whether anyone decides on the reports (reporting without pruning only records them)."""
        return self.ask is not None

    def report(self, step: int, loss: float, metric: tuple[str, float] | None = None) -> bool:
        """Record ``loss`` at ``step`` (``metric``: the key and value to log at that step too);
        whether the trial should stop now."""
        if not isinstance(step, numbers.Integral) or isinstance(step, bool) or step < 0:
            raise ValueError(f"step must be a whole number >= 0, got {step!r}")
        if not isinstance(loss, numbers.Real) or isinstance(loss, bool):
            raise ValueError(f"the reported value must be a number, got {type(loss).__name__}")
        if self.steps and step <= (last := next(reversed(self.steps))):
            raise ValueError(f"step {step} reported after step {last}; report each step once, in order")
        self.steps[int(step)] = float(loss)
        if metric is not None:
            self.history.append((metric[0], float(metric[1]), int(step)))
        self.pruned = self.ask is not None and bool(self.ask(int(step), float(loss), self.end))
        return self.pruned

    def check(self) -> None:
        """Raise :class:`TrialPruned` if the last report said to stop, unless it was the trial's
        last step (``end``): a trial that has done all its work finishes with its model."""
        if self.pruned and self.last_step != self.end:
            raise TrialPruned()

    @property
    def last_step(self) -> int | None:
        return next(reversed(self.steps)) if self.steps else None


def loss_of(value: float, maximize: bool) -> float:
    """A reported value as a loss (NaN, a diverged trial, stays NaN: pruners stop it)."""
    return -value if maximize else value
