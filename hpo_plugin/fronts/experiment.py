"""The way in every front shares: ``load_experiment``, a YAML file or a mapping with dotted
overrides, into one validated :class:`~hpo_plugin.config.ExperimentConfig`; the first problem
as a one-line :class:`ConfigError` naming the file (or option) and the key.

It sits above the definitions (:mod:`hpo_plugin.config`), which know no executor: here a
definition's names are also checked against :data:`hpo_plugin.executors.EXECUTORS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hpo_plugin.config.executor import executor_mapping
from hpo_plugin.config.experiment import ExperimentConfig
from hpo_plugin.errors import ConfigError
from hpo_plugin.executors import EXECUTORS
from hpo_plugin.hyperopt_space import is_hyperopt_space
from hpo_plugin.space import Param
from hpo_plugin.space import flatten as flatten_params


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
    if (executor := config.executor.name) not in EXECUTORS:
        problem = f"unknown executor {executor!r}; choose one of: {', '.join(sorted(EXECUTORS))}"
        raise _named(ConfigError(source, "executor.name", problem), overrides)
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
    return _named(ConfigError(source, key, message), overrides)


def _named(error: ConfigError, overrides: Mapping[str, Any]) -> ConfigError:
    """The error under the option that set its key, if an override did."""
    if error.key in overrides:
        return ConfigError("option --" + error.key.split(".")[-1].replace("_", "-"), error.key, error.problem)
    return error
