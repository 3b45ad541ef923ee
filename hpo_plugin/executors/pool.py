"""The pool driver the local and spark executors share: hyperopt's asynchronous loop proposes
trials into :class:`PoolTrials`; one thread per slot (a worker process, a Spark job group) takes
each queued trial the moment it arrives, runs it and hands its result back.

An executor built on it supplies ``serve(trials, slot)`` (take trials until ``take`` says the
search is over) and, optionally, how to stop its slots when the loop ends (:func:`drive`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hyperopt import JOB_STATE_DONE, JOB_STATE_NEW, JOB_STATE_RUNNING

from hpo_plugin.executors.context import TrialContext
from hpo_plugin.executors.stepping import GrowingTrials
from hpo_plugin.executors.trial import new_record
from hpo_plugin.hyperopt_protocol import point_vals
from hpo_plugin.tracking.records import TrialRecord

WAIT_S = 0.25  # the longest the loop waits for an event: how late it sees a timeout


def _now() -> datetime:
    """A trial document's timestamp, as hyperopt writes them (naive UTC, whole milliseconds)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class PoolTrials(GrowingTrials):
    """Trials whose queued (NEW) trials are taken by worker slots the moment they arrive.

    hyperopt's loop refreshes its trials after every poll; here a refresh made while a trial
    waits in the queue first waits for a slot to take one or finish one, so the loop wakes
    per event instead of spinning through polls (and their scans of every trial).
    """

    asynchronous = True

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._events = self._seen = 0  # takes and finishes so far; those the loop has seen
        self._queue: deque[dict[str, Any]] = deque()  # proposed trials no slot has taken yet
        self.closed = False
        self.cancelled = False
        super().__init__()  # refreshes

    def insert_trial_docs(self, docs):
        with self._changed:
            rval = super().insert_trial_docs(docs)
            GrowingTrials.refresh(self)  # the stored documents (copies of ``docs``) appear in ``trials``
            stored = self._dynamic_trials[len(self._dynamic_trials) - len(rval) :]
            self._queue.extend(d for d in stored if d["state"] == JOB_STATE_NEW)
            self._changed.notify_all()
        return rval

    def refresh(self) -> None:
        with self._changed:
            if self._events == self._seen and not self.closed and self._queue:
                self._changed.wait(WAIT_S)
            self._seen = self._events
        super().refresh()

    def take(self) -> dict[str, Any] | None:
        """The next queued trial, marked running; None once the search is over."""
        with self._changed:
            while not self.closed:
                if self._queue:
                    doc = self._queue.popleft()
                    doc["state"], doc["book_time"] = JOB_STATE_RUNNING, _now()
                    self._event()
                    return doc
                self._changed.wait()
        return None

    def finish(self, doc: dict[str, Any], result: dict[str, Any]) -> None:
        with self._changed:
            doc["result"], doc["refresh_time"], doc["state"] = result, _now(), JOB_STATE_DONE
            self._event()

    def _event(self) -> None:
        self._events += 1
        self._changed.notify_all()

    def close(self, cancelled: bool = False) -> None:
        with self._changed:
            self.closed, self.cancelled = True, self.cancelled or cancelled
            self._changed.notify_all()


def proposed(ctx: TrialContext, doc: dict[str, Any]) -> TrialRecord:
    """The record of a proposed trial document, numbered."""
    space, vals = ctx.prepared.space, point_vals(doc["misc"])
    return new_record(space, ctx.numbers.take(), space.point_of(vals), vals)


def drive(
    ctx: TrialContext,
    serve: Callable[[PoolTrials, int], None],
    slots: int,
    stop: Callable[[bool], None] = lambda cancelled: None,
) -> None:
    """Run the search's loop with ``slots`` threads serving its trials.

    When the loop ends (its budget, a stop rule, an interruption), ``stop(cancelled)`` ends the
    slots' work (``cancelled``: the search was interrupted) before the threads are joined.
    """
    trials = ctx.trials(PoolTrials())
    threads = [threading.Thread(target=serve, args=(trials, slot), daemon=True) for slot in range(slots)]
    for thread in threads:
        thread.start()
    cancelled = True
    try:
        # One proposal waits for the next free slot; later ones see more results.
        ctx.minimize(_never_called, trials, max_queue_len=1)
        cancelled = False
    finally:
        trials.close(cancelled)
        stop(cancelled)
        for thread in threads:
            thread.join()


def _never_called(point, vals):
    raise AssertionError("pooled trials run in their slots, not in hyperopt's loop")
