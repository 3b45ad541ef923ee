"""Trade-offs: the feasible Pareto front each sampler finds for the same budget.

The objectives are the validation log loss and the model's size (``model_mb``), under a
constraint on its prediction time (``predict_ms``, 1,000 validation rows); an XGBoost space
with the number of trees and their depth (what makes a model big and slow) on three bundled
datasets. Every sampler evaluates the same objective (hpo_plugin's built-in objective, bare: no
MLflow), with the same budget and seeds:

- ``gp (ours, default)``: hpo_plugin's default algorithm with ``objective.also`` and
  ``objective.constraints`` (random scalarisations, a GP per constraint);
- ``random``: hyperopt's random search (what any sampler must beat);
- ``optuna tpe``: Optuna's multi-objective ``TPESampler``, constraints given with
  ``trial.set_constraint`` (Optuna 5's form of ``constraints_func``);
- ``optuna nsga2``: Optuna's ``NSGAIISampler``, the same way.

Per dataset and sampler: the hypervolume of the feasible front (log loss and model_mb, against
the reference point printed, the worst feasible values seen by any sampler on that dataset
times 1.1) and the best feasible log loss, mean ± sd over seeds at the budget. The last line:
``multiobjective hypervolume_at_or_above_optuna N/3 best_feasible_at_or_below_optuna N/3``
(ours against Optuna's better sampler per dataset, by the mean over seeds).

    .venv/bin/python benchmarks/multiobjective.py                 # 50 trials, 5 seeds
    .venv/bin/python benchmarks/multiobjective.py --quick         # 30 trials, 3 seeds

Optuna is a reference, not a dependency: ``pip install 'optuna>=5'``.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import yaml

# dataset -> the constraint's bound: predict_ms <= this (about the 80th percentile of random
# configurations of the space on this machine: it binds, and timing noise rarely decides it)
DATASETS = {"breast_cancer": 2.5, "wine": 3.0, "digits": 10.0}
SAMPLERS = ("gp (ours, default)", "random", "optuna tpe", "optuna nsga2")
SPACE = {
    "n_estimators": {"quniform": [10, 300, 10]},
    "max_depth": {"quniform": [1, 10, 1]},
    "learning_rate": {"loguniform": [0.005, 1.0]},
    "subsample": {"uniform": [0.3, 1.0]},
    "min_child_weight": {"loguniform": [0.1, 50]},
}


def config(dataset: str, seed: int, budget: int, algo: str):
    from hpo_plugin.fronts.experiment import load_experiment

    raw = {
        "name": f"multiobjective_{dataset}",
        "data": {"dataset": dataset},
        "model": {"family": "xgboost", "space": SPACE},
        "objective": {
            "metric": "log_loss",
            "validation": {"holdout": 0.25},
            "also": ["model_mb"],
            "constraints": {"predict_ms": {"max": DATASETS[dataset]}},
        },
        "search": {"algo": algo, "seed": seed, "max_evals": budget, "threads_per_trial": 1, "report": False},
    }
    path = Path(tempfile.mkdtemp()) / "multiobjective.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_experiment(path)


def run_one(task: tuple[str, str, int, int]) -> list[tuple[float, float, bool]]:
    """(log loss, model_mb, feasible) of every trial of one search, in order."""
    sampler, dataset, seed, budget = task
    if sampler.startswith("optuna"):
        return _optuna(sampler, dataset, seed, budget)
    from hpo_plugin.executors.loop import minimize
    from hpo_plugin.search import prepare_search
    from hpo_plugin.space import decode
    from hpo_plugin.tradeoffs import algo_result

    prepared = prepare_search(config(dataset, seed, budget, "gp" if sampler.startswith("gp") else "random"))
    tradeoffs = prepared.config.objective.tradeoffs
    trials: list[tuple[float, float, bool]] = []

    def on_trial(point, vals=None):
        try:
            outcome = prepared.objective.evaluate(decode(point))
            judged = tradeoffs.judge(outcome.loss, outcome.metrics)
        except Exception:
            return {"status": "fail"}
        trials.append((outcome.loss, outcome.metrics["model_mb"], bool(judged.feasible)))
        return {"status": "ok", **algo_result(outcome.loss, judged)}

    minimize(prepared, on_trial)
    return trials


def _optuna(sampler: str, dataset: str, seed: int, budget: int) -> list[tuple[float, float, bool]]:
    import optuna
    from search_quality import _suggest

    from hpo_plugin.search import prepare_search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prepared = prepare_search(config(dataset, seed, budget, "random"))
    bound = DATASETS[dataset]
    trials: list[tuple[float, float, bool]] = []

    def objective(trial):
        outcome = prepared.objective.evaluate(_suggest(trial, prepared.config.space))
        ms = outcome.metrics["predict_ms"]
        trial.set_constraint("predict_ms", ms - bound)  # Optuna 5: <= 0 is feasible
        trials.append((outcome.loss, outcome.metrics["model_mb"], ms <= bound))
        return outcome.loss, outcome.metrics["model_mb"]

    if sampler == "optuna tpe":
        chosen = optuna.samplers.TPESampler(seed=seed)
    else:
        chosen = optuna.samplers.NSGAIISampler(seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=chosen)
    study.optimize(objective, n_trials=budget, catch=(Exception,))
    return trials


def feasible_points(trials) -> list[tuple[float, float]]:
    return [(loss, mb) for loss, mb, ok in trials if ok and math.isfinite(loss)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="30 trials, 3 seeds")
    args = parser.parse_args()
    budget, seeds = (30, 3) if args.quick else (args.budget, args.seeds)
    from hpo_plugin.tradeoffs import hypervolume_2d

    tasks = [(s, d, seed, budget) for d in DATASETS for s in SAMPLERS for seed in range(seeds)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        results = dict(zip(tasks, pool.map(run_one, tasks, chunksize=1), strict=True))
    hv_met = loss_met = 0
    for dataset, bound in DATASETS.items():
        everything = [
            p for (s, d, _, _), trials in results.items() if d == dataset for p in feasible_points(trials)
        ]
        reference = (max(p[0] for p in everything) * 1.1, max(p[1] for p in everything) * 1.1)
        print(
            f"\n{dataset}: log_loss vs model_mb, predict_ms <= {bound:g}; {budget} trials, {seeds} seeds; "
            f"reference point (log_loss {reference[0]:.4g}, model_mb {reference[1]:.4g})"
        )
        means: dict[str, tuple[float, float]] = {}
        for sampler in SAMPLERS:
            hvs, bests, shares = [], [], []
            for seed in range(seeds):
                trials = results[(sampler, dataset, seed, budget)]
                points = feasible_points(trials)
                hvs.append(hypervolume_2d(points, reference))
                bests.append(min((p[0] for p in points), default=math.inf))
                shares.append(len(points) / max(len(trials), 1))
            finite = [b for b in bests if math.isfinite(b)]
            means[sampler] = (statistics.fmean(hvs), statistics.fmean(finite) if finite else math.inf)
            print(
                f"  {sampler:20s} hypervolume {statistics.fmean(hvs):.4f} ± {_sd(hvs):.4f}  "
                f"best_feasible_log_loss {means[sampler][1]:.4f} ± {_sd(finite):.4f}  "
                f"feasible {statistics.fmean(shares):.0%}"
            )
        optuna_hv = max(means["optuna tpe"][0], means["optuna nsga2"][0])
        optuna_loss = min(means["optuna tpe"][1], means["optuna nsga2"][1])
        hv_met += means[SAMPLERS[0]][0] >= optuna_hv
        loss_met += means[SAMPLERS[0]][1] <= optuna_loss
    print(f"\nmultiobjective_s {time.perf_counter() - started:.0f}")
    print(
        f"multiobjective hypervolume_at_or_above_optuna {hv_met}/{len(DATASETS)} "
        f"best_feasible_at_or_below_optuna {loss_met}/{len(DATASETS)}"
    )


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


if __name__ == "__main__":
    main()
