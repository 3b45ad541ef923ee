"""Pruning: the same XGBoost search with and without ``search.pruning``, at equal wall time.

For each of the four bundled datasets and each seed, one bare search (no MLflow) runs
``--budget`` trials unpruned; the pruned search (``--pruning``, same space, seed and TPE) then
runs for the same wall time as that seed's unpruned search. Optuna (TPE + MedianPruner, its
defaults) runs the same objective for the same time as a reference row when optuna is installed
(it is not a dependency). Per dataset:

- the target: the unpruned searches' mean best-of-budget loss;
- best loss at equal wall time (mean ± std over seeds);
- time to target: when a search's best first reaches the target (a search that never does counts
  its whole time: a lower bound, in the unpruned search's favour); the fraction is the pruned
  search's mean time over the unpruned search's.

    .venv/bin/python benchmarks/pruning.py --seeds 5 --budget 50

Its last line: ``pruning datasets_at_or_under_0.6 N/4 median_fraction F``. Several ``--pruning``
settings run on the same unpruned searches (one row each, ``pruned: <method>``, and one last
line each, the settings' row name appended):

    .venv/bin/python benchmarks/pruning.py --datasets digits --pruning \
        '{"method": "median", "report_every": 20}' '{"method": "successive_halving", "min_resource": 60}'
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

DATASETS = {"breast_cancer": "log_loss", "wine": "log_loss", "digits": "log_loss", "diabetes": "rmse"}
# Boosting rounds per trial: pruning pays where a trial costs much more than proposing one
# (hyperopt's TPE takes 10-30 ms a proposal); digits' 10 classes make each round 10 trees.
ROUNDS = {"breast_cancer": 1000, "wine": 1000, "digits": 300, "diabetes": 1000}
SPACE = {
    "learning_rate": {"loguniform": [0.003, 0.5]},
    "max_depth": {"quniform": [2, 8, 1]},
    "min_child_weight": {"loguniform": [0.5, 20]},
    "subsample": {"uniform": [0.5, 1.0]},
    "colsample_bytree": {"uniform": [0.4, 1.0]},
    "reg_lambda": {"loguniform": [0.01, 10]},
}
# Successive halving on each trial's forecast of its final value (rungs at 60, 180, 540 rounds):
# at 5 seeds 3 of 4 datasets reach the unpruned target in at most 0.6 of the time, where the
# same rule on the values at the rung (from 20 rounds: 2/4) stops the slow learners that end best.
DEFAULT_PRUNING = {
    "method": "successive_halving",
    "min_resource": 60,
    "reduction_factor": 3,
    "report_every": 20,
    "forecast": True,
}
TARGET_FRACTION = 0.6


def experiment(dataset: str, seed: int, max_evals: int, pruning: dict | None, timeout: float | None):
    from hpo_plugin.fronts.experiment import load_experiment

    raw = {
        "name": f"pruning_{dataset}",
        "data": {"dataset": dataset},
        "model": {"family": "xgboost", "params": {"n_estimators": ROUNDS[dataset]}, "space": SPACE},
        "objective": {"metric": DATASETS[dataset], "validation": {"holdout": 0.25}},
        "search": {"algo": "tpe", "seed": seed, "max_evals": max_evals, "threads_per_trial": 1},
    }
    if pruning:
        raw["search"]["pruning"] = pruning
    if timeout:
        raw["search"]["timeout"] = timeout
    path = Path(tempfile.mkdtemp()) / "pruning.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_experiment(path)


def search(config) -> list[tuple[float, float | None]]:
    """(seconds since the search started, its loss or None if pruned or failed), per trial."""
    from hpo_plugin.executors.context import new_board
    from hpo_plugin.executors.loop import minimize
    from hpo_plugin.executors.trial import NoSink, evaluate_trial, run_trial
    from hpo_plugin.search import prepare_search
    from hpo_plugin.space import decode
    from hpo_plugin.tracking.records import TrialRecord

    prepared = prepare_search(config)
    sink, board, trace = NoSink(), new_board(config.search), []
    started = time.perf_counter()

    def evaluate(record):
        return evaluate_trial(prepared.objective, record, reporter=board.reporter(record.number))

    def on_trial(point, vals=None):
        record = TrialRecord(len(sink.records) + 1, decode(point))
        result = run_trial(record, evaluate, sink, board)
        trace.append((time.perf_counter() - started, record.loss if record.scored else None))
        return result

    minimize(prepared, on_trial)
    return trace


def optuna_search(config, seconds: float) -> list[tuple[float, float | None]]:
    """Optuna's default TPE and MedianPruner on the same objective, for ``seconds``."""
    import optuna

    from hpo_plugin.pruners import Reporter, TrialPruned
    from hpo_plugin.search import prepare_search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prepared = prepare_search(config)
    every = DEFAULT_PRUNING["report_every"]
    config = config.model_copy(
        update={"search": config.search.model_copy(update={"pruning": _pruning({"report_every": every})})}
    )
    prepared = prepared.__class__(
        config, prepared.dataset, prepared.objective.__class__(config, prepared.dataset, 1), None, None
    )
    trace: list[tuple[float, float | None]] = []
    started = time.perf_counter()

    def objective(trial):
        params = {}
        for p in config.space:
            low, high = p.args[0], p.args[1]
            if p.kind == "quniform":
                params[p.name] = trial.suggest_int(p.name, int(low), int(high))
            else:
                params[p.name] = trial.suggest_float(p.name, low, high, log=p.kind == "loguniform")

        def ask(step: int, loss: float, end: int | None = None) -> bool:
            trial.report(loss, step)
            return trial.should_prune()

        try:
            loss = prepared.objective.evaluate(params, None, Reporter(ask)).loss
        except TrialPruned:
            trace.append((time.perf_counter() - started, None))
            raise optuna.TrialPruned() from None
        trace.append((time.perf_counter() - started, loss))
        return loss

    sampler = optuna.samplers.TPESampler(seed=config.search.seed)
    study = optuna.create_study(sampler=sampler, pruner=optuna.pruners.MedianPruner())
    study.optimize(objective, timeout=seconds)
    return trace


def _pruning(settings: dict):
    from hpo_plugin.config import PruningConfig

    return PruningConfig(**{"method": "median", **settings})


def best_at(trace, seconds: float) -> float:
    return min((loss for t, loss in trace if t <= seconds and loss is not None), default=math.inf)


def time_to(trace, target: float, budget: float) -> float:
    """When the trace's best first reaches ``target``; ``budget`` if it never does."""
    return next((t for t, loss in trace if loss is not None and loss <= target), budget)


def _names(settings: list[dict]) -> dict[str, dict]:
    """Rows for several pruning settings: ``pruned: <method>``, with the knobs that differ where
    two settings share a method."""
    names = {}
    for each in settings:
        differ = [k for k, v in each.items() if k != "method" and any(o.get(k) != v for o in settings)]
        knobs = [f"{k} {each[k]}" for k in differ]
        shared = sum(o["method"] == each["method"] for o in settings) > 1
        names[f"pruned: {each['method']}" + (f" ({', '.join(knobs)})" if shared and knobs else "")] = each
    return names


def _fmt(values: list[float]) -> str:
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values) if len(values) > 1 else 0:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument(
        "--pruning",
        type=json.loads,
        nargs="+",
        default=[DEFAULT_PRUNING],
        help="search.pruning as JSON; several compare their rules on the same unpruned searches",
    )
    parser.add_argument("--no-optuna", action="store_true")
    args = parser.parse_args()
    try:
        import optuna  # noqa: F401

        with_optuna = not args.no_optuna
    except ImportError:
        with_optuna = False
    names = {"pruned": args.pruning[0]} if len(args.pruning) == 1 else _names(args.pruning)
    for name, settings in names.items():
        line = f"pruning settings {json.dumps(settings)}; {args.budget} unpruned trials, {args.seeds} seeds"
        print(line + ("" if name == "pruned" else f" ({name})"))
    print("| dataset | search | best at equal time | time to target s | fraction | trials (pruned) |")
    print("|---|---|---|---|---|---|")
    fractions: dict[str, dict[str, float]] = {name: {} for name in names}
    for dataset in args.datasets:
        runs: dict[str, list] = {"unpruned": [], **{n: [] for n in names}}
        runs["optuna + MedianPruner (reference)"] = []
        for seed in range(args.seeds):
            unpruned = search(experiment(dataset, seed, args.budget, None, None))
            seconds = unpruned[-1][0]
            runs["unpruned"].append((unpruned, seconds))
            for name, settings in names.items():
                pruned = search(experiment(dataset, seed, 100_000, settings, seconds))
                runs[name].append((pruned, seconds))
            if with_optuna:
                config = experiment(dataset, seed, args.budget, None, None)
                runs["optuna + MedianPruner (reference)"].append((optuna_search(config, seconds), seconds))
            pruned_best = ", ".join(f"{n} {best_at(runs[n][-1][0], seconds):.4f}" for n in names)
            line = f"  {dataset} seed {seed}: {seconds:.1f} s, unpruned {best_at(unpruned, seconds):.4f}"
            print(f"{line}, {pruned_best}", file=sys.stderr)
        target = statistics.fmean(best_at(trace, s) for trace, s in runs["unpruned"])
        base = statistics.fmean(time_to(trace, target, s) for trace, s in runs["unpruned"])
        for name, done in runs.items():
            if not done:
                continue
            times = [time_to(trace, target, s) for trace, s in done]
            fraction = statistics.fmean(times) / base
            if name in fractions:
                fractions[name][dataset] = fraction
            n = statistics.fmean(len(trace) for trace, _ in done)
            n_pruned = statistics.fmean(sum(loss is None for _, loss in trace) for trace, _ in done)
            print(
                f"| {dataset} (target {target:.4f}) | {name} | {_fmt([best_at(t, s) for t, s in done])} | "
                f"{statistics.fmean(times):.1f} | {fraction:.2f} | {n:.0f} ({n_pruned:.0f}) |"
            )
    for name, by_dataset in fractions.items():
        at_or_under = sum(f <= TARGET_FRACTION for f in by_dataset.values())
        print(
            f"pruning datasets_at_or_under_{TARGET_FRACTION} {at_or_under}/{len(by_dataset)} "
            f"median_fraction {statistics.median(by_dataset.values()):.2f}"
            + ("" if name == "pruned" else f" ({name})")
        )


if __name__ == "__main__":
    main()
