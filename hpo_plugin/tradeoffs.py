"""Trade-offs: further objectives beside the primary loss (``objective.also``), constraints on a
trial's metrics (``objective.constraints``), feasibility and the Pareto front.

Plain numbers only (no MLflow, no hyperopt): the same rules decide in a trial's process (is it
feasible, what loss the algorithm sees), in the trial writer (which trials carry
``hpo.pareto``), in the summary (the final model, the front's table) and in the champion gate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# What an infeasible trial's loss becomes for the algorithms that see one number (tpe, anneal,
# random, atpe, grid): above any feasible loss, lower the less it violates.
INFEASIBLE_LOSS = 1e9


@dataclass(frozen=True)
class Goal:
    """A further objective: a metric's name and whether more of it is better."""

    name: str
    maximize: bool = False

    def signed(self, value: float) -> float:
        """As a loss (lower is better)."""
        return -value if self.maximize else value


@dataclass(frozen=True)
class Bound:
    """A constraint: ``low <= metric <= high`` (either side may be open)."""

    name: str
    high: float | None = None
    low: float | None = None

    def violation(self, value: float) -> float:
        """How far ``value`` is outside, relative to the bound (0 inside)."""
        over = 0.0
        if self.high is not None and value > self.high:
            over += (value - self.high) / max(abs(self.high), 1e-12)
        if self.low is not None and value < self.low:
            over += (self.low - value) / max(abs(self.low), 1e-12)
        return over

    def describe(self, value: float) -> str:
        """``predict_ms 7.31 > max 5`` (or ``... < min 0.9``) for a value outside; else ''."""
        if self.high is not None and value > self.high:
            return f"{self.name} {value:.4g} > max {self.high:g}"
        if self.low is not None and value < self.low:
            return f"{self.name} {value:.4g} < min {self.low:g}"
        return ""

    def text(self) -> str:
        sides = [
            f">= {self.low:g}" if self.low is not None else "",
            f"<= {self.high:g}" if self.high is not None else "",
        ]
        return f"{self.name} {' and '.join(s for s in sides if s)}"


class MissingMetric(Exception):
    """A trial produced no value for a metric the trade-offs name."""


@dataclass(frozen=True)
class Tradeoffs:
    """The experiment's further objectives and constraints; empty: a plain single-loss search."""

    also: tuple[Goal, ...] = ()
    constraints: tuple[Bound, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.also or self.constraints)

    @property
    def names(self) -> tuple[str, ...]:
        """Every metric named, each once, in order."""
        return tuple(dict.fromkeys([g.name for g in self.also] + [b.name for b in self.constraints]))

    def values(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """The named metrics' values; raises :class:`MissingMetric` naming what is missing."""
        missing = [name for name in self.names if name not in metrics]
        if missing:
            raise MissingMetric(", ".join(repr(m) for m in missing))
        return {name: float(metrics[name]) for name in self.names}

    def violations(self, metrics: Mapping[str, float]) -> list[str]:
        """Each constraint that does not hold, in words (empty: feasible)."""
        return [text for b in self.constraints if (text := b.describe(float(metrics[b.name])))]

    def violation(self, metrics: Mapping[str, float]) -> float:
        """The sum of the relative violations (0: feasible)."""
        return sum(b.violation(float(metrics[b.name])) for b in self.constraints)

    def feasible(self, metrics: Mapping[str, float]) -> bool:
        return self.violation(metrics) == 0.0

    def vector(self, loss: float, metrics: Mapping[str, float]) -> tuple[float, ...]:
        """The primary loss and each further objective, all as losses."""
        return (loss, *(g.signed(float(metrics[g.name])) for g in self.also))

    def admits(self, record: Any) -> bool:
        """Whether a trial (a record with ``feasible``) may be the final model: with constraints,
        only one judged feasible (one never judged against them may not)."""
        return record.feasible is True if self.constraints else True

    def judge(self, loss: float, metrics: Mapping[str, float]) -> Judged:
        """A scored trial's place: its objectives, constraint values and feasibility."""
        values = self.values(metrics)
        bad = [name for name, value in values.items() if not math.isfinite(value)]
        if bad:
            raise MissingMetric(f"{', '.join(repr(b) for b in bad)} (not finite)")
        return Judged(
            self.vector(loss, values),
            tuple(values[b.name] for b in self.constraints),
            self.violation(values),
            self.feasible(values) if self.constraints else None,
        )

    def judged(self, loss: float, metrics: Mapping[str, float]) -> Judged | None:
        """:meth:`judge`, or None for a trial that lacks a named metric (one from before these
        trade-offs: never on the front, never the final model under constraints)."""
        try:
            return self.judge(loss, metrics)
        except MissingMetric:
            return None


@dataclass(frozen=True)
class Judged:
    """A trial under the trade-offs (see :meth:`Tradeoffs.judge`)."""

    objectives: tuple[float, ...]
    constrained: tuple[float, ...]
    violation: float
    feasible: bool | None


def algo_loss(loss: float, violation: float) -> float:
    """What an algorithm that sees one number gets: the loss if feasible, else above every
    feasible loss, ordered by how far outside it is."""
    if violation <= 0.0:
        return loss
    return INFEASIBLE_LOSS * (1.0 + min(violation, 1e6))


def algo_result(loss: float, judged: Judged | None) -> dict[str, Any]:
    """The loss and trade-off keys of a trial's hyperopt result (what ``gp`` reads back, the
    same from a live trial and from one rebuilt from MLflow for resume)."""
    if judged is None:
        return {"loss": loss}
    return {
        "loss": algo_loss(loss, judged.violation),
        "objectives": list(judged.objectives),
        "constrained": list(judged.constrained),
    }


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` everywhere and better somewhere (all losses)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def non_dominated(vectors: Mapping[Any, Sequence[float]]) -> set[Any]:
    """The keys whose vectors no other vector dominates (equal vectors are all kept)."""
    keys = list(vectors)
    return {k for k in keys if not any(dominates(vectors[o], vectors[k]) for o in keys if o != k)}


@dataclass
class Front:
    """The feasible non-dominated trials, kept as trials arrive: ``add`` says which trials
    entered and which left it (an infeasible trial never enters nor pushes anyone out)."""

    vectors: dict[Any, tuple[float, ...]] = field(default_factory=dict)  # the front's members

    def add(self, key: Any, vector: Sequence[float], feasible: bool) -> tuple[set[Any], set[Any]]:
        vector = tuple(vector)
        if not feasible or not all(math.isfinite(v) for v in vector):
            return set(), set()
        if any(dominates(v, vector) for v in self.vectors.values()):
            return set(), set()
        left = {k for k, v in self.vectors.items() if dominates(vector, v)}
        for k in left:
            del self.vectors[k]
        self.vectors[key] = vector
        return {key}, left

    def add_all(self, items: Iterable[tuple[Any, Sequence[float], bool]]) -> None:
        for key, vector, feasible in items:
            self.add(key, vector, feasible)


def hypervolume_2d(points: Iterable[Sequence[float]], reference: Sequence[float]) -> float:
    """The area dominated by ``points`` (two losses each) and bounded by ``reference``."""
    inside = sorted((p[0], p[1]) for p in points if p[0] < reference[0] and p[1] < reference[1])
    area, ceiling = 0.0, reference[1]
    for x, y in inside:
        if y < ceiling:
            area += (reference[0] - x) * (ceiling - y)
            ceiling = y
    return area


def front_of(records: Iterable[Any]) -> set[int]:
    """The numbers of the feasible non-dominated trials among the judged, finished records
    (trial records: ``number``, ``status``, ``objectives``, ``feasible``)."""
    front = Front()
    front.add_all(
        (r.number, r.objectives, r.feasible is not False)
        for r in records
        if r.status == "FINISHED" and r.objectives is not None
    )
    return set(front.vectors)


NO_TRADEOFFS = Tradeoffs()  # a plain single-loss search
