"""Search quality: the best validation loss each algorithm reaches for a given budget.

For each dataset (the XGBoost space of the shipped experiments), algorithm and seed, one
search of ``--budget`` trials runs bare (no MLflow: the loss sequence is what is compared).
Smaller budgets are read off the same sequences (a search's first k trials do not depend on
the budget). Prints, per dataset and budget, the mean and standard deviation over seeds of
the best loss, the trials each algorithm needs to reach random search's mean best-of-budget,
and what early stopping would save at equal final loss.

    .venv/bin/python benchmarks/search_quality.py --seeds 10 --budget 50 --jobs 2

Optuna's default TPE sampler is added as a reference row when optuna is installed (it is not a
dependency). Results are cached in ``benchmarks/.quality_cache.json`` so variants can be added
without recomputing the rest; ``--fresh`` ignores the cache.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("HPO_QUALITY_CACHE", Path(__file__).resolve().parent / ".quality_cache.json"))
DATASETS = {
    "breast_cancer": "xgboost_breast_cancer.yaml",
    "wine": "xgboost_breast_cancer.yaml",
    "digits": "xgboost_breast_cancer.yaml",
    "diabetes": "xgboost_diabetes.yaml",
}
BUDGETS = (15, 30, 50)
# name -> how its searches are built: ("algo", registry name, raw TPE settings or None)
VARIANTS = {
    "tpe (ours, default)": ("algo", "tpe", None),
    "tpe (hyperopt defaults)": ("algo", "tpe", {}),
    "random": ("algo", "random", None),
    "anneal": ("algo", "anneal", None),
    "atpe": ("algo", "atpe", None),
    "optuna tpe (reference)": ("optuna", "", None),
}


def _config(dataset: str, seed: int, budget: int, algo: str, tpe: dict | None):
    from hpo_plugin.config import load_experiment

    overrides = {"data.dataset": dataset, "search.seed": seed, "search.max_evals": budget}
    overrides.update({"search.algo": algo, "search.threads_per_trial": 1, "search.report": False})
    if tpe is not None:
        overrides["search.tpe"] = tpe
    return load_experiment(ROOT / "experiments" / DATASETS[dataset], overrides)


def run_one(task: tuple[str, str, int, int]) -> list[float]:
    """The loss of every trial of one search, in order (inf for a failed trial)."""
    variant, dataset, seed, budget = task
    kind, algo, tpe = _variant(variant)
    if kind == "optuna":
        return _optuna(_config(dataset, seed, budget, "random", None), budget)
    from hpo_plugin.executors.loop import minimize
    from hpo_plugin.search import prepare_search
    from hpo_plugin.space import decode

    prepared = prepare_search(_config(dataset, seed, budget, algo, None if kind == "custom" else tpe))
    if kind == "custom":  # a candidate setting of our default: TPE settings (+ start points)
        prepared = _custom(prepared, dict(tpe))
    losses: list[float] = []

    def on_trial(point):
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
    """A named variant, or a candidate default written ``tpe[n_startup_jobs=8,gamma=0.15,start=1]``."""
    if name in VARIANTS:
        return VARIANTS[name]
    body = name.removeprefix("tpe[").removesuffix("]")
    settings = {k: float(v) for k, v in (item.split("=") for item in body.split(","))}
    return ("custom", "tpe", settings)


def _custom(prepared, settings: dict):
    import dataclasses

    from hpo_plugin.algorithms.points import StartFrom
    from hpo_plugin.algorithms.tpe import HYPEROPT_TPE
    from hpo_plugin.objectives.startpoints import start_points

    start = settings.pop("start", 0)
    fields = {k: type(getattr(HYPEROPT_TPE, k))(v) for k, v in settings.items()}
    suggest = dataclasses.replace(HYPEROPT_TPE, **fields).suggest()
    if start:
        points = start_points(prepared.config, prepared.dataset.task)
        suggest = StartFrom(list(points), suggest).suggest
    return dataclasses.replace(prepared, suggest=suggest)


def _optuna(config, budget: int) -> list[float]:
    import optuna

    from hpo_plugin.search import prepare_search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prepared = prepare_search(config)
    space = config.space

    def objective(trial):
        params = {}
        for p in space:
            low, high = p.args[0], p.args[1]
            if p.kind == "quniform" and p.is_int:
                params[p.name] = trial.suggest_int(p.name, int(low), int(high), step=int(p.args[2]))
            else:
                params[p.name] = trial.suggest_float(p.name, low, high, log=p.kind == "loguniform")
        return prepared.objective.evaluate(params).loss

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=config.search.seed))
    study.optimize(objective, n_trials=budget, catch=(Exception,))
    return [t.value if t.value is not None else math.inf for t in study.trials]


def running_best(losses: list[float]) -> list[float]:
    out, best = [], math.inf
    for loss in losses:
        best = min(best, loss)
        out.append(best)
    return out


def trials_to_reach(losses: list[float], target: float) -> int | None:
    return next((i + 1 for i, b in enumerate(running_best(losses)) if b <= target), None)


def early_stop_at(losses: list[float], patience: int) -> int:
    """The trial count at which 'no improvement in ``patience`` trials' stops the search."""
    best, since = math.inf, 0
    for i, loss in enumerate(losses):
        if loss < best:
            best, since = loss, 0
        else:
            since += 1
        if since >= patience:
            return i + 1
    return len(losses)


def _fmt(values: list[float]) -> str:
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    digits = 2 if mean > 10 else 4
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def report(results: dict, variants: list[str], datasets: list[str], seeds: int, budget: int) -> None:
    budgets = [b for b in BUDGETS if b <= budget]
    print(f"seeds {seeds}, budget {budget}; mean ± std of the best validation loss")
    header = ["dataset", "algorithm", *[f"best@{b}" for b in budgets], f"trials to random's best@{budget}"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    wins: dict[str, dict[int, int]] = {v: dict.fromkeys(budgets, 0) for v in variants}
    for dataset in datasets:
        runs = {v: [results[_key(v, dataset, s, budget)] for s in range(seeds)] for v in variants}
        means = {v: {b: statistics.fmean(min(r[:b]) for r in runs[v]) for b in budgets} for v in variants}
        target = means["random"][budget] if "random" in runs else None
        for v in variants:
            cells = [_fmt([min(r[:b]) for r in runs[v]]) for b in budgets]
            if target is not None:
                reached = [trials_to_reach(r, target) for r in runs[v]]
                hit = [n for n in reached if n is not None]
                median = f"median {statistics.median(hit):g}" if hit else "never"
                cells.append(f"{median} ({len(hit)}/{seeds} seeds)")
            print(f"| {dataset} | {v} | " + " | ".join(cells) + " |")
        ref = "optuna tpe (reference)"
        for v in variants:
            for b in budgets:
                if ref in means and means[v][b] <= means[ref][b]:
                    wins[v][b] += 1
    if "optuna tpe (reference)" in variants:
        print("\ndatasets where the mean best loss is at or below Optuna's default TPE:")
        for v in variants:
            print(f"  {v}: " + ", ".join(f"@{b}: {wins[v][b]}/{len(datasets)}" for b in budgets))
    print("\nearly stopping (no improvement in N trials), tpe (ours, default):")
    v = "tpe (ours, default)"
    if v in variants:
        for patience in (10, 15, 20):
            saved, worse = [], []
            for dataset in datasets:
                for s in range(seeds):
                    r = results[_key(v, dataset, s, budget)]
                    stop = early_stop_at(r, patience)
                    saved.append(len(r) - stop)
                    worse.append(min(r[:stop]) > min(r))
            print(
                f"  patience {patience}: {statistics.fmean(saved):.1f} of {budget} trials saved on average; "
                f"final loss worse in {sum(worse)}/{len(worse)} searches"
            )


def _key(variant: str, dataset: str, seed: int, budget: int) -> str:
    kind, algo, tpe = _variant(variant)
    return json.dumps([kind, algo, tpe, dataset, seed, budget])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--order", choices=("dataset", "variant"), default="dataset")
    args = parser.parse_args()
    variants = list(args.variants)
    try:
        import optuna  # noqa: F401
    except ImportError:
        variants = [v for v in variants if _variant(v)[0] != "optuna"]
    cache = {} if args.fresh or not CACHE.exists() else json.loads(CACHE.read_text())
    tasks = [
        (v, d, s, args.budget)
        for d in args.datasets
        for v in variants
        for s in range(args.seeds)
        if _key(v, d, s, args.budget) not in cache
    ]
    if args.order == "variant":
        tasks.sort(key=lambda t: (variants.index(t[0]), t[2]))
    print(f"{len(tasks)} searches to run ({len(cache)} cached)", file=sys.stderr)
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for task, losses in zip(tasks, pool.imap(run_one, tasks), strict=True):
            cache[_key(*task)] = losses
            CACHE.write_text(json.dumps(cache))
            print(f"  {task[0]} {task[1]} seed {task[2]}: {min(losses):.4f}", file=sys.stderr)
    report(cache, variants, args.datasets, args.seeds, args.budget)


if __name__ == "__main__":
    main()
