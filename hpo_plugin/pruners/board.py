"""A search's step values: what each trial reported at each step, as a loss, and which finished.

With ``forecast`` on, the values the rules compare are each trial's forecast, at each step, of
its final value (:mod:`hpo_plugin.pruners.forecast`) rather than the value it reported.

The board lives in the search process; the executors hand each report to :meth:`Board.report`
(directly, over a worker's pipe, or on a copy of the board shipped with a Spark task) and each
ended trial to :meth:`Board.finish`. Plain data and one lock: no MLflow, picklable.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from hpo_plugin.pruners.forecast import forecast, forecasts
from hpo_plugin.pruners.reporter import Reporter

if TYPE_CHECKING:
    from hpo_plugin.tracking.records import TrialRecord


class Pruner(Protocol):
    """Decides, after trial ``number`` reported ``step``, whether it should stop.

    ``board`` holds every trial's values as losses (lower is better: the reported ones, or with
    ``forecast`` their forecasts) and which trials finished; a pruner keeps no state of its own,
    so the same rule runs in the search process and, on a copy of the board, in a Spark task.
    """

    def prune(self, board: Board, number: int, step: int) -> bool: ...


class Board:
    """Every trial's ``{step: loss}``, the finished trials' losses, and the search's pruner.

    ``steps`` holds the values the pruner compares: the reported losses, or with ``forecast``
    their forecasts (the reported ones are in ``reported``), made towards the trial's own last
    step where it is known (``ends``: a built-in trial's rounds or folds, a finished trial's last
    step), otherwise towards the last step of the longest trial that finished with steps
    (``horizon``; until one has, the reported values). Neither depends on the order trials
    finished in.
    """

    def __init__(self, pruner: Pruner | None = None, forecast: bool = False) -> None:
        self.pruner = pruner
        self.forecast = forecast
        self.steps: dict[int, dict[int, float]] = {}  # trial number -> step -> loss, steps rising
        self.reported: dict[int, dict[int, float]] = {}  # the same, as reported (with forecast)
        self.horizon: int | None = None
        self.ends: dict[int, int] = {}  # trial number -> its last step, where known (with forecast)
        self.completed: dict[int, float] = {}  # finished, not pruned: trial number -> loss
        self._first_at: dict[tuple[int, int], float] = {}  # (number, step) -> value, once known
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    @property
    def prunes(self) -> bool:
        return self.pruner is not None

    def report(self, number: int, step: int, loss: float, end: int | None = None) -> bool:
        """Record trial ``number``'s loss at ``step`` (``end``: its last step, where it knows it);
        whether the pruner stops it there."""
        with self._lock:
            if self.forecast and end is not None:
                self.ends[number] = end
            self._record(number, {step: loss})
            return self.pruner is not None and bool(self.pruner.prune(self, number, step))

    def _record(self, number: int, steps: dict[int, float]) -> None:
        if not self.forecast:
            self.steps.setdefault(number, {}).update(steps)
            return
        reported = self.reported.setdefault(number, {})
        last = next(reversed(reported), None)
        reported.update(steps)
        target = self.ends.get(number, self.horizon)
        if len(steps) == 1 and (last is None or next(iter(steps)) > last):  # a trial's next report
            self.steps.setdefault(number, {})[next(iter(steps))] = forecast(reported, target)
        else:
            self.reported[number] = reported = dict(sorted(reported.items()))
            self.steps[number] = forecasts(reported, target)

    def _set_horizon(self, horizon: int) -> None:
        """A finished trial went further than the horizon: every forecast is made again."""
        self.horizon = horizon
        self.steps = {n: forecasts(curve, self.ends.get(n, horizon)) for n, curve in self.reported.items()}
        self._first_at.clear()

    def reporter(self, number: int) -> Reporter:
        """Trial ``number``'s reporter, asking this board (in this process) whether to stop."""
        return Reporter(functools.partial(self.report, number) if self.prunes else None)

    def finish(self, record: TrialRecord) -> None:
        """Take an ended trial's steps; a pruned trial gets its loss for the algorithm here.

        A pruned trial's loss is its value at the step it stopped, but never better than the
        worst finished trial's: the algorithm counts it among the bad trials (as bad as a crash if
        it failed: hyperopt's TPE and ``gp`` take a failed trial as infinitely bad), and it can
        never be taken for the best.
        """
        with self._lock:
            finished = record.scored and record.pruned_step is None
            if record.steps:
                last_step = max(record.steps)
                if self.forecast and finished:  # where it ended (early stopping included)
                    self.ends[record.number] = last_step
                self._record(record.number, record.steps)
                if self.forecast and finished and (self.horizon is None or last_step > self.horizon):
                    self._set_horizon(last_step)
            if record.pruned_step is not None:
                if record.loss is None:  # set once: a Spark task's copy of the board may have
                    record.loss = self.pruned_loss(record.steps.get(record.pruned_step, math.nan))
            elif record.scored:
                self.completed[record.number] = record.loss

    def pruned_loss(self, value: float) -> float | None:
        worst = max(self.completed.values(), default=None)
        candidates = [v for v in (value, worst) if v is not None and math.isfinite(v)]
        return max(candidates) if candidates else None

    def add_history(self, records: Iterable[TrialRecord]) -> None:
        """A resumed search's earlier trials (their final losses; steps where they carry them)."""
        for record in records:
            self.finish(record)

    def snapshot(self) -> Board:
        """A copy for a trial that runs where it cannot ask this board (a Spark task)."""
        with self._lock:
            copy = Board(self.pruner, self.forecast)
            copy.steps = {n: dict(s) for n, s in self.steps.items()}
            copy.reported = {n: dict(s) for n, s in self.reported.items()}
            copy.horizon = self.horizon
            copy.ends = dict(self.ends)
            copy.completed = dict(self.completed)
            return copy

    def first_at_or_after(self, number: int, step: int) -> float | None:
        """Trial ``number``'s value at its first reported step at or after ``step``, if any."""
        if (number, step) in self._first_at:
            return self._first_at[(number, step)]
        for reported, value in self.steps.get(number, {}).items():
            if reported >= step:
                self._first_at[(number, step)] = value  # later reports cannot change it
                return value
        return None
