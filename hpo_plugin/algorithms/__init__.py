"""Algorithm registry: name -> a factory of hyperopt ``suggest`` callables.

Every algorithm, ours included, goes through hyperopt's protocol (``suggest(new_ids, domain,
trials, seed)``) so trials are proposed, recorded and logged the same way by every executor.

``gp`` (the default) is Bayesian optimisation with a Gaussian process (:mod:`.gp`); ``tpe`` is
hyperopt's TPE with settings tuned on ``benchmarks/search_quality.py`` (:mod:`.tpe`). Both start
with a trial at the model library's own defaults (the objective's start points, handed over in
:class:`AlgorithmInput`); ``search.tpe`` gives hyperopt's raw TPE with the settings it names.
Those that read every earlier trial per proposal see a bounded window of a long search's
history (:mod:`.window`), so trial 10,000 costs what trial 500 did.
A new algorithm is a factory in :data:`ALGORITHMS` (the CLI and the YAML schema read it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hyperopt import anneal, rand

from hpo_plugin.algorithms.grid import GridSearch
from hpo_plugin.algorithms.points import StartFrom, Suggest
from hpo_plugin.algorithms.tpe import TUNED_TPE, TpeSettings
from hpo_plugin.algorithms.window import Windowed
from hpo_plugin.space import Param
from hpo_plugin.tradeoffs import NO_TRADEOFFS, Tradeoffs

__all__ = ["ALGORITHMS", "AlgorithmInput", "Suggest", "build_algorithm"]


@dataclass(frozen=True)
class AlgorithmInput:
    """What a factory may use: the space, the seed, start points and raw TPE settings."""

    space: tuple[Param, ...]
    seed: int
    start_points: tuple[dict[str, Any], ...] = ()
    tpe: TpeSettings | None = None  # set: hyperopt's raw TPE with these settings, no start points
    tradeoffs: Tradeoffs = NO_TRADEOFFS  # objective.also, objective.constraints (gp models them)


def _atpe(spec: AlgorithmInput) -> Suggest:
    from hyperopt import atpe  # needs lightgbm; imported only when asked for

    return atpe.suggest


def _gp(spec: AlgorithmInput) -> Suggest:
    from hpo_plugin.algorithms.gp import GaussianProcessSearch  # numpy/scipy only, on first use

    search = GaussianProcessSearch(spec.space, tradeoffs=spec.tradeoffs)
    inner = Windowed(search.suggest, search.max_points).suggest  # what it would fit on, read once
    return StartFrom(list(spec.start_points), inner).suggest if spec.start_points else inner


def _tpe(spec: AlgorithmInput) -> Suggest:
    if spec.tpe is not None:
        return Windowed(spec.tpe.suggest()).suggest
    inner = Windowed(TUNED_TPE.suggest()).suggest
    return StartFrom(list(spec.start_points), inner).suggest if spec.start_points else inner


ALGORITHMS: dict[str, Callable[[AlgorithmInput], Suggest]] = {
    "anneal": lambda spec: Windowed(anneal.suggest).suggest,
    "atpe": _atpe,
    "gp": _gp,
    "grid": lambda spec: GridSearch.build(spec.space, spec.seed).suggest,
    "random": lambda spec: rand.suggest,
    "tpe": _tpe,
}


def build_algorithm(name: str, spec: AlgorithmInput) -> Suggest:
    """The suggest callable for a registered algorithm; raises SpaceError for unfit spaces."""
    return ALGORITHMS[name](spec)
