"""Algorithm registry: name -> a factory of hyperopt ``suggest`` callables.

Every algorithm, ours included, goes through hyperopt's protocol (``suggest(new_ids, domain,
trials, seed)``) so trials are proposed, recorded and logged the same way by every executor.

``tpe`` is hyperopt's TPE with settings tuned on ``benchmarks/search_quality.py`` and a first
trial at the model library's own defaults (:mod:`hpo_plugin.startpoints`); ``search.tpe``
gives hyperopt's raw TPE with the settings it names (hyperopt's defaults for the rest).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hyperopt import anneal, rand, tpe

from hpo_plugin.space import Param, grid_points

Suggest = Callable[..., list[dict[str, Any]]]


@dataclass(frozen=True)
class TpeSettings:
    """hyperopt's own TPE knobs (``tpe.suggest`` keyword arguments)."""

    n_startup_jobs: int = 20
    gamma: float = 0.25
    n_EI_candidates: int = 24
    prior_weight: float = 1.0

    def suggest(self) -> Suggest:
        return functools.partial(
            tpe.suggest,
            n_startup_jobs=self.n_startup_jobs,
            gamma=self.gamma,
            n_EI_candidates=self.n_EI_candidates,
            prior_weight=self.prior_weight,
        )


HYPEROPT_TPE = TpeSettings()
# Measured with benchmarks/search_quality.py (4 datasets x 10 seeds, README there): hyperopt
# models the best ceil(gamma * sqrt(n)) trials as "good", only 2 of 50 at its default 0.25
# (Optuna: 5), and spends 20 trials on random start-up. 10 start-up trials after one at the
# library defaults and gamma 1.0 (7 good of 50) reach a lower loss at 15, 30 and 50 trials.
TUNED_TPE = TpeSettings(n_startup_jobs=10, gamma=1.0)


def trial_docs(new_ids, domain, trials, points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """hyperopt trial documents for given points in ``vals`` form (label -> value)."""
    docs: list[dict[str, Any]] = []
    for tid, vals in zip(new_ids, points, strict=False):
        misc = {
            "tid": tid,
            "cmd": domain.cmd,
            "workdir": domain.workdir,
            "idxs": {label: [tid] if label in vals else [] for label in domain.params},
            "vals": {label: [vals[label]] if label in vals else [] for label in domain.params},
        }
        docs.extend(trials.new_trial_docs([tid], [None], [domain.new_result()], [misc]))
    return docs


@dataclass
class StartFrom:
    """Evaluate given points first (hyperopt's ``points_to_evaluate``), then hand over."""

    points: list[dict[str, Any]]
    then: Suggest

    def suggest(self, new_ids, domain, trials, seed) -> list[dict[str, Any]]:
        done = len(trials.trials)
        if done >= len(self.points):
            return self.then(new_ids, domain, trials, seed)
        return trial_docs(new_ids, domain, trials, self.points[done : done + len(new_ids)])


@dataclass
class GridSearch:
    """Exhaustive sweep over a finite space, as a hyperopt algorithm.

    With a budget below the grid size, the points come in a seeded random order, so the
    trials run are an unbiased sample of the grid; fmin stops once the grid is exhausted.
    """

    points: list[dict[str, Any]]

    @classmethod
    def build(cls, space: tuple[Param, ...], seed: int) -> GridSearch:
        points = grid_points(space)
        order = np.random.default_rng(seed).permutation(len(points))
        return cls([points[i] for i in order])

    def __len__(self) -> int:
        return len(self.points)

    def suggest(self, new_ids, domain, trials, seed) -> list[dict[str, Any]]:
        done = len(trials.trials)
        return trial_docs(new_ids, domain, trials, self.points[done : done + len(new_ids)])


@dataclass(frozen=True)
class AlgorithmInput:
    """What a factory may use: the space, the seed, start points and raw TPE settings."""

    space: tuple[Param, ...]
    seed: int
    start_points: tuple[dict[str, Any], ...] = ()
    tpe: TpeSettings | None = None  # set: hyperopt's raw TPE with these settings, no start points


def _atpe(spec: AlgorithmInput) -> Suggest:
    from hyperopt import atpe

    return atpe.suggest


def _tpe(spec: AlgorithmInput) -> Suggest:
    if spec.tpe is not None:
        return spec.tpe.suggest()
    inner = TUNED_TPE.suggest()
    return StartFrom(list(spec.start_points), inner).suggest if spec.start_points else inner


ALGORITHMS: dict[str, Callable[[AlgorithmInput], Suggest]] = {
    "anneal": lambda spec: anneal.suggest,
    "atpe": _atpe,
    "grid": lambda spec: GridSearch.build(spec.space, spec.seed).suggest,
    "random": lambda spec: rand.suggest,
    "tpe": _tpe,
}


def build_algorithm(name: str, spec: AlgorithmInput) -> Suggest:
    """The suggest callable for a registered algorithm; raises SpaceError for unfit spaces."""
    return ALGORITHMS[name](spec)
