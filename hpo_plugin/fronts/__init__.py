"""The ways into the search: each only builds an experiment definition and calls the one core,
:func:`hpo_plugin.search.run_search`.

- :mod:`.cli`: the ``hpo`` command (a YAML file and its overrides; MLproject's entry points call it);
- :mod:`.hyperopt`: :class:`MlflowTrials` (a ``Trials`` for hyperopt's ``fmin``) and :func:`fmin`.

Nothing is imported here: the CLI starts without importing hyperopt's front or MLflow.
"""
