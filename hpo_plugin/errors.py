"""One exception root for everything a user can fix; anything else is a bug."""

from __future__ import annotations


class HpoError(Exception):
    """Base of every error the CLI reports as one line and a non-zero exit."""


class ConfigError(HpoError):
    """An experiment definition or an option is invalid.

    The message names the source (file or option), the key and what to change.
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {problem}")


class DataError(HpoError):
    """The dataset cannot be loaded or does not fit the experiment."""


class SearchError(HpoError):
    """The search could not produce a usable result (e.g. every trial failed)."""


class TrackingError(HpoError):
    """A run id, experiment or model in MLflow is missing or not what was expected."""


class SearchInterrupted(HpoError):
    """The search was stopped by a signal; runs were ended KILLED."""
