"""Search quality: the best validation loss each algorithm reaches for a given budget.

A suite of spaces (:data:`SPACES`) on the four bundled datasets. The tuning spaces are where
the default ``tpe`` may be chosen; the held-out ones are never tuned on and are reported apart.
For each space, dataset, algorithm and seed, one search of ``--budget`` trials runs bare (no
MLflow: the loss sequence is what is compared). Smaller budgets are read off the same sequences
(a search's first k trials do not depend on the budget). Prints, per space, dataset and budget,
the mean and standard deviation over seeds of the best loss and the trials each algorithm needs
to reach random search's mean best-of-budget, then the verdict per space and, last,
``quality tuning_spaces_met N/M held_out_spaces_met N/M``.

    .venv/bin/python benchmarks/search_quality.py --seeds 10 --budget 50 --jobs 2
    .venv/bin/python benchmarks/search_quality.py --spaces xgboost_wide --datasets wine

Optuna's default TPE sampler is added as a reference row when optuna is installed (it is not a
dependency); its ``GPSampler`` (``--variants ... "optuna gp (reference)"``) when torch is
installed too (``pip install optuna torch``; the verdict is still against Optuna's TPE).
Results are cached in ``benchmarks/.quality_cache.json`` so variants can be added without
recomputing the rest; ``--fresh`` ignores the cache.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("HPO_QUALITY_CACHE", Path(__file__).resolve().parent / ".quality_cache.json"))
DATASETS = ("breast_cancer", "wine", "digits", "diabetes")
CLASSIFICATION_METRIC, REGRESSION_METRIC = "log_loss", "rmse"
BUDGETS = (15, 30, 50)
# name -> how its searches are built: ("algo", registry name, raw TPE settings or None)
VARIANTS = {
    "gp (ours, default)": ("algo", "gp", None),
    "tpe (ours, tuned)": ("algo", "tpe", None),
    "tpe (hyperopt defaults)": ("algo", "tpe", {}),
    "random": ("algo", "random", None),
    "anneal": ("algo", "anneal", None),
    "atpe": ("algo", "atpe", None),
    "optuna tpe (reference)": ("optuna", "", None),
    "optuna gp (reference)": ("optuna", "gp", None),  # Optuna's GPSampler: needs torch
}


def _shipped_xgboost(dataset: str) -> dict:
    """The XGBoost space of the shipped experiments (the space the default was first tuned on)."""
    name = "xgboost_diabetes.yaml" if dataset == "diabetes" else "xgboost_breast_cancer.yaml"
    return {"model": yaml.safe_load((ROOT / "experiments" / name).read_text())["model"]}


def _regression(dataset: str) -> bool:
    return dataset == "diabetes"


# The suite: name -> (held out, dataset -> the experiment's model section). The default is chosen
# on the tuning spaces only; the held-out ones are never tuned on and are reported apart.
SPACES: dict[str, tuple[bool, Callable[[str], dict]]] = {
    "xgboost": (False, _shipped_xgboost),
    "xgboost_wide": (
        False,
        lambda d: {
            "model": {
                "family": "xgboost",
                "space": {
                    "n_estimators": {"quniform": [20, 300, 10]},
                    "max_depth": {"quniform": [1, 10, 1]},
                    "learning_rate": {"loguniform": [0.005, 1.0]},
                    "subsample": {"uniform": [0.3, 1.0]},
                    "colsample_bytree": {"uniform": [0.3, 1.0]},
                    "min_child_weight": {"loguniform": [0.1, 50]},
                    "reg_alpha": {"loguniform": [0.0001, 10]},
                },
            }
        },
    ),
    "lightgbm": (
        False,
        lambda d: {
            "model": {
                "family": "lightgbm",
                "space": {
                    "n_estimators": {"quniform": [20, 300, 10]},
                    "num_leaves": {"quniform": [4, 96, 1]},
                    "learning_rate": {"loguniform": [0.005, 0.5]},
                    "min_child_samples": {"quniform": [2, 50, 1]},
                    "colsample_bytree": {"uniform": [0.3, 1.0]},
                    "reg_lambda": {"loguniform": [0.0001, 10]},
                },
            }
        },
    ),
    "random_forest": (
        True,
        lambda d: {
            "model": {
                "family": "random_forest",
                "space": {
                    "n_estimators": {"quniform": [10, 150, 10]},
                    "max_depth": {"quniform": [2, 20, 1]},
                    "min_samples_leaf": {"quniform": [1, 20, 1]},
                    "max_features": {"uniform": [0.1, 1.0]},
                },
            }
        },
    ),
    "mlp": (
        True,
        lambda d: {
            "model": {
                "family": "mlp",
                "params": {"max_iter": 200},
                "space": {
                    "hidden_layer_sizes": {"choice": [[16], [64], [128], [64, 32]]},
                    "alpha": {"loguniform": [0.00001, 1.0]},
                    "learning_rate_init": {"loguniform": [0.0001, 0.05]},
                },
            }
        },
    ),
    "model_selection": (
        True,
        lambda d: {
            "models": [
                {
                    "family": "ridge" if _regression(d) else "logistic_regression",
                    "space": {"alpha" if _regression(d) else "C": {"loguniform": [0.0001, 100]}},
                },
                {
                    "family": "random_forest",
                    "params": {"n_estimators": 60},
                    "space": {"max_depth": {"quniform": [2, 16, 1]}, "max_features": {"uniform": [0.1, 1.0]}},
                },
                {
                    "family": "xgboost",
                    "params": {"n_estimators": 100},
                    "space": {
                        "max_depth": {"quniform": [2, 8, 1]},
                        "learning_rate": {"loguniform": [0.01, 0.5]},
                    },
                },
            ]
        },
    ),
}


def _config(space: str, dataset: str, seed: int, budget: int, algo: str, tpe: dict | None):
    from hpo_plugin.fronts.experiment import load_experiment

    raw = {
        "name": f"quality_{space}_{dataset}",
        "data": {"dataset": dataset},
        **SPACES[space][1](dataset),
        "objective": {
            "metric": REGRESSION_METRIC if _regression(dataset) else CLASSIFICATION_METRIC,
            "validation": {"holdout": 0.25},
        },
        "search": {"algo": algo, "seed": seed, "max_evals": budget, "threads_per_trial": 1, "report": False},
    }
    if tpe is not None:
        raw["search"]["tpe"] = tpe
    path = Path(tempfile.mkdtemp()) / "quality.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_experiment(path)


def run_one(task: tuple[str, str, str, int, int]) -> list[float]:
    """The loss of every trial of one search, in order (inf for a failed trial)."""
    variant, space, dataset, seed, budget = task
    kind, algo, tpe = _variant(variant)
    if kind == "optuna":
        return _optuna(_config(space, dataset, seed, budget, "random", None), budget, algo)
    from hpo_plugin.executors.loop import minimize
    from hpo_plugin.search import prepare_search
    from hpo_plugin.space import decode

    registered = "tpe" if kind == "custom" else algo  # a candidate runs in place of the default
    raw_tpe = None if kind == "custom" else tpe
    prepared = prepare_search(_config(space, dataset, seed, budget, registered, raw_tpe))
    if kind == "custom":  # a candidate setting of our default: TPE settings (+ start points)
        prepared = _custom(prepared, algo, dict(tpe))
    losses: list[float] = []

    def on_trial(point, vals=None):
        try:
            loss = prepared.objective.evaluate(decode(point)).loss
        except Exception:
            losses.append(math.inf)
            return {"status": "fail"}
        losses.append(loss)
        return {"status": "ok", "loss": loss}

    minimize(prepared, on_trial)
    return losses


def _variant(name: str) -> tuple[str, str, dict | None]:
    """A named variant, or a candidate default written ``tpe[n_startup_jobs=8,gamma=0.15,start=1]``
    (``gp[start=1,n_startup=5]``: :class:`hpo_plugin.algorithms.gp.GaussianProcessSearch`)."""
    if name in VARIANTS:
        return VARIANTS[name]
    family, _, body = name.partition("[")
    items = [item.split("=") for item in body.removesuffix("]").split(",") if item]
    settings = {k: float(v) for k, v in items}
    return ("custom", family, settings)


def _custom(prepared, family: str, settings: dict):
    import dataclasses

    from hpo_plugin.algorithms.points import StartFrom
    from hpo_plugin.algorithms.tpe import HYPEROPT_TPE
    from hpo_plugin.models.startpoints import start_points

    start = settings.pop("start", 0)
    if family == "gp":
        from hpo_plugin.algorithms.gp import GaussianProcessSearch

        base = GaussianProcessSearch(prepared.config.space)
    else:
        base = HYPEROPT_TPE
    # Each setting takes the type of the field it sets (5.0 -> 5, 1.0 -> True).
    chosen = dataclasses.replace(base, **{k: type(getattr(base, k))(v) for k, v in settings.items()})
    suggest = chosen.suggest if family == "gp" else chosen.suggest()
    if start:
        points = start_points(prepared.config, prepared.dataset.task)
        suggest = StartFrom(list(points), suggest).suggest
    return dataclasses.replace(prepared, suggest=suggest)


def _optuna(config, budget: int, sampler: str = "") -> list[float]:
    """Optuna's default TPE (``sampler`` ""), or its GPSampler ("gp"), seeded with the search's seed."""
    import optuna

    from hpo_plugin.search import prepare_search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prepared = prepare_search(config)

    def objective(trial):
        return prepared.objective.evaluate(_suggest(trial, config.space)).loss

    samplers = {"": optuna.samplers.TPESampler, "gp": optuna.samplers.GPSampler}
    study = optuna.create_study(sampler=samplers[sampler](seed=config.search.seed))
    study.optimize(objective, n_trials=budget, catch=(Exception,))
    return [t.value if t.value is not None else math.inf for t in study.trials]


def _suggest(trial, space) -> dict:
    """The same params as ``decode`` gives for a hyperopt point, drawn by an Optuna trial
    (define-by-run: a choice's branch space is drawn only when the branch is taken)."""
    params: dict = {}
    for p in space:
        if p.kind == "choice":
            index = trial.suggest_categorical(p.label, list(range(len(p.options))))
            params[p.name] = p.options[index].value
            params.update(_suggest(trial, p.options[index].space))
            continue
        low, high = p.args[0], p.args[1]
        if p.kind == "quniform" and p.is_int:
            params[p.name] = trial.suggest_int(p.label, int(low), int(high), step=int(p.args[2]))
        else:
            params[p.name] = trial.suggest_float(p.label, low, high, log=p.kind == "loguniform")
    return params


def running_best(losses: list[float]) -> list[float]:
    out, best = [], math.inf
    for loss in losses:
        best = min(best, loss)
        out.append(best)
    return out


def trials_to_reach(losses: list[float], target: float) -> int | None:
    return next((i + 1 for i, b in enumerate(running_best(losses)) if b <= target), None)


def _fmt(values: list[float]) -> str:
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    digits = 2 if mean > 10 else 4
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


OURS, HYPEROPT, OPTUNA = "gp (ours, default)", "tpe (hyperopt defaults)", "optuna tpe (reference)"


def report(
    results: dict,
    variants: list[str],
    space: str,
    datasets: list[str],
    seeds: int,
    budget: int,
    ours: str = OURS,
) -> bool:
    """Print one space's table and its verdict; whether our default meets the issue's target there:
    at or below Optuna's TPE at every budget on 3 of 4 datasets (3/4 of those given), and at 30
    and 50 trials never worse than hyperopt's default TPE by more than one standard error (of the
    per-seed difference)."""
    budgets = [b for b in BUDGETS if b <= budget]
    held_out = " (held out)" if SPACES[space][0] else ""
    print(f"\n### space {space}{held_out}: seeds {seeds}, budget {budget}")
    print("mean ± std of the best validation loss")
    header = ["dataset", "algorithm", *[f"best@{b}" for b in budgets], f"trials to random's best@{budget}"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    wins = dict.fromkeys(budgets, 0)
    close = dict.fromkeys(budgets, 0)
    for dataset in datasets:
        runs = {v: [results[_key(v, space, dataset, s, budget)] for s in range(seeds)] for v in variants}
        best = {v: {b: [min(r[:b]) for r in runs[v]] for b in budgets} for v in variants}
        target = statistics.fmean(best["random"][budget]) if "random" in runs else None
        for v in variants:
            cells = [_fmt(best[v][b]) for b in budgets]
            if target is not None:
                reached = [trials_to_reach(r, target) for r in runs[v]]
                hit = [n for n in reached if n is not None]
                median = f"median {statistics.median(hit):g}" if hit else "never"
                cells.append(f"{median} ({len(hit)}/{seeds} seeds)")
            print(f"| {dataset} | {v} | " + " | ".join(cells) + " |")
        for b in budgets:
            if OPTUNA in best and statistics.fmean(best[ours][b]) <= statistics.fmean(best[OPTUNA][b]):
                wins[b] += 1
            if HYPEROPT in best:
                gaps = [o - h for o, h in zip(best[ours][b], best[HYPEROPT][b], strict=True)]
                error = statistics.stdev(gaps) / math.sqrt(len(gaps)) if len(gaps) > 1 else 0.0
                close[b] += statistics.fmean(gaps) <= error
    n = len(datasets)
    print(
        f"{ours} at or below Optuna's TPE: "
        + ", ".join(f"@{b}: {wins[b]}/{n}" for b in budgets)
        + "; not worse than hyperopt's default TPE by more than 1 SE: "
        + ", ".join(f"@{b}: {close[b]}/{n}" for b in budgets)
    )
    beats_optuna = all(wins[b] >= math.ceil(0.75 * n) for b in budgets)
    met = beats_optuna and all(close[b] == n for b in budgets if b >= 30)
    print(f"space {space}{held_out}: target {'met' if met else 'missed'}")
    return met


def _key(variant: str, space: str, dataset: str, seed: int, budget: int) -> str:
    kind, algo, tpe = _variant(variant)
    return json.dumps([kind, algo, tpe, space, dataset, seed, budget])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--spaces", nargs="*", default=list(SPACES), choices=list(SPACES))
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--variants", nargs="*", default=[OURS, HYPEROPT, "random", OPTUNA])
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--candidate", help="judge this variant (gp[start=1,n_startup=5]) in place of ours")
    args = parser.parse_args()
    ours = args.candidate or OURS
    variants = list(dict.fromkeys([*args.variants, ours]))
    try:
        import optuna  # noqa: F401
    except ImportError:
        variants = [v for v in variants if _variant(v)[0] != "optuna"]
    try:
        import torch  # noqa: F401  (Optuna's GPSampler)
    except ImportError:
        variants = [v for v in variants if _variant(v)[:2] != ("optuna", "gp")]
    cache = {} if args.fresh or not CACHE.exists() else json.loads(CACHE.read_text())
    tasks = [
        (v, space, d, s, args.budget)
        for space in args.spaces
        for d in args.datasets
        for v in variants
        for s in range(args.seeds)
        if _key(v, space, d, s, args.budget) not in cache
    ]
    print(f"{len(tasks)} searches to run ({len(cache)} cached)", file=sys.stderr)
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for task, losses in zip(tasks, pool.imap(run_one, tasks), strict=True):
            cache[_key(*task)] = losses
            CACHE.write_text(json.dumps(cache))
            print(f"  {task[0]} {task[1]} {task[2]} seed {task[3]}: {min(losses):.4f}", file=sys.stderr)
    met = {
        space: report(cache, variants, space, args.datasets, args.seeds, args.budget, ours)
        for space in args.spaces
    }
    tuning = [s for s in met if not SPACES[s][0]]
    held_out = [s for s in met if SPACES[s][0]]
    print(
        f"\nquality tuning_spaces_met {sum(met[s] for s in tuning)}/{len(tuning)} "
        f"held_out_spaces_met {sum(met[s] for s in held_out)}/{len(held_out)}"
    )


if __name__ == "__main__":
    main()
