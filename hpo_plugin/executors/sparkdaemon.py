"""PySpark's Python daemon, with what a trial needs imported before it forks any worker.

PySpark forks each Python worker from this daemon (a worker then serves later tasks, since
our tasks read their input to the end). The stock daemon has imported only PySpark, so each
new worker would spend seconds importing XGBoost, scikit-learn and MLflow's stores, and MLflow
would scan the installed packages again; forked from here, it starts with all of that done.
Nothing here starts a thread pool (the warm-up fits a 4-row model) or keeps a connection open,
so the forks are safe. Spark runs it as ``python -m hpo_plugin.executors.sparkdaemon``
(``spark.python.daemon.module``).
"""

from __future__ import annotations

import importlib

from pyspark.daemon import manager

PRELOAD = (
    "hpo_plugin.executors.spark",  # the objective, the trial writer, MLflow's client and flavors
    "mlflow.store.tracking.sqlalchemy_store",  # a database's client
    "mlflow.store.tracking.rest_store",  # an mlflow server's
)


def preload() -> None:
    """Import and warm up what trials use; where that fails, each trial reports why itself."""
    try:
        for module in PRELOAD:
            importlib.import_module(module)
        importlib.import_module("hpo_plugin.models.logged").warm_up()
    except ImportError:
        pass


if __name__ == "__main__":
    preload()
    manager()
