"""The default algorithm as a hyperopt ``algo=``: ``fmin(fn, space, algo=hpo_plugin.gp.suggest, ...)``.

Gaussian-process Bayesian optimisation with expected improvement
(:mod:`hpo_plugin.algorithms.gp`) over any ``hp.*`` space, nested choices included, with any
``Trials`` (hyperopt's own, ``SparkTrials``, :class:`hpo_plugin.MlflowTrials`). Its settings
are keywords: ``functools.partial(hpo_plugin.gp.suggest, n_startup=10)``.
"""

from __future__ import annotations

from typing import Any

from hpo_plugin.algorithms.gp import GaussianProcessSearch
from hpo_plugin.hyperopt_space import from_hyperopt

__all__ = ["suggest"]


def suggest(new_ids: list[int], domain: Any, trials: Any, seed: int, **settings: Any) -> list[dict[str, Any]]:
    """hyperopt's ``suggest`` protocol: trial documents for ``new_ids``, seeded by ``seed``.

    ``settings`` are :class:`~hpo_plugin.algorithms.gp.GaussianProcessSearch` fields
    (``n_startup``, ``n_candidates``, ...). The space is read once per ``fmin`` call.
    """
    key = tuple(sorted(settings.items()))
    cached = getattr(domain, "_hpo_gp", None)
    if cached is None or cached[0] != key:
        cached = (key, GaussianProcessSearch(from_hyperopt(domain.expr).params, **settings))
        domain._hpo_gp = cached
    return cached[1].suggest(new_ids, domain, trials, seed)
