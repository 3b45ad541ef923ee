"""Throughput of parallel trials: the local and spark executors against sequential.

One run measures, in turn and on the same trials (same seed):

- sequential and local with parallelism 2, in ``--repeats`` interleaved pairs, then spark with
  ``local[2]`` once, each searching ``--trials`` trials of about one second (XGBoost with
  ``--rounds`` rounds on the bundled digits data, one thread per trial): finished trials per
  minute, the ratio to sequential, and the per-trial overhead (wall time per trial slot minus
  the trial's own fit time). Each executor first runs a short warm-up search, whose start-up
  (the first search of a process: worker imports, Spark's JVM) is printed on its own line;
- the same spark figures on a real Spark standalone master and worker (2 cores) that PySpark's
  own classes start on 127.0.0.1 (``spark_cluster.py``), as a cluster user runs it;
- search quality under parallelism: the mean best validation loss of the default experiment
  for parallelism 1 and 2 over ``--seeds`` seeds.

    .venv/bin/python benchmarks/parallel.py --trials 60 --repeats 3 --spark-trials 20 --seeds 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import mlflow
from spark_cluster import standalone_cluster

from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.search import run_search

ROOT = Path(__file__).resolve().parent.parent
ONE_SECOND = {
    "data.dataset": "digits",
    "search.threads_per_trial": 1,
    "search.algo": "random",  # the same points in the same order for every executor
    "search.report": False,
    "register.enabled": False,
}


def throughput(
    executor: str, parallelism: int, trials: int, rounds: int, master: str | None = None
) -> dict[str, float]:
    """Trials per minute of one search: over the whole call, and in steady state (from the first
    finished trial to the last, i.e. without the one-time start-up of workers or Spark)."""
    overrides = {**ONE_SECOND, "search.max_evals": trials, "executor.name": executor}
    if executor != "sequential":
        overrides["executor.parallelism"] = parallelism
    if master:
        overrides["executor.spark_master"] = master
    config = load_experiment(ROOT / "experiments" / "xgboost_breast_cancer.yaml", overrides)
    config = config.model_copy(
        update={"model": config.model.model_copy(update={"params": {"n_estimators": rounds}})}
    )
    started = time.perf_counter()
    result = run_search(config)
    elapsed = time.perf_counter() - started  # the whole call: setup and worker start-up included
    finished = [r for r in result.records if r.status == "FINISHED"]
    fit = statistics.fmean(r.metrics["fit_s"] for r in finished)
    ends = sorted(r.end_ms for r in finished)
    steady = 60_000 * (len(ends) - 1) / (ends[-1] - ends[0])
    return {
        "whole": 60 * len(finished) / elapsed,
        "steady": steady,
        "startup_s": elapsed - len(finished) / steady * 60,
        "overhead_s": 60 / steady * parallelism - fit,
        "fit_s": fit,
    }


def quality(parallelism: int, seeds: int) -> list[float]:
    losses = []
    for seed in range(seeds):
        overrides = {"search.seed": seed, "search.report": False, "register.enabled": False}
        if parallelism > 1:
            overrides.update({"executor.name": "local", "executor.parallelism": parallelism})
        config = load_experiment(ROOT / "experiments" / "xgboost_breast_cancer.yaml", overrides)
        losses.append(run_search(config).best.loss)
    return losses


def _line(executor: str, parallelism: int, n: int, f: dict[str, float], base: dict[str, float]) -> str:
    return (
        f"{executor:<10} parallelism {parallelism} trials {n} mean_fit_s {f['fit_s']:.2f} "
        f"whole_call: trials_per_min {f['whole']:.1f} ratio {f['whole'] / base['whole']:.2f} | "
        f"steady: trials_per_min {f['steady']:.1f} ratio {f['steady'] / base['steady']:.2f} "
        f"overhead_per_trial_s {f['overhead_s']:.2f} | startup_s {f['startup_s']:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3, help="sequential/local pairs, interleaved")
    parser.add_argument("--rounds", type=int, default=500, help="XGBoost rounds: trial length")
    parser.add_argument("--spark-trials", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        rows = [("sequential", 1), ("local", 2)] + ([] if args.no_spark else [("spark", 2)])
        for executor, parallelism in rows:  # warm-up: imports, schema, workers, first-use costs
            first = throughput(executor, parallelism, 2 * parallelism, args.rounds)
            print(f"{executor:<10} first search of this process: startup_s {first['startup_s']:.1f}")
        # Pairs run back to back, so a slow spell of this shared machine hits both sides.
        ratios = {"whole": [], "steady": []}
        for _ in range(args.repeats):
            base = throughput("sequential", 1, args.trials, args.rounds)
            local = throughput("local", 2, args.trials, args.rounds)
            print(_line("sequential", 1, args.trials, base, base))
            print(_line("local", 2, args.trials, local, base))
            for key in ratios:
                ratios[key].append(local[key] / base[key])
        for key, values in ratios.items():
            print(
                f"local/sequential {key}: median {statistics.median(values):.2f} "
                f"range {min(values):.2f}-{max(values):.2f} over {len(values)} pairs"
            )
        if not args.no_spark:
            spark = throughput("spark", 2, args.spark_trials, args.rounds)
            print(_line("spark", 2, args.spark_trials, spark, base))
            with standalone_cluster(cores=2) as master:  # a real master and worker on loopback
                first = throughput("spark", 2, 4, args.rounds, master)
                print(f"standalone first search of this process: startup_s {first['startup_s']:.1f}")
                spark = throughput("spark", 2, args.spark_trials, args.rounds, master)
                print(_line("standalone", 2, args.spark_trials, spark, base))
        for parallelism in (1, 2) if args.seeds > 1 else ():
            losses = quality(parallelism, args.seeds)
            print(
                f"quality parallelism {parallelism} seeds {args.seeds} trials 30 "
                f"mean_best_loss {statistics.fmean(losses):.4f} std {statistics.stdev(losses):.4f}"
            )


if __name__ == "__main__":
    main()
