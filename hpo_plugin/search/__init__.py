"""The search: prepare -> history (resume, warm start) -> run the trials -> summary.

- :mod:`.prepare`: validate everything that needs the data; the objective and the algorithm;
- :mod:`.history`: an earlier search's trials from MLflow (resume, warm start);
- :mod:`.run`: :func:`run_search`, the tracked search as a sequence of named steps;
- :mod:`.summary`: refit the best trial, write the summary and the report;
- :mod:`.bare`: the same search without MLflow (the overhead benchmark's baseline).
"""

from __future__ import annotations

from hpo_plugin.search.bare import run_bare
from hpo_plugin.search.prepare import PreparedSearch, prepare_search, threads_per_trial
from hpo_plugin.search.run import SearchResult, run_search

__all__ = ["PreparedSearch", "SearchResult", "prepare_search", "run_bare", "run_search", "threads_per_trial"]
