"""The built-in objective: a model family's estimator, fitted on each validation fold and scored.

The first kind of :class:`~hpo_plugin.objectives.base.Objective`: a point of the space picks
a family (model selection) and its params; the model is that family's estimator behind the
family's preprocessing (:mod:`hpo_plugin.models.families`). No MLflow here.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from hpo_plugin.errors import ConfigError
from hpo_plugin.metrics import METRICS, measure, metrics_for, score
from hpo_plugin.models.families import family_named, unsupported_task
from hpo_plugin.models.pipelines import (
    build_model,
    early_stopping,
    final_estimator,
    fit_params,
    for_estimator,
)
from hpo_plugin.objectives.base import TrialFailed, TrialOutcome
from hpo_plugin.objectives.rounds import Curve, reports_rounds, reports_rounds_class, with_curve
from hpo_plugin.pruners import Reporter
from hpo_plugin.space import names

if TYPE_CHECKING:
    from hpo_plugin.config import ExperimentConfig
    from hpo_plugin.data import Dataset


@dataclass(frozen=True)
class EstimatorObjective:
    """Tune the built-in model families of ``config.model`` (or ``config.models``) on ``dataset``."""

    config: ExperimentConfig
    dataset: Dataset
    n_threads: int
    refits = True
    uses_mlflow = False

    @staticmethod
    def check(config: ExperimentConfig, task: str) -> None:
        """Raise ConfigError unless the metric, every family and every param fit ``task``."""
        if task not in METRICS[config.objective.metric].tasks:
            raise ConfigError(
                config.source,
                "objective.metric",
                f"{config.objective.metric} does not apply to a {task} task",
            )
        _check_pruning(config, task)
        _check_tradeoffs(config, task)
        for i, candidate in enumerate(config.candidates):
            field = "family" if candidate.family else "estimator"
            key = f"model.{field}" if config.model is not None else f"models.{i}.{field}"
            if problem := unsupported_task(candidate.name, task):
                raise ConfigError(config.source, key, problem)
            valid = family_named(candidate.name).param_names(task)
            section = key.removesuffix(field)
            for where, keys in (("params", set(candidate.params)), ("space", names(candidate.space))):
                if unknown := sorted(keys - valid):
                    raise ConfigError(
                        config.source,
                        f"{section}{where}",
                        f"{unknown} are not parameters of {candidate.name}; check the spelling",
                    )

    @property
    def seed(self) -> int:
        return self.config.search.seed

    @property
    def metric(self) -> str:
        return self.config.objective.metric

    def family_and_params(self, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Split a decoded point into the model family and its full param set."""
        params = dict(params)
        family = params.pop("family", None) or self.config.candidates[0].name
        fixed = next(m.params for m in self.config.candidates if m.name == family)
        return family, {**fixed, **params}

    def build(self, params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The unfitted model for a point, and the ``fit`` arguments it takes."""
        family, model_params = self.family_and_params(params)
        d = self.dataset
        model = build_model(
            family, d.task, model_params, d.categorical, d.numeric, self.n_threads, self.config.search.seed
        )
        return model, fit_params(family, model, d.categorical)

    def loss_of(self, value: float) -> float:
        return -value if self.config.objective.maximize else value

    def evaluate(
        self, params: Mapping[str, Any], run: tuple[str, str] | None = None, reporter: Reporter | None = None
    ) -> TrialOutcome:
        """Fit and score one point on every fold; raise TrialFailed if the loss is unusable.

        With a pruner (``reporter.prunes``), k folds report the mean score so far after each
        fold (step = folds done); a holdout split with XGBoost or LightGBM reports every
        ``search.pruning.report_every`` boosting rounds (step = rounds trained).
        """
        d = self.dataset
        template, kwargs = self.build(params)
        per_fold: list[dict[str, float]] = []
        started = time.perf_counter()
        model = None
        prunes = reporter is not None and reporter.prunes
        if prunes and len(d.folds) > 1:
            reporter.end = len(d.folds)
        for train, val in d.folds:
            model, X_train, y_train = clone(template), d.X_search.iloc[train], d.y_search[train]
            extra, undo = {}, None
            if prunes and len(d.folds) == 1 and reports_rounds(model):
                every = self.config.search.pruning.report_every
                curve = Curve(reporter, d.y_search[val], d.task, d.n_classes, self.metric, every)
                extra, undo = with_curve(model, X_train, y_train, d.X_search.iloc[val], curve)
            model = _fit(model, X_train, y_train, self.seed, {**kwargs, **extra})
            if undo is not None:
                undo()
            per_fold.append(score(model, d.X_search.iloc[val], d.y_search[val], d.task, d.n_classes))
            if (best := best_iteration(model)) is not None:
                per_fold[-1]["best_iteration"] = best
            if prunes and len(d.folds) > 1:
                self._report_folds(per_fold, reporter)
        fit_time = time.perf_counter() - started
        metrics = _summarise(per_fold, d.task)
        value = metrics[f"val_{self.metric}"]
        if not math.isfinite(value):
            if METRICS[self.metric].needs_proba and not hasattr(model, "predict_proba"):
                raise TrialFailed(
                    f"{self.metric} needs class probabilities and {type(final_estimator(model)).__name__} "
                    "gives none; pick objective.metric accuracy or f1 (or, for SVC, probability: true)"
                )
            raise TrialFailed(f"val_{self.metric} is {value}")
        if len(d.folds) > 1:
            # The trial's model is the configuration trained on all the search data.
            model = _fit(clone(template), d.X_search, d.y_search, self.seed, kwargs)
        metrics["fit_s"] = fit_time
        metrics.update(measure(self.config.objective.tradeoffs.names, model, d.X_search.iloc[val]))
        return TrialOutcome(self.loss_of(value), metrics, model)

    def _report_folds(self, per_fold: list[dict[str, float]], reporter: Reporter) -> None:
        """The mean score of the folds so far, at step = folds done; stop if the pruner says so
        (never after the last fold, the reporter's end: the trial has done all its work)."""
        mean = float(np.mean([fold[self.metric] for fold in per_fold]))
        reporter.report(len(per_fold), self.loss_of(mean), (f"val_{self.metric}", mean))
        reporter.check()

    def refit_and_test(self, params: Mapping[str, Any]) -> tuple[Any, dict[str, float]]:
        """The final model: fit on all search data, scored once on the held-out test set."""
        d = self.dataset
        template, kwargs = self.build(params)
        model = _fit(template, d.X_search, d.y_search, self.seed, kwargs)
        test = score(model, d.X_test, d.y_test, d.task, d.n_classes)
        # The refit is the model that ships: what the trade-offs measure, measured on it too.
        measured = measure(self.config.objective.tradeoffs.names, model, d.X_test)
        return model, {
            **{f"test_{k}": v for k, v in test.items()},
            **{f"final_{k}": v for k, v in measured.items()},
        }


def _check_pruning(config: ExperimentConfig, task: str) -> None:
    """ConfigError if ``search.pruning`` is set but no trial of the experiment reports steps."""
    if config.search.pruning is None or config.objective.validation.cv:
        return
    if not any(reports_rounds_class(family_named(c.name).estimator_class(task)) for c in config.candidates):
        raise ConfigError(
            config.source,
            "search.pruning",
            "with a holdout split only xgboost and lightgbm trials report steps (every report_every "
            "rounds); set objective.validation.cv to report after each fold, or remove search.pruning",
        )


def _check_tradeoffs(config: ExperimentConfig, task: str) -> None:
    """ConfigError for a ``val_<metric>`` in ``objective.also``/``constraints`` that ``task``'s
    trials do not score."""
    scored = {f"val_{m.name}" for m in metrics_for(task)}
    objective = config.objective
    for key, named in (
        ("objective.also", [a.name for a in objective.also]),
        ("objective.constraints", objective.constraints),
    ):
        if bad := sorted(n for n in named if n.startswith("val_") and n not in scored):
            raise ConfigError(
                config.source, key, f"a {task} task's trials do not score {bad}; choose from {sorted(scored)}"
            )


EARLY_STOPPING_SHARE = 0.15  # of a fit's training rows, held out to pick the best boosting round


def _fit(model, X, y, seed: int, kwargs: Mapping[str, Any]):
    """Fit with ``kwargs``; a boosting model with ``early_stopping_rounds`` stops on a slice of
    its own training rows (never on the validation fold that scores it)."""
    kwargs = dict(kwargs)
    if (stopping := early_stopping(model)) is not None:
        stratify = y if is_classifier(final_estimator(model)) else None
        X, X_stop, y, y_stop = train_test_split(
            X, y, test_size=EARLY_STOPPING_SHARE, random_state=seed, stratify=stratify
        )
        if isinstance(model, Pipeline):  # the pipeline refits the same transform
            X_stop = clone(model[:-1]).fit(X, y).transform(X_stop)
        kwargs.update(for_estimator(model, stopping.eval_kwargs(X_stop, y_stop)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **kwargs)


def best_iteration(model) -> int | None:
    """The boosting round early stopping kept, if the model stops early."""
    stopping = early_stopping(model)
    return None if stopping is None else int(getattr(final_estimator(model), stopping.best_attr))


def _summarise(per_fold: list[dict[str, float]], task: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in metrics_for(task):
        values = np.array([fold[m.name] for fold in per_fold], dtype=float)
        out[f"val_{m.name}"] = float(values.mean())
        if len(per_fold) > 1:
            out[f"val_{m.name}_std"] = float(values.std())
            out.update({f"val_{m.name}_fold{i}": float(v) for i, v in enumerate(values)})
    if "best_iteration" in per_fold[0]:  # early stopping: the rounds it kept (mean of folds)
        out["best_iteration"] = float(np.mean([fold["best_iteration"] for fold in per_fold]))
    return out
