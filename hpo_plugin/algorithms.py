"""Algorithm registry: name -> a factory of hyperopt ``suggest`` callables.

Every algorithm, ours included, goes through hyperopt's ``fmin`` so trials are proposed,
recorded and logged the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hyperopt import anneal, rand, tpe

from hpo_plugin.space import Param, grid_points

Suggest = Callable[..., list[dict[str, Any]]]


def _atpe(space: tuple[Param, ...], seed: int) -> Suggest:
    from hyperopt import atpe

    return atpe.suggest


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
        docs: list[dict[str, Any]] = []
        done = len(trials.trials)
        for offset, tid in enumerate(new_ids):
            if done + offset >= len(self.points):
                break
            vals = self.points[done + offset]
            misc = {
                "tid": tid,
                "cmd": domain.cmd,
                "workdir": domain.workdir,
                "idxs": {label: [tid] if label in vals else [] for label in domain.params},
                "vals": {label: [vals[label]] if label in vals else [] for label in domain.params},
            }
            docs.extend(trials.new_trial_docs([tid], [None], [domain.new_result()], [misc]))
        return docs


ALGORITHMS: dict[str, Callable[[tuple[Param, ...], int], Suggest]] = {
    "anneal": lambda space, seed: anneal.suggest,
    "atpe": _atpe,
    "grid": lambda space, seed: GridSearch.build(space, seed).suggest,
    "random": lambda space, seed: rand.suggest,
    "tpe": lambda space, seed: tpe.suggest,
}


def build_algorithm(name: str, space: tuple[Param, ...], seed: int) -> Suggest:
    """The suggest callable for a registered algorithm; raises SpaceError for unfit spaces."""
    return ALGORITHMS[name](space, seed)
