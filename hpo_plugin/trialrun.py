"""What every executor shares: the search's context, trial numbering, one trial's evaluation."""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hyperopt import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK, Trials

from hpo_plugin.objective import Objective
from hpo_plugin.records import WARM_WORKDIR, TrialRecord


class Numbers:
    """Thread-safe trial numbers, continuing after a resumed search's."""

    def __init__(self, start: int = 1) -> None:
        self._next = start
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            self._next += 1
            return self._next - 1


@dataclass
class TrialContext:
    """One tracked search, as its executor sees it."""

    prepared: Any  # search.PreparedSearch
    writer: Any  # writer.TrialWriter
    spec: Any  # writer.WriterSpec
    history: Any = None  # resume.History
    progress: bool = False
    numbers: Numbers = field(default_factory=Numbers)
    records: list[TrialRecord] = field(default_factory=list)  # trials logged outside the writer

    @property
    def config(self):
        return self.prepared.config

    def trials(self, trials: Trials | None = None) -> Trials:
        """``trials`` (or a new Trials) holding the resumed or warm-start history."""
        trials = trials if trials is not None else Trials()
        if self.history is not None:
            trials.insert_trial_docs(self.history.trials.trials)
            trials.refresh()
        return trials

    def rstate(self) -> np.random.Generator:
        seed = self.config.search.seed
        return self.history.rstate(seed) if self.history else np.random.default_rng(seed)

    def early_stop_fn(self):
        """hyperopt's ``early_stop_fn`` for ``search.early_stop.patience``, or None."""
        early = self.config.search.early_stop
        return NoImprovement(early.patience, early.min_delta) if early and early.patience else None

    def max_evals(self, trials: Trials) -> int:
        return max_evals(self.config.search, trials)


def max_evals(search, trials: Trials) -> int:
    """fmin's budget: the trials already in ``trials`` count, warm-start ones do not."""
    warm = sum(1 for t in trials.trials if t["misc"].get("workdir") == WARM_WORKDIR)
    return search.max_evals + warm


@dataclass(frozen=True)
class NoImprovement:
    """Stop once ``patience`` finished trials in a row brought no improvement over ``min_delta``.

    Counts this search's trials (resumed ones included, warm-start ones not), in trial order.
    """

    patience: int
    min_delta: float = 0.0

    def __call__(self, trials: Trials, *state) -> tuple[bool, list]:
        best, since = float("inf"), 0
        for doc in trials.trials:
            if doc["state"] != JOB_STATE_DONE or doc["misc"].get("workdir") == WARM_WORKDIR:
                continue
            loss = doc["result"].get("loss") if doc["result"].get("status") == STATUS_OK else None
            if loss is not None and loss < best - self.min_delta:
                best, since = loss, 0
            else:
                since += 1
        return since >= self.patience, []


def evaluate_trial(objective: Objective, record: TrialRecord) -> tuple[dict[str, Any], Any]:
    """Run one trial into ``record``; return (hyperopt result, fitted model or None)."""
    try:
        outcome = objective.evaluate(record.params)
    except Exception as exc:  # any failure of one trial fails that trial, not the search
        record.fail(one_line(exc))
        return {"status": STATUS_FAIL, "trial_number": record.number, "error": record.error}, None
    record.succeed(outcome.loss, outcome.metrics)
    return {"status": STATUS_OK, "loss": outcome.loss, "trial_number": record.number}, outcome.model


def one_line(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {Path(frame[0].filename).name}:{frame[0].lineno})" if frame else ""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}{where}"
