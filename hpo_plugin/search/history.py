"""A search's history from MLflow alone: resume an interrupted search, warm-start a new one.

**Resume**: each finished or failed child of the parent becomes a hyperopt trial again (params
encoded back to hyperopt's ``vals``: choice -> option index); children left RUNNING by a crash
are ended KILLED and run again. The seed stream is advanced past the trials already done, so
after a clean stop the resumed TPE proposes what the uninterrupted search would have.

**Warm start**: the finished trials of earlier searches seed a new one, if their params fit the
new space (the same names, choice values among the options, numbers inside the new bounds);
others are skipped and counted. They inform the algorithm but are not this search's trials:
they do not count against its budget and can never be its best.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hyperopt import STATUS_FAIL, STATUS_OK, Trials
from mlflow.tracking import MlflowClient

from hpo_plugin.errors import ConfigError, TrackingError
from hpo_plugin.hyperopt_protocol import advance_seed_stream, insert_done
from hpo_plugin.pruners import loss_of
from hpo_plugin.space import CHOICE, GAUSSIAN, Param, SearchSpace, names
from hpo_plugin.tracking.client import end_run
from hpo_plugin.tracking.parent import space_params
from hpo_plugin.tracking.records import FAILED, FINISHED, KILLED, RUNNING, WARM_WORKDIR, TrialRecord
from hpo_plugin.tracking.schema import (
    SPACE_PARAM_PREFIX,
    TRADEOFFS_TAG,
    curve,
    curve_metric,
    load_trials,
    logged_metrics,
    logged_params,
    present,
    search_parent,
    tradeoffs_tag,
)
from hpo_plugin.tradeoffs import algo_result


@dataclass
class History:
    """What a resumed or warm-started search starts from."""

    trials: Trials
    records: list[TrialRecord]
    next_number: int
    n_warm: int = 0  # warm-start trials at the front of ``trials``: not this search's, not budgeted

    def rstate(self, seed: int) -> np.random.Generator:
        """The search's seed stream, past the proposals of this search's trials so far."""
        return advance_seed_stream(np.random.default_rng(seed), len(self.trials.trials) - self.n_warm)


@dataclass(frozen=True)
class WarmStart:
    history: History
    used: int
    skipped: int


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


def _encoded(row: dict[str, Any], space: SearchSpace) -> dict[str, Any] | None:
    """A trial's hyperopt vals: as it recorded them (``hpo.vals``), else its params encoded (a
    trial of an earlier version); None if they do not fit the space."""
    if isinstance(text := row.get("vals"), str):
        vals = json.loads(text)
        return vals if set(vals) <= space.labels and _active(vals, space.params) else None
    if space.expression is not None:  # an hp.* space's params are its point flattened
        return None
    try:
        return encode(logged_params(row), space.params)
    except (KeyError, StopIteration, ValueError):
        return None


def _active(vals: dict[str, Any], space: tuple[Param, ...]) -> bool:
    """Every label the point activates has a value, and every choice index is an option."""
    for p in space:
        if p.label not in vals:
            return False
        if p.kind == CHOICE:
            index = vals[p.label]
            if not (isinstance(index, int) and 0 <= index < len(p.options)):
                return False
            if not _active(vals, p.options[index].space):
                return False
    return True


def fits(vals: dict, space: tuple[Param, ...]) -> bool:
    """Every numeric value lies inside its distribution's bounds in the new space."""
    for p in space:
        if p.kind == CHOICE:
            if not fits(vals, p.options[vals[p.label]].space):
                return False
        elif p.kind not in GAUSSIAN:  # every other distribution's args start with (low, high)
            low, high = p.args[0], p.args[1]
            high_ok = vals[p.label] < high if p.kind == "randint" else vals[p.label] <= high
            if not (low <= vals[p.label] and high_ok):
                return False
    return True


def check_resumable(client: MlflowClient, run_id: str, config) -> Any:
    """The parent run of a search with this config's space, or an HpoError. A finished search
    continues to a larger budget (see :func:`check_budget`)."""
    parent = search_parent(client, run_id, "--resume")
    logged = {k: v for k, v in parent.data.params.items() if k.startswith(SPACE_PARAM_PREFIX)}
    if logged and logged != space_params(config.space):
        raise ConfigError(
            config.source,
            "space",
            f"differs from the space of search {run_id}; resume with the space it was started with",
        )
    tradeoffs = config.objective.tradeoffs
    recorded = parent.data.tags.get(TRADEOFFS_TAG)
    mine = tradeoffs_tag(tradeoffs) if tradeoffs.active else None
    if "search.algo" in parent.data.params and recorded != mine:  # its settings were recorded
        theirs = recorded or "none"
        raise ConfigError(
            config.source,
            "objective",
            f"also/constraints differ from those of search {run_id} ({theirs}); resume with the ones "
            "it was started with (its trials were judged by them), or start a new search",
        )
    return parent


def check_budget(parent, history: History, config) -> None:
    """TrackingError if a finished search has no trial left to run under ``search.max_evals``."""
    done = len(history.trials.trials) - history.n_warm
    if parent.info.status == FINISHED and done >= config.search.max_evals:
        raise TrackingError(
            f"--resume {parent.info.run_id}: the search already finished its {done} trials; "
            f"raise max_evals (search.max_evals, --max-evals) above {done} to continue it"
        )


def load_history(
    client: MlflowClient, parent_run_id: str, config, labels: list[str], warm: History | None = None
) -> History:
    """Rebuild the trials of a search (after ``warm``'s); end children left RUNNING as KILLED."""
    frame = load_trials(client, parent_run_id).frame
    space = config.search_space
    trials = warm.trials if warm else Trials()
    records: list[TrialRecord] = []
    next_number = 1
    tradeoffs = config.objective.tradeoffs
    for row in frame.to_dict("records") if len(frame) else []:
        next_number = max(next_number, int(row["number"]) + 1)
        if row["status"] == RUNNING:
            end_run(client, row["run_id"], KILLED)
            continue
        if row["status"] not in (FINISHED, FAILED):
            continue
        vals = _encoded(row, space)
        if vals is None:
            raise ConfigError(
                config.source, "space", f"trial {row['number']} of search {parent_run_id} does not fit it"
            )
        record = _record(row, space.trial_params(space.point_of(vals)))
        if tradeoffs.active and record.scored:  # judged as it was when it ran, from what it logged
            record.judged = tradeoffs.judged(record.loss, record.metrics)
        result = {"status": STATUS_FAIL}
        if row["status"] == FINISHED and math.isfinite(row["loss"]):
            result = {"status": STATUS_OK, **algo_result(float(row["loss"]), record.judged)}
        insert_done(trials, vals, result, labels)
        records.append(record)
    if config.search.pruning is not None:  # the resumed pruner compares with their curves too
        key = curve_metric(config)
        for record in (r for r in records if r.status == FINISHED):
            values = curve(client, record.run_id, key)
            record.steps = {step: loss_of(value, config.objective.maximize) for step, value in values.items()}
    trials.refresh()
    return History(trials, records, next_number, warm.n_warm if warm else 0)


def _record(row: dict, params: dict[str, Any]) -> TrialRecord:
    loss = row["loss"] if row["status"] == FINISHED and math.isfinite(row["loss"]) else None
    return TrialRecord(
        number=int(row["number"]),
        params=params,
        start_ms=int(row["start_ms"]),
        end_ms=None if not present(row["end_ms"]) else int(row["end_ms"]),
        status=row["status"],
        loss=loss,
        metrics=logged_metrics(row),
        error=row["error"] if present(row["error"]) else None,
        run_id=row["run_id"],
        pruned_step=None if math.isnan(row["pruned_step"]) else int(row["pruned_step"]),
        model_id=row["model_id"] if present(row["model_id"]) else None,
    )


def warm_start(client: MlflowClient, run_ids: list[str], config, labels: list[str]) -> WarmStart:
    """The compatible finished trials of the given searches, as hyperopt trials."""
    history = History(trials=Trials(), records=[], next_number=1)
    used = skipped = 0
    wanted, space = names(config.space), config.search_space
    tradeoffs = config.objective.tradeoffs
    for run_id in run_ids:
        search_parent(client, run_id, "warm start")
        frame = load_trials(client, run_id).frame
        for row in frame.to_dict("records") if len(frame) else []:
            if row["status"] != FINISHED or not math.isfinite(row["loss"]):
                continue
            logged = logged_params(row)
            vals = _encoded(row, space)
            by_name = space.expression is None  # a YAML space's params are its names
            if vals is None or (by_name and not set(logged) <= wanted) or not fits(vals, config.space):
                skipped += 1
                continue
            judged = tradeoffs.judged(float(row["loss"]), logged_metrics(row)) if tradeoffs.active else None
            result = {"status": STATUS_OK, **algo_result(float(row["loss"]), judged)}
            insert_done(history.trials, vals, result, labels, workdir=WARM_WORKDIR)
            used += 1
    history.trials.refresh()
    history.n_warm = used
    return WarmStart(history, used, skipped)
