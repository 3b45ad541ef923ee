"""Trial bookkeeping off the search's critical path.

The search hands each trial's start and finish to a writer, which creates the child run,
logs its params, metrics and model, and ends it with its true status. The writer is a child
process (``hpo_plugin.tracking.writer:child_main``) talking pickle frames over two pipes: MLflow's client
is pure Python, and in a thread it would fight the trial's own Python (XGBoost's training
loop, the metrics) for the GIL. A fresh interpreter rather than a fork, because a fork would
inherit OpenMP and database state (XGBoost deadlocks in a forked child). One spare writer is
kept started, so its imports overlap the search's setup.

The writer sends back each trial's run id, model id and final status; ``close`` drains
everything, and runs whose trial never finished end KILLED. If the search process dies, the
writer sees its pipe close and ends the parent and the unfinished trials KILLED.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import pickle
import queue
import shutil
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from mlflow.tracking import MlflowClient

from hpo_plugin.errors import one_line
from hpo_plugin.models.files import ModelFiles
from hpo_plugin.models.logged import ModelLogger, warm_up
from hpo_plugin.processes import EOF_FRAME, child_io, receive, send, spawn
from hpo_plugin.tracking.client import QUIET_MLFLOW, create_child_run, end_run, log_batch
from hpo_plugin.tracking.records import FAILED, FINISHED, KILLED, RUNNING, TrialLog, TrialRecord, now_ms
from hpo_plugin.tracking.schema import (
    ERROR_FILE,
    ERROR_TAG,
    FEASIBLE_TAG,
    LOSS_METRIC,
    PARETO_TAG,
    PRUNED_TAG,
    TRIAL_NUMBER_TAG,
    VALS_TAG,
    params_as_logged,
)
from hpo_plugin.tracking.sqlite import relax_syncs
from hpo_plugin.tradeoffs import Front

THREAD_ENV = "HPO_TRIAL_WRITER"
WHY_ENDED = "its trial's code exited the process, or it was killed"
PROCESS_ENDED = f"the search process ended while this trial ran ({WHY_ENDED})"
RESUME = "the finished trials are kept: resume the search to continue it"


@dataclass
class ChildRuns:
    """The MLflow side of the writer: creates, fills and ends the trials' child runs.

    It only sees plain messages and answers with updates (run id, model id, final status), so
    it runs the same in the writer process, in a thread, or inside a Spark task.
    """

    client: MlflowClient
    experiment_id: str
    parent_run_id: str
    tags: dict[str, str]
    models: ModelLogger
    open_runs: dict[int, str] = field(default_factory=dict)
    write_s: dict[int, float] = field(default_factory=dict)  # each trial's MLflow time so far
    # With trade-offs, the writer of the search (not a Spark task's) keeps the Pareto front and
    # each member's run id, and moves the trials' ``hpo.pareto`` tags as it changes.
    front: Front | None = None
    front_runs: dict[int, str] = field(default_factory=dict)
    trials_in_search_process: bool = False  # sequential, unlimited: a trial's code can end it

    def start(
        self, number: int, name: str, start_ms: int, params: dict[str, Any], vals: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Create the trial's run with its point (params, and hyperopt's vals for resume) from
        the start: a trial that kills its process is still recorded with what it was running."""
        tags = {**self.tags, TRIAL_NUMBER_TAG: str(number)}
        if vals is not None:
            tags[VALS_TAG] = json.dumps(vals, sort_keys=True)
        run_id = create_child_run(self.client, self.experiment_id, self.parent_run_id, name, tags, start_ms)
        self.open_runs[number] = run_id
        if params:
            log_batch(self.client, run_id, params=params_as_logged(params))
        return {"run_id": run_id}

    def finish(self, number: int, record: TrialRecord, model: Any) -> dict[str, Any]:
        run_id = self.open_runs.pop(number, None)
        if run_id is None:
            return {"status": FAILED, "error": record.error or "its child run could not be created"}
        update: dict[str, Any] = {}
        log = record.log or TrialLog()
        try:
            metrics = {**record.metrics, **({LOSS_METRIC: record.loss} if record.loss is not None else {})}
            tags = {**log.tags, **({ERROR_TAG: record.error} if record.error else {})}
            if record.feasible is not None and record.status == FINISHED:
                tags[FEASIBLE_TAG] = str(record.feasible).lower()
            if record.pruned:
                tags[PRUNED_TAG] = str(record.pruned_step)
            # The trial's own params were logged at its start; what its code logged is new.
            params = params_as_logged({k: v for k, v in log.params.items() if k not in record.params})
            log_batch(self.client, run_id, params=params, metrics=metrics, tags=tags, history=log.metrics)
            for path, artifact_path in log.artifacts:
                self.client.log_artifact(run_id, path, artifact_path)
            if record.status == FAILED and record.traceback:
                self.client.log_text(run_id, record.traceback, ERROR_FILE)
            if record.status == FINISHED and model is not None:
                update["model_id"] = self.models.log(run_id, model)
            elif isinstance(model, ModelFiles):
                model.discard()
            end_run(self.client, run_id, record.status, record.end_ms)
        except Exception as exc:  # a store or artifact failure fails this trial only
            error = one_line(exc, where=False)
            self.end_failed(run_id, record.params, error)
            return {"status": FAILED, "error": error, "model_id": None}
        finally:
            for path, _ in log.artifacts:  # our copies
                shutil.rmtree(os.path.dirname(path), ignore_errors=True)
        if record.status == FINISHED and record.objectives is not None:
            _quietly(self.place, [(number, run_id, record.objectives, record.feasible)])
        return update

    def end_failed(self, run_id: str, params: dict[str, Any], error: str) -> None:
        try:
            log_batch(self.client, run_id, tags={ERROR_TAG: error})
            log_batch(self.client, run_id, params=params_as_logged(params))
        except Exception:
            traceback.print_exc()
        finally:  # the run ends FAILED even if what it was given cannot be logged
            try:
                end_run(self.client, run_id, FAILED)
            except Exception:
                traceback.print_exc()

    def place(self, trials: list[tuple[int, str, tuple[float, ...], bool | None]]) -> dict[str, Any]:
        """Judged trials (number, run id, objectives, feasible) join the front or not; every one
        of them, and every trial they push out of it, gets its ``hpo.pareto`` tag."""
        if self.front is None:
            return {}
        tags: dict[str, str] = {}
        for number, run_id, objectives, feasible in trials:
            entered, left = self.front.add(number, objectives, feasible is not False)
            tags[run_id] = "true" if entered else "false"
            if entered:
                self.front_runs[number] = run_id
            for gone in left:
                tags[self.front_runs.pop(gone)] = "false"
        for run_id, value in tags.items():
            self.client.set_tag(run_id, PARETO_TAG, value)
        return {"front": sorted(self.front_runs)}

    def kill_open(self, parent_too: bool = False) -> list[int]:
        """End the open trials KILLED; ``parent_too``: the search process died, say so on them
        and on the parent, which ends FAILED if it died during a trial run in that process (most
        likely the trial's code ended it), else KILLED (it was killed)."""
        killed = list(self.open_runs)
        for number in killed:
            run_id = self.open_runs.pop(number)
            if parent_too:
                _quietly(log_batch, self.client, run_id, tags={ERROR_TAG: PROCESS_ENDED})
            end_run(self.client, run_id, KILLED)
        if parent_too:
            during = f" during trial {', '.join(map(str, killed))}" if killed else ""
            error = f"the search process ended{during} without closing the search ({WHY_ENDED}); {RESUME}"
            _quietly(log_batch, self.client, self.parent_run_id, tags={ERROR_TAG: error})
            by_its_trial = killed and self.trials_in_search_process
            end_run(self.client, self.parent_run_id, FAILED if by_its_trial else KILLED)
        return killed

    def handle(self, message: tuple) -> tuple[int | str, dict[str, Any]]:
        kind, number, *rest = message
        if kind == "call":
            fn, args = rest
            try:
                return number, fn(self, *args)
            except Exception as exc:
                return number, {"error": one_line(exc, where=False)}
        started = time.perf_counter()
        if kind == "start":
            try:
                update = self.start(number, *rest)
            except Exception as exc:
                update = {"status": FAILED, "error": one_line(exc, where=False)}
            self.write_s[number] = time.perf_counter() - started
            return number, update
        update = self.finish(number, *rest)
        return number, {**update, "write_s": self.write_s.pop(number, 0.0) + time.perf_counter() - started}


@dataclass(frozen=True)
class WriterSpec:
    """Everything a writer needs, as plain picklable data (it may start in a fresh process)."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    tags: dict[str, str]
    signature: Any
    input_example: Any
    served: Any = None  # a ServedModel without its model: how the models answer through pyfunc
    keeps_front: bool = False  # the search has trade-offs: its writer keeps the Pareto front
    trials_in_search_process: bool = False  # its trials run in the search process (sequential)

    def connect(self, writer: bool = False) -> ChildRuns:
        """The MLflow side; ``writer``: the search's own writer (which keeps the front), not a
        Spark task's."""
        relax_syncs(self.tracking_uri)
        client = MlflowClient(self.tracking_uri)
        models = ModelLogger(client, self.experiment_id, self.signature, self.input_example, self.served)
        front = Front() if writer and self.keeps_front else None
        return ChildRuns(
            client,
            self.experiment_id,
            self.parent_run_id,
            self.tags,
            models,
            front=front,
            trials_in_search_process=self.trials_in_search_process,
        )


class TrialWriter:
    """Hands trials to a writer process, or a thread of this process where ``in_thread`` or
    ``HPO_TRIAL_WRITER=thread`` asks for it (slower: it competes with the trials for the GIL).
    """

    def __init__(self, spec: WriterSpec, in_thread: bool = False, history=()) -> None:
        in_thread = in_thread or os.environ.get(THREAD_ENV) == "thread"
        self.records: list[TrialRecord] = list(history)  # a resumed search's earlier trials
        self.results: dict[str, dict[str, Any]] = {}
        self._by_number: dict[int, TrialRecord] = {}
        self._updates: list[tuple[int, dict[str, Any]]] = []
        self._inbox: queue.Queue = queue.Queue()
        self._process: subprocess.Popen | None = None
        self._clean = False
        self._closed = False
        # Set by an executor whose trials need their run before they start (see ``started``).
        self.open_runs_first = False
        self._opened = threading.Condition()
        self._run_ids: dict[int, str | None] = {}  # the writer's answer to each trial's start
        self._gone = False
        if in_thread:
            runs = spec.connect(writer=True)
            self._threads = [threading.Thread(target=_serve, args=(runs, self._inbox.get, self._collect))]
        else:
            self._process, to_child, from_child = _take_spare()
            self._pipes = (to_child, from_child)
            self._inbox.put(spec)
            self._threads = [
                threading.Thread(target=_feed, args=(self._inbox, to_child)),
                threading.Thread(target=_drain, args=(from_child, self._collect)),
            ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        if spec.keeps_front and (judged := front_entries(self.records)):
            self.call("front", place_in_front, judged)

    def _collect(self, update) -> None:
        if update is None or update is EOF_FRAME:
            self._clean = update is None
            with self._opened:
                self._gone = True
                self._opened.notify_all()
        elif isinstance(update[0], str):
            self.results[update[0]] = update[1]
        else:
            self._updates.append(update)
            with self._opened:  # a trial's first answer is its start's
                self._run_ids.setdefault(update[0], update[1].get("run_id"))
                self._opened.notify_all()

    def started(self, record: TrialRecord) -> None:
        """Open the trial's run: asynchronously, or, with ``open_runs_first``, waiting for its id
        (``record.run_id``; the record fails if the run could not be created)."""
        self.records.append(record)
        self._by_number[record.number] = record
        self._inbox.put(("start", record.number, record.name, record.start_ms, record.params, record.vals))
        if self._process is not None and not self.open_runs_first:
            # In the writer's pipe before the trial's code runs: if that code ends this process,
            # the writer still records the trial (with its params) and every one before it.
            sent = threading.Event()
            self._inbox.put(sent)
            sent.wait()
        if self.open_runs_first:
            with self._opened:
                self._opened.wait_for(lambda: record.number in self._run_ids or self._gone)
            if run_id := self._run_ids.get(record.number):
                record.run_id = run_id
            else:
                record.fail("its child run could not be created")

    def finished(self, record: TrialRecord, model: Any = None) -> None:
        if self._process is not None and model is not None and not _importable(type(model)):
            # A class of a module loaded from a file (a function objective's) pickles only by
            # value: write the model's file here, as local workers do, and send the files.
            try:
                model = ModelFiles.write(model)
            except Exception as exc:
                record.fail(f"saving the model failed: {one_line(exc)}")
                model = None
        # Not the objective's argument: an hp.* point may hold the user's own classes or functions.
        self._inbox.put(("finish", record.number, dataclasses.replace(record, point=()), model))

    def call(self, key: str, fn, *args: Any) -> None:
        """Run ``fn(runs, *args)`` in the writer (``runs``: its :class:`ChildRuns`); its dict lands
        in ``results[key]``.

        ``fn`` must be a module-level function (it is pickled by reference).
        """
        self._inbox.put(("call", key, fn, args))

    def close(self, client: MlflowClient | None = None) -> list[TrialRecord]:
        """Write everything queued; return the records with ids and final statuses.

        If the writer died, ``client`` ends the runs it left open. Closing twice is harmless.
        """
        if self._closed:
            return self.records
        self._closed = True
        self._inbox.put(None)
        for thread in self._threads:
            thread.join()
        if self._process is not None:
            _release(self._process, self._pipes, reusable=self._clean)
        logged = set()  # trials whose finish the writer acknowledged (it times every finish)
        for number, update in self._updates:
            for key, value in update.items():
                setattr(self._by_number[number], key, value)
            if "write_s" in update:
                logged.add(number)
        for record in self.records:
            unlogged = record.number in self._by_number and record.number not in logged
            if record.status == FINISHED and unlogged and record.error is None:
                record.fail("the trial writer stopped before logging this trial")
            if record.status == RUNNING:
                record.status, record.end_ms = KILLED, now_ms()
        if not self._clean and client is not None:
            self._end_orphans(client)
        return self.records

    def _end_orphans(self, client: MlflowClient) -> None:
        for record in self.records:
            if record.run_id and client.get_run(record.run_id).info.status == RUNNING:
                end_run(client, record.run_id, record.status if record.status != RUNNING else KILLED)


def _importable(cls: type) -> bool:
    """Whether pickle can send ``cls`` by reference (its module is imported under its name)."""
    return sys.modules.get(cls.__module__) is not None


def _serve(runs: ChildRuns, receive, send) -> object | None:
    """Handle messages until None (search closed) or EOF (search process died).

    When the search process is gone, every message it sent before dying is still handled
    (trials that finished are logged; no reply goes back), then the open runs end KILLED.
    """
    replying = True
    while (message := receive()) is not None:
        if message is EOF_FRAME:
            runs.kill_open(parent_too=True)
            return EOF_FRAME
        update = runs.handle(message)
        if replying:
            try:
                send(update)
            except (BrokenPipeError, ConnectionError):  # the search process died mid-search
                replying = False
    for number in runs.kill_open():
        send((number, {"status": KILLED}))
    send(None)


def _quietly(fn, *args, **kwargs) -> None:
    """A note on a run that is about to end: its failure must not keep the run open."""
    try:
        fn(*args, **kwargs)
    except Exception:
        traceback.print_exc()


def _feed(inbox: queue.Queue, pipe) -> None:
    """Pickle the search's messages into the writer's pipe, up to the closing None."""
    try:
        while True:
            message = inbox.get()
            if isinstance(message, threading.Event):  # everything before it is in the pipe
                message.set()
                continue
            try:
                send(pipe, message)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:  # this trial's, only
                send(pipe, _unsent(message, exc))
            if message is None:
                return
    except (BrokenPipeError, OSError):
        _release_waiters(inbox)
        return  # the writer died; close() accounts for what it did not write


def _release_waiters(inbox: queue.Queue) -> None:
    """The writer is gone: no trial waits for its start to reach it."""
    with contextlib.suppress(queue.Empty):
        while True:
            if isinstance(message := inbox.get_nowait(), threading.Event):
                message.set()


def _unsent(message: tuple, exc: Exception) -> tuple:
    """A finish whose model could not be pickled: the trial, failed, without it."""
    kind, number, *rest = message
    if kind != "finish":
        raise exc
    record = rest[0]
    record.fail(f"its model could not be sent to the trial writer: {one_line(exc, where=False)}")
    return kind, number, record, None


def _drain(pipe, collect) -> None:
    """Collect the writer's updates up to its closing None (or EOF_FRAME: its death)."""
    while (update := receive(pipe)) is not None and update is not EOF_FRAME:
        collect(update)
    collect(update)


_SPARE: list[tuple[subprocess.Popen, Any, Any]] = []


def _start_spare() -> None:
    """Start the writer process for the next search now (it imports MLflow meanwhile)."""
    if _SPARE:
        return
    process = spawn("hpo_plugin.tracking.writer:child_main", QUIET_MLFLOW)
    _SPARE.append((process, process.stdin, process.stdout))


def _release(process: subprocess.Popen, pipes: tuple[Any, Any], reusable: bool) -> None:
    """Keep a healthy writer for the next search; let a broken one go."""
    if reusable and not _SPARE:
        _SPARE.append((process, *pipes))
        return
    for pipe in pipes:
        with contextlib.suppress(Exception):
            pipe.close()
    threading.Thread(target=process.wait, daemon=True).start()
    _start_spare()


def _take_spare() -> tuple[subprocess.Popen, Any, Any]:
    while True:
        _start_spare()
        process, to_child, from_child = _SPARE.pop()
        if process.poll() is None:
            return process, to_child, from_child


def prestart() -> None:
    """Start a writer process ahead of the first search of this process."""
    _start_spare()


@atexit.register
def _stop_spare() -> None:
    """An idle writer holds no work: stop it at once (a bad config must not wait for its imports)."""
    while _SPARE:
        process, to_child, _ = _SPARE.pop()
        with contextlib.suppress(Exception):
            to_child.close()
            process.terminate()
            process.wait(timeout=2)


def child_main() -> None:
    """Entry point of the writer process."""
    receive, send = child_io(niceness=5)  # bookkeeping yields the CPU to the trials
    warm_up()
    # One search after another, until the search process closes the pipe.
    while isinstance(spec := receive(), WriterSpec):
        if _serve(spec.connect(writer=True), receive, send) is EOF_FRAME:
            return


def place_in_front(runs: ChildRuns, trials: list[tuple[int, str, tuple[float, ...], bool | None]]) -> dict:
    """``TrialWriter.call`` target: trials recorded elsewhere (a Spark task, an earlier run of a
    resumed search) placed on the search's front."""
    return runs.place(trials)


def front_entries(records) -> list[tuple[int, str, tuple[float, ...], bool | None]]:
    """What ``place`` takes of the judged, finished trials among ``records``."""
    return [
        (r.number, r.run_id, r.objectives, r.feasible)
        for r in records
        if r.status == FINISHED and r.objectives is not None and r.run_id
    ]
