"""MLflow plugin entry points (declared in pyproject.toml).

``mlflow.run_context_provider``: while a search runs, every run created through MLflow's
context machinery (``mlflow.start_run``, ``resolve_tags``: the trials of a search, and any run
a user's code starts inside it) is stamped with the search id, the package version and the
config digest. Outside a search it says nothing, and it never raises into MLflow.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from mlflow.tracking.context.abstract_context import RunContextProvider

from hpo_plugin.tracking.schema import CONFIG_DIGEST_TAG, SEARCH_TAG, VERSION_TAG
from hpo_plugin.version import __version__

SEARCH_ENV, DIGEST_ENV = "HPO_SEARCH_ID", "HPO_CONFIG_DIGEST"


class SearchRunContextProvider(RunContextProvider):
    def in_context(self) -> bool:
        try:
            return bool(os.environ.get(SEARCH_ENV))
        except Exception:
            return False

    def tags(self) -> dict[str, str]:
        try:
            tags = {SEARCH_TAG: os.environ[SEARCH_ENV], VERSION_TAG: __version__}
            if digest := os.environ.get(DIGEST_ENV):
                tags[CONFIG_DIGEST_TAG] = digest
            return tags
        except Exception:
            return {}


@contextlib.contextmanager
def search_context(search_id: str, config_digest: str) -> Iterator[None]:
    """Mark this process as running a search (what the provider above reads)."""
    previous = {k: os.environ.get(k) for k in (SEARCH_ENV, DIGEST_ENV)}
    os.environ[SEARCH_ENV], os.environ[DIGEST_ENV] = search_id, config_digest
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
