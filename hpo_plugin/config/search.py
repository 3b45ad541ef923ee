"""``search``: the algorithm and its budget, early stopping, pruning, warm start."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field, field_serializer, field_validator, model_validator

from hpo_plugin.algorithms import ALGORITHMS
from hpo_plugin.algorithms.tpe import HYPEROPT_TPE, TpeSettings
from hpo_plugin.config.base import Frozen, one_of
from hpo_plugin.config.pruning import PruningConfig

MAX_EVALS = 100_000  # the largest search.max_evals


class TpeConfig(Frozen):
    """hyperopt's raw TPE (``tpe.suggest`` keywords) instead of our tuned default; unset ones
    keep hyperopt's defaults."""

    n_startup_jobs: int = Field(HYPEROPT_TPE.n_startup_jobs, ge=0)
    gamma: float = Field(HYPEROPT_TPE.gamma, gt=0)
    n_ei_candidates: int = Field(HYPEROPT_TPE.n_EI_candidates, ge=1)
    prior_weight: float = Field(HYPEROPT_TPE.prior_weight, gt=0)

    @property
    def settings(self) -> TpeSettings:
        return TpeSettings(self.n_startup_jobs, self.gamma, self.n_ei_candidates, self.prior_weight)


class EarlyStopConfig(Frozen):
    """Stop a search before its budget: no improvement, a good-enough loss, or a time limit."""

    patience: int | None = Field(None, ge=1)  # trials without improvement before stopping
    min_delta: float = Field(0.0, ge=0)  # what counts as an improvement
    loss_threshold: float | None = None  # stop once a trial's loss is below this
    timeout: float | None = Field(None, gt=0)  # seconds; the same as search.timeout

    @model_validator(mode="after")
    def _something_set(self) -> EarlyStopConfig:
        if self.patience is None and self.loss_threshold is None and self.timeout is None:
            raise ValueError("set at least one of 'patience', 'loss_threshold' or 'timeout'")
        return self


class SearchConfig(Frozen):
    # A registered name (measured: gp is best for a budget of 15-50 trials; see
    # benchmarks/search_quality.py) or, from Python, any hyperopt suggest function.
    algo: str | Callable[..., Any] = "gp"
    tpe: TpeConfig | None = None
    max_evals: int = Field(30, ge=1, le=MAX_EVALS)
    seed: int = Field(0, ge=0)
    timeout: float | None = Field(None, gt=0)  # seconds for the whole search: no trial starts after it
    # Each trial's limits: past them it is stopped (its worker process ended and replaced) and
    # fails; under the sequential executor, trials then run in a worker process of their own.
    trial_timeout: float | None = Field(None, gt=0)  # seconds
    trial_memory_mb: int | None = Field(None, ge=64)  # the trial process's resident memory
    early_stop: EarlyStopConfig | None = None
    threads_per_trial: int | None = Field(None, ge=1)
    report: bool = True
    warm_start: tuple[str, ...] = ()  # parent run ids of earlier searches
    pruning: PruningConfig | None = None  # stop unpromising trials early (hpo_plugin.pruners)
    # From Python: hyperopt's early_stop_fn(trials, *state) -> (stop, state), beside early_stop.
    early_stop_fn: Callable[..., Any] | None = Field(None, exclude=True)

    @field_validator("algo")
    @classmethod
    def _known_algo(cls, v: str | Callable[..., Any]) -> str | Callable[..., Any]:
        return v if callable(v) else one_of(v, ALGORITHMS, "algorithm")

    @field_serializer("algo")
    def _algo_as_name(self, v: str | Callable[..., Any]) -> str:
        return self.algo_name

    @property
    def algo_name(self) -> str:
        """The registered name, or a suggest function's ``module.name`` (``tpe.suggest``)."""
        if isinstance(self.algo, str):
            return self.algo
        fn = getattr(self.algo, "func", self.algo)  # a functools.partial's function
        module = getattr(fn, "__module__", "") or ""
        return f"{module.rsplit('.', 1)[-1]}.{getattr(fn, '__name__', type(fn).__name__)}".lstrip(".")

    @model_validator(mode="before")
    @classmethod
    def _tpe_settings_mean_tpe(cls, data: Any) -> Any:
        """``tpe:`` settings without an ``algo`` ask for TPE (the default is ``gp``)."""
        if isinstance(data, Mapping) and data.get("tpe") is not None and "algo" not in data:
            return {**data, "algo": "tpe"}
        return data

    @property
    def limits_trials(self) -> bool:
        """Each trial has a time or memory limit (and runs where it can be stopped)."""
        return self.trial_timeout is not None or self.trial_memory_mb is not None

    @property
    def loss_threshold(self) -> float | None:
        return self.early_stop.loss_threshold if self.early_stop else None

    @property
    def time_limit(self) -> float | None:
        """The tighter of ``timeout`` and ``early_stop.timeout``."""
        limits = [t for t in (self.timeout, self.early_stop and self.early_stop.timeout) if t]
        return min(limits) if limits else None

    @model_validator(mode="after")
    def _tpe_only_for_tpe(self) -> SearchConfig:
        if self.tpe is not None and self.algo != "tpe":
            raise ValueError(f"'tpe' settings apply to algo: tpe, not {self.algo}; remove them")
        return self
