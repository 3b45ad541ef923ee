"""One exception root for everything a user can fix; anything else is a bug.

Errors about the experiment (its file, an option, its data) name where, which key and what to
change, in one line: ``experiments/x.yaml: data.target: column 'y' is not in churn.csv; ...``.
"""

from __future__ import annotations

import traceback
from pathlib import Path


class HpoError(Exception):
    """Base of every error the CLI reports as one line and a non-zero exit."""


class ExperimentError(HpoError):
    """Something in an experiment to fix: the message names the source, the key and the fix.

    ``source`` is the experiment file or the option (``option --max-evals``); empty where the
    experiment came from the Python API without a file.
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {problem}")


class ConfigError(ExperimentError):
    """An experiment definition or an option is invalid."""


class DataError(ExperimentError):
    """The dataset cannot be loaded or does not fit the experiment."""


class SpaceError(HpoError):
    """A malformed search space; the message starts with the parameter's key path.

    Raised while the config is validated, which reports it as a ConfigError under the
    section that holds the space.
    """


class SearchError(HpoError):
    """The search could not produce a usable result (e.g. every trial failed)."""


class TrackingError(HpoError):
    """A run id, experiment or model in MLflow is missing or not what was expected."""


class SearchInterrupted(HpoError):
    """The search was stopped by a signal; runs were ended KILLED."""


def one_line(exc: BaseException, where: bool = True) -> str:
    """``Type: message`` on one line, with the file and line it was raised at if ``where``.

    How a failed trial's error reads in ``hpo.error`` and in the CLI.
    """
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if where and exc.__traceback__ else []
    return text + (f" (at {Path(frame[0].filename).name}:{frame[0].lineno})" if frame else "")
