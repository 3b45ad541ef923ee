"""The local executor: trials run in N worker processes on this machine.

hyperopt's own asynchronous loop (``FMinIter``) proposes trials into :class:`PoolTrials`; one
thread per worker slot takes each new trial as soon as it is queued, sends its params to its
worker process and hands start and finish to the search's trial writer, which alone writes to
MLflow (so sqlite's single writer is never contended). A worker that dies fails only the trial
it was running; the slot starts a new worker and the search goes on.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
from typing import Any

from hyperopt import JOB_STATE_DONE, JOB_STATE_NEW, JOB_STATE_RUNNING, STATUS_FAIL, Trials, space_eval
from hyperopt.base import Domain, spec_from_misc
from hyperopt.fmin import FMinIter
from hyperopt.utils import coarse_utcnow
from threadpoolctl import threadpool_limits

from hpo_plugin.objective import Objective
from hpo_plugin.procs import EOF_FRAME, child_io, receive, send, spawn
from hpo_plugin.records import TrialRecord
from hpo_plugin.space import decode
from hpo_plugin.tracking import SavedModel
from hpo_plugin.trialrun import TrialContext, evaluate_trial, one_line

POLL_S = 0.02  # how often hyperopt's loop looks for finished trials (its default is 1 s)


class PoolTrials(Trials):
    """Trials whose queued (NEW) trials are taken by worker slots the moment they arrive."""

    asynchronous = True

    def __init__(self) -> None:
        super().__init__()
        self._arrived = threading.Condition()
        self.closed = False
        self.cancelled = False

    def insert_trial_docs(self, docs):
        with self._arrived:
            rval = super().insert_trial_docs(docs)
            self._arrived.notify_all()
        return rval

    def take(self) -> dict[str, Any] | None:
        """The next queued trial, marked running; None once the search is over."""
        with self._arrived:
            while not self.closed:
                for doc in self._dynamic_trials:
                    if doc["state"] == JOB_STATE_NEW:
                        doc["state"], doc["book_time"] = JOB_STATE_RUNNING, coarse_utcnow()
                        return doc
                self._arrived.wait()
        return None

    def close(self, cancelled: bool = False) -> None:
        with self._arrived:
            self.closed, self.cancelled = True, self.cancelled or cancelled
            self._arrived.notify_all()


class Slot:
    """One worker process, restarted if it dies."""

    def __init__(self, objective: Objective, spec) -> None:
        self.setup = (objective, spec.signature, spec.input_example)
        self.process = _take_spare()
        send(self.process.stdin, self.setup)

    def _start(self) -> None:
        self.process = spawn(WORKER)
        send(self.process.stdin, self.setup)

    def evaluate(self, record: TrialRecord) -> tuple[dict[str, Any], Any]:
        """Run ``record``'s trial in the worker; fill in ``record``; return (result, model)."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        try:
            send(self.process.stdin, record.params)
            reply = receive(self.process.stdout)
        except OSError:
            reply = EOF_FRAME
        if reply is EOF_FRAME:
            code = self.process.wait()
            self.process = None
            record.fail(f"the worker process died while running this trial ({_exit_reason(code)})")
            return {"status": STATUS_FAIL, "trial_number": record.number, "error": record.error}, None
        (record.status, record.loss, record.metrics, record.error, record.end_ms), result, model = reply
        return {**result, "trial_number": record.number}, model

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        with contextlib.suppress(OSError):
            if kill:
                self.process.kill()
            self.process.stdin.close()
        self.process.wait()


def _exit_reason(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _serve(trials: PoolTrials, slot: Slot, ctx: TrialContext, space) -> None:
    while (doc := trials.take()) is not None:
        record = TrialRecord(ctx.numbers.take(), decode(space_eval(space, spec_from_misc(doc["misc"]))))
        ctx.writer.started(record)
        result, model = slot.evaluate(record)
        if trials.cancelled:  # interrupted: the writer ends this trial's run KILLED
            if isinstance(model, SavedModel):
                model.discard()
            return
        ctx.writer.finished(record, model)
        doc["result"], doc["refresh_time"] = result, coarse_utcnow()
        doc["state"] = JOB_STATE_DONE


def _never_called(point):
    raise AssertionError("local executor trials run in worker processes")


def run(ctx: TrialContext) -> None:
    prepared, search = ctx.prepared, ctx.config.search
    trials = ctx.trials(PoolTrials())
    slots = [Slot(prepared.objective, ctx.spec) for _ in range(ctx.config.executor.workers)]
    threads = [
        threading.Thread(target=_serve, args=(trials, slot, ctx, prepared.hyperopt_space), daemon=True)
        for slot in slots
    ]
    for thread in threads:
        thread.start()
    loop = FMinIter(
        prepared.suggest,
        Domain(_never_called, prepared.hyperopt_space),
        trials,
        ctx.rstate(),
        asynchronous=True,
        max_queue_len=1,  # one proposal waits for the next free slot; later ones see more results
        poll_interval_secs=POLL_S,
        max_evals=ctx.max_evals(trials),
        timeout=search.time_limit,
        loss_threshold=search.loss_threshold,
        verbose=ctx.progress,
        show_progressbar=ctx.progress,
        early_stop_fn=ctx.early_stop_fn(),
    )
    cancelled = True
    try:
        loop.exhaust()
        cancelled = False
    finally:
        trials.close(cancelled)
        for slot in slots:
            slot.stop(kill=cancelled)
        for thread in threads:
            thread.join()


WORKER = "hpo_plugin.pool:worker_main"
_SPARES: list = []


def prestart(n: int) -> None:
    """Start ``n`` workers now: their imports overlap the search's setup (data, parent run)."""
    _SPARES.extend(spawn(WORKER) for _ in range(n - len(_SPARES)))


def _take_spare():
    while _SPARES:
        process = _SPARES.pop()
        if process.poll() is None:
            return process
    return spawn(WORKER)


@atexit.register
def _stop_spares() -> None:
    while _SPARES:
        process = _SPARES.pop()
        with contextlib.suppress(OSError):
            process.stdin.close()
            process.kill()


def worker_main() -> None:
    """Entry point of a worker process: the objective once, then one trial per message."""
    receive_frame, send_frame = child_io()
    setup = receive_frame()
    if setup is EOF_FRAME:
        return
    objective, signature, example = setup
    with threadpool_limits(limits=objective.n_threads):
        while (params := receive_frame()) is not EOF_FRAME:
            record = TrialRecord(0, params)
            result, model = evaluate_trial(objective, record)
            if model is not None:  # saved here, in parallel; the writer only uploads it
                try:
                    model = SavedModel.save(model, signature, example)
                except Exception as exc:
                    record.fail(f"saving the model failed: {one_line(exc)}")
                    result, model = {"status": STATUS_FAIL, "error": record.error}, None
            fields = (record.status, record.loss, record.metrics, record.error, record.end_ms)
            try:
                send_frame((fields, result, model))
            except OSError:  # the search process is gone
                os._exit(0)
