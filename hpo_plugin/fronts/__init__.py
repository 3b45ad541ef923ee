"""The ways into the search beside YAML, the CLI and MLproject: hyperopt's own API.

- :mod:`.hyperopt`: :class:`MlflowTrials` (a ``Trials`` for hyperopt's ``fmin``) and :func:`fmin`.

Each front end only builds an experiment definition (``load_experiment`` of a mapping) and
calls the one core, :func:`hpo_plugin.search.run_search`.
"""

from __future__ import annotations

from hpo_plugin.fronts.hyperopt import MlflowTrials, fmin

__all__ = ["MlflowTrials", "fmin"]
