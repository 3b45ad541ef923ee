"""One exception root for everything a user can fix; anything else is a bug.

Errors about the experiment (its file, an option, its data) name where, which key and what to
change, in one line: ``experiments/x.yaml: data.target: column 'y' is not in churn.csv; ...``.
"""

from __future__ import annotations

import sysconfig
import traceback
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


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


class StopSignal(BaseException):
    """Ctrl-C (SIGINT) or SIGTERM sent to the search process: it stops the search. Not an
    Exception, and not a KeyboardInterrupt: a trial's code that raises KeyboardInterrupt (or
    ``SystemExit``) fails that trial only, while a signal always reaches the search."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def one_line(exc: BaseException, where: bool = True) -> str:
    """``Type: message`` on one line, with the file and line it came from if ``where``: the
    innermost frame of the user's own code (not this package's, not an installed library's),
    else the innermost frame outside this package.

    How a failed trial's error reads in ``hpo.error`` and in the CLI.
    """
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text + (f" (at {at})" if where and (at := location(exc)) else "")


def location(exc: BaseException) -> str:
    """``file.py:line`` of :func:`origin`, or empty."""
    frame = origin(exc)
    return f"{Path(frame.filename).name}:{frame.lineno}" if frame else ""


def origin(exc: BaseException) -> traceback.FrameSummary | None:
    """The frame an error is reported at: the user's innermost, else the innermost not ours."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    outside = [f for f in frames if not _ours(f.filename)]
    users = [f for f in outside if not _library(f.filename)]
    return (users or outside or [None])[-1]


def full_traceback(exc: BaseException) -> str:
    """The whole traceback, as Python prints it (a failed trial's ``error.txt``)."""
    return "".join(traceback.format_exception(exc))


def _ours(filename: str) -> bool:
    return _resolved(filename).is_relative_to(PACKAGE)


def _library(filename: str) -> bool:
    """A file of the interpreter or of an installed package (or not a file at all)."""
    path = _resolved(filename)
    return filename.startswith("<") or any(path.is_relative_to(root) for root in _library_roots())


@cache
def _resolved(filename: str) -> Path:
    return Path(filename).resolve()


@cache
def _library_roots() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    return tuple({Path(paths[key]).resolve() for key in ("purelib", "platlib", "stdlib", "platstdlib")})
