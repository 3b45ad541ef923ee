"""Everything MLflow: how a search is laid out there, and every write and read of it.

- :mod:`.schema`: the search's layout (every tag, param and metric name) and :func:`load_trials`,
  the one query that reads a search's trials back;
- :mod:`.client`: MLflow client helpers (the store's first use, retries, runs, batched logs);
- :mod:`.parent`: the parent run (setup, trial tags, summary);
- :mod:`.writer`: the trial writer, a helper process that does every per-trial write;
- :mod:`.logged_models`: fast model logging (one MLflow save per kind of model, templates);
- :mod:`.modelfiles`: a fitted model's data file, written without MLflow (worker processes);
- :mod:`.records`: one trial as the search sees it, and run statuses (no MLflow).

Nothing is imported here: worker processes import ``modelfiles`` and ``records`` without
paying for MLflow's import.
"""
