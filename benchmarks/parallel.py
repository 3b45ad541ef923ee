"""Throughput of parallel trials: the local and spark executors against sequential.

One run measures, in turn and on the same trials (same seed):

- sequential, local with parallelism 2 and spark with ``local[2]``, each searching
  ``--trials`` trials of about one second (XGBoost on the bundled digits data, one thread per
  trial): finished trials per minute, the ratio to sequential, and the per-trial overhead
  (wall time per trial slot minus the trial's own fit time);
- search quality under parallelism: the mean best validation loss of the default experiment
  for parallelism 1 and 2 over ``--seeds`` seeds.

    .venv/bin/python benchmarks/parallel.py --trials 24 --seeds 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import mlflow

from hpo_plugin.config import load_experiment
from hpo_plugin.search import run_search

ROOT = Path(__file__).resolve().parent.parent
ONE_SECOND = {
    "data.dataset": "digits",
    "search.threads_per_trial": 1,
    "search.report": False,
    "register.enabled": False,
}


def throughput(executor: str, parallelism: int, trials: int) -> tuple[float, float, float]:
    """(finished trials per minute, per-trial overhead, mean fit time in seconds) of one search."""
    overrides = {**ONE_SECOND, "search.max_evals": trials, "executor.name": executor}
    if executor != "sequential":
        overrides["executor.parallelism"] = parallelism
    config = load_experiment(ROOT / "experiments" / "xgboost_breast_cancer.yaml", overrides)
    config = config.model_copy(
        update={"model": config.model.model_copy(update={"params": {"n_estimators": 300}})}
    )
    result = run_search(config)
    fit = statistics.fmean(r.metrics["fit_time_s"] for r in result.records if r.status == "FINISHED")
    per_slot = result.elapsed_s * parallelism / len(result.records)
    return 60 * result.n_ok / result.elapsed_s, per_slot - fit, fit


def quality(parallelism: int, seeds: int) -> list[float]:
    losses = []
    for seed in range(seeds):
        overrides = {"search.seed": seed, "search.report": False, "register.enabled": False}
        if parallelism > 1:
            overrides.update({"executor.name": "local", "executor.parallelism": parallelism})
        config = load_experiment(ROOT / "experiments" / "xgboost_breast_cancer.yaml", overrides)
        losses.append(run_search(config).best.loss)
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        throughput("sequential", 1, 2)  # warm-up: imports, schema, first-use costs
        rows = [("sequential", 1), ("local", 2)] + ([] if args.no_spark else [("spark", 2)])
        figures = {}
        for executor, parallelism in rows:
            rate, overhead, fit = throughput(executor, parallelism, args.trials)
            figures[executor] = rate
            print(
                f"{executor:<10} parallelism {parallelism} trials {args.trials} "
                f"mean_fit_s {fit:.2f} trials_per_min {rate:.1f} "
                f"ratio {rate / figures['sequential']:.2f} overhead_per_trial_s {overhead:.2f}"
            )
        for parallelism in (1, 2) if args.seeds > 1 else ():
            losses = quality(parallelism, args.seeds)
            print(
                f"quality parallelism {parallelism} seeds {args.seeds} trials 30 "
                f"mean_best_loss {statistics.fmean(losses):.4f} std {statistics.stdev(losses):.4f}"
            )


if __name__ == "__main__":
    main()
