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
@click.argument("name")
@click.argument("version")
@click.option("--alias", default="champion", show_default=True, help="Alias to move to VERSION.")
@tracking_options
@reports_errors
def promote(name, version, alias, tracking_uri, experiment_name) -> None:
    """Deliberately point ALIAS of model NAME at VERSION (recorded on the version)."""
    from mlflow.tracking import MlflowClient

    from hpo_plugin.promotion import promote as promote_version

    use_tracking(tracking_uri)
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
