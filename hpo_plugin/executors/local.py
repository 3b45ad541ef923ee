"""The local executor: trials run in N worker processes on this machine.

The pool driver (:mod:`.pool`, shared with the spark executor) has one thread per worker
slot take each new trial as soon as it is queued; the slot sends its params to its
worker process and hands start and finish to the search's trial writer, which alone writes to
MLflow (so sqlite's single writer is never contended). A worker that dies fails only the trial
it was running; the slot starts a new worker and the search goes on. Workers outlive their
search: the next search of the process reuses them, as it reuses the trial writer.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import signal
import threading
import time
from functools import partial
from typing import Any, NamedTuple

import cloudpickle
from threadpoolctl import threadpool_limits

from hpo_plugin.errors import one_line
from hpo_plugin.executors.context import TrialContext
from hpo_plugin.executors.limits import Limits
from hpo_plugin.executors.pool import PoolTrials, drive, proposed
from hpo_plugin.executors.trial import evaluate_trial, prepare_trial, run_trial
from hpo_plugin.models.files import ModelFiles
from hpo_plugin.objectives.base import Objective
from hpo_plugin.processes import EOF_FRAME, child_io, receive, send, spawn
from hpo_plugin.pruners import Board, Reporter
from hpo_plugin.tracking.records import TrialRecord

# What a worker sends back of a trial's record (with its model files).
REPLY_FIELDS = (
    "status",
    "loss",
    "metrics",
    "error",
    "traceback",
    "end_ms",
    "log",
    "model_id",
    "steps",
    "pruned_step",
)


class Stopped(NamedTuple):
    """A trial stopped past its limits (its worker is killed), and why."""

    reason: str


class Began(NamedTuple):
    """A worker's word that it begins a limited trial (the objective is loaded)."""


class StepReport(NamedTuple):
    """A worker's question in the middle of a trial: its loss at ``step``; stop it? (a bool back)"""

    step: int
    loss: float
    end: int | None = None  # the trial's last step, where it knows it


class Slot:
    """One worker process, restarted if it dies, kept for the next search if it lives."""

    def __init__(self, objective: Objective, tracking_uri: str, board: Board, limits: Limits) -> None:
        self.setup = objective
        self.tracking_uri = tracking_uri  # where a trial's own MLflow calls go (uses_mlflow)
        self.board = board  # the search's step values: the pruner decides here, for every worker
        self.limits = limits
        self._start(_take_spare())

    def _start(self, process) -> None:
        self.process = process
        with contextlib.suppress(OSError):  # a dead worker is replaced at its first trial
            send(process.stdin, self.setup)

    def evaluate(self, record: TrialRecord) -> Any:
        """Run ``record``'s trial in the worker; fill in ``record``; return its model files."""
        if self.process is None or self.process.poll() is not None:
            self._start(spawn(WORKER))
        try:
            # An hp.* point may hold classes or functions of __main__: cloudpickle, by value.
            point = cloudpickle.dumps(record.point) if record.point else b""
            limited = self.limits.any
            message = (record.params, point, record.run_id, self.tracking_uri, self.board.prunes, limited)
            send(self.process.stdin, message)
            started = None  # a limited trial's clock starts when its worker begins it (not while
            while True:  # a fresh worker imports the objective's modules)
                reply = self._reply(started)
                if isinstance(reply, Began):
                    started = time.monotonic()
                elif isinstance(reply, StepReport):
                    send(self.process.stdin, self.board.report(record.number, *reply))
                else:
                    break
        except OSError:
            reply = EOF_FRAME
        if isinstance(reply, Stopped):
            self.stop(kill=True)
            self.process = None
            record.fail(reply.reason)
            return None
        if reply is EOF_FRAME:
            code = self.process.wait()
            self.process = None
            record.fail(f"the process {_exit_reason(code)} during this trial (its worker is replaced)")
            return None
        fields, model = reply
        for name, value in zip(REPLY_FIELDS, fields, strict=True):
            setattr(record, name, value)
        return model

    def _reply(self, started: float | None) -> Any:
        """The worker's next frame, or :class:`Stopped` once the trial (begun at ``started``) is
        past its limits."""
        stdout, limits = self.process.stdout, self.limits
        if started is None:
            return receive(stdout)
        # Read by a thread: frames that arrive together sit in the pipe's buffer, where a select
        # on its file descriptor does not see them.
        frames: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=lambda: frames.put(receive(stdout)), daemon=True).start()
        while True:
            with contextlib.suppress(queue.Empty):
                return frames.get(timeout=limits.left(started))
            if reason := limits.past(started, self.process.pid):
                return Stopped(reason)

    def stop(self, kill: bool = False) -> None:
        """End this search in the worker and keep it warm for the next one, or kill it."""
        if self.process is None:
            return
        if not kill and self.process.poll() is None:
            try:
                send(self.process.stdin, END_OF_SEARCH)
                _SPARES.append(self.process)
                return
            except OSError:
                pass
        _stop(self.process)


def _exit_reason(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class _UnlessCancelled:
    """The trial writer, for trials that end after an interruption: their model is discarded
    and the writer ends their run KILLED when it closes."""

    def __init__(self, writer, trials: PoolTrials) -> None:
        self.writer, self.trials = writer, trials

    def started(self, record: TrialRecord) -> None:
        self.writer.started(record)

    def finished(self, record: TrialRecord, model: Any) -> None:
        if not self.trials.cancelled:
            self.writer.finished(record, model)
        elif isinstance(model, ModelFiles):
            model.discard()


def run(ctx: TrialContext) -> None:
    ctx.writer.open_runs_first = ctx.prepared.objective.uses_mlflow  # its code logs into its run
    objective, uri = ctx.prepared.objective, ctx.spec.tracking_uri
    limits = Limits.of(ctx.config.search)
    tradeoffs = ctx.config.objective.tradeoffs
    slots = [Slot(objective, uri, ctx.board, limits) for _ in range(ctx.config.executor.workers)]

    def serve(trials: PoolTrials, slot: int) -> None:
        sink = _UnlessCancelled(ctx.writer, trials)
        while (doc := trials.take()) is not None:
            result = run_trial(proposed(ctx, doc), slots[slot].evaluate, sink, ctx.board, tradeoffs)
            if trials.cancelled:
                return
            trials.finish(doc, result)

    def stop(cancelled: bool) -> None:
        for slot in slots:
            slot.stop(kill=cancelled)

    drive(ctx, serve, len(slots), stop)


WORKER = "hpo_plugin.executors.local:worker_main"
END_OF_SEARCH = None  # tells a worker to wait for the next search's objective
_SPARES: list = []  # started workers waiting for a search: prestarted, or kept from the last one


def prestart(n: int) -> None:
    """Have ``n`` workers ready: their imports overlap the search's setup (data, parent run)."""
    while len(_SPARES) > n:
        _stop(_SPARES.pop())
    _SPARES.extend(spawn(WORKER) for _ in range(n - len(_SPARES)))


def _take_spare():
    while _SPARES:
        process = _SPARES.pop()
        if process.poll() is None:
            return process
    return spawn(WORKER)


def _stop(process) -> None:
    with contextlib.suppress(OSError):
        process.stdin.close()
        process.kill()
    process.wait()


@atexit.register
def _stop_spares() -> None:
    while _SPARES:
        _stop(_SPARES.pop())


def worker_main() -> None:
    """Entry point of a worker process: per search, its objective, then one trial per message.

    Never imports MLflow (it only writes each model's data file), so it starts faster.
    """
    receive_frame, send_frame = child_io()
    while (objective := receive_frame()) is not EOF_FRAME:
        with threadpool_limits(limits=objective.n_threads):
            _trials(objective, receive_frame, send_frame)
        objective = None  # an idle worker holds no dataset


def _trials(objective: Objective, receive_frame, send_frame) -> None:
    while (message := receive_frame()) is not END_OF_SEARCH:
        if message is EOF_FRAME:  # the search process is gone
            os._exit(0)
        params, point, run_id, tracking_uri, prunes, limited = (
            message  # run_id: opened first if it uses MLflow
        )
        if limited:  # the trial's limits count from here
            prepare_trial(objective, run_id, tracking_uri)
            try:
                send_frame(Began())
            except OSError:  # the search process is gone
                os._exit(0)
        record = TrialRecord(0, params, run_id=run_id, point=cloudpickle.loads(point) if point else ())
        ask = partial(_ask, receive_frame, send_frame) if prunes else None
        model = evaluate_trial(objective, record, tracking_uri, Reporter(ask))
        if model is not None:  # written here, in parallel; the writer completes and uploads it
            try:
                model = ModelFiles.write(model)
            except Exception as exc:
                record.fail(f"saving the model failed: {one_line(exc)}")
                model = None
        try:
            send_frame((tuple(getattr(record, name) for name in REPLY_FIELDS), model))
        except OSError:  # the search process is gone
            os._exit(0)


def _ask(receive_frame, send_frame, step: int, loss: float, end: int | None = None) -> bool:
    """In a worker: send a trial's report to the search process; its pruner's answer."""
    try:
        send_frame(StepReport(step, loss, end))
    except OSError:
        os._exit(0)
    if (answer := receive_frame()) is EOF_FRAME:  # the search process is gone
        os._exit(0)
    return answer
