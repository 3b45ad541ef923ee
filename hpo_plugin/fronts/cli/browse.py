"""``hpo list``, ``show``, ``report``, ``compare``: read searches back from MLflow."""

from __future__ import annotations

import click

from hpo_plugin.fronts.cli.options import (
    FORMATS,
    format_option,
    mlflow_client,
    reports_errors,
    tracking_options,
)


@click.command("list")
@format_option
@tracking_options
@reports_errors
def list_command(fmt, tracking_uri, experiment_name) -> None:
    """The searches, newest first: in every experiment, or in the one --experiment names."""
    from hpo_plugin.browse import list_searches

    click.echo(FORMATS[fmt](list_searches(mlflow_client(tracking_uri), experiment_name)))


@click.command()
@click.argument("run_id", required=False)
@click.option("--run", "trial_run", default=None, help="A trial's run id: its params, error and traceback.")
@click.option("--top", "k", type=click.IntRange(min=1), default=5, show_default=True)
@format_option
@tracking_options
@reports_errors
def show(run_id, trial_run, k, fmt, tracking_uri, experiment_name) -> None:
    """The top trials of search RUN_ID, its best params and its registered versions; or, with
    --run, one trial (a failed one's error and whole traceback)."""
    import json

    from hpo_plugin.browse import pareto_front, registered_versions, search_trials, summary, top_trials, trial

    if (run_id is None) == (trial_run is None):
        raise click.UsageError("give a search's RUN_ID, or --run with a trial's run id")
    client = mlflow_client(tracking_uri)
    if trial_run is not None:
        info = trial(client, trial_run)
        if fmt == "json":
            click.echo(json.dumps(info, default=str))
            return
        click.echo(f"trial {info['trial']} ({info['status']}), run {info['run_id']}: params {info['params']}")
        click.echo(f"metrics {info['metrics']}" if info["metrics"] else "no metrics")
        if info["error"]:
            click.echo(f"error: {info['error']}")
        if info["traceback"]:
            click.echo(info["traceback"].rstrip("\n"))
        return
    trials = search_trials(client, run_id)
    info, top = summary(client, run_id), top_trials(trials, k)
    versions, front = registered_versions(client, run_id), pareto_front(trials)
    if fmt == "json":
        payload = {
            "search": info,
            "top_trials": json.loads(top.to_json(orient="records")),
            "registered": versions,
        }
        if front is not None:
            payload["pareto_front"] = json.loads(front.to_json(orient="records"))
        click.echo(json.dumps(payload, default=str))
        return
    if fmt == "table":
        best = {key: v for key, v in info.items() if key.startswith("best.")}
        click.echo(f"{info['name']} ({info['status']}): best params {best}")
        click.echo(f"Registered: {', '.join(versions) or 'not registered'}")
    click.echo(FORMATS[fmt](top))
    if front is not None:
        if fmt == "table":
            click.echo(f"Pareto front ({len(front)} trials; pick one with: hpo promote --run <run_id>):")
        click.echo(FORMATS[fmt](front) if len(front) else "(no feasible trial)")


@click.command()
@click.argument("run_id")
@tracking_options
@reports_errors
def report(run_id, tracking_uri, experiment_name) -> None:
    """(Re)build the report/ artifacts of search RUN_ID from MLflow."""
    from hpo_plugin.report import log_report
    from hpo_plugin.tracking.schema import search_parent

    client = mlflow_client(tracking_uri)
    search_parent(client, run_id)
    scores = log_report(client, run_id)
    ranked = ", ".join(f"{k} {v:.2f}" for k, v in sorted(scores.items(), key=lambda kv: -kv[1]))
    click.echo(f"Report logged to run {run_id} under report/ (index.html); importance: {ranked or 'n/a'}")


@click.command()
@click.argument("run_ids", nargs=-1, required=True)
@format_option
@tracking_options
@reports_errors
def compare(run_ids, fmt, tracking_uri, experiment_name) -> None:
    """Searches side by side (settings, best and test metrics, best params, importance)."""
    from hpo_plugin.browse import compare as compare_searches

    frame = compare_searches(mlflow_client(tracking_uri), list(run_ids))
    if fmt == "json":
        click.echo(frame.to_json(orient="columns"))
    else:
        click.echo(FORMATS[fmt](frame.reset_index(names="field")))
