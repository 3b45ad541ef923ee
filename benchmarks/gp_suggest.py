"""gp.suggest as a hyperopt algo: its search quality beside hyperopt's own tpe.suggest and rand.suggest.

Every search is hyperopt's ``fmin`` with a plain ``hyperopt.Trials()`` (no MLflow, nothing of
``hpo_plugin`` but the ``algo=``), over spaces written as hyperopt users write them (``hp.*``):

- ``sklearn_svc_rf``: a nested ``hp.choice`` between an SVC (log-uniform C and gamma) and a
  random forest (a choice of depths, ``scope.int(hp.quniform)`` trees, a choice of features),
  scored by 3-fold cross-validated log loss on breast cancer;
- ``xgboost_diabetes``: XGBoost (10-60 trees) with quniform, loguniform and uniform parameters,
  scored by 3-fold cross-validated RMSE on diabetes;
- ``branin_gauss``: Branin's function (minus its minimum, so 0 is best) over ``hp.normal`` and
  ``hp.lognormal`` axes (unbounded; the prior's centre, x1 = 2.5 and x2 = 5, is off the minima);
- ``mixed_pchoice``: a synthetic function of an ``hp.pchoice`` of three branches (``randint``,
  ``uniform``, ``lognormal``, ``qloguniform``, ``qnormal``, ``qlognormal``), an ``hp.choice`` and an
  ``hp.uniformint`` (0 is best: in the branch of probability 0.3, two sigmas below the median of
  its ``hp.lognormal``).

Together they use every ``hp.*`` distribution. For each space, algorithm and seed one search of
``--budget`` trials runs (``rstate=np.random.default_rng(seed)``, the same seeds for every
algorithm); smaller budgets are read off the same sequences (a search's first k trials do not
depend on the budget). Prints the command, then per space the mean ± standard error (over seeds)
of the best loss at 15, 30 and 50 trials, a verdict line for gp.suggest against tpe.suggest at
the budget (tied when the gap is within one standard error of the difference of the two means),
and last ``ms_per_proposal``: each algorithm's own time per trial (its ``suggest`` calls, the
objective excluded) over the ``--budget``-trial searches. hyperopt's TPE draws its first 20
trials at random from the same seed stream as ``rand.suggest``, so the two rows agree at 15.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/gp_suggest.py --seeds 5
    .venv/bin/python benchmarks/gp_suggest.py --spaces branin_gauss mixed_pchoice --seeds 20

One process, one thread (BLAS, XGBoost and scikit-learn ``n_jobs=1``); nothing is cached. The
default (5 seeds) takes about 2 minutes on 2 busy cores, 20 seeds about 8.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import shlex
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
GIVEN_ENV = {name: os.environ[name] for name in THREAD_VARS if name in os.environ}  # for the command line
for _name in THREAD_VARS:
    os.environ.setdefault(_name, "1")  # one thread, set before numpy loads its BLAS

import numpy as np  # noqa: E402
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin, hp, rand, tpe  # noqa: E402
from hyperopt.pyll import scope  # noqa: E402

BUDGETS = (15, 30, 50)
GP, TPE, RANDOM = "gp.suggest", "tpe.suggest", "rand.suggest"


def _algo(name: str) -> Callable:
    if name == GP:
        import hpo_plugin.gp

        return hpo_plugin.gp.suggest
    return {TPE: tpe.suggest, RANDOM: rand.suggest}[name]


# --- the spaces: name -> (hp.* space, objective(point) -> loss) -------------------------------


@functools.cache
def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")(return_X_y=True)


def _sklearn_space() -> Any:
    return hp.choice(
        "model",
        [
            {
                "type": "svc",
                "C": hp.loguniform("C", math.log(1e-2), math.log(1e3)),
                "gamma": hp.loguniform("gamma", math.log(1e-4), math.log(1.0)),
            },
            {
                "type": "rf",
                "max_depth": hp.choice("max_depth", [None, 4, 8]),
                "n_estimators": scope.int(hp.quniform("n_estimators", 5, 40, 5)),
                "max_features": hp.choice("max_features", ["sqrt", None]),
            },
        ],
    )


def _sklearn_loss(point: dict) -> float:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    params = dict(point)
    if params.pop("type") == "svc":  # Platt-scaled probabilities (SVC(probability=True) is deprecated)
        svc = SVC(C=params["C"], gamma=params["gamma"], random_state=0)
        model = make_pipeline(StandardScaler(), CalibratedClassifierCV(svc, ensemble=False, cv=3))
    else:
        model = RandomForestClassifier(**params, random_state=0, n_jobs=1)
    X, y = _data("breast_cancer")
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    return -float(cross_val_score(model, X, y, cv=cv, scoring="neg_log_loss", n_jobs=1).mean())


def _xgboost_space() -> Any:
    return {
        "n_estimators": scope.int(hp.quniform("n_estimators", 10, 60, 10)),
        "max_depth": scope.int(hp.quniform("max_depth", 1, 6, 1)),
        "learning_rate": hp.loguniform("learning_rate", math.log(0.01), math.log(0.5)),
        "subsample": hp.uniform("subsample", 0.5, 1.0),
        "colsample_bytree": hp.uniform("colsample_bytree", 0.3, 1.0),
        "min_child_weight": hp.loguniform("min_child_weight", math.log(0.5), math.log(20.0)),
        "reg_lambda": hp.loguniform("reg_lambda", math.log(1e-3), math.log(10.0)),
    }


def _xgboost_loss(point: dict) -> float:
    from sklearn.model_selection import KFold, cross_val_score
    from xgboost import XGBRegressor

    model = XGBRegressor(**point, n_jobs=1, random_state=0)
    X, y = _data("diabetes")
    cv = KFold(3, shuffle=True, random_state=0)
    return -float(cross_val_score(model, X, y, cv=cv, scoring="neg_root_mean_squared_error", n_jobs=1).mean())


BRANIN_MIN = 0.397887357729739


def _branin_space() -> Any:
    return {"x1": hp.normal("x1", 2.5, 4.0), "x2": hp.lognormal("x2", math.log(5.0), 0.8)}


def _branin_loss(point: dict) -> float:
    x1, x2 = point["x1"], point["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10 - BRANIN_MIN


def _mixed_space() -> Any:
    return {
        "branch": hp.pchoice(
            "branch",
            [
                (0.5, {"kind": "quad", "a": hp.uniform("a", -5, 5), "n": hp.randint("n", 1, 20)}),
                (
                    0.3,
                    {
                        "kind": "log",
                        "lr": hp.lognormal("lr", 0.0, 1.5),
                        "batch": hp.qloguniform("batch", math.log(8), math.log(1024), 8),
                    },
                ),
                (0.2, {"kind": "grid", "c": hp.qnormal("c", 0, 3, 0.5), "m": hp.qlognormal("m", 1, 0.6, 1)}),
            ],
        ),
        "flag": hp.choice("flag", [False, True]),
        "w": hp.uniformint("w", 0, 10),
    }


def _mixed_loss(point: dict) -> float:
    branch = point["branch"]
    if branch["kind"] == "quad":  # best 0.4 at a = 1.7, n = 13
        own = 0.4 + (branch["a"] - 1.7) ** 2 / 10 + ((branch["n"] - 13) / 8) ** 2
    elif branch["kind"] == "log":  # best ~0 at lr = 0.05 (2 sigmas below the prior's median), batch ~90
        lr, batch = max(branch["lr"], 1e-12), max(branch["batch"], 1.0)
        own = (math.log10(lr) + 1.3) ** 2 / 2 + (math.log2(batch) - 6.5) ** 2 / 10
    else:  # best 0.25 at c = 2, m = 4
        own = 0.25 + (branch["c"] - 2) ** 2 / 9 + (branch["m"] - 4) ** 2 / 16
    return own + (0.0 if point["flag"] else 0.1) + ((point["w"] - 7) / 10) ** 2


SPACES: dict[str, tuple[Callable[[], Any], Callable[[dict], float]]] = {
    "sklearn_svc_rf": (_sklearn_space, _sklearn_loss),
    "xgboost_diabetes": (_xgboost_space, _xgboost_loss),
    "branin_gauss": (_branin_space, _branin_loss),
    "mixed_pchoice": (_mixed_space, _mixed_loss),
}


# --- running -----------------------------------------------------------------------------------


@dataclass
class Search:
    losses: list[float]  # every trial's loss in order (inf for a failed objective)
    suggest_s: float  # the algorithm's own time, all its calls
    objective_s: float
    error: str | None = None  # an exception out of fmin (the algorithm's), as a traceback


def run_search(space: str, algo: str, seed: int, budget: int) -> Search:
    make_space, loss_of = SPACES[space]
    suggest = _algo(algo)
    clock = {"suggest": 0.0, "objective": 0.0}

    def timed_suggest(new_ids, domain, trials, seed):
        start = time.perf_counter()
        try:
            return suggest(new_ids, domain, trials, seed)
        finally:
            clock["suggest"] += time.perf_counter() - start

    def objective(point):
        start = time.perf_counter()
        try:
            return {"status": STATUS_OK, "loss": loss_of(point)}
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return {"status": STATUS_FAIL}
        finally:
            clock["objective"] += time.perf_counter() - start

    trials = Trials()
    error = None
    try:
        fmin(
            objective,
            make_space(),
            algo=timed_suggest,
            max_evals=budget,
            trials=trials,
            rstate=np.random.default_rng(seed),
            show_progressbar=False,
        )
    except Exception:
        error = traceback.format_exc()
    losses = [
        float(t["result"]["loss"]) if t["result"].get("status") == STATUS_OK else math.inf
        for t in trials.trials
    ]
    return Search(losses, clock["suggest"], clock["objective"], error)


# --- reporting ---------------------------------------------------------------------------------


def _best(losses: list[float], k: int) -> float:
    return min(losses[:k], default=math.inf)


def _mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, se


def _fmt(value: float, ref: float) -> str:
    if not math.isfinite(value):
        return str(value)
    digits = 2 if abs(ref) >= 10 else 4
    return f"{value:.{digits}f}"


def report(space: str, runs: dict[str, list[Search]], budget: int) -> str | None:
    """Print one space's table; return its verdict line (None when gp or tpe has no complete run)."""
    budgets = [b for b in BUDGETS if b < budget] + [budget]
    seeds = max(len(r) for r in runs.values())
    print(f"\n### space {space}: {seeds} seeds, {budget} trials; mean ± s.e. of the best loss")
    print("| algorithm | " + " | ".join(f"best@{b}" for b in budgets) + " |")
    print("|---|" + "---|" * len(budgets))
    best = {
        a: {b: [_best(s.losses, b) for s in r if len(s.losses) >= b] for b in budgets}
        for a, r in runs.items()
    }
    for algo, by_budget in best.items():
        cells = []
        for b in budgets:
            if not by_budget[b]:
                cells.append("-")
                continue
            mean, se = _mean_se(by_budget[b])
            cells.append(f"{_fmt(mean, mean)} ± {_fmt(se, mean)}")
        failed = sum(s.error is not None for s in runs[algo])
        note = f" ({failed} searches raised)" if failed else ""
        print(f"| {algo}{note} | " + " | ".join(cells) + " |")
    if not (best.get(GP, {}).get(budget) and best.get(TPE, {}).get(budget)):
        return None
    (gp, gp_se), (tp, tp_se) = _mean_se(best[GP][budget]), _mean_se(best[TPE][budget])
    gap_se = math.hypot(gp_se, tp_se)
    state = "tied within 1 s.e." if abs(gp - tp) <= gap_se else "gp ahead" if gp < tp else "gp behind"
    return f"space {space}: {GP} vs {TPE} at {budget}: {_fmt(gp, gp)} vs {_fmt(tp, tp)} ({state})"


def _ms_per_proposal(searches: list[Search]) -> float:
    trials = sum(len(s.losses) for s in searches)
    return 1000 * sum(s.suggest_s for s in searches) / max(trials, 1)


def _command() -> str:
    """The command line as given (the thread variables set in its environment first)."""
    exe = os.path.relpath(sys.executable)
    exe = sys.executable if exe.startswith("..") else exe
    env = [f"{name}={value}" for name, value in GIVEN_ENV.items()]
    return " ".join([*env, shlex.join([exe, *sys.argv])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--spaces", nargs="*", default=list(SPACES), choices=list(SPACES))
    parser.add_argument("--algos", nargs="*", default=[GP, TPE, RANDOM], choices=[GP, TPE, RANDOM])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    from threadpoolctl import threadpool_limits

    print(f"$ {_command()}")
    started = time.perf_counter()
    results: dict[str, dict[str, list[Search]]] = {}
    with threadpool_limits(1):
        for space in args.spaces:
            results[space] = {}
            for algo in args.algos:
                results[space][algo] = []
                for seed in range(args.seeds):
                    search = run_search(space, algo, seed, args.budget)
                    results[space][algo].append(search)
                    best = _best(search.losses, args.budget)
                    print(
                        f"  {space} {algo} seed {seed}: best {best:.4f} suggest {search.suggest_s:.2f} s "
                        f"objective {search.objective_s:.2f} s",
                        file=sys.stderr,
                    )
                    if search.error:
                        print(search.error, file=sys.stderr)
    verdicts = [report(space, results[space], args.budget) for space in args.spaces]
    print()
    for line in verdicts:
        if line:
            print(line)
    errors = [
        (space, algo, seed, s.error)
        for space, by_algo in results.items()
        for algo, searches in by_algo.items()
        for seed, s in enumerate(searches)
        if s.error
    ]
    for space, algo, seed, error in errors:
        print(f"\nerror: {algo} on {space}, seed {seed}:\n{error}")
    print(
        f"\nms_per_proposal (each algorithm's suggest calls over its {args.budget}-trial searches, per trial)"
    )
    print("| space | " + " | ".join(args.algos) + " |")
    print("|---|" + "---|" * len(args.algos))
    for space in args.spaces:
        cells = [f"{_ms_per_proposal(results[space][a]):.1f}" for a in args.algos]
        print(f"| {space} | " + " | ".join(cells) + " |")
    overall = {
        a: _ms_per_proposal([s for space in args.spaces for s in results[space][a]]) for a in args.algos
    }
    print("| all | " + " | ".join(f"{overall[a]:.1f}" for a in args.algos) + " |")
    if GP in overall and TPE in overall:
        print(f"ms_per_proposal {GP} {overall[GP]:.1f} {TPE} {overall[TPE]:.1f}")
    objective_s = sum(s.objective_s for by_algo in results.values() for r in by_algo.values() for s in r)
    print(f"elapsed_s {time.perf_counter() - started:.0f} (objectives {objective_s:.0f})")


if __name__ == "__main__":
    main()
