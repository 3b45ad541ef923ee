"""Time `hpo report` (the report rebuilt from MLflow) for a search of 1,000 trials.

Creates the search first (ridge on the bundled diabetes data, random search, fast trials,
report off), then times the report alone: one paged query of the children, the plots, the
HTML and the upload.

    python benchmarks/report_speed.py [--trials 1000]

Last line: ``report_s S`` (target: under 10 s for 1,000 trials).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.report import log_report
from hpo_plugin.search import run_search
from hpo_plugin.tracking.schema import load_trials

EXPERIMENT = {
    "name": "report_speed",
    "data": {"dataset": "diabetes"},
    "model": {
        "family": "ridge",
        "space": {
            "alpha": {"loguniform": [0.001, 100]},
            "fit_intercept": {"choice": [True, False]},
            "solver": {"choice": ["auto", "svd", "cholesky", "lsqr"]},
        },
    },
    "objective": {"metric": "rmse"},
    "search": {"algo": "random", "seed": 0, "report": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report_speed.yaml"
        path.write_text(
            yaml.safe_dump({**EXPERIMENT, "search": {**EXPERIMENT["search"], "max_evals": args.trials}})
        )
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        started = time.perf_counter()
        result = run_search(load_experiment(path), tracking_uri=uri)
        print(f"search_s {time.perf_counter() - started:.1f} trials {len(result.records)}")
        client = MlflowClient(uri)
        started = time.perf_counter()
        trials = load_trials(client, result.parent_run_id)
        print(f"query_s {time.perf_counter() - started:.2f} rows {len(trials.frame)}")
        started = time.perf_counter()
        log_report(client, result.parent_run_id)
        print(f"report_s {time.perf_counter() - started:.2f}")


if __name__ == "__main__":
    main()
