"""One trial as the search sees it, and MLflow's run statuses: plain data, no MLflow import
(the local executor's worker processes start faster without it)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hpo_plugin.tradeoffs import Judged

# mlflow.entities.RunStatus names, as MLflow stores them.
FINISHED, FAILED, KILLED, RUNNING = "FINISHED", "FAILED", "KILLED", "RUNNING"
WARM_WORKDIR = "hpo-warm-start"  # marks warm-start trials among a search's hyperopt trials


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class TrialLog:
    """What a trial's own code logged through its trial handle, for its child run."""

    metrics: list[tuple[str, float, int]] = field(default_factory=list)  # key, value, step
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[tuple[str, str | None]] = field(default_factory=list)  # a file we own, artifact dir


@dataclass
class TrialRecord:
    """One trial as the search saw it; the writer fills in run and model ids."""

    number: int
    params: dict[str, Any]
    start_ms: int = field(default_factory=now_ms)
    end_ms: int | None = None
    status: str = RUNNING
    loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None  # a failed trial's whole traceback, logged as its error.txt
    run_id: str | None = None
    model_id: str | None = None
    write_s: float | None = None  # the trial writer's time on this trial's MLflow writes
    log: TrialLog | None = None  # what the trial's own code logged (and its reported steps)
    steps: dict[int, float] = field(default_factory=dict)  # reported step -> loss (pruning)
    pruned_step: int | None = None  # the step a pruner stopped it at
    # The objective's argument where it is not ``params``: ``(point,)`` of a user's hp.* space,
    # as hyperopt evaluated it (the params are that point flattened, for MLflow).
    point: tuple[Any, ...] = ()
    vals: dict[str, Any] | None = None  # hyperopt's point (label -> value): what resume reads back
    # With trade-offs (objective.also / constraints), set when the trial is judged: its
    # objectives, constrained metrics, violation and feasibility.
    judged: Judged | None = None

    @property
    def argument(self) -> Any:
        """What the objective is called with."""
        return self.point[0] if self.point else self.params

    @property
    def objectives(self) -> tuple[float, ...] | None:
        """The primary loss and each further objective, as losses (None: not judged)."""
        return self.judged.objectives if self.judged else None

    @property
    def feasible(self) -> bool | None:
        """Whether it meets every constraint (None: no constraints, or not judged)."""
        return self.judged.feasible if self.judged else None

    @property
    def name(self) -> str:
        return f"trial-{self.number:03d}"

    @property
    def scored(self) -> bool:
        """A finished trial with a finite loss (a pruned trial is never scored)."""
        return self.status == FINISHED and self.loss is not None and self.pruned_step is None

    @property
    def pruned(self) -> bool:
        return self.pruned_step is not None

    @property
    def eligible(self) -> bool:
        """A scored trial with a logged model: what a refitting search's best must be."""
        return self.scored and self.model_id is not None

    def succeed(self, loss: float, metrics: Mapping[str, float]) -> None:
        self.loss, self.metrics, self.status, self.end_ms = loss, dict(metrics), FINISHED, now_ms()

    def prune(self, step: int) -> None:
        """Stopped by the pruner at ``step``: its run ends FINISHED; its loss comes from the board."""
        self.pruned_step, self.status, self.end_ms = step, FINISHED, now_ms()

    def fail(self, error: str) -> None:
        self.error, self.status, self.end_ms = error, FAILED, now_ms()
