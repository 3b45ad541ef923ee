"""Experiment definitions: one validated, frozen :class:`ExperimentConfig` per experiment.

Everything downstream reads these objects, never raw dicts. Unknown keys, unknown registry
names and malformed distributions become a :class:`~hpo_plugin.errors.ConfigError` naming the
file and the key. One module per section, the loader apart:

- :mod:`.data` (``data``, ``objective.validation``), :mod:`.objective`, :mod:`.model`
  (``model``/``models``), :mod:`.search` (with ``search.tpe``, ``search.early_stop``),
  :mod:`.pruning` (``search.pruning``), :mod:`.executor`;
- :mod:`.experiment`: the whole definition and the searched space;
- :mod:`.base`: what the sections share.

The loader is apart, above the executors whose names it checks:
:func:`hpo_plugin.fronts.experiment.load_experiment` (``hpo_plugin.load_experiment``).

No model library is imported here: the built-in families are named, not loaded.
"""

from __future__ import annotations

from hpo_plugin.config.data import DataConfig, ValidationConfig
from hpo_plugin.config.executor import ExecutorConfig, local_master_cores
from hpo_plugin.config.experiment import ExperimentConfig, RegisterConfig
from hpo_plugin.config.model import ModelConfig
from hpo_plugin.config.objective import ObjectiveConfig
from hpo_plugin.config.pruning import PruningConfig
from hpo_plugin.config.search import MAX_EVALS, EarlyStopConfig, SearchConfig, TpeConfig

__all__ = [
    "MAX_EVALS",
    "DataConfig",
    "EarlyStopConfig",
    "ExecutorConfig",
    "ExperimentConfig",
    "ModelConfig",
    "ObjectiveConfig",
    "PruningConfig",
    "RegisterConfig",
    "SearchConfig",
    "TpeConfig",
    "ValidationConfig",
    "local_master_cores",
]
