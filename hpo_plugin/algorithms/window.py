"""A bounded view of a long search's history, for algorithms that read every trial per proposal.

hyperopt's TPE and annealing look at every earlier trial at each proposal, so a search of
thousands of fast trials slows down as it goes (TPE: 2 ms a proposal at trial 100, 70 ms at
trial 10,000). Past ``limit`` trials they see, instead, the best ``limit // 2`` finished trials
and the latest ones (``gp`` does the same past 100): the good region keeps its best points, the
rest follows the search's recent course. The best are kept as trials finish, so a proposal costs
the same at trial 10,000 as at trial ``limit``. Searches of up to ``limit`` trials propose exactly
what the algorithm proposes without the window.

The view depends only on the trials and their losses, so a resumed search, rebuilt from MLflow
in trial order, proposes what the uninterrupted one would have.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from hyperopt import JOB_STATE_NEW, JOB_STATE_RUNNING, STATUS_OK

from hpo_plugin.algorithms.points import Suggest

LIMIT = 500  # benchmarks/scale.py: TPE at 500 trials costs ~4 ms a proposal on 2 cores


class _View:
    """What an algorithm reads of ``trials``: ``trials.trials`` narrowed to ``docs``; the rest
    (``new_trial_docs``, attachments) is the real trials'."""

    def __init__(self, trials: Any, docs: list[dict[str, Any]]) -> None:
        self._of = trials
        self.trials = docs

    def __len__(self) -> int:
        return len(self.trials)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._of, name)


@dataclass
class _Best:
    """The ``size`` successful trials of one Trials with the lowest loss, kept as trials arrive.

    Ties go to the earlier trial (as a stable sort by loss would). Looks at each trial document
    once, and again only while it is unfinished (a proposed or running trial of a parallel search).
    """

    trials: Any
    size: int
    seen: int = 0  # documents of ``trials.trials`` looked at
    pending: list[dict[str, Any]] = field(default_factory=list)  # seen unfinished
    heap: list[tuple[float, int]] = field(default_factory=list)  # (-loss, -tid): worst on top
    docs: dict[int, dict[str, Any]] = field(default_factory=dict)  # tid -> kept document

    def update(self) -> list[dict[str, Any]]:
        docs = self.trials.trials
        fresh, self.pending = self.pending + docs[self.seen :], []
        self.seen = len(docs)
        for doc in fresh:
            if doc["state"] in (JOB_STATE_NEW, JOB_STATE_RUNNING):
                self.pending.append(doc)
                continue
            result = doc["result"]
            loss = result.get("loss")
            if result.get("status") != STATUS_OK or loss is None or not math.isfinite(loss):
                continue
            item = (-float(loss), -doc["tid"])
            if len(self.heap) < self.size:
                heapq.heappush(self.heap, item)
            elif item > self.heap[0]:
                self.docs.pop(-heapq.heappushpop(self.heap, item)[1])
            else:
                continue
            self.docs[doc["tid"]] = doc
        return list(self.docs.values())


@dataclass
class Windowed:
    """``then`` over at most ``limit`` trials: the best half (finished) and the latest."""

    then: Suggest
    limit: int = LIMIT
    _best: _Best | None = field(default=None, repr=False)

    def suggest(self, new_ids, domain, trials, seed) -> list[dict[str, Any]]:
        docs = trials.trials
        if len(docs) <= self.limit:
            return self.then(new_ids, domain, trials, seed)
        if self._best is None or self._best.trials is not trials or self._best.seen > len(docs):
            self._best = _Best(trials, self.limit // 2)
        best = self._best.update()
        latest = docs[len(docs) - (self.limit - len(best)) :]
        view = {d["tid"]: d for d in best} | {d["tid"]: d for d in latest}
        return self.then(new_ids, domain, _View(trials, [view[t] for t in sorted(view)]), seed)
