"""Experiment definitions: a YAML file or a mapping -> one validated, frozen :class:`ExperimentConfig`.

Everything downstream reads these objects, never raw dicts. Unknown keys, unknown registry
names and malformed distributions become a :class:`~hpo_plugin.errors.ConfigError` naming the
file and the key. One module per section, the loader apart:

- :mod:`.data` (``data``, ``objective.validation``), :mod:`.objective`, :mod:`.model`
  (``model``/``models``), :mod:`.search` (with ``search.tpe``, ``search.early_stop``),
  :mod:`.pruning` (``search.pruning``), :mod:`.executor`;
- :mod:`.experiment`: the whole definition and the searched space;
- :mod:`.loader`: :func:`load_experiment` (YAML or mapping, dotted overrides, one-line errors);
- :mod:`.base`: what the sections share.

No model library is imported here: the built-in families are named, not loaded.
"""

from __future__ import annotations

from hpo_plugin.config.data import DataConfig, ValidationConfig
from hpo_plugin.config.executor import ExecutorConfig, local_master_cores
from hpo_plugin.config.experiment import ExperimentConfig, RegisterConfig
from hpo_plugin.config.loader import load_experiment
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
    "load_experiment",
    "local_master_cores",
]
