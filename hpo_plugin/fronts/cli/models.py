"""``hpo register``, ``promote``, ``rollback``: the Model Registry's champion and challenger."""

from __future__ import annotations

import click

from hpo_plugin.fronts.cli.options import reports_errors, tracking_options, use_tracking
from hpo_plugin.fronts.cli.search import describe_registration


def _register(run_id: str, name: str | None, margin: float) -> None:
    from mlflow.tracking import MlflowClient

    from hpo_plugin.promotion import register_search

    describe_registration(register_search(MlflowClient(), run_id, name, margin))


@click.command("register")
@click.option("--run", "run_id", required=True, help="Parent run id of a finished search.")
@click.option("--model-name", default=None, help="Registered model name (default: the search's).")
@click.option(
    "--margin", type=click.FloatRange(min=0), default=0.0, help="Test-metric gain needed for champion."
)
@tracking_options
@reports_errors
def register_command(run_id, model_name, margin, tracking_uri, experiment_name) -> None:
    """Register a search's final model (idempotent; repairs a half-done registration)."""
    use_tracking(tracking_uri)
    _register(run_id, model_name or None, margin)


@click.command()
@click.argument("name", required=False)
@click.argument("version", required=False)
@click.option("--alias", default="champion", show_default=True, help="Alias to move to VERSION.")
@click.option(
    "--run",
    "trial_run",
    default=None,
    help="A trial's run id (e.g. a point of the Pareto front): register its model and give it ALIAS.",
)
@tracking_options
@reports_errors
def promote(name, version, alias, trial_run, tracking_uri, experiment_name) -> None:
    """Deliberately point ALIAS of model NAME at VERSION (recorded on the version); or, with
    --run, register a trial's own model (under NAME, default: the search's) and point ALIAS at it."""
    from mlflow.tracking import MlflowClient

    from hpo_plugin.promotion import promote as promote_version
    from hpo_plugin.promotion import promote_trial

    if trial_run is None and (name is None or version is None):
        raise click.UsageError("give NAME and VERSION, or --run with a trial's run id")
    if trial_run is not None and version is not None:
        raise click.UsageError("give NAME and VERSION, or --run (and optionally NAME), not both")
    use_tracking(tracking_uri)
    if trial_run is not None:
        click.echo(promote_trial(MlflowClient(), trial_run, name, alias))
    else:
        click.echo(promote_version(MlflowClient(), name, version, alias))


@click.command()
@click.argument("name")
@tracking_options
@reports_errors
def rollback(name, tracking_uri, experiment_name) -> None:
    """Move the champion alias of model NAME back to the previous champion."""
    from mlflow.tracking import MlflowClient

    from hpo_plugin.promotion import rollback as rollback_champion

    use_tracking(tracking_uri)
    click.echo(rollback_champion(MlflowClient(), name))
