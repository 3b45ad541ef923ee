"""A numeric parameter's axis (a log axis for log-scaled kinds) and draws from a space's prior:
what the model-based algorithms share (:mod:`.gp`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo_plugin.space import CHOICE, GAUSSIAN, Param

EPS = 1e-12


@dataclass(frozen=True)
class Axis:
    """A numeric parameter on the axis a model works on (log for log-scaled kinds)."""

    low: float
    high: float
    step: float | None  # grid spacing on the axis (quantized on a linear axis), else None
    log: bool
    quantum: float | None  # hyperopt's q: the value is rounded to a multiple of it

    @classmethod
    def of(cls, p: Param) -> Axis:
        a = p.args
        if p.kind == "uniform":
            return cls(a[0], a[1], None, False, None)
        if p.kind == "loguniform":
            return cls(math.log(a[0]), math.log(a[1]), None, True, None)
        if p.kind == "quniform":
            low, high = round(a[0] / a[2]) * a[2], round(a[1] / a[2]) * a[2]
            return cls(low, high, a[2], False, a[2])
        if p.kind == "qloguniform":
            return cls(math.log(a[0]), math.log(a[1]), None, True, a[2])
        if p.kind == "randint":
            return cls(a[0], a[1] - 1, 1.0, False, 1.0)
        if p.kind in GAUSSIAN:  # unbounded in hyperopt: 4 sigmas either side (log units for lognormal)
            quantum = a[2] if len(a) > 2 else None
            return cls(a[0] - 4 * a[1], a[0] + 4 * a[1], None, "lognormal" in p.kind, quantum)
        raise ValueError(f"no axis for a {p.kind} parameter")

    def to_axis(self, value: float) -> float:
        return math.log(max(value, EPS)) if self.log else float(value)

    def from_axis(self, x: float, kind: str) -> Any:
        value = math.exp(x) if self.log else x
        if self.quantum:
            value = round(value / self.quantum) * self.quantum
        if kind == "randint":
            return round(value)
        return float(value)


def prior_point(space: Sequence[Param], rng: np.random.Generator, point: dict) -> dict:
    """A random draw from ``space``'s own distributions into ``point`` (label -> value): a choice's
    option by its probability (equally likely if it has none), then that option's sub-space."""
    for p in space:
        if p.kind == CHOICE:
            weights = np.asarray(p.args) / sum(p.args) if p.args else None
            index = int(rng.choice(len(p.options), p=weights) if p.args else rng.integers(len(p.options)))
            point[p.label] = index
            prior_point(p.options[index].space, rng, point)
        elif p.kind in GAUSSIAN:
            point[p.label] = Axis.of(p).from_axis(float(rng.normal(p.args[0], p.args[1])), p.kind)
        else:
            axis = Axis.of(p)
            half = (axis.step or 0.0) / 2  # each grid point gets its whole cell
            x = float(np.clip(rng.uniform(axis.low - half, axis.high + half), axis.low, axis.high))
            point[p.label] = axis.from_axis(x, p.kind)
    return point
