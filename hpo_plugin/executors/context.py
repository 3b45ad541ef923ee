"""One tracked search as its executor sees it: what to run, where to record it, where to resume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hyperopt import Trials

from hpo_plugin.executors.loop import early_stop_fn, minimize
from hpo_plugin.executors.stepping import GrowingTrials
from hpo_plugin.executors.trial import Numbers
from hpo_plugin.pruners import Board
from hpo_plugin.tracking.records import TrialRecord


@dataclass
class TrialContext:
    """A tracked search, handed to an executor's ``run(ctx)``."""

    prepared: Any  # search.prepare.PreparedSearch: config, objective, algorithm, space
    writer: Any  # tracking.writer.TrialWriter: records trials that run in this process's view
    spec: Any  # tracking.writer.WriterSpec: lets a remote task record its own trial
    history: Any = None  # search.history.History: a resumed or warm-started search's trials
    progress: bool = False
    numbers: Numbers = field(default_factory=Numbers)
    records: list[TrialRecord] = field(default_factory=list)  # trials logged outside the writer
    board: Board = field(init=False)  # the trials' step values and the pruner that reads them
    hyperopt_trials: Trials | None = None  # hyperopt's trials once the loop ran (documents, results)

    def __post_init__(self) -> None:
        self.board = new_board(self.config.search)
        if self.history is not None:  # a resumed search's pruner knows the finished trials
            self.board.add_history(self.history.records)

    @property
    def config(self):
        return self.prepared.config

    def trials(self, trials: Trials | None = None) -> Trials:
        """``trials`` (or new GrowingTrials) holding the resumed or warm-start history."""
        trials = trials if trials is not None else GrowingTrials()
        if self.history is not None:
            trials.insert_trial_docs(self.history.trials.trials)
            trials.refresh()
        return trials

    def rstate(self) -> np.random.Generator:
        seed = self.config.search.seed
        return self.history.rstate(seed) if self.history else np.random.default_rng(seed)

    def minimize(self, fn, trials: Trials, max_queue_len: int = 1) -> Trials:
        """The search's hyperopt loop over ``fn`` and ``trials``, with its seed stream and stop rules."""
        self.hyperopt_trials = trials
        return minimize(
            self.prepared,
            fn,
            trials,
            self.rstate(),
            self.progress,
            early_stop_fn(self.config.search),
            max_queue_len,
        )


def new_board(search) -> Board:
    """A board with the pruner of ``search.pruning`` (none: the steps are only recorded)."""
    if search.pruning is None:
        return Board()
    return Board(search.pruning.pruner(), forecast=search.pruning.forecast)
