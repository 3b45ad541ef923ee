"""Gaussian-process Bayesian optimisation, written to hyperopt's ``suggest`` protocol.

Over our own space definition (a tree: a choice's option may carry its own sub-space):

- a point is a vector in the unit cube: a numeric parameter on its axis (a log axis for
  log-scaled kinds) scaled to [0, 1], a choice as one 0/1 coordinate per option; a parameter of
  an option that was not chosen sits at 0.5;
- the trials' losses are replaced by their normal scores (rank -> standard normal quantile): a
  long tail of bad trials does not flatten the model where the good ones are; a failed or
  still-running trial ranks last;
- a GP with a Matern 5/2 kernel, one length scale per coordinate, and a noise term, its
  hyperparameters maximising the marginal likelihood under weak priors (:class:`GaussianProcess`);
- expected improvement over the lowest predicted score at a trial, maximised over candidates:
  draws from the prior plus perturbations of the best trials' numeric parameters;
- the first ``n_startup`` proposals are random draws from the prior;
- while an option of a choice was taken fewer than ``min_option_trials`` times among the trials
  where its choice is active, a proposal takes the least-taken option (its candidates only): a
  branch that drew one bad random trial is not judged on it (within the first ``max_points``
  trials, where the model sees them all; not with trade-offs);
- once ``stall`` (8) trials in a row brought no new best, proposals take the lowest confidence
  bound (predicted score minus ``beta`` standard deviations) instead of EI until one does (every
  ``stall_every``-th proposal of the stall): EI alone keeps proposing around a lucky trial;
  ``explore_every=k`` (opt-in) makes every k-th proposal take that bound;
- with trade-offs (``objective.also``, ``objective.constraints``): each proposal scalarises the
  objectives with random weights (ParEGO's augmented Chebyshev over their normal scores), so
  successive proposals aim at different parts of the Pareto front (one in five, on average, at
  the primary loss alone: the final model is the feasible trial lowest on it), and each constraint's
  metric has a GP of its own: the acquisition is the expected improvement over the best
  feasible prediction times the probability that the candidate meets every constraint (while
  no trial is feasible yet, that probability alone).

Chosen on the tuning spaces of ``benchmarks/search_quality.py`` (10 seeds; its README), ``stall``
then judged once on its held-out spaces.

Each call draws from ``numpy.random.default_rng(seed)`` with the seed hyperopt's loop passes and
reads the history from the trial documents only: a resumed search, whose documents are rebuilt
from MLflow, proposes what the uninterrupted one would have.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hyperopt import JOB_STATE_DONE, STATUS_OK
from scipy.linalg import cho_solve, solve_triangular
from scipy.special import ndtr, ndtri

from hpo_plugin.algorithms.axes import Axis, prior_point
from hpo_plugin.algorithms.points import propose
from hpo_plugin.errors import ConfigError
from hpo_plugin.hyperopt_protocol import point_vals
from hpo_plugin.space import CHOICE, Param
from hpo_plugin.tradeoffs import NO_TRADEOFFS, Tradeoffs


@dataclass(frozen=True)
class Slot:
    """One parameter's place in the unit-cube vector: a numeric one has one coordinate, a choice
    one per option; ``parent`` is the (slot, option) a branch parameter belongs to."""

    param: Param
    axis: Axis | None  # None for a choice
    at: int
    parent: tuple[int, int] | None


@dataclass(frozen=True)
class Coordinates:
    """Where each parameter of the space tree sits in the unit-cube vector (pre-order: a choice
    before its options' parameters)."""

    slots: tuple[Slot, ...]
    size: int

    @classmethod
    def of(cls, space: Sequence[Param]) -> Coordinates:
        slots: list[Slot] = []
        size = 0

        def walk(params: Sequence[Param], parent: tuple[int, int] | None) -> None:
            nonlocal size
            for p in params:
                if p.kind == CHOICE:
                    slots.append(Slot(p, None, size, parent))
                    own, size = len(slots) - 1, size + len(p.options)
                    for k, option in enumerate(p.options):
                        walk(option.space, (own, k))
                else:
                    slots.append(Slot(p, Axis.of(p), size, parent))
                    size += 1

        walk(space, None)
        return cls(tuple(slots), size)

    def encode(self, point: Mapping[str, Any]) -> np.ndarray:
        """A point (label -> value; absent labels inactive) as a vector."""
        x = np.full(self.size, 0.5)
        for slot in self.slots:
            value = point.get(slot.param.label)
            if slot.axis is None:
                x[slot.at : slot.at + len(slot.param.options)] = 0.0
                if value is not None:
                    x[slot.at + int(value)] = 1.0
            elif value is not None:
                x[slot.at] = _unit(slot.axis, slot.axis.to_axis(value))
        return x

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """The point a vector stands for (only the active parameters)."""
        point: dict[str, Any] = {}
        chosen: dict[int, int] = {}
        for i, slot in enumerate(self.slots):
            if slot.parent is not None and chosen.get(slot.parent[0]) != slot.parent[1]:
                continue
            if slot.axis is None:
                chosen[i] = int(np.argmax(x[slot.at : slot.at + len(slot.param.options)]))
                point[slot.param.label] = chosen[i]
            else:
                axis = slot.axis
                value = axis.low + x[slot.at] * (axis.high - axis.low)
                point[slot.param.label] = axis.from_axis(value, slot.param.kind)
        return point

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` vectors drawn from the prior (numeric coordinates uniform on their axes, options
        uniform), inactive parameters at their neutral value."""
        X = np.empty((n, self.size))
        for slot in self.slots:
            if slot.axis is None:
                k = len(slot.param.options)
                X[:, slot.at : slot.at + k] = np.eye(k)[rng.integers(k, size=n)]
            else:
                X[:, slot.at] = self.snap(slot, rng.random(n), cell=True)
        return self.neutral(X)

    def snap(self, slot: Slot, u: np.ndarray, cell: bool = False) -> np.ndarray:
        """Unit values moved to what the parameter can take (its grid, for a quantized one);
        ``cell``: ``u`` spreads over whole grid cells (uniform over the grid points)."""
        axis = slot.axis
        width = axis.high - axis.low
        if width <= 0:  # a grid of one point
            return np.full_like(u, 0.5)
        if axis.step:
            extra = axis.step if cell else 0.0
            x = axis.low - extra / 2 + u * (width + extra)
            x = axis.low + np.round((x - axis.low) / axis.step) * axis.step
            return np.clip((x - axis.low) / width, 0.0, 1.0)
        if axis.quantum:
            values = np.exp(axis.low + u * width) if axis.log else axis.low + u * width
            values = np.maximum(np.round(values / axis.quantum) * axis.quantum, axis.quantum)
            x = np.log(values) if axis.log else values
            return np.clip((x - axis.low) / width, 0.0, 1.0)
        return np.clip(u, 0.0, 1.0)

    def neutral(self, X: np.ndarray) -> np.ndarray:
        """Parameters of options not chosen set to 0.5 (numeric) or all 0 (a choice)."""
        active = np.ones((len(X), len(self.slots)), dtype=bool)
        for i, slot in enumerate(self.slots):
            if slot.parent is not None:
                parent, option = slot.parent
                at = self.slots[parent].at + option
                active[:, i] = active[:, parent] & (X[:, at] == 1.0)
            off = ~active[:, i]
            if slot.axis is None:
                X[np.ix_(off, range(slot.at, slot.at + len(slot.param.options)))] = 0.0
            else:
                X[off, slot.at] = 0.5
        return X

    def untried_option(self, X: np.ndarray, at_least: int) -> int | None:
        """The coordinate of the option taken least often (fewer than ``at_least`` times) by the
        points ``X`` among those where its choice is active, the first such in pre-order; None
        when every option was taken often enough."""
        fewest, where = at_least, None
        for slot in self.slots:
            if slot.axis is not None:
                continue
            span = X[:, slot.at : slot.at + len(slot.param.options)]
            active = span.sum(axis=1) > 0
            if not active.any():
                continue
            counts = span[active].sum(axis=0)
            k = int(np.argmin(counts))
            if counts[k] < fewest:
                fewest, where = counts[k], slot.at + k
        return where

    def perturb(self, x: np.ndarray, rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
        """``n`` copies of ``x`` with its numeric coordinates moved by N(0, ``scale``), options
        kept (inactive parameters stay neutral)."""
        X = np.repeat(x[None, :], n, axis=0)
        active = dict(self.decode(x))
        for slot in self.slots:
            if slot.axis is not None and slot.param.label in active:
                X[:, slot.at] = self.snap(slot, X[:, slot.at] + rng.normal(0.0, scale, n))
        return X


def _unit(axis: Axis, value: float) -> float:
    if axis.high <= axis.low:  # a grid of one point (quniform [2, 2.4, 1])
        return 0.5
    return min(max((value - axis.low) / (axis.high - axis.low), 0.0), 1.0)


def normal_scores(losses: np.ndarray) -> np.ndarray:
    """Each loss as the standard normal quantile of its (mid-)rank: lower loss, lower score."""
    order = np.argsort(losses, kind="stable")
    ranks = np.empty(len(losses))
    ranks[order] = np.arange(len(losses))
    for value in np.unique(losses):  # ties share their mean rank
        tied = losses == value
        ranks[tied] = ranks[tied].mean()
    return ndtri((ranks + 0.5) / len(losses))


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """EI below ``best`` (minimisation)."""
    std = np.maximum(std, 1e-9)
    z = (best - mean) / std
    return std * (z * ndtr(z) + np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi))


# Each whole-number setting of GaussianProcessSearch and its lowest value.
_WHOLE_SETTINGS = {
    "n_startup": 0,
    "n_candidates": 1,
    "n_local": 0,
    "n_best": 1,
    "max_points": 2,
    "min_option_trials": 0,
    "explore_every": 0,
    "stall": 0,
    "stall_every": 1,
}


@dataclass(frozen=True)
class GaussianProcessSearch:
    """GP-EI over ``space`` (see the module's docstring)."""

    space: tuple[Param, ...]
    n_startup: int = 5  # random proposals first, the start points included
    n_candidates: int = 1000
    n_local: int = 50  # perturbations of each of the best trials
    n_best: int = 5
    local_scale: float = 0.1  # of a numeric parameter's range
    max_points: int = 100  # beyond this the GP sees the best half and the latest half
    plugin: bool = True  # improve on the lowest predicted loss at a trial (False: the lowest score)
    tradeoffs: Tradeoffs = NO_TRADEOFFS
    primary_share: float = 0.2  # with further objectives: proposals that weigh the primary loss alone
    min_option_trials: int = 2  # a choice's option tried this often (where active) before EI alone picks
    explore_every: int = 0  # every k-th proposal (0: none) takes the lowest confidence bound instead of EI
    beta: float = 2.0  # that bound: predicted score minus beta standard deviations
    stall: int = 8  # (0: off) after this many trials without a new best, proposals take the bound
    stall_every: int = 1  # during a stall, every k-th proposal takes the bound

    def __post_init__(self) -> None:
        """A setting out of range is a one-line error naming it (a hyperopt script passes them
        through ``hpo_plugin.gp.suggest``'s keywords)."""
        for name, low in _WHOLE_SETTINGS.items():
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < low:
                raise ConfigError("", f"gp {name}", f"must be a whole number >= {low} (got {value!r})")
        for name in ("local_scale", "beta", "primary_share"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not value >= 0:
                raise ConfigError("", f"gp {name}", f"must be a number >= 0 (got {value!r})")

    def suggest(self, new_ids, domain, trials, seed) -> list[dict[str, Any]]:
        rng = np.random.default_rng(seed)
        traded = self.tradeoffs.active
        history = tradeoff_observations(trials) if traded else observations(trials)
        points = []
        for new_id in new_ids:
            if len(history) < self.n_startup:
                points.append(prior_point(self.space, rng, {}))
            elif traded:
                points.append(self._propose_traded(history, rng))
            else:
                points.append(self._propose(history, rng, new_id))
            pending = (points[-1], None, None) if traded else (points[-1], math.inf)
            history.append(pending)  # the next one of a batch goes elsewhere
        return propose(new_ids, domain, trials, points)

    @functools.cached_property
    def coordinates(self) -> Coordinates:
        return Coordinates.of(self.space)

    def _propose(
        self, history: list[tuple[dict[str, Any], float]], rng: np.random.Generator, new_id: int
    ) -> dict:
        """The point for trial ``new_id``. Options still owed trials are taken first only while
        ``new_id < max_points`` (hyperopt numbers trials from 0: within the first ``max_points`` the
        model sees every trial, so an option's count is its count in the search; beyond, a view
        leaves out options that did badly); :meth:`_bound` says whether it takes the confidence
        bound, read on the whole history."""
        coords = self.coordinates
        explore = new_id < self.max_points
        bound = self._bound(history, new_id)
        history = _subset(history, self.max_points)
        X = np.array([coords.encode(point) for point, _ in history])
        y = normal_scores(np.array([loss for _, loss in history]))
        gp = GaussianProcess.fit(X, y)
        best = np.argsort(y, kind="stable")[: self.n_best]
        candidates = np.vstack(
            [coords.sample(rng, self.n_candidates)]
            + [coords.perturb(X[i], rng, self.n_local, self.local_scale) for i in best]
        )
        if explore and (untried := coords.untried_option(X, self.min_option_trials)) is not None:
            candidates = np.vstack([candidates, coords.sample(rng, self.n_candidates)])
            taking = candidates[candidates[:, untried] == 1.0]
            candidates = taking if len(taking) else candidates  # a rare nested option: EI decides
        mean, std = gp.predict(candidates)
        if bound:
            return coords.decode(candidates[int(np.argmin(mean - self.beta * std))])
        incumbent = float(gp.predict(X)[0].min()) if self.plugin else float(y.min())
        ei = expected_improvement(mean, std, incumbent)
        return coords.decode(candidates[int(np.argmax(ei))])

    def _bound(self, history: list[tuple[dict[str, Any], float]], new_id: int) -> bool:
        if self.explore_every and (new_id + 1) % self.explore_every == 0:
            return True
        if self.stall:
            losses = [loss for _, loss in history]
            best_at = int(np.argmin(losses))
            since = len(losses) - 1 - best_at - self.stall  # proposals into the stall, from 0
            return since >= 0 and since % self.stall_every == 0
        return False

    def _propose_traded(self, history: list[tuple[dict, Any, Any]], rng: np.random.Generator) -> dict:
        """EI on a randomly weighted scalarisation of the objectives, times the probability
        of meeting every constraint (see the module's docstring)."""
        coords = self.coordinates
        history = _subset_traded(history, self.max_points)
        X = np.array([coords.encode(point) for point, _, _ in history])
        y = normal_scores(self._scalarised(history, rng))
        gp = GaussianProcess.fit(X, y)
        feasible = np.array([c is not None and self._meets(c) for _, _, c in history])
        order = [i for i in np.argsort(y, kind="stable") if feasible[i]] or list(np.argsort(y, kind="stable"))
        candidates = np.vstack(
            [coords.sample(rng, self.n_candidates)]
            + [coords.perturb(X[i], rng, self.n_local, self.local_scale) for i in order[: self.n_best]]
        )
        pof = self._feasibility(X, history, candidates)
        if not feasible.any():
            return coords.decode(candidates[int(np.argmax(pof))])
        mean, std = gp.predict(candidates)
        incumbent = float(gp.predict(X[feasible])[0].min()) if self.plugin else float(y[feasible].min())
        return coords.decode(candidates[int(np.argmax(expected_improvement(mean, std, incumbent) * pof))])

    def _scalarised(self, history: list[tuple[dict, Any, Any]], rng: np.random.Generator) -> np.ndarray:
        """Each trial's objectives (normal scores per objective) under random weights: augmented
        Chebyshev; a failed or pending trial is infinitely bad."""
        done = [i for i, (_, o, _) in enumerate(history) if o is not None]
        out = np.full(len(history), math.inf)
        if not done:
            return out
        values = np.array([history[i][1] for i in done], dtype=float)
        scores = np.column_stack([normal_scores(values[:, j]) for j in range(values.shape[1])])
        weights = rng.dirichlet(np.ones(values.shape[1]))
        if rng.random() < self.primary_share:  # the final model is the best primary loss: aim there too
            weights = np.eye(values.shape[1])[0]
        out[done] = (scores * weights).max(axis=1) + 0.05 * (scores * weights).sum(axis=1)
        return out

    def _meets(self, constrained: Sequence[float]) -> bool:
        return all(
            b.violation(v) == 0.0 for b, v in zip(self.tradeoffs.constraints, constrained, strict=True)
        )

    def _feasibility(self, X: np.ndarray, history: list, candidates: np.ndarray) -> np.ndarray:
        """The probability that each candidate meets every constraint (a GP per constraint, on
        the judged trials' values, standardised)."""
        pof = np.ones(len(candidates))
        judged = [i for i, (_, _, c) in enumerate(history) if c is not None]
        if len(judged) < 2:
            return pof
        for j, bound in enumerate(self.tradeoffs.constraints):
            values = np.array([history[i][2][j] for i in judged], dtype=float)
            centre, scale = values.mean(), values.std() or 1.0
            gp = GaussianProcess.fit(X[judged], (values - centre) / scale)
            mean, std = gp.predict(candidates)
            std = np.maximum(std, 1e-9)
            if bound.high is not None:
                pof *= ndtr(((bound.high - centre) / scale - mean) / std)
            if bound.low is not None:
                pof *= ndtr((mean - (bound.low - centre) / scale) / std)
        return pof


def tradeoff_observations(trials) -> list[tuple[dict[str, Any], Any, Any]]:
    """Every trial's point, objectives and constrained values (None: failed, running, or not
    judged), in trial order."""
    found = []
    for t in trials.trials:
        result = t.get("result") or {}
        done = t.get("state") == JOB_STATE_DONE and result.get("status") == STATUS_OK
        objectives = result.get("objectives") if done else None
        constrained = result.get("constrained") if done else None
        found.append((point_vals(t["misc"]), objectives, constrained))
    return found


def _subset_traded(history: list, limit: int) -> list:
    """At most ``limit`` trials: the judged ones with the lowest primary loss and the latest."""
    if len(history) <= limit:
        return history
    primary = [o[0] if o is not None else math.inf for _, o, _ in history]
    best = sorted(range(len(history)), key=lambda i: primary[i])[: limit // 2]
    latest = range(len(history) - (limit - limit // 2), len(history))
    return [history[i] for i in sorted(set(best) | set(latest))]


def observations(trials) -> list[tuple[dict[str, Any], float]]:
    """Every trial's point (label -> value) and loss, in trial order; a trial that failed, gave
    no finite loss or is still running counts as infinitely bad (as in hyperopt's TPE): the GP
    steers away from it, and parallel proposals away from each other."""
    found = []
    for t in trials.trials:
        result = t.get("result") or {}
        loss = result.get("loss")
        done = t.get("state") == JOB_STATE_DONE and result.get("status") == STATUS_OK
        usable = done and loss is not None and math.isfinite(loss)
        found.append((point_vals(t["misc"]), float(loss) if usable else math.inf))
    return found


def _subset(history: list, limit: int) -> list:
    """At most ``limit`` trials: the best half and the latest half (each once)."""
    if len(history) <= limit:
        return history
    best = sorted(range(len(history)), key=lambda i: history[i][1])[: limit // 2]
    latest = range(len(history) - (limit - limit // 2), len(history))
    return [history[i] for i in sorted(set(best) | set(latest))]


SQRT5 = np.sqrt(5.0)


@dataclass(frozen=True)
class GaussianProcess:
    """Zero-mean GP, Matern 5/2 kernel with one length scale per coordinate, plus noise; its
    hyperparameters maximise the marginal likelihood under weak log-normal priors."""

    X: np.ndarray
    lengths: np.ndarray
    signal: float
    noise: float
    cholesky: np.ndarray
    alpha: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray) -> GaussianProcess:
        from scipy.optimize import minimize

        d = X.shape[1]
        diff2 = (X[:, None, :] - X[None, :, :]) ** 2  # n x n x d
        start = np.concatenate([np.full(d, np.log(0.5)), [0.0, np.log(0.05)]])
        bounds = [(np.log(0.02), np.log(20.0))] * d + [(np.log(0.05), np.log(20.0)), (np.log(1e-4), 0.0)]
        with np.errstate(all="ignore"):
            found = minimize(
                _neg_log_posterior, start, args=(diff2, y), jac=True, method="L-BFGS-B", bounds=bounds
            )
        theta = found.x if np.all(np.isfinite(found.x)) else start
        lengths, signal, noise = np.exp(theta[:d]), float(np.exp(theta[d])), float(np.exp(theta[d + 1]))
        K = _matern(np.sqrt((diff2 / lengths**2).sum(axis=2)), signal) + (noise + 1e-8) * np.eye(len(X))
        L = np.linalg.cholesky(K)
        return cls(X, lengths, signal, noise, L, cho_solve((L, True), y))

    def predict(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.sqrt((((Z[:, None, :] - self.X[None, :, :]) / self.lengths) ** 2).sum(axis=2))
        k = _matern(r, self.signal)
        mean = k @ self.alpha
        v = solve_triangular(self.cholesky, k.T, lower=True)
        var = np.maximum(self.signal - (v**2).sum(axis=0), 1e-12)
        return mean, np.sqrt(var)


def _matern(r: np.ndarray, signal: float) -> np.ndarray:
    return signal * (1 + SQRT5 * r + 5.0 / 3.0 * r**2) * np.exp(-SQRT5 * r)


def _neg_log_posterior(theta: np.ndarray, diff2: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """-(log marginal likelihood + log prior) and its gradient in (log lengths, log signal,
    log noise)."""
    n, d = diff2.shape[0], diff2.shape[2]
    lengths, signal, noise = np.exp(theta[:d]), np.exp(theta[d]), np.exp(theta[d + 1])
    scaled = diff2 / lengths**2  # n x n x d
    r = np.sqrt(scaled.sum(axis=2))
    e = np.exp(-SQRT5 * r)
    K0 = (1 + SQRT5 * r + 5.0 / 3.0 * r**2) * e
    K = signal * K0 + (noise + 1e-8) * np.eye(n)
    try:
        L = np.linalg.cholesky(K)
    except np.linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    alpha = cho_solve((L, True), y)
    nll = 0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * np.log(2 * np.pi)
    K_inv = cho_solve((L, True), np.eye(n))
    W = np.outer(alpha, alpha) - K_inv  # d nll / d K = -W / 2
    common = signal * 5.0 / 3.0 * (1 + SQRT5 * r) * e  # d K / d log length_i = common * scaled_i
    grad = np.empty_like(theta)
    grad[:d] = -0.5 * np.einsum("ij,ijk->k", W * common, scaled)
    grad[d] = -0.5 * (W * (signal * K0)).sum()
    grad[d + 1] = -0.5 * np.trace(W) * noise
    # Weak priors: length scales around 0.5 and noise around 0.05 (log-normal, sd 1.5 and 2).
    lengths_off, noise_off = theta[:d] - np.log(0.5), theta[d + 1] - np.log(0.05)
    prior = 0.5 * ((lengths_off / 1.5) ** 2).sum() + 0.5 * (noise_off / 2) ** 2
    grad[:d] += lengths_off / 1.5**2
    grad[d + 1] += noise_off / 4
    return float(nll + prior), grad
