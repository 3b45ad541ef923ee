"""Warm start: seed a new search with the finished trials of earlier searches.

A trial is used only if its params fit the new space: the same names, choice values among
the options, numbers inside the new bounds. Others are skipped and counted. Warm-start trials
inform the algorithm but are not this search's trials: they do not count against its budget
and can never be its best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hyperopt import STATUS_OK, Trials
from mlflow.tracking import MlflowClient

from hpo_plugin.parent import search_parent
from hpo_plugin.report import load_trials
from hpo_plugin.resume import History, encode, insert_done, logged_params
from hpo_plugin.space import CHOICE, Param, names

UNBOUNDED = {"normal"}  # every other distribution's args start with (low, high)


@dataclass(frozen=True)
class WarmStart:
    history: History
    used: int
    skipped: int


def fits(vals: dict, space: tuple[Param, ...]) -> bool:
    """Every numeric value lies inside its distribution's bounds in the new space."""
    for p in space:
        if p.kind == CHOICE:
            if not fits(vals, p.options[vals[p.label]].space):
                return False
        elif p.kind not in UNBOUNDED:
            low, high = p.args[0], p.args[1]
            high_ok = vals[p.label] < high if p.kind == "randint" else vals[p.label] <= high
            if not (low <= vals[p.label] and high_ok):
                return False
    return True


def warm_start(client: MlflowClient, run_ids: list[str], config, labels: list[str]) -> WarmStart:
    """The compatible finished trials of the given searches, as hyperopt trials."""
    history = History(trials=Trials(), records=[], next_number=1)
    used = skipped = 0
    wanted = names(config.space)
    for run_id in run_ids:
        search_parent(client, run_id, "warm start")
        frame = load_trials(client, run_id).frame
        for row in frame.to_dict("records") if len(frame) else []:
            if row["status"] != "FINISHED" or not math.isfinite(row["loss"]):
                continue
            logged = logged_params(row)
            try:
                vals = encode(logged, config.space)
            except (KeyError, StopIteration, ValueError):
                vals = None
            if vals is None or not set(logged) <= wanted or not fits(vals, config.space):
                skipped += 1
                continue
            result = {"status": STATUS_OK, "loss": float(row["loss"])}
            insert_done(history.trials, vals, result, labels, warm=True)
            used += 1
    history.trials.refresh()
    history.n_warm = used
    return WarmStart(history, used, skipped)
