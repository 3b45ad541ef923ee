"""Pruning: stop unpromising trials early, from their values at the same step as the others'.

- :mod:`.base`: :class:`TrialPruned`, which ends a pruned trial;
- :mod:`.median`, :mod:`.halving`: the rules (Optuna's median and successive halving);
- :mod:`.board`: the search's step values, where the rules (the :class:`Pruner` protocol) look;
- :mod:`.forecast`: a trial's final value forecast from its reports (``forecast: true``);
- :mod:`.reporter`: a trial's side (what it reports, whether it should stop);
- :data:`PRUNERS`: the rules by name (``search.pruning.method``; its knobs are
  :class:`hpo_plugin.config.pruning.PruningConfig`'s).

A new rule is a frozen dataclass with ``prune(board, number, step)`` and an entry in
:data:`PRUNERS`. No MLflow here: local workers import this package.
"""

from __future__ import annotations

from hpo_plugin.pruners.base import TrialPruned
from hpo_plugin.pruners.board import Board, Pruner
from hpo_plugin.pruners.halving import SuccessiveHalvingPruner
from hpo_plugin.pruners.median import MedianPruner
from hpo_plugin.pruners.reporter import Reporter, loss_of

PRUNERS: dict[str, type] = {"median": MedianPruner, "successive_halving": SuccessiveHalvingPruner}

__all__ = [
    "PRUNERS",
    "Board",
    "MedianPruner",
    "Pruner",
    "Reporter",
    "SuccessiveHalvingPruner",
    "TrialPruned",
    "loss_of",
]
