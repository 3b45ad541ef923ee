"""Experiment definitions: YAML -> one validated, frozen :class:`ExperimentConfig`.

Everything downstream reads these objects, never raw dicts. Unknown keys, unknown registry
names and malformed distributions become a :class:`ConfigError` naming the file and the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from hpo_plugin.algorithms import ALGORITHMS
from hpo_plugin.algorithms.tpe import HYPEROPT_TPE, TpeSettings
from hpo_plugin.data import DATASETS
from hpo_plugin.errors import ConfigError, SpaceError
from hpo_plugin.executors import EXECUTORS
from hpo_plugin.hyperopt_space import from_hyperopt, is_hyperopt_space
from hpo_plugin.metrics import METRICS
from hpo_plugin.models.families import MODEL_FAMILIES, estimator_family
from hpo_plugin.pruners.settings import PruningConfig
from hpo_plugin.space import CHOICE, Option, Param, SearchSpace, parse_space, relabel
from hpo_plugin.space import flatten as flatten_params

MAX_EVALS = 100_000  # the largest search.max_evals


def one_of(value: str, registry: Mapping[str, Any], what: str) -> str:
    """Registry membership check whose error lists every valid name."""
    if value not in registry:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(sorted(registry))}")
    return value


def space_of(raw: Any) -> tuple[Param, ...]:
    """A YAML ``space`` mapping as Params; a SpaceError becomes the ValueError pydantic reports."""
    try:
        return raw if isinstance(raw, tuple) else parse_space(raw)
    except SpaceError as exc:
        raise ValueError(str(exc)) from None


class _Frozen(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, populate_by_name=True
    )


class DataConfig(_Frozen):
    dataset: str | None = None
    path: str | None = None
    target: str | None = None
    task: Literal["binary", "multiclass", "regression"] | None = None
    test_size: float = Field(0.2, gt=0, lt=1)
    split_seed: int = 0

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str | None) -> str | None:
        return None if v is None else one_of(v, DATASETS, "dataset")

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give exactly one of 'dataset' (a bundled name) or 'path' (a file)")
        if self.path is not None and not self.target:
            raise ValueError("'path' needs 'target': the name of the column to predict")
        return self


class ValidationConfig(_Frozen):
    holdout: float | None = Field(None, gt=0, lt=1)
    cv: int | None = Field(None, ge=2, le=20)

    @model_validator(mode="after")
    def _one_method(self) -> ValidationConfig:
        if (self.holdout is None) == (self.cv is None):
            raise ValueError("give exactly one of 'holdout' (a fraction) or 'cv' (a fold count)")
        return self


class ObjectiveConfig(_Frozen):
    """What a trial minimises: a built-in model's ``metric``, your own ``function``, or the
    ``metric`` your MLproject ``entry_point`` logs.

    ``function`` is ``file.py:name`` (relative to the experiment file) or ``package.module:name``;
    it returns a loss (hyperopt's protocol), which ``direction: maximize`` negates. Neither is
    needed when the function comes from the Python API (``run_search(config, objective=fn)``).
    ``project`` is the MLflow project of ``entry_point``: a local path (relative to the
    experiment file; default: the nearest directory with an MLproject file) or a Git URI.
    """

    # Field order matters: ``metric``'s check reads ``entry_point`` (validated before it).
    entry_point: str | None = Field(None, min_length=1)
    function: str | None = Field(None, min_length=1)
    metric: str | None = None
    project: str | None = Field(None, min_length=1)
    env_manager: Literal["local", "virtualenv", "uv", "conda"] = "local"
    direction: Literal["minimize", "maximize"] | None = None
    validation: ValidationConfig = ValidationConfig(holdout=0.25)
    # A function's trial run is MLflow's active run while it runs: "auto" when its module uses
    # MLflow, "always" when code it calls may (what fmin's objectives get).
    active_run: Literal["auto", "always"] = "auto"

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None or info.data.get("entry_point") is not None:  # an entry point logs any name
            return v
        return one_of(v, METRICS, "metric")

    @model_validator(mode="after")
    def _one_kind(self) -> ObjectiveConfig:
        if self.function is not None and (self.metric is not None or self.entry_point is not None):
            raise ValueError("give 'metric' (built-in models), 'function' or 'entry_point', not several")
        if self.entry_point is not None:
            if self.metric is None:
                raise ValueError("an entry point needs 'metric': the name of the metric it logs")
            return self
        if self.project is not None:
            raise ValueError("'project' applies to 'entry_point'; remove it or add an entry point")
        if self.metric is not None:
            natural = "maximize" if METRICS[self.metric].greater_is_better else "minimize"
            if self.direction not in (None, natural):
                raise ValueError(f"{self.metric} is meant to {natural}; set direction: {natural}")
        return self

    @property
    def builtin(self) -> bool:
        """The objective is a built-in model's metric (not a function or an entry point)."""
        return self.metric is not None and self.entry_point is None

    @property
    def maximize(self) -> bool:
        if self.builtin:
            return METRICS[self.metric].greater_is_better
        return self.direction == "maximize"


class ModelConfig(_Frozen):
    """One model to tune: a built-in ``family``, or any scikit-learn-compatible class by its
    import path (``estimator: sklearn.svm.SVC``)."""

    family: str | None = None
    estimator: str | None = None
    params: dict[str, Any] = {}
    space: tuple[Param, ...] = ()

    @field_validator("family")
    @classmethod
    def _known_family(cls, v: str | None) -> str | None:
        return None if v is None else one_of(v, MODEL_FAMILIES, "model family")

    @field_validator("estimator")
    @classmethod
    def _importable(cls, v: str | None) -> str | None:
        if v is not None:
            estimator_family(v)  # importable, an estimator, a classifier or regressor
        return v

    @field_validator("space", mode="before")
    @classmethod
    def _parse(cls, v: Any) -> tuple[Param, ...]:
        return space_of(v)

    @model_validator(mode="after")
    def _one_model(self) -> ModelConfig:
        if (self.family is None) == (self.estimator is None):
            raise ValueError("give exactly one of 'family' (built in) or 'estimator' (an import path)")
        if both := sorted(set(self.params) & {p.name for p in self.space}):
            raise ValueError(f"{both} appear in both 'params' and 'space'; keep one")
        return self

    @property
    def name(self) -> str:
        """The family's name, or the estimator's import path: how trials and params name it."""
        return self.family or self.estimator  # type: ignore[return-value]


class TpeConfig(_Frozen):
    """hyperopt's raw TPE (``tpe.suggest`` keywords) instead of our tuned default; unset ones
    keep hyperopt's defaults."""

    n_startup_jobs: int = Field(HYPEROPT_TPE.n_startup_jobs, ge=0)
    gamma: float = Field(HYPEROPT_TPE.gamma, gt=0)
    n_ei_candidates: int = Field(HYPEROPT_TPE.n_EI_candidates, ge=1)
    prior_weight: float = Field(HYPEROPT_TPE.prior_weight, gt=0)

    @property
    def settings(self) -> TpeSettings:
        return TpeSettings(self.n_startup_jobs, self.gamma, self.n_ei_candidates, self.prior_weight)


class EarlyStopConfig(_Frozen):
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


class SearchConfig(_Frozen):
    # A registered name (measured: gp is best for a budget of 15-50 trials; see
    # benchmarks/search_quality.py) or, from Python, any hyperopt suggest function.
    algo: str | Callable[..., Any] = "gp"
    tpe: TpeConfig | None = None
    max_evals: int = Field(30, ge=1, le=MAX_EVALS)
    seed: int = Field(0, ge=0)
    timeout: float | None = Field(None, gt=0)
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


class ExecutorConfig(_Frozen):
    """Where trials run: ``executor: local`` is short for ``executor: {name: local}``."""

    name: str = "sequential"
    parallelism: int | None = Field(None, ge=1, le=4096)
    spark_master: str | None = Field(None, min_length=1)

    @field_validator("name")
    @classmethod
    def _known_executor(cls, v: str) -> str:
        return one_of(v, EXECUTORS, "executor")

    @model_validator(mode="after")
    def _fits_executor(self) -> ExecutorConfig:
        if self.name == "sequential" and (self.parallelism or 1) > 1:
            raise ValueError("parallelism above 1 needs executor 'local' or 'spark'")
        if self.spark_master is not None and self.name != "spark":
            raise ValueError(f"'spark_master' applies to executor 'spark', not {self.name!r}; remove it")
        return self

    @property
    def workers(self) -> int:
        """Trials in flight at once."""
        if self.name == "sequential":
            return 1
        if self.parallelism:
            return self.parallelism
        if self.name == "spark" and (cores := local_master_cores(self.master)):
            return cores
        return os.cpu_count() or 1

    @property
    def master(self) -> str:
        return self.spark_master or f"local[{self.parallelism or '*'}]"


def executor_mapping(value: Any) -> Any:
    """``executor: local`` is short for ``executor: {name: local}``."""
    return {"name": value} if isinstance(value, str) else value


def local_master_cores(master: str) -> int | None:
    """N of a ``local[N]`` Spark master (cores of this machine for ``local[*]``), else None."""
    if master == "local":
        return 1
    if master.startswith("local[") and master.endswith("]"):
        inner = master[6:-1].split(",")[0]
        return os.cpu_count() or 1 if inner == "*" else int(inner) if inner.isdigit() else None
    return None


class RegisterConfig(_Frozen):
    enabled: bool = True
    model_name: str | None = Field(None, min_length=1, max_length=200)
    margin: float = Field(0.0, ge=0)


class ExperimentConfig(_Frozen):
    name: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    description: str = ""
    mlflow_experiment: str | None = None
    data: DataConfig | None = None
    model: ModelConfig | None = None
    models: tuple[ModelConfig, ...] | None = None
    # A function objective's searched params (a model's live under ``model.space``), from YAML's
    # form or, in Python, an hp.* expression (kept in ``space_expression``).
    function_space: tuple[Param, ...] = Field((), alias="space")
    space_expression: Any = Field(None, exclude=True)
    objective: ObjectiveConfig = ObjectiveConfig()
    search: SearchConfig = SearchConfig()
    registration: RegisterConfig = Field(RegisterConfig(), alias="register")
    executor: ExecutorConfig = ExecutorConfig()
    source: str = ""
    raw_text: str = ""

    @field_validator("executor", mode="before")
    @classmethod
    def _executor_shorthand(cls, v: Any) -> Any:
        return executor_mapping(v)

    @model_validator(mode="before")
    @classmethod
    def _hyperopt_space(cls, data: Any) -> Any:
        """An hp.* expression as ``space``: its tree for the algorithms, the expression as given."""
        if isinstance(data, Mapping) and is_hyperopt_space(space := data.get("space")):
            try:
                parsed = from_hyperopt(space)
            except SpaceError:
                return data  # reported under 'space' by its field's validator
            return {**data, "space": parsed.params, "space_expression": parsed.expression}
        return data

    @field_validator("function_space", mode="before")
    @classmethod
    def _parse_space(cls, v: Any) -> tuple[Param, ...]:
        if is_hyperopt_space(v):  # one that _hyperopt_space could not read: its error, under 'space'
            try:
                from_hyperopt(v)
            except SpaceError as exc:
                raise ValueError(str(exc)) from None
        return space_of(v)

    @model_validator(mode="after")
    def _one_model_section(self) -> ExperimentConfig:
        if self.uses_function:
            if self.model is not None or self.models is not None:
                raise ValueError("a function objective takes no 'model'/'models'; remove them")
            if not self.function_space:
                raise ValueError("a function or entry-point objective searches the top-level 'space'; add it")
            return self
        if self.function_space:
            raise ValueError("a top-level 'space' is for a function objective; put it under 'model'")
        if self.objective.metric is None:
            raise ValueError(
                "give objective.metric (built-in models) or objective.function (your own: 'train.py:name')"
            )
        if self.data is None:
            raise ValueError("'data' is required with built-in models; add data.dataset or data.path")
        if (self.model is None) == (self.models is None):
            raise ValueError("give exactly one of 'model' (one family) or 'models' (a list)")
        if self.models is not None:
            names = [m.name for m in self.models]
            if len(set(names)) != len(names) or not names:
                raise ValueError(f"'models' must list distinct families or estimators, got {names}")
        return self

    @property
    def uses_function(self) -> bool:
        """The objective is the user's code (a function, from the file or given in Python, or an
        MLproject entry point): it searches the top-level ``space``."""
        return not self.objective.builtin and (
            self.objective.function is not None
            or self.objective.entry_point is not None
            or bool(self.function_space)
        )

    @property
    def search_space(self) -> SearchSpace:
        """The space with how its points become trials (a YAML space's or an hp.* expression's)."""
        return SearchSpace(self.space, self.space_expression)

    @property
    def candidates(self) -> tuple[ModelConfig, ...]:
        if self.uses_function:
            return ()
        return (self.model,) if self.model is not None else self.models  # type: ignore[return-value]

    @property
    def space(self) -> tuple[Param, ...]:
        """The searched space; model selection is a choice over families with their spaces."""
        if self.uses_function:
            return self.function_space
        if self.model is not None:
            return self.model.space
        options = tuple(Option(m.name, relabel(m.space, f"family={m.name}/")) for m in self.candidates)
        return (Param("family", "family", CHOICE, options=options),)

    @property
    def base_dir(self) -> Path:
        """Where the experiment's relative paths start: its file's directory (else the cwd)."""
        return Path(self.source).parent if self.source else Path.cwd()

    @property
    def registered_model_name(self) -> str:
        return self.registration.model_name or self.name

    @property
    def mlflow_experiment_name(self) -> str:
        return self.mlflow_experiment or self.name

    @property
    def digest(self) -> str:
        """Digest of the effective settings (after overrides), stable across formatting."""
        payload = self.model_dump(mode="json", exclude={"source", "raw_text"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_experiment(
    experiment: str | Path | Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> ExperimentConfig:
    """Validate an experiment: a YAML file's path, or the same sections as a mapping (whose
    ``space`` may also be an hp.* expression). ``overrides`` maps a dotted key (``name``,
    ``search.max_evals``, ``search.tpe.gamma``) to its value; None leaves the key as it is.

    Overrides come from the CLI, MLproject or Python; an invalid one is reported under its own name.
    """
    if isinstance(experiment, Mapping):
        source, raw, text = "", dict(experiment), ""
        raw.setdefault("name", "experiment")
    else:
        source, raw, text = str(experiment), *_read(Path(experiment))
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if "executor" in raw:  # the shorthand becomes a mapping before overrides merge into it
        raw["executor"] = executor_mapping(raw["executor"])
    for dotted, value in overrides.items():
        _override(raw, dotted, value, source)
    try:
        config = ExperimentConfig(**raw, source=source, raw_text=text)
    except ValidationError as exc:
        raise _to_config_error(exc, source, overrides) from None
    if isinstance(experiment, Mapping):  # what the parent run keeps of it, read from the result
        config = config.model_copy(update={"raw_text": _as_text(experiment, config.space)})
    return config


def _read(file: Path) -> tuple[dict[str, Any], str]:
    source = str(file)
    if not file.is_file():
        raise ConfigError(source, "experiment", "no such file; pass the path of an experiment YAML")
    text = file.read_text()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise ConfigError(source, "yaml", f"not valid YAML (configs are data only): {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(source, "experiment", "the file must hold a mapping of sections")
    raw = dict(raw)
    raw.setdefault("name", file.stem)
    return raw, text


def _override(raw: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    """Set ``raw[a][b]...`` for ``a.b...``, copying the mappings on the way (never the caller's)."""
    keys = dotted.split(".")
    if not all(keys):
        raise ConfigError(source, dotted, "an override's key is dotted names such as 'search.max_evals'")
    node = raw
    for depth, key in enumerate(keys[:-1]):
        inner = node.get(key, {})
        if not isinstance(inner, Mapping):
            where = ".".join(keys[: depth + 1])
            raise ConfigError(source, where, f"is {inner!r}, not a mapping: cannot set {dotted}")
        node[key] = dict(inner)
        node = node[key]
    node[keys[-1]] = value


def _as_text(raw: Mapping[str, Any], space: tuple[Param, ...]) -> str:
    """A mapping's experiment as YAML for the parent run's artifact (an hp.* space as its
    parameters' descriptions, which is what it searches)."""
    shown = dict(raw)
    if is_hyperopt_space(shown.get("space")):
        shown["space"] = {p.label: p.describe() for p in flatten_params(space)}
    return yaml.safe_dump(_plain_data(shown), sort_keys=False)


def _plain_data(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_data(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value) if not callable(value) else getattr(value, "__name__", repr(value))


def _to_config_error(exc: ValidationError, source: str, overrides: Mapping[str, Any]) -> ConfigError:
    err = exc.errors()[0]
    loc = [str(part) for part in err["loc"]]
    key = ".".join(loc) or "experiment"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}; remove it or fix its spelling"
    elif err["type"] == "missing":
        message = "required key is missing"
    elif "input" in err and err["type"] not in ("value_error", "assertion_error"):
        message = f"{message}; got {err['input']!r}"
    for dotted in overrides:
        if key == dotted:
            return ConfigError("option --" + dotted.split(".")[-1].replace("_", "-"), key, message)
    return ConfigError(source, key, message)
