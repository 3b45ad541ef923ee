"""Proposal speed: how long each algorithm takes to propose a trial, by how many came before.

A search over the `xgboost_wide` space of `search_quality.py` (7 parameters) whose objective
costs nothing (a smooth function of the point), so the time between trials is the algorithm's:
hyperopt's loop plus the proposal. One thread, as a search's BLAS gets.

    .venv/bin/python benchmarks/proposal_speed.py --trials 300

Prints, per algorithm, the median milliseconds per trial over trials 1-50, 51-100 and 101-N.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def trial_times(algo: str, trials: int) -> list[float]:
    import numpy as np
    from search_quality import _config
    from threadpoolctl import threadpool_limits

    from hpo_plugin.executors.loop import minimize
    from hpo_plugin.search import prepare_search

    prepared = prepare_search(_config("xgboost_wide", "wine", 0, trials, algo, None))
    times: list[float] = []
    last = time.perf_counter()

    def objective(point):
        nonlocal last
        now = time.perf_counter()
        times.append(now - last)
        values = np.array([float(v) for v in point.values()])
        loss = float(((np.log1p(np.abs(values)) - 0.5) ** 2).sum())
        last = time.perf_counter()
        return {"status": "ok", "loss": loss}

    with threadpool_limits(1):
        minimize(prepared, objective)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--algos", nargs="*", default=["gp", "tpe", "random"])
    args = parser.parse_args()
    spans = [(1, 50), (51, 100), (101, args.trials)]
    print("| algo | " + " | ".join(f"ms per trial, trials {a}-{b}" for a, b in spans) + " |")
    print("|---|" + "---|" * len(spans))
    for algo in args.algos:
        times = trial_times(algo, args.trials)
        cells = [f"{1000 * statistics.median(times[a - 1 : b]):.1f}" for a, b in spans if len(times) >= a]
        print(f"| {algo} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
