"""Register a search's final model and promote it with a champion/challenger gate.

Registration is idempotent: the version carries the search's parent run id as a tag, and a
second call (a retry, a resumed search, a repair after a crash between creating the version
and setting its aliases) finds that version instead of creating another. Only a FINISHED
search whose best trial and final model check out is ever registered.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass

from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from hpo_plugin.errors import TrackingError
from hpo_plugin.tracking.client import retrying
from hpo_plugin.tracking.note import write_note
from hpo_plugin.tracking.records import FINISHED
from hpo_plugin.tracking.schema import (
    ALGO_TAG,
    BEST_RUN_TAG,
    CHALLENGER_SCORE_TAG,
    CHAMPION_HISTORY_TAG,
    CHAMPION_SCORE_TAG,
    CHAMPION_SINCE_TAG,
    CHAMPION_VERSION_TAG,
    CONFIG_DIGEST_TAG,
    DATASET_DIGEST_TAG,
    DECISION_TAG,
    DIRECTION_TAG,
    FEASIBLE_TAG,
    FINAL_MODEL_TAG,
    LOSS_METRIC,
    METRIC_TAG,
    PARENT_RUN_TAG,
    REASON_TAG,
    REGISTER_NAME_TAG,
    ROLE_TAG,
    ROLLED_BACK_AT_TAG,
    ROLLED_BACK_FROM_TAG,
    SEARCH_ROLE,
    SEARCH_TAG,
    TEST_DIGEST_TAG,
    TRADEOFFS_TAG,
    TRIAL_NUMBER_TAG,
    TRIAL_ROLE,
    VERSION_TAG,
    manual_alias_tag,
    score_tag,
    tradeoffs_of,
)
from hpo_plugin.version import __version__

CHAMPION, CHALLENGER = "champion", "challenger"
SETTLE_S = (0.2, 0.6)


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    created: bool
    promoted: bool
    reason: str

    def summary(self) -> str:
        """For the search's run note: the version, its aliases and why."""
        alias = f"{CHAMPION} and {CHALLENGER}" if self.promoted else CHALLENGER
        return f"`{self.name}` version {self.version} (alias {alias}: {self.reason})"

    def describe(self) -> str:
        verb = "registered" if self.created else "found (already registered)"
        alias = f"{CHAMPION} and {CHALLENGER}" if self.promoted else CHALLENGER
        return f"Model {self.name!r} version {self.version} {verb}; alias {alias}: {self.reason}"


def _get_run(client: MlflowClient, run_id: str):
    try:
        return client.get_run(run_id)
    except MlflowException:
        raise TrackingError(f"run {run_id} does not exist in this tracking store; check the run id") from None


def check_search(client: MlflowClient, parent_run_id: str) -> tuple:
    """The parent run, its best trial and its final model id, or TrackingError saying why not."""
    parent = _get_run(client, parent_run_id)
    tags = parent.data.tags
    if tags.get(ROLE_TAG) != SEARCH_ROLE:
        raise TrackingError(
            f"run {parent_run_id} is not a search parent run; pass the run id `hpo search` printed"
        )
    if parent.info.status != FINISHED or BEST_RUN_TAG not in tags or FINAL_MODEL_TAG not in tags:
        raise TrackingError(
            f"search {parent_run_id} is {parent.info.status} with no successful trial and final model; "
            "only a finished search can be registered"
        )
    if not {"objective.metric", "objective.direction", "search.algo"} <= set(parent.data.params):
        raise TrackingError(f"search {parent_run_id} has no recorded settings; it was not run by hpo search")
    best = _get_run(client, tags[BEST_RUN_TAG])
    loss = best.data.metrics.get(LOSS_METRIC, math.nan)
    if (
        best.data.tags.get(PARENT_RUN_TAG) != parent_run_id
        or best.info.experiment_id != parent.info.experiment_id
        or best.info.status != FINISHED
        or not math.isfinite(loss)
        or not best.outputs
        or not best.outputs.model_outputs
    ):
        raise TrackingError(
            f"best trial {best.info.run_id} of search {parent_run_id} is not a finished child of it "
            "with a finite loss and a logged model; not registering"
        )
    model = client.get_logged_model(tags[FINAL_MODEL_TAG])
    # The refit logged on the parent, or (a function objective's search) the best trial's own.
    if (
        model.source_run_id not in (parent_run_id, best.info.run_id)
        or model.status != LoggedModelStatus.READY
    ):
        raise TrackingError(f"final model {model.model_id} was not logged by search {parent_run_id}")
    return parent, best, model.model_id


def register_search(
    client: MlflowClient, parent_run_id: str, name: str | None = None, margin: float = 0.0
) -> Registration:
    """Register (or find) the search's version, then apply the champion gate if not yet done."""
    parent, best, model_id = check_search(client, parent_run_id)
    name = name or parent.data.tags.get(REGISTER_NAME_TAG) or "hpo-model"
    _ensure_registered_model(client, name)
    version = find_version(client, name, parent_run_id, model_id)
    created = version is None
    if created:
        version = client.create_model_version(
            name,
            source=f"models:/{model_id}",
            run_id=parent_run_id,
            tags=_lineage(parent, best),
            description=_description(parent, best),
            model_id=model_id,
        )
    if DECISION_TAG in version.tags:  # the gate already ran for this version
        promoted = version.tags[DECISION_TAG] == "promoted"
        registration = Registration(name, str(version.version), created, promoted, version.tags[REASON_TAG])
    else:
        retrying(client.set_registered_model_alias, name, CHALLENGER, version.version)
        promoted, reason = gate(client, name, str(version.version), margin)
        registration = Registration(name, str(version.version), created, promoted, reason)
    write_note(client, parent_run_id, registration.summary())
    return registration


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name, description="Registered by hpo_plugin searches.")
        except MlflowException as exc:  # a concurrent search created it first
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise


def find_version(client: MlflowClient, name: str, parent_run_id: str, model_id: str | None = None):
    """The version registered for this search (for its final model ``model_id``, if given: a
    search continued to a larger budget has a new final model, and a new version)."""
    for version in client.search_model_versions(f"name='{name}'", max_results=10_000):
        mine = model_id is None or version.source == f"models:/{model_id}"
        if version.tags.get(SEARCH_TAG) == parent_run_id and mine:
            return version
    return None


def _lineage(parent, best) -> dict[str, str]:
    params, metrics, tags = parent.data.params, parent.data.metrics, parent.data.tags
    metric = params["objective.metric"]
    lineage = {
        SEARCH_TAG: parent.info.run_id,
        BEST_RUN_TAG: best.info.run_id,
        ALGO_TAG: params["search.algo"],
        METRIC_TAG: metric,
        DIRECTION_TAG: params["objective.direction"],
        score_tag(f"val_{metric}"): str(_validation_score(metrics, metric)),
        DATASET_DIGEST_TAG: tags.get(DATASET_DIGEST_TAG, ""),
        TEST_DIGEST_TAG: tags.get(TEST_DIGEST_TAG, ""),
        CONFIG_DIGEST_TAG: tags.get(CONFIG_DIGEST_TAG, ""),
        VERSION_TAG: __version__,
    }
    lineage.update({score_tag(k): str(v) for k, v in metrics.items() if k.startswith("test_")})
    lineage.update(_constrained(parent, best, final=True))
    return lineage


def _constrained(parent, trial, final: bool = False) -> dict[str, str]:
    """The search's constraints and the trial's value of each constrained metric, for the gate."""
    tradeoffs = tradeoffs_of(parent.data.tags)
    if not tradeoffs.constraints:
        return {}
    # The registered final model's own measures where the search took them (a refit), else the trial's.
    parent_metrics = parent.data.metrics if final else {}
    values = {
        score_tag(b.name): str(
            parent_metrics.get(f"final_{b.name}", trial.data.metrics.get(b.name, math.nan))
        )
        for b in tradeoffs.constraints
    }
    return {TRADEOFFS_TAG: parent.data.tags[TRADEOFFS_TAG], **values}


def violations(version) -> list[str]:
    """The constraints (of the search that made it) a version's model does not meet, in words."""
    tradeoffs = tradeoffs_of(version.tags)
    found = []
    for bound in tradeoffs.constraints:
        value = float(version.tags.get(score_tag(bound.name), math.nan))
        if not math.isfinite(value):
            found.append(f"{bound.name} was not measured")
        elif text := bound.describe(value):
            found.append(text)
    return found


def _validation_score(metrics: dict[str, float], metric: str) -> float:
    """The best trial's validation score (a function objective's: its loss)."""
    return metrics.get(f"best_val_{metric}", metrics.get(f"best_{LOSS_METRIC}", math.nan))


def _description(parent, best) -> str:
    params, metrics = parent.data.params, parent.data.metrics
    metric = params["objective.metric"]
    on = (
        params.get("data.source")
        or params.get("objective.function")
        or params.get("objective.entry_point", "")
    )
    test = f", test_{metric}={metrics[f'test_{metric}']:.6g}" if f"test_{metric}" in metrics else ""
    return (
        f"Best of a {params['search.algo']} search ({int(metrics.get('n_trials', 0))} trials) on "
        f"{on}: val_{metric}={_validation_score(metrics, metric):.6g}{test}. Search run "
        f"{parent.info.run_id}, best trial {best.info.run_id}."
    )


def _score(version) -> tuple[str, str, float | None]:
    """The version's metric, direction and held-out test score (None: it was never tested)."""
    metric = version.tags[METRIC_TAG]
    score = version.tags.get(score_tag(f"test_{metric}"))
    return metric, version.tags[DIRECTION_TAG], float(score) if score is not None else None


def beats(challenger, champion, margin: float) -> tuple[bool, str]:
    """Whether the challenger should take over, and why (scores on the held-out test set)."""
    c_metric, c_dir, c_score = _score(challenger)
    k_metric, _, k_score = _score(champion)
    if c_score is None or k_score is None:
        untested = challenger if c_score is None else champion
        return False, (
            f"not comparable: v{untested.version} has no held-out test score (a function objective's "
            "model); promote by hand with `hpo promote`"
        )
    if c_metric != k_metric:
        return False, f"not comparable: champion v{champion.version} was scored on {k_metric}, not {c_metric}"
    mine, theirs = challenger.tags.get(TEST_DIGEST_TAG), champion.tags.get(TEST_DIGEST_TAG)
    if not mine or mine != theirs:
        return False, f"not comparable: tested on different data (test-set digest {mine} vs {theirs})"
    gain = (k_score - c_score) if c_dir == "minimize" else (c_score - k_score)
    verdict = "beats" if gain > margin else "does not beat"
    return gain > margin, (
        f"test_{c_metric} {c_score:.6g} {verdict} champion v{champion.version}'s {k_score:.6g} "
        f"by more than the margin {margin:g}"
    )


def gate(client: MlflowClient, name: str, version: str, margin: float) -> tuple[bool, str]:
    """Move ``champion`` to the version if there is none or it wins; record the decision.

    After moving it, wait a moment and look again: a search finishing at the same time may
    have moved it too, and the better of the two must end up champion.
    """
    challenger = client.get_model_version(name, version)
    champion = _champion(client, name)
    outside = violations(challenger)
    if outside:
        promoted, reason = (
            False,
            f"not promoted: it does not meet its search's constraints ({'; '.join(outside)})",
        )
    elif (
        champion is not None
        and str(champion.version) != version
        and (theirs := _outside_mine(challenger, champion))
    ):
        promoted, reason = (
            True,
            (f"champion v{champion.version} does not meet this search's constraints ({'; '.join(theirs)})"),
        )
    elif champion is None:
        promoted, reason = True, "no champion yet"
    elif str(champion.version) == version:
        promoted, reason = True, "already champion"
    else:
        promoted, reason = beats(challenger, champion, margin)
    tags = {
        DECISION_TAG: "promoted" if promoted else "kept_challenger",
        REASON_TAG: reason,
        CHALLENGER_SCORE_TAG: str(_score(challenger)[2]),
    }
    if champion is not None and str(champion.version) != version:
        tags.update({CHAMPION_VERSION_TAG: champion.version, CHAMPION_SCORE_TAG: str(_score(champion)[2])})
    if promoted:
        _set_champion(client, name, version, "gate")
        _settle(client, name, challenger, margin)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    return promoted, reason


def _outside_mine(challenger, champion) -> list[str]:
    """The challenger's search's constraints the champion was measured outside (a champion not
    measured on a metric is judged on its score alone)."""
    found = []
    for bound in tradeoffs_of(challenger.tags).constraints:
        value = float(champion.tags.get(score_tag(bound.name), math.nan))
        if math.isfinite(value) and (text := bound.describe(value)):
            found.append(text)
    return found


def _settle(client: MlflowClient, name: str, mine, margin: float) -> None:
    time.sleep(random.uniform(*SETTLE_S))
    current = _champion(client, name)
    if current is not None and str(current.version) != str(mine.version) and beats(mine, current, margin)[0]:
        _set_champion(client, name, mine.version, "gate")


def _champion(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def _history(client: MlflowClient, name: str) -> list[str]:
    return json.loads(client.get_registered_model(name).tags.get(CHAMPION_HISTORY_TAG, "[]"))


def _set_champion(client: MlflowClient, name: str, version: str, how: str) -> None:
    version = str(version)
    retrying(client.set_registered_model_alias, name, CHAMPION, version)
    history = [v for v in _history(client, name) if v != version] + [version]
    client.set_registered_model_tag(name, CHAMPION_HISTORY_TAG, json.dumps(history))
    client.set_model_version_tag(name, version, CHAMPION_SINCE_TAG, f"{time.time():.0f} ({how})")


def promote(client: MlflowClient, name: str, version: str, alias: str) -> str:
    """A deliberate manual promotion, recorded on the version."""
    try:
        client.get_model_version(name, version)
    except MlflowException:
        raise TrackingError(
            f"model {name!r} has no version {version}; see `mlflow models` or the UI"
        ) from None
    if alias == CHAMPION:
        _set_champion(client, name, version, "manual")
    else:
        retrying(client.set_registered_model_alias, name, alias, version)
    client.set_model_version_tag(name, version, manual_alias_tag(alias), f"{time.time():.0f}")
    return f"Model {name!r} version {version} is now {alias!r} (manual promotion, recorded)"


def promote_trial(client: MlflowClient, run_id: str, name: str | None = None, alias: str = CHAMPION) -> str:
    """Register one trial's own model (a point of the Pareto front picked by hand) and give it
    ``alias``: a new version, or the one already registered from that model."""
    trial = _get_run(client, run_id)
    tags = trial.data.tags
    if tags.get(ROLE_TAG) != TRIAL_ROLE or PARENT_RUN_TAG not in tags:
        raise TrackingError(f"run {run_id} is not a trial of a search; pass a trial's run id (`hpo show`)")
    outputs = trial.outputs.model_outputs if trial.outputs else []
    if trial.info.status != FINISHED or not outputs:
        raise TrackingError(
            f"trial {run_id} is {trial.info.status} with no logged model; pick a finished trial"
        )
    parent = _get_run(client, tags[PARENT_RUN_TAG])
    metrics = trial.data.metrics
    outside = [
        b.describe(metrics[b.name]) if b.name in metrics else f"{b.name} was not measured"
        for b in tradeoffs_of(parent.data.tags).constraints
        if b.name not in metrics or b.describe(metrics[b.name])
    ]
    if not outside and tags.get(FEASIBLE_TAG) == "false":
        outside = ["tagged hpo.feasible = 'false'"]
    if outside:
        raise TrackingError(
            f"trial {tags.get(TRIAL_NUMBER_TAG)} does not meet its search's constraints "
            f"({'; '.join(outside)}); pick a trial tagged hpo.pareto = 'true'"
        )
    name = name or parent.data.tags.get(REGISTER_NAME_TAG) or "hpo-model"
    model_id = outputs[-1].model_id
    _ensure_registered_model(client, name)
    version = find_version(client, name, parent.info.run_id, model_id)
    if version is None:
        metric = parent.data.params.get("objective.metric", LOSS_METRIC)
        lineage = {
            SEARCH_TAG: parent.info.run_id,
            BEST_RUN_TAG: run_id,
            ALGO_TAG: parent.data.params.get("search.algo", ""),
            METRIC_TAG: metric,
            DIRECTION_TAG: parent.data.params.get("objective.direction", "minimize"),
            score_tag(f"val_{metric}"): str(
                trial.data.metrics.get(f"val_{metric}", trial.data.metrics.get(LOSS_METRIC))
            ),
            VERSION_TAG: __version__,
            **_constrained(parent, trial),
        }
        version = client.create_model_version(
            name,
            source=f"models:/{model_id}",
            run_id=run_id,
            tags=lineage,
            description=f"Trial {tags.get(TRIAL_NUMBER_TAG)} of search {parent.info.run_id}, picked by hand.",
            model_id=model_id,
        )
    return promote(client, name, str(version.version), alias)


def rollback(client: MlflowClient, name: str) -> str:
    """Move ``champion`` back to the version that held it before the current one."""
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        raise TrackingError(f"model {name!r} has no {CHAMPION!r} alias to roll back") from None
    current_version = str(current.version)
    history = [v for v in _history(client, name) if v != current_version]
    if not history:
        raise TrackingError(f"model {name!r} has no previous champion before version {current_version}")
    previous = history[-1]
    retrying(client.set_registered_model_alias, name, CHAMPION, previous)
    client.set_registered_model_tag(name, CHAMPION_HISTORY_TAG, json.dumps(history))
    client.set_model_version_tag(name, previous, ROLLED_BACK_FROM_TAG, current_version)
    client.set_model_version_tag(name, current_version, ROLLED_BACK_AT_TAG, f"{time.time():.0f}")
    return f"Model {name!r}: champion rolled back from version {current_version} to {previous}"
