"""Grid search as a hyperopt algorithm: every point of a finite space, in a seeded order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo_plugin.algorithms.points import propose
from hpo_plugin.space import Param, grid_points


@dataclass
class GridSearch:
    """Exhaustive sweep over a finite space, as a hyperopt algorithm.

    With a budget below the grid size, the points come in a seeded random order, so the
    trials run are an unbiased sample of the grid; fmin stops once the grid is exhausted.
    """

    points: list[dict[str, Any]]

    @classmethod
    def build(cls, space: tuple[Param, ...], seed: int) -> GridSearch:
        """Raises SpaceError if the space has a continuous distribution."""
        points = grid_points(space)
        order = np.random.default_rng(seed).permutation(len(points))
        return cls([points[i] for i in order])

    def __len__(self) -> int:
        return len(self.points)

    def suggest(self, new_ids, domain, trials, seed) -> list[dict[str, Any]]:
        done = len(trials.trials)
        return propose(new_ids, domain, trials, self.points[done : done + len(new_ids)])
