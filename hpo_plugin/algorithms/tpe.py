"""TPE: hyperopt's own, with the settings ``algo: tpe`` uses by default and ``search.tpe`` sets."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from hyperopt import tpe

from hpo_plugin.algorithms.points import Suggest


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
