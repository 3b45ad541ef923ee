"""The ``hpo`` command: parse options, call the library, turn HpoError into one line."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from hpo_plugin.algorithms import ALGORITHMS
from hpo_plugin.errors import HpoError, SearchInterrupted
from hpo_plugin.executors import EXECUTORS

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpo_plugin", message="%(version)s")
def main() -> None:
    """Hyperopt searches tracked in MLflow: every trial a nested run, the best model registered."""
    # MLflow's INFO chatter (schema creation, artifact progress) stays out of the way.
    logging.getLogger("mlflow").setLevel(logging.WARNING)


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


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option(
    "--algo",
    type=click.Choice(["", *sorted(ALGORITHMS)]),
    default="",
    help="Search algorithm (default: search.algo of the file).",
)
@click.option("--max-evals", type=Blankable(int), default="", help="Number of trials.")
@click.option("--seed", type=Blankable(int), default="", help="Seed of the search.")
@click.option("--timeout", type=Blankable(float), default="", help="Stop after this many seconds.")
@click.option(
    "--executor",
    type=click.Choice(["", *sorted(EXECUTORS)]),
    default="",
    help="Where trials run (default: executor of the file, sequential if absent).",
)
@click.option("--parallelism", type=Blankable(int), default="", help="Trials in flight at once.")
@click.option("--spark-master", default=None, help="Spark master URL (default: local[parallelism]).")
@click.option(
    "--register/--no-register",
    default=None,
    help="Register the final model, or not (default: register.enabled of the file, true if absent).",
)
@click.option(
    "--register-setting",
    type=click.Choice(["", "true", "false"]),
    default="",
    hidden=True,
    help="--register/--no-register as one string, for the MLproject's register parameter.",
)
@click.option("--model-name", default=None, help="Registered model name (default: from the file).")
@click.option("--resume", default="", help="Continue the interrupted search with this parent run id.")
@click.option(
    "--warm-start",
    multiple=True,
    help="Parent run id of an earlier search whose trials seed this one (repeatable).",
)
@click.option(
    "--quiet", is_flag=True, help="No progress bar (it is off anyway when stdout is not a terminal)."
)
@tracking_options
@reports_errors
def search(
    experiment,
    algo,
    max_evals,
    seed,
    timeout,
    executor,
    parallelism,
    spark_master,
    register,
    register_setting,
    model_name,
    resume,
    warm_start,
    quiet,
    tracking_uri,
    experiment_name,
) -> None:
    """Run the search defined in EXPERIMENT (a YAML file)."""
    enabled = _register_choice(register, register_setting)
    from hpo_plugin.tracking.writer import prestart

    prestart()  # the trial writer imports MLflow while we load the config and the data

    from hpo_plugin.config import load_experiment
    from hpo_plugin.search import run_search

    overrides = {
        "search.algo": algo or None,
        "search.max_evals": max_evals,
        "search.seed": seed,
        "search.timeout": timeout,
        "executor.name": executor or None,
        "executor.parallelism": parallelism,
        "executor.spark_master": spark_master or None,
        "register.enabled": enabled,
        "register.model_name": model_name,
        "search.warm_start": tuple(warm_start) or None,
    }
    config = load_experiment(experiment, overrides)
    progress = not quiet and sys.stdout.isatty()
    result = run_search(
        config,
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        progress=progress,
        resume=resume or None,
    )
    print_search_result(config, result)
    if result.registration is None:
        click.echo(f"Not registered: {result.not_registered}")
    else:
        _describe_registration(result.registration)


def _register_choice(flag: bool | None, setting: str) -> bool | None:
    """--register/--no-register, or the MLproject's string form of it; None: as in the file."""
    from_setting = {"": None, "true": True, "false": False}[setting]
    if flag is not None and from_setting is not None and flag != from_setting:
        raise click.UsageError(f"--register-setting={setting} contradicts --{'' if flag else 'no-'}register")
    return flag if flag is not None else from_setting


def _register(run_id: str, name: str | None, margin: float) -> None:
    from mlflow.tracking import MlflowClient

    from hpo_plugin.registry import register_search

    _describe_registration(register_search(MlflowClient(), run_id, name, margin))


def _describe_registration(registration) -> None:
    click.echo(registration.describe())
    click.echo(f"Load it: mlflow.pyfunc.load_model('models:/{registration.name}@champion')")


@main.command("register")
@click.option("--run", "run_id", required=True, help="Parent run id of a finished search.")
@click.option("--model-name", default=None, help="Registered model name (default: the search's).")
@click.option(
    "--margin", type=click.FloatRange(min=0), default=0.0, help="Test-metric gain needed for champion."
)
@tracking_options
@reports_errors
def register_command(run_id, model_name, margin, tracking_uri, experiment_name) -> None:
    """Register a search's final model (idempotent; repairs a half-done registration)."""
    _use_tracking(tracking_uri)
    _register(run_id, model_name or None, margin)


@main.command()
@click.argument("name")
@click.argument("version")
@click.option("--alias", default="champion", show_default=True, help="Alias to move to VERSION.")
@tracking_options
@reports_errors
def promote(name, version, alias, tracking_uri, experiment_name) -> None:
    """Deliberately point ALIAS of model NAME at VERSION (recorded on the version)."""
    from mlflow.tracking import MlflowClient

    from hpo_plugin.registry import promote as promote_version

    _use_tracking(tracking_uri)
    click.echo(promote_version(MlflowClient(), name, version, alias))


@main.command()
@click.argument("name")
@tracking_options
@reports_errors
def rollback(name, tracking_uri, experiment_name) -> None:
    """Move the champion alias of model NAME back to the previous champion."""
    from mlflow.tracking import MlflowClient

    from hpo_plugin.registry import rollback as rollback_champion

    _use_tracking(tracking_uri)
    click.echo(rollback_champion(MlflowClient(), name))


def _use_tracking(tracking_uri: str | None) -> None:
    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)


def print_search_result(config, result) -> None:
    """Where the results are and how to open them."""
    import mlflow

    metric = config.objective.metric
    best = result.best
    uri = mlflow.get_tracking_uri()
    click.echo(
        f"Search finished in {result.elapsed_s:.1f} s: {len(result.records)} trials "
        f"({result.n_ok} ok, {f'{result.n_pruned} pruned, ' if result.n_pruned else ''}"
        f"{result.n_failed} failed)."
    )
    if not config.objective.builtin:  # a function or entry point: its loss, and its own model
        click.echo(f"Best: {best.name} (run {best.run_id}) loss={best.loss:.6g}")
    else:
        click.echo(
            f"Best: {best.name} (run {best.run_id}) val_{metric}={best.metrics[f'val_{metric}']:.6g}; "
            f"refit on train+validation: test_{metric}={result.test_metrics[f'test_{metric}']:.6g}"
        )
    if result.warm_used or result.warm_skipped:
        click.echo(
            f"Warm start: {result.warm_used} earlier trials informed the search (not budgeted), "
            f"{result.warm_skipped} skipped as outside this space."
        )
    if result.model_id:
        click.echo(f"Final model: models:/{result.model_id}")
    click.echo(f"Parent run: {result.parent_run_id} in experiment {result.experiment_id} ({uri})")
    click.echo(
        f"Open it: mlflow ui --backend-store-uri {uri} --host 127.0.0.1, then "
        f"http://127.0.0.1:5000/#/experiments/{result.experiment_id}/runs/{result.parent_run_id}"
    )


FORMATS = {
    "table": lambda frame: frame.to_string(index=False) if len(frame) else "(none)",
    "csv": lambda frame: frame.to_csv(index=False).rstrip("\n"),
    "json": lambda frame: frame.to_json(orient="records"),
}
format_option = click.option(
    "--format", "fmt", type=click.Choice(sorted(FORMATS)), default="table", show_default=True
)


def _client(tracking_uri: str | None):
    from mlflow.tracking import MlflowClient

    _use_tracking(tracking_uri)
    return MlflowClient()


@main.command("list")
@format_option
@tracking_options
@reports_errors
def list_command(fmt, tracking_uri, experiment_name) -> None:
    """The searches, newest first: in every experiment, or in the one --experiment names."""
    from hpo_plugin.browse import list_searches

    click.echo(FORMATS[fmt](list_searches(_client(tracking_uri), experiment_name)))


@main.command()
@click.argument("run_id")
@click.option("--top", "k", type=click.IntRange(min=1), default=5, show_default=True)
@format_option
@tracking_options
@reports_errors
def show(run_id, k, fmt, tracking_uri, experiment_name) -> None:
    """The top trials of search RUN_ID, its best params and its registered versions."""
    import json

    from hpo_plugin.browse import registered_versions, summary, top_trials

    client = _client(tracking_uri)
    info, top = summary(client, run_id), top_trials(client, run_id, k)
    versions = registered_versions(client, run_id)
    if fmt == "json":
        payload = {
            "search": info,
            "top_trials": json.loads(top.to_json(orient="records")),
            "registered": versions,
        }
        click.echo(json.dumps(payload, default=str))
        return
    if fmt == "table":
        best = {key: v for key, v in info.items() if key.startswith("best.")}
        click.echo(f"{info['name']} ({info['status']}): best params {best}")
        click.echo(f"Registered: {', '.join(versions) or 'not registered'}")
    click.echo(FORMATS[fmt](top))


@main.command()
@click.argument("run_id")
@tracking_options
@reports_errors
def report(run_id, tracking_uri, experiment_name) -> None:
    """(Re)build the report/ artifacts of search RUN_ID from MLflow."""
    from hpo_plugin.report import log_report
    from hpo_plugin.tracking.schema import search_parent

    client = _client(tracking_uri)
    search_parent(client, run_id)
    scores = log_report(client, run_id)
    ranked = ", ".join(f"{k} {v:.2f}" for k, v in sorted(scores.items(), key=lambda kv: -kv[1]))
    click.echo(f"Report logged to run {run_id} under report/ (index.html); importance: {ranked or 'n/a'}")


@main.command()
@click.argument("run_ids", nargs=-1, required=True)
@format_option
@tracking_options
@reports_errors
def compare(run_ids, fmt, tracking_uri, experiment_name) -> None:
    """Searches side by side (settings, best and test metrics, best params, importance)."""
    from hpo_plugin.browse import compare as compare_searches

    frame = compare_searches(_client(tracking_uri), list(run_ids))
    if fmt == "json":
        click.echo(frame.to_json(orient="columns"))
    else:
        click.echo(FORMATS[fmt](frame.reset_index(names="field")))
