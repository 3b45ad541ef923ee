"""hpo_plugin: Hyperopt searches as first-class MLflow citizens.

The public Python API (imported lazily, so ``import hpo_plugin`` stays cheap)::

    from hpo_plugin import load_experiment, run_search
    result = run_search(load_experiment("experiments/xgboost_breast_cancer.yaml", {"search.max_evals": 50}))

or hyperopt's own, with an ``hp.*`` space and your objective as they are::

    from hpo_plugin import MlflowTrials, fmin
    best = fmin(objective, space, max_evals=50, trials=MlflowTrials(parallelism=2, register="my-model"))

``hpo_plugin.gp.suggest`` is the default algorithm as a hyperopt ``algo=`` for any Trials.
"""

from __future__ import annotations

from hpo_plugin.version import __version__

__all__ = [
    "HpoError",
    "MlflowTrials",
    "TrialPruned",
    "__version__",
    "current_trial",
    "fmin",
    "load_experiment",
    "run_search",
]

_LAZY = {
    "MlflowTrials": "hpo_plugin.fronts.hyperopt",
    "fmin": "hpo_plugin.fronts.hyperopt",
    "current_trial": "hpo_plugin.objectives.function",
    "load_experiment": "hpo_plugin.fronts.experiment",
    "run_search": "hpo_plugin.search.run",
    "HpoError": "hpo_plugin.errors",
    "TrialPruned": "hpo_plugin.pruners",
}


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "gp":  # hpo_plugin.gp.suggest after a plain `import hpo_plugin`
        return importlib.import_module("hpo_plugin.gp")
    raise AttributeError(f"module 'hpo_plugin' has no attribute {name!r}")
