"""The parent run's view of a search with trade-offs: how many trials were feasible, which make
the Pareto front (``n_feasible``, ``n_pareto``), and the table of every judged trial."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from mlflow.tracking import MlflowClient

from hpo_plugin.tracking.client import log_batch
from hpo_plugin.tracking.records import FINISHED, TrialRecord
from hpo_plugin.tracking.schema import FRONT_TABLE, LOSS_METRIC
from hpo_plugin.tradeoffs import Tradeoffs, front_of


def front_table(records: Iterable[TrialRecord], tradeoffs: Tradeoffs) -> pd.DataFrame:
    """One row per judged trial, the front first (by loss): trial, run id, each objective, each
    constrained metric, feasible, on the front."""
    judged = [r for r in records if r.status == FINISHED and r.objectives is not None]
    members = front_of(judged)
    rows = []
    for r in judged:
        row = {"trial": r.number, "run_id": r.run_id, LOSS_METRIC: r.loss}
        row.update({g.name: r.metrics.get(g.name) for g in tradeoffs.also})
        row.update({b.name: r.metrics.get(b.name) for b in tradeoffs.constraints})
        if tradeoffs.constraints:
            row["feasible"] = bool(r.feasible)
        row["pareto"] = r.number in members
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values(["pareto", LOSS_METRIC], ascending=[False, True], kind="stable")
    return table.reset_index(drop=True)


def log_front(client: MlflowClient, run_id: str, records: list[TrialRecord], tradeoffs: Tradeoffs) -> None:
    """``n_pareto`` (and ``n_feasible`` with constraints) and the table, on the parent run."""
    table = front_table(records, tradeoffs)
    metrics = {"n_pareto": int(table["pareto"].sum()) if len(table) else 0}
    if tradeoffs.constraints:
        metrics["n_feasible"] = int(table["feasible"].sum()) if len(table) else 0
    log_batch(client, run_id, metrics=metrics)  # hpo.tradeoffs is on the parent since its setup
    if len(table):
        client.log_table(run_id, table, FRONT_TABLE)
