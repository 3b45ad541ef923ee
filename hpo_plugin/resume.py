"""Resume an interrupted search from MLflow alone (no pickle): its child runs are the history.

Each finished or failed child becomes a hyperopt trial again (params encoded back to
hyperopt's ``vals``: choice -> option index); children left RUNNING by a crash are ended
KILLED and run again. The seed stream is advanced past the trials already done, so after a
clean stop the resumed TPE proposes what the uninterrupted search would have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hyperopt import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK, Trials, space_eval
from mlflow.tracking import MlflowClient

from hpo_plugin.errors import ConfigError, TrackingError
from hpo_plugin.parent import flatten, param_key, search_parent
from hpo_plugin.records import FAILED, FINISHED, KILLED, RUNNING, WARM_WORKDIR, TrialRecord
from hpo_plugin.report import load_trials
from hpo_plugin.space import CHOICE, Param, decode, to_hyperopt
from hpo_plugin.tracking import end_run

SEED_DRAW = 2**31 - 1  # what fmin draws from rstate for each suggest call


@dataclass
class History:
    """What a resumed search starts from."""

    trials: Trials
    records: list[TrialRecord]
    next_number: int
    n_warm: int = 0  # warm-start trials at the front of ``trials``: not this search's, not budgeted

    def rstate(self, seed: int) -> np.random.Generator:
        rng = np.random.default_rng(seed)
        for _ in range(len(self.trials.trials) - self.n_warm):
            rng.integers(SEED_DRAW)
        return rng


def encode(params: dict[str, str], space: tuple[Param, ...]) -> dict[str, Any]:
    """Logged (string) params -> hyperopt vals for the labels they activate; KeyError if unknown."""
    vals: dict[str, Any] = {}
    for p in space:
        text = params[p.name]
        if p.kind == CHOICE:
            index = next(i for i, o in enumerate(p.options) if str(o.value) == text)
            vals[p.label] = index
            vals.update(encode(params, p.options[index].space))
        else:
            vals[p.label] = float(text) if p.kind != "randint" else int(float(text))
    return vals


def check_resumable(client: MlflowClient, run_id: str, config) -> Any:
    parent = search_parent(client, run_id, "--resume")
    if parent.info.status == FINISHED:
        raise TrackingError(f"--resume {run_id}: the search already finished; start a new one instead")
    logged = {k: v for k, v in parent.data.params.items() if k.startswith("space.")}
    wanted = {f"space.{param_key(p.label)}": p.describe() for p in flatten(config.space)}
    if logged and logged != wanted:
        raise ConfigError(
            config.source, "space", f"differs from the space of search {run_id}; resume with its file"
        )
    return parent


def insert_done(
    trials: Trials, vals: dict[str, Any], result: dict[str, Any], labels: list[str], warm: bool = False
) -> None:
    """Add one completed trial (hyperopt ``vals`` and result) to ``trials``."""
    tid = len(trials.trials)
    misc = {
        "tid": tid,
        "cmd": ("domain_attachment", "FMinIter_Domain"),
        "workdir": WARM_WORKDIR if warm else None,
        "idxs": {label: [tid] if label in vals else [] for label in labels},
        "vals": {label: [vals[label]] if label in vals else [] for label in labels},
    }
    (doc,) = trials.new_trial_docs([tid], [None], [result], [misc])
    doc["state"] = JOB_STATE_DONE
    trials.insert_trial_docs([doc])


def load_history(
    client: MlflowClient, parent_run_id: str, config, domain_labels: list[str], warm: History | None = None
) -> History:
    """Rebuild the trials of a search (after ``warm``'s); end children left RUNNING as KILLED."""
    frame = load_trials(client, parent_run_id).frame
    hyperopt_space = to_hyperopt(config.space)
    trials = warm.trials if warm else Trials()
    records: list[TrialRecord] = []
    next_number = 1
    for row in frame.to_dict("records") if len(frame) else []:
        next_number = max(next_number, int(row["number"]) + 1)
        if row["status"] == RUNNING:
            end_run(client, row["run_id"], KILLED)
            continue
        if row["status"] not in (FINISHED, FAILED):
            continue
        logged = logged_params(row)
        try:
            vals = encode(logged, config.space)
        except (KeyError, StopIteration, ValueError):
            raise ConfigError(
                config.source, "space", f"trial {row['number']} of search {parent_run_id} does not fit it"
            ) from None
        ok = row["status"] == FINISHED and math.isfinite(row["loss"])
        result = {"status": STATUS_OK, "loss": float(row["loss"])} if ok else {"status": STATUS_FAIL}
        insert_done(trials, vals, result, domain_labels)
        records.append(_record(client, row, decode(space_eval(hyperopt_space, vals))))
    trials.refresh()
    return History(trials, records, next_number, warm.n_warm if warm else 0)


def logged_params(row: dict) -> dict[str, str]:
    """A trial's params as MLflow stored them (strings), from a row of ``load_trials``."""
    return {
        k.removeprefix("param_"): str(v) for k, v in row.items() if k.startswith("param_") and not _missing(v)
    }


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _record(client: MlflowClient, row: dict, params: dict[str, Any]) -> TrialRecord:
    run = client.get_run(row["run_id"])
    outputs = run.outputs.model_outputs if run.outputs else []
    metrics = {
        k.removeprefix("metric_"): v for k, v in row.items() if k.startswith("metric_") and not _missing(v)
    }
    metrics.pop("loss", None)
    loss = row["loss"] if row["status"] == FINISHED and math.isfinite(row["loss"]) else None
    return TrialRecord(
        number=int(row["number"]),
        params=params,
        start_ms=run.info.start_time,
        end_ms=run.info.end_time,
        status=row["status"],
        loss=loss,
        metrics=metrics,
        error=run.data.tags.get("hpo.error"),
        run_id=row["run_id"],
        model_id=outputs[0].model_id if outputs else None,
    )
