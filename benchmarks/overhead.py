"""Bookkeeping overhead of a tracked search against the same search with no MLflow at all.

Runs the default experiment twice in one process, same seed, same trials: bare (objective +
hyperopt + final refit) and tracked (nested runs, metrics, a logged model per trial, final
model, sqlite store). Both come after one warm-up search, so process-wide first-use costs
(imports, creating the sqlite schema, MLflow's one-time scan of installed packages) are
reported on their own line instead of being charged to either side.

    python benchmarks/overhead.py [--experiment experiments/xgboost_breast_cancer.yaml] [--repeats 3]

Last line: ``overhead_ratio R`` (median of the pairwise tracked/bare ratios).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import mlflow

from hpo_plugin.config import load_experiment
from hpo_plugin.report import log_report
from hpo_plugin.search import run_bare, run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="experiments/xgboost_breast_cancer.yaml")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # The report (plots, HTML; issue 7) is timed on its own line, not in the ratio.
    config = load_experiment(args.experiment, {"search.report": False})
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        started = time.perf_counter()
        run_search(
            load_experiment(args.experiment, {"search.max_evals": 2, "search.report": False}),
            tracking_uri=uri,
        )
        print(f"warm_up_s {time.perf_counter() - started:.2f}")
        bare_times, tracked_times = [], []
        for repeat in range(args.repeats):
            if repeat % 2:
                tracked_s, result = _tracked(config, uri)
                best, _, bare_s = run_bare(config)
            else:
                best, _, bare_s = run_bare(config)
                tracked_s, result = _tracked(config, uri)
            assert abs(result.best.loss - best.loss) < 1e-12, "bare and tracked runs diverged"
            bare_times.append(bare_s)
            tracked_times.append(tracked_s)
            print(
                f"trials {len(result.records)} bare_s {bare_s:.2f} tracked_s {tracked_s:.2f} "
                f"ratio {tracked_s / bare_s:.3f}"
            )
        client = mlflow.MlflowClient(uri)
        started = time.perf_counter()
        log_report(client, result.parent_run_id)
        print(f"report_s {time.perf_counter() - started:.2f} (plots + HTML, logged after the search)")
        runs = client.search_runs([result.experiment_id], max_results=10_000)
        per_trial_ms = 1000 * (statistics.median(tracked_times) - statistics.median(bare_times))
        print(
            f"runs_logged {len(runs)} per_trial_bookkeeping_ms {per_trial_ms / config.search.max_evals:.1f}"
        )
    ratios = [t / b for t, b in zip(tracked_times, bare_times, strict=True)]
    print(f"overhead_ratio {statistics.median(ratios):.3f}")


def _tracked(config, uri: str):
    started = time.perf_counter()
    result = run_search(config, tracking_uri=uri)
    return time.perf_counter() - started, result


if __name__ == "__main__":
    main()
