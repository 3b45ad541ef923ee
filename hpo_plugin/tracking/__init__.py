"""MLflow I/O: how a search is laid out there, and every write and read of it.

- :mod:`.schema`: the search's layout (every tag, param and metric name, the champion gate's
  included) and :func:`load_trials`, the one query that reads a search's trials back;
- :mod:`.client`: MLflow client helpers (the store's first use, retries, runs, batched logs);
- :mod:`.parent`: the parent run (setup, trial tags, summary);
- :mod:`.writer`: the trial writer, a helper process that does every per-trial write;
- :mod:`.run_context`: MLflow's run-context provider (runs made during a search carry its id);
- :mod:`.note`, :mod:`.sqlite`: the parent's description; a sqlite store's settings;
- :mod:`.records`: one trial as the search sees it, and run statuses (no MLflow).

Model objects and their files live below, in :mod:`hpo_plugin.models`. Nothing is imported
here: worker processes import ``records`` without paying for MLflow's import.
"""
