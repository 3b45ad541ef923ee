"""Scale: a 1,000-trial search with a fast objective, end to end, and how its bookkeeping grows.

Per trial, bookkeeping is the search's own time around the trial (hyperopt's ``suggest`` plus
fmin's loop and handing the trial to the writer: the gap between one trial's end and the
next one's start) and the trial writer's time on its MLflow writes (create the child run, log
params, metrics and model, end it), measured in the writer. Printed as medians over the 50
trials ending at trial 100 and at trial 1,000, and their ratio (target: at most 2).

    .venv/bin/python benchmarks/scale.py --trials 1000
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import mlflow

from hpo_plugin.config import load_experiment
from hpo_plugin.search import prepare as prepare_module
from hpo_plugin.search import run_search

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--algo", default="tpe")
    args = parser.parse_args()
    suggest_s: list[float] = []
    real_build = prepare_module.build_algorithm

    def timed_build(name, spec):
        suggest = real_build(name, spec)

        def timed(*a, **k):
            started = time.perf_counter()
            docs = suggest(*a, **k)
            suggest_s.append(time.perf_counter() - started)
            return docs

        return timed

    prepare_module.build_algorithm = timed_build
    overrides = {
        "search.max_evals": args.trials,
        "search.algo": args.algo,
        "search.report": False,
        "register.enabled": False,
        "search.threads_per_trial": 1,
    }
    # A fast objective: logistic regression on the bundled iris data (a few ms per trial).
    config = load_experiment(ROOT / "experiments" / "logistic_regression_digits.yaml", overrides)
    config = config.model_copy(update={"data": config.data.model_copy(update={"dataset": "iris"})})
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        started = time.perf_counter()
        result = run_search(config)
        elapsed = time.perf_counter() - started
    records = sorted(result.records, key=lambda r: r.number)
    gaps = [(b.start_ms - a.end_ms) / 1000 for a, b in itertools.pairwise(records)]
    print(f"trials {len(records)} ok {result.n_ok} elapsed_s {elapsed:.1f} (search and writer drain)")

    def at(n: int) -> dict[str, float]:
        window = slice(max(0, n - 50), n)
        return {
            "suggest_ms": 1000 * statistics.median(suggest_s[window]),
            "search_side_ms": 1000 * statistics.median(gaps[max(0, n - 51) : n - 1]),
            "writer_ms": 1000 * statistics.median(r.write_s for r in records[window]),
        }

    first, last = at(100), at(len(records))
    for n, figures in ((100, first), (len(records), last)):
        total = figures["search_side_ms"] + figures["writer_ms"]
        print(
            f"at trial {n}: "
            + " ".join(f"{k} {v:.1f}" for k, v in figures.items())
            + f" total_ms {total:.1f}"
        )
    ratio = (last["search_side_ms"] + last["writer_ms"]) / (first["search_side_ms"] + first["writer_ms"])
    print(f"bookkeeping_ratio_{len(records)}_vs_100 {ratio:.2f}")


if __name__ == "__main__":
    main()
