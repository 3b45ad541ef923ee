"""``hpo search``: run an experiment file's search, then say where it landed."""

from __future__ import annotations

import re
import sys
import time

import click

from hpo_plugin.algorithms import ALGORITHMS
from hpo_plugin.executors import EXECUTORS
from hpo_plugin.fronts.cli.options import Blankable, reports_errors, tracking_options
from hpo_plugin.tradeoffs import front_of


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option(
    "--algo",
    type=click.Choice(["", *sorted(ALGORITHMS)]),
    default="",
    help="Search algorithm (default: search.algo of the file).",
)
@click.option("--max-evals", type=Blankable(int), default="", help="Number of trials.")
@click.option("--seed", type=Blankable(int), default="", help="Seed of the search.")
@click.option("--timeout", type=Blankable(float), default="", help="Start no trial after this many seconds.")
@click.option(
    "--trial-timeout",
    type=Blankable(float),
    default="",
    help="Stop (and fail) a trial after this many seconds.",
)
@click.option(
    "--trial-memory-mb",
    type=Blankable(int),
    default="",
    help="Stop (and fail) a trial past this much memory.",
)
@click.option(
    "--also",
    multiple=True,
    help="A further objective (a metric name; repeatable, or comma-separated): the Pareto front.",
)
@click.option(
    "--constraint",
    multiple=True,
    help="A constraint, NAME<=X or NAME>=X (repeatable, or comma-separated): only feasible trials win.",
)
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
    trial_timeout,
    trial_memory_mb,
    also,
    constraint,
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
    started = time.perf_counter()
    enabled = _register_choice(register, register_setting)
    from hpo_plugin.tracking.writer import prestart

    prestart()  # the trial writer imports MLflow while we load the config and the data

    from hpo_plugin.fronts.experiment import load_experiment
    from hpo_plugin.search import run_search

    overrides = {
        "search.algo": algo or None,
        "search.max_evals": max_evals,
        "search.seed": seed,
        "search.timeout": timeout,
        "search.trial_timeout": trial_timeout,
        "search.trial_memory_mb": trial_memory_mb,
        "executor.name": executor or None,
        "executor.parallelism": parallelism,
        "executor.spark_master": spark_master or None,
        "register.enabled": enabled,
        "register.model_name": model_name,
        "search.warm_start": tuple(warm_start) or None,
        "objective.also": _listed(also) or None,
        "objective.constraints": _constraints(constraint) or None,
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
    print_search_result(config, result, started)
    if result.registration is not None:
        describe_registration(result.registration)
    elif result.best is not None:  # without a best, print_search_result said why already
        click.echo(f"Not registered: {result.not_registered}")


def _listed(given: tuple[str, ...]) -> list[str]:
    """Repeated options, each possibly comma-separated (the MLproject passes one string; an
    empty one means none)."""
    return [item.strip() for text in given for item in text.split(",") if item.strip()]


def _constraints(given: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """``--constraint predict_ms<=5`` (and ``>=``) as ``objective.constraints``."""
    found: dict[str, dict[str, float]] = {}
    for text in _listed(given):
        match = re.fullmatch(r"\s*([\w.\-]+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*", text)
        try:
            value = float(match.group(3)) if match else None
        except ValueError:
            value = None
        if value is None:
            raise click.BadParameter(
                f"{text!r}: write NAME<=X or NAME>=X (e.g. predict_ms<=5)", param_hint="--constraint"
            )
        side = "max" if match.group(2) == "<=" else "min"
        found.setdefault(match.group(1), {})[side] = value
    return found


def _register_choice(flag: bool | None, setting: str) -> bool | None:
    """--register/--no-register, or the MLproject's string form of it; None: as in the file."""
    from_setting = {"": None, "true": True, "false": False}[setting]
    if flag is not None and from_setting is not None and flag != from_setting:
        raise click.UsageError(f"--register-setting={setting} contradicts --{'' if flag else 'no-'}register")
    return flag if flag is not None else from_setting


def describe_registration(registration) -> None:
    click.echo(registration.describe())
    click.echo(f"Load it: mlflow.pyfunc.load_model('models:/{registration.name}@champion')")


def where_the_time_went(phases: dict[str, float], waited: float) -> str:
    """The phases of a wait, when more than the trials took a noticeable part of it (else "")."""
    steps = {"starting (imports, the experiment file)": waited - sum(phases.values()), **phases}
    other = waited - steps.get("trials", 0.0)
    if other < max(1.0, 0.1 * waited):
        return ""
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items() if seconds >= 0.05)


def print_search_result(config, result, started: float | None = None) -> None:
    """Where the results are and how to open them; ``started``: perf_counter when the user's
    wait began (the command's start), else the search's phases alone count."""
    import mlflow

    metric = config.objective.metric
    best = result.best
    uri = mlflow.get_tracking_uri()
    waited = time.perf_counter() - started if started is not None else sum(result.phases.values())
    click.echo(
        f"Search finished in {waited:.1f} s: {len(result.records)} trials "
        f"({result.n_ok} ok, {f'{result.n_pruned} pruned, ' if result.n_pruned else ''}"
        f"{result.n_failed} failed)."
    )
    if where := where_the_time_went(result.phases, waited):
        click.echo(f"Time: {where}")
    tradeoffs = config.objective.tradeoffs
    if tradeoffs.constraints:
        feasible = sum(r.feasible is True for r in result.records)
        bounds = "; ".join(b.text() for b in tradeoffs.constraints)
        click.echo(f"Constraints ({bounds}): {_trials(feasible)} met them.")
    if tradeoffs.also:
        on_front = len(front_of(result.records))
        click.echo(
            f"Pareto front of loss, {', '.join(g.name for g in tradeoffs.also)}: {_trials(on_front)} "
            f"(runs tagged hpo.pareto = 'true'; `hpo show {result.parent_run_id}` lists them)."
        )
    if best is None:
        click.echo(f"No final model: {result.not_registered}")
    elif not config.objective.builtin:  # a function or entry point: its loss, and its own model
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


def _trials(n: int) -> str:
    return f"{n} trial" if n == 1 else f"{n} trials"
