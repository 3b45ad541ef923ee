"""A tree-structured Parzen estimator of our own, written to hyperopt's ``suggest`` protocol.

hyperopt's TPE models the best ``ceil(gamma * sqrt(n))`` trials as "good" (2 of 50 at its
default) and builds its estimators from its expression graph. This one follows Optuna's TPE
sampler (independent per parameter, its defaults; checked against optuna 4.x/5.0's
``samplers/_tpe``), over our own space definition:

- the best ``min(ceil(0.1 * n), 25)`` finished trials are "good", the rest "bad" (failed
  trials are left out; a pruned trial is finished with the loss the search gave it);
- per parameter, a mixture of truncated normals on its axis (a log axis for log-scaled ones)
  centred on the observations, plus a prior at the middle of the range with the range's width;
  an observation's bandwidth is the larger distance to its neighbours (the bounds included, but
  not for the smallest and largest observation), clipped to [range / min(100, 1 + kernels),
  range]; older observations weigh less once there are more than 25 (Optuna's ramp);
- a quantized parameter's kernels give each grid point the mass of its cell; a choice's kernels
  put weight 1 on the observed option plus a share of the prior on every option;
- 24 candidates from the good mixture, the one maximising log l(x) - log g(x) is proposed;
  a choice is proposed first and only its option's sub-space after it (define-by-run);
- the first ``n_startup`` proposals are random draws from the prior.

Each call draws from ``numpy.random.default_rng(seed)`` with the seed hyperopt's loop passes,
and reads the history from the trial documents only: a resumed search, whose documents are
rebuilt from MLflow, proposes what the uninterrupted one would have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hyperopt import JOB_STATE_DONE, STATUS_OK
from scipy.special import ndtr, ndtri

from hpo_plugin.algorithms.points import propose
from hpo_plugin.hyperopt_protocol import point_vals
from hpo_plugin.space import CHOICE, Param

EPS = 1e-12


def default_gamma(n: int) -> int:
    """How many of ``n`` finished trials are "good" (Optuna's default)."""
    return min(math.ceil(0.1 * n), 25)


def default_weights(n: int) -> np.ndarray:
    """Observation weights, oldest first: flat up to 25, then a ramp for the older ones."""
    if n < 25:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - 25), np.ones(25)])


@dataclass(frozen=True)
class Axis:
    """A numeric parameter on the axis its kernels live on (log for log-scaled kinds)."""

    low: float
    high: float
    step: float | None  # grid spacing on the axis (quantized on a linear axis), else None
    log: bool
    quantum: float | None  # hyperopt's q: the value is rounded to a multiple of it

    @classmethod
    def of(cls, p: Param) -> Axis:
        a = p.args
        if p.kind == "uniform":
            return cls(a[0], a[1], None, False, None)
        if p.kind == "loguniform":
            return cls(math.log(a[0]), math.log(a[1]), None, True, None)
        if p.kind == "quniform":
            low, high = round(a[0] / a[2]) * a[2], round(a[1] / a[2]) * a[2]
            return cls(low, high, a[2], False, a[2])
        if p.kind == "qloguniform":
            return cls(math.log(a[0]), math.log(a[1]), None, True, a[2])
        if p.kind == "randint":
            return cls(a[0], a[1] - 1, 1.0, False, 1.0)
        if p.kind == "normal":  # unbounded in hyperopt: 4 sigmas either side
            return cls(a[0] - 4 * a[1], a[0] + 4 * a[1], None, False, None)
        raise ValueError(f"no Parzen axis for a {p.kind} parameter")

    def to_axis(self, value: float) -> float:
        return math.log(max(value, EPS)) if self.log else float(value)

    def from_axis(self, x: float, kind: str) -> Any:
        value = math.exp(x) if self.log else x
        if self.quantum:
            value = round(value / self.quantum) * self.quantum
        if kind == "randint":
            return round(value)
        return float(value)


@dataclass(frozen=True)
class Mixture:
    """Truncated normal kernels on an axis: weights, centres, bandwidths."""

    weights: np.ndarray
    mus: np.ndarray
    sigmas: np.ndarray
    axis: Axis

    @classmethod
    def fit(cls, observations: np.ndarray, weights: np.ndarray, axis: Axis, prior_weight: float) -> Mixture:
        """Kernels on ``observations`` with their ``weights``, plus the prior (Optuna 5.0's
        ``_ParzenEstimator._calculate_numerical_distributions``)."""
        step = axis.step or 0.0
        low, high = axis.low - step / 2, axis.high + step / 2
        order = np.argsort(observations, kind="stable")
        padded = np.concatenate([[low], observations[order], [high]])
        sigmas = np.maximum(padded[1:-1] - padded[:-2], padded[2:] - padded[1:-1])
        if len(padded) >= 4:  # the bounds are not neighbours (Optuna: consider_endpoints=False)
            sigmas[0] = padded[2] - padded[1]
            sigmas[-1] = padded[-2] - padded[-3]
        unsorted = np.empty_like(sigmas)
        unsorted[order] = sigmas
        width = high - low
        sigmas = np.clip(unsorted, width / min(100.0, 2.0 + len(observations)), width)
        all_weights = np.append(weights, prior_weight) if len(observations) else np.array([1.0])
        return cls(
            all_weights / all_weights.sum(),
            np.append(observations, 0.5 * (low + high)),
            np.append(sigmas, width),
            axis,
        )

    def _bounds(self) -> tuple[float, float]:
        step = self.axis.step or 0.0
        return self.axis.low - step / 2, self.axis.high + step / 2

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.sample_from(rng, rng.choice(len(self.weights), size=size, p=self.weights))

    def sample_from(self, rng: np.random.Generator, k: np.ndarray) -> np.ndarray:
        """One draw from each kernel ``k[i]``."""
        low, high = self._bounds()
        mu, sigma = self.mus[k], self.sigmas[k]
        a, b = ndtr((low - mu) / sigma), ndtr((high - mu) / sigma)
        u = a + rng.random(len(k)) * (b - a)
        x = mu + sigma * ndtri(np.clip(u, EPS, 1 - EPS))
        x = np.clip(x, low, high)
        if self.axis.step:  # the grid point whose cell it fell in
            x = self.axis.low + np.round((x - self.axis.low) / self.axis.step) * self.axis.step
            x = np.clip(x, self.axis.low, self.axis.high)
        return x

    def kernel_log_pdf(self, x: np.ndarray) -> np.ndarray:
        """log density of each ``x`` (rows) under each kernel (columns)."""
        low, high = self._bounds()
        mu, sigma = self.mus[None, :], self.sigmas[None, :]
        x = x[:, None]
        norm = np.log(np.maximum(ndtr((high - mu) / sigma) - ndtr((low - mu) / sigma), EPS))
        if self.axis.step:
            half = self.axis.step / 2
            mass = ndtr((x + half - mu) / sigma) - ndtr((x - half - mu) / sigma)
            return np.log(np.maximum(mass, EPS)) - norm
        z = (x - mu) / sigma
        return -0.5 * z**2 - np.log(sigma) - 0.5 * math.log(2 * math.pi) - norm

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        return _logsumexp(self.kernel_log_pdf(x) + np.log(self.weights)[None, :])


@dataclass(frozen=True)
class Categorical:
    """A choice's kernels (Optuna's): each puts weight 1 on its observed option plus a share of
    the prior on every option; the last kernel is the prior (uniform)."""

    weights: np.ndarray
    kernels: np.ndarray  # kernel x option probabilities

    @classmethod
    def fit(cls, observations: np.ndarray, weights: np.ndarray, n: int, prior_weight: float) -> Categorical:
        if len(observations) == 0:
            return cls(np.array([1.0]), np.full((1, n), 1.0 / n))
        n_kernels = len(observations) + 1
        kernels = np.full((n_kernels, n), prior_weight / n_kernels)
        kernels[np.arange(len(observations)), observations.astype(int)] += 1
        kernels /= kernels.sum(axis=1, keepdims=True)
        all_weights = np.append(weights, prior_weight)
        return cls(all_weights / all_weights.sum(), kernels)

    def sample_from(self, rng: np.random.Generator, k: np.ndarray) -> np.ndarray:
        cumulative = self.kernels[k].cumsum(axis=1)
        draws = (rng.random(len(k))[:, None] > cumulative).sum(axis=1)
        return np.minimum(draws, self.kernels.shape[1] - 1).astype(float)

    def kernel_log_pdf(self, x: np.ndarray) -> np.ndarray:
        return np.log(self.kernels[:, x.astype(int)].T + EPS)


def _logsumexp(values: np.ndarray) -> np.ndarray:
    top = values.max(axis=1)
    return top + np.log(np.exp(values - top[:, None]).sum(axis=1))


@dataclass(frozen=True)
class ParzenTpe:
    """Optuna-style TPE over ``space`` (see the module's docstring)."""

    space: tuple[Param, ...]
    n_startup: int = 10
    n_candidates: int = 24
    prior_weight: float = 1.0
    multivariate: bool = False  # joint kernels over a level's params (Optuna: multivariate, group)

    def suggest(self, new_ids, domain, trials, seed) -> list[dict[str, Any]]:
        rng = np.random.default_rng(seed)
        history = _history(trials)
        if len(history) < self.n_startup:
            points = [self._prior(self.space, rng, {}) for _ in new_ids]
        else:
            ranked = sorted(range(len(history)), key=lambda i: history[i][1])
            n_good = default_gamma(len(history))
            good = sorted(ranked[:n_good])
            bad = sorted(ranked[n_good:])
            good_points = [history[i][0] for i in good]
            bad_points = [history[i][0] for i in bad]
            points = [self._tpe(self.space, good_points, bad_points, rng, {}) for _ in new_ids]
        return propose(new_ids, domain, trials, points)

    def _prior(self, space: Sequence[Param], rng: np.random.Generator, point: dict) -> dict:
        for p in space:
            if p.kind == CHOICE:
                index = int(rng.integers(len(p.options)))
                point[p.label] = index
                self._prior(p.options[index].space, rng, point)
            elif p.kind == "normal":
                point[p.label] = float(rng.normal(p.args[0], p.args[1]))
            else:
                axis = Axis.of(p)
                half = (axis.step or 0.0) / 2  # each grid point gets its whole cell
                x = float(np.clip(rng.uniform(axis.low - half, axis.high + half), axis.low, axis.high))
                point[p.label] = axis.from_axis(x, p.kind)
        return point

    def _tpe(self, space, good: list[Mapping], bad: list[Mapping], rng, point: dict) -> dict:
        """Propose ``space``'s params from the good and bad trials that have them, then each
        chosen option's sub-space from the trials that chose it."""
        groups = [list(space)] if self.multivariate else [[p] for p in space]
        for group in groups:
            for p, value in zip(group, self._propose(group, good, bad, rng), strict=True):
                axis = None if p.kind == CHOICE else Axis.of(p)
                point[p.label] = int(value) if axis is None else axis.from_axis(float(value), p.kind)
        for p in space:
            if p.kind == CHOICE:
                index = point[p.label]
                self._tpe(
                    p.options[index].space,
                    [v for v in good if v.get(p.label) == index],
                    [v for v in bad if v.get(p.label) == index],
                    rng,
                    point,
                )
        return point

    def _propose(self, group: list[Param], good: list[Mapping], bad: list[Mapping], rng) -> list[float]:
        """The best of ``n_candidates`` joint draws from the good estimator, by log l - log g."""
        lower = [self._kernels(p, [v[p.label] for v in good]) for p in group]
        upper = [self._kernels(p, [v[p.label] for v in bad]) for p in group]
        weights = lower[0].weights
        k = rng.choice(len(weights), size=self.n_candidates, p=weights)
        draws = [kernels.sample_from(rng, k) for kernels in lower]

        def log_density(estimator) -> np.ndarray:
            joint = sum(kernels.kernel_log_pdf(x) for kernels, x in zip(estimator, draws, strict=True))
            return _logsumexp(joint + np.log(estimator[0].weights)[None, :])

        best = int(np.argmax(log_density(lower) - log_density(upper)))
        return [float(x[best]) for x in draws]

    def _kernels(self, p: Param, values: list) -> Mixture | Categorical:
        weights = default_weights(len(values))
        if p.kind == CHOICE:
            return Categorical.fit(np.array(values, dtype=int), weights, len(p.options), self.prior_weight)
        axis = Axis.of(p)
        observations = np.array([axis.to_axis(v) for v in values], dtype=float)
        return Mixture.fit(observations, weights, axis, self.prior_weight)


def _history(trials) -> list[tuple[dict[str, Any], float]]:
    """Finished trials' points (label -> value) and losses, in trial order."""
    found = []
    for t in trials.trials:
        result = t.get("result") or {}
        if t.get("state") == JOB_STATE_DONE and result.get("status") == STATUS_OK and "loss" in result:
            loss = result["loss"]
            if loss is not None and math.isfinite(loss):
                found.append((point_vals(t["misc"]), float(loss)))
    return found
