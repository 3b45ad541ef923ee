"""What every ``hpo`` command shares: MLproject-friendly numbers, one-line errors, the
tracking options, the output formats."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from hpo_plugin.errors import HpoError, SearchInterrupted

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130


class Blankable(click.ParamType):
    """An int/float option where an empty string means "as in the experiment file".

    MLproject parameters always pass a value; an empty default keeps the YAML's setting.
    """

    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.name = kind.__name__

    def convert(self, value: Any, param, ctx) -> Any:
        if value is None or value == "" or isinstance(value, self.kind):
            return value if value != "" else None
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if self.kind is int:
            if not number.is_integer():
                self.fail(f"{value!r} is not a whole number", param, ctx)
            return int(number)
        return number


def reports_errors(fn: Callable) -> Callable:
    """Exit non-zero with one line for user errors; ``--debug`` adds the traceback."""

    @wraps(fn)
    def wrapper(*args, debug: bool = False, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SearchInterrupted as exc:
            click.echo(f"hpo: interrupted: {exc}", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except HpoError as exc:
            if debug:
                traceback.print_exc()
            click.echo(f"hpo: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)

    return click.option("--debug", is_flag=True, help="Show tracebacks of errors.")(wrapper)


def tracking_options(fn: Callable) -> Callable:
    fn = click.option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db).",
    )(fn)
    return click.option(
        "--experiment",
        "--experiment-name",
        "experiment_name",
        default=None,
        help="MLflow experiment name (search: default from the YAML file).",
    )(fn)


def use_tracking(tracking_uri: str | None) -> None:
    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)


FORMATS = {
    "table": lambda frame: frame.to_string(index=False) if len(frame) else "(none)",
    "csv": lambda frame: frame.to_csv(index=False).rstrip("\n"),
    "json": lambda frame: frame.to_json(orient="records"),
}
format_option = click.option(
    "--format", "fmt", type=click.Choice(sorted(FORMATS)), default="table", show_default=True
)


def mlflow_client(tracking_uri: str | None):
    from mlflow.tracking import MlflowClient

    use_tracking(tracking_uri)
    return MlflowClient()
