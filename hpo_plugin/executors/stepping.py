"""hyperopt's loop with steps that cost the same at trial 10,000 as at trial 10.

hyperopt's ``FMinIter.run`` rescans every trial several times per step (counts by state, a
refresh that rebuilds the trial list, the best loss for its progress bar), so a search of
thousands of fast trials slows down as it goes. :class:`Loop` is the same loop (same proposals,
same seed draws, same stop rules: budget, timeout, loss threshold, early stop, cancellation)
following only the trials not finished yet, and :class:`GrowingTrials` refreshes by appending
the documents inserted since its last refresh.
"""

from __future__ import annotations

import math
import time
from typing import Any

from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_NEW, JOB_STATE_RUNNING, Trials
from hyperopt.base import JOB_VALID_STATES, Ctrl, spec_from_misc
from hyperopt.fmin import FMinIter
from hyperopt.utils import coarse_utcnow

from hpo_plugin.hyperopt_protocol import SEED_DRAW

UNFINISHED = (JOB_STATE_NEW, JOB_STATE_RUNNING)


class GrowingTrials(Trials):
    """hyperopt's ``Trials`` whose ``refresh`` appends the documents inserted since the last one.

    hyperopt's own rebuilds the list of every trial at each refresh. A document leaves
    ``trials`` only when its state leaves hyperopt's valid ones (an error in its loop); the
    loop that sets such a state asks for a full refresh (:meth:`rebuild`).
    """

    def refresh(self) -> None:
        dynamic, known = self._dynamic_trials, getattr(self, "_known", None)
        if self._exp_key is not None or known is None or known[0] is not dynamic or known[1] > len(dynamic):
            return self.rebuild()
        new = [d for d in dynamic[known[1] :] if d["state"] in JOB_VALID_STATES]
        self._trials.extend(new)
        self._ids.update(d["tid"] for d in new)
        self._known = (dynamic, len(dynamic))

    def rebuild(self) -> None:
        """hyperopt's full refresh."""
        Trials.refresh(self)
        self._known = (self._dynamic_trials, len(self._dynamic_trials))


class Loop(FMinIter):
    """hyperopt's ``FMinIter`` that follows its unfinished trials instead of rescanning all."""

    def run(self, N: int, block_until_done: bool = True) -> None:
        trials = self.trials
        self._open = [d for d in trials._dynamic_trials if d["state"] in UNFINISHED]
        self._best = math.inf  # hyperopt's too: the earlier trials' best counts after a first step
        earlier_best = min((_loss(d) for d in trials._dynamic_trials), default=math.inf)
        n_queued, stopped = 0, False
        done_before = sum(1 for d in trials._dynamic_trials if d["state"] == JOB_STATE_DONE)
        with self.progress_callback(initial=done_before, total=self.max_evals) as progress_ctx:
            while (
                (n_queued < N or (block_until_done and self._open))
                and (self.timeout is None or time.perf_counter() - self.start_time < self.timeout)
                and (self.loss_threshold is None or self._best >= self.loss_threshold)
            ):
                queued = self._queued()
                while queued < self.max_queue_len and n_queued < N and not self.is_cancelled:
                    new_ids = trials.new_trial_ids(min(self.max_queue_len - queued, N - n_queued))
                    trials.refresh()
                    docs = self.algo(new_ids, self.domain, trials, self.rstate.integers(SEED_DRAW))
                    if not docs:
                        stopped = True
                        break
                    trials.insert_trial_docs(docs)
                    self._open.extend(trials._dynamic_trials[-len(docs) :])
                    trials.refresh()
                    n_queued += len(docs)
                    queued = self._queued()
                if self.is_cancelled:
                    break
                if self.asynchronous:
                    time.sleep(self.poll_interval_secs)
                else:
                    self.serial_evaluate()
                trials.refresh()
                if self.early_stop_fn is not None:
                    stop, self.early_stop_args = self.early_stop_fn(trials, *self.early_stop_args)
                    stopped = stopped or stop
                finished = self._finish()
                self._best = min(self._best, earlier_best)
                if math.isfinite(self._best):
                    progress_ctx.postfix = f"best loss: {self._best}"
                if finished:
                    progress_ctx.update(finished)
                if stopped:
                    break
        if block_until_done:
            self.block_until_done()

    def _queued(self) -> int:
        return sum(1 for d in self._open if d["state"] == JOB_STATE_NEW)

    def _finish(self) -> int:
        """Drop the trials that finished from the open ones; how many ended DONE."""
        ended = [d for d in self._open if d["state"] not in UNFINISHED]
        if ended:
            self._open = [d for d in self._open if d["state"] in UNFINISHED]
            self._best = min([self._best] + [_loss(d) for d in ended])
        return sum(1 for d in ended if d["state"] == JOB_STATE_DONE)

    def serial_evaluate(self, N: int = -1) -> None:
        """hyperopt's: run the queued trials in this process (only the open ones are looked at)."""
        for trial in [d for d in self._open if d["state"] == JOB_STATE_NEW]:
            now = coarse_utcnow()
            trial["state"], trial["book_time"], trial["refresh_time"] = JOB_STATE_RUNNING, now, now
            ctrl = Ctrl(self.trials, current_trial=trial)
            try:
                result = self.domain.evaluate(spec_from_misc(trial["misc"]), ctrl)
            except Exception as exc:
                trial["state"], trial["refresh_time"] = JOB_STATE_ERROR, coarse_utcnow()
                trial["misc"]["error"] = (str(type(exc)), str(exc))
                _rebuild(self.trials)
                raise
            trial["state"], trial["result"], trial["refresh_time"] = JOB_STATE_DONE, result, coarse_utcnow()
            N -= 1
            if N == 0:
                break
        self.trials.refresh()

    def block_until_done(self) -> None:
        if not self.asynchronous:
            self.serial_evaluate()
            return
        while any(d["state"] in UNFINISHED for d in self._open):
            time.sleep(self.poll_interval_secs)
        self.trials.refresh()


def _loss(doc: dict[str, Any]) -> float:
    """The loss hyperopt's progress bar and loss threshold read (any trial's, unless missing or NaN)."""
    loss = doc["result"].get("loss")
    return math.inf if loss is None or math.isnan(loss) else float(loss)


def _rebuild(trials: Trials) -> None:
    (trials.rebuild if isinstance(trials, GrowingTrials) else trials.refresh)()
