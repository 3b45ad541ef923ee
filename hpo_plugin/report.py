"""Plots and one self-contained HTML page for a search, built from one query of its children
(:func:`~hpo_plugin.tracking.schema.load_trials`).

Parameter importance is the permutation importance of a random forest fitted to
(params -> loss) over the finished trials, on those same trials (a ranking, not a test score),
most important first. Params searched on a log scale (``loguniform``) are drawn on log axes.
"""

from __future__ import annotations

import base64
import html
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from hpo_plugin.space import log_scaled
from hpo_plugin.tracking.client import log_batch
from hpo_plugin.tracking.schema import (
    SPACE_PARAM_PREFIX,
    SearchTrials,
    best_params,
    completed,
    load_trials,
    pruned,
    tradeoffs_of,
)

REPORT_DIR = "report"
PLOTS = ("history", "parallel_coordinates", "params", "importance")
MIN_TRIALS_FOR_IMPORTANCE = 5


def importance(trials: SearchTrials, seed: int = 0) -> dict[str, float]:
    """Permutation importance of each param for the loss (empty with too few finished trials)."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    ok = completed(trials.frame)
    if len(ok) < MIN_TRIALS_FOR_IMPORTANCE or not trials.params:
        return {}
    X = _encode(ok, trials.params)
    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=seed, n_jobs=1)
    forest.fit(X, ok["loss"])
    result = permutation_importance(forest, X, ok["loss"], n_repeats=5, random_state=seed, n_jobs=1)
    raw = dict(zip(X.columns, np.maximum(result.importances_mean, 0.0), strict=True))
    total = sum(raw.values()) or 1.0
    return {name: raw[name] / total for name in sorted(trials.params, key=lambda n: -raw[n])}


def log_params(trials: SearchTrials) -> set[str]:
    """The params the search drew on a log scale, as its parent run recorded its space."""
    return {
        key.removeprefix(SPACE_PARAM_PREFIX)
        for key, description in trials.parent.data.params.items()
        if key.startswith(SPACE_PARAM_PREFIX) and log_scaled(description)
    }


def _encode(frame: pd.DataFrame, params: tuple[str, ...]) -> pd.DataFrame:
    """Params as numbers: categories become codes, params absent from a branch become -1."""
    columns = {}
    for name in params:
        values = frame[f"param_{name}"]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().sum() == values.notna().sum():
            columns[name] = numeric.fillna(-1.0)
        else:
            columns[name] = values.map(str).astype("category").cat.codes.astype(float)
    return pd.DataFrame(columns, index=frame.index)


def build_report(trials: SearchTrials, out_dir: Path) -> dict[str, float]:
    """Write the PNGs and index.html into out_dir; return the importances."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = importance(trials)
    figures = {
        "history": _history,
        "parallel_coordinates": _parallel,
        "params": _params,
        "importance": lambda t: _importance_plot(scores),
    }
    if pareto_axes(trials):
        figures["pareto"] = _pareto
    for name, draw in figures.items():
        figure = draw(trials)
        figure.savefig(out_dir / f"{name}.png", dpi=90, bbox_inches="tight")
        _close(figure)
    (out_dir / "index.html").write_text(_html(trials, scores, out_dir))
    return scores


def _close(figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


def _history(trials: SearchTrials):
    import matplotlib.pyplot as plt

    frame = trials.frame
    figure, ax = plt.subplots(figsize=(8, 4))
    ok = completed(frame)
    ax.scatter(ok["number"], ok["loss"], s=14, label="trial loss")
    # With constraints, the best so far is among the trials that met them (what can win).
    judged = "feasible" in ok and tradeoffs_of(trials.parent.data.tags).constraints
    best = (ok["loss"].where(ok["feasible"].eq(True)) if judged else ok["loss"]).cummin().ffill()
    label = "best feasible so far" if judged else "best so far"
    ax.step(ok["number"], best, where="post", color="tab:orange", label=label)
    stopped = frame[pruned(frame) & np.isfinite(frame["loss"])]
    if len(stopped):
        ax.scatter(stopped["number"], stopped["loss"], s=14, marker="v", color="tab:gray", label="pruned")
    failed = frame[frame["status"] != "FINISHED"]
    if len(failed):
        top = ok["loss"].max() if len(ok) else 1.0
        ax.scatter(failed["number"], [top] * len(failed), marker="x", color="tab:red", label="failed/killed")
    ax.set_xlabel("trial")
    ax.set_ylabel("loss")
    ax.set_title("Optimization history")
    ax.legend()
    return figure


def _parallel(trials: SearchTrials):
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    ok = completed(trials.frame)
    figure, ax = plt.subplots(figsize=(max(6, 1.4 * len(trials.params) + 2), 4))
    if len(ok) and trials.params:
        X = _encode(ok, trials.params)
        logs = [name for name in log_params(trials) if name in X and (X[name] > 0).all()]
        X[logs] = np.log10(X[logs])
        span = (X.max() - X.min()).replace(0, 1)
        scaled = (X - X.min()) / span
        norm = plt.Normalize(ok["loss"].min(), ok["loss"].max())
        cmap = plt.get_cmap("viridis")
        # One collection of every trial's line (one artist, not one per trial: 10,000 trials draw
        # in a second), the best drawn last, on top.
        order = np.argsort(-ok["loss"].to_numpy(), kind="stable")
        axis = np.arange(len(trials.params), dtype=float)
        lines = [np.column_stack([axis, row]) for row in scaled.to_numpy(dtype=float)[order]]
        colors = cmap(norm(ok["loss"].to_numpy()[order]))
        ax.add_collection(LineCollection(lines, colors=colors, alpha=0.6))
        ax.set_xlim(-0.05 * max(len(axis) - 1, 1), (len(axis) - 1) + 0.05 * max(len(axis) - 1, 1))
        ax.set_ylim(-0.05, 1.05)
        labels = [f"{name} (log)" if name in logs else name for name in trials.params]
        ax.set_xticks(range(len(trials.params)), labels, rotation=30, ha="right")
        figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="loss")
    ax.set_ylabel("scaled value")
    ax.set_title("Parallel coordinates (darker = lower loss)")
    return figure


def _params(trials: SearchTrials):
    import matplotlib.pyplot as plt

    names = trials.params or ("(none)",)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    figure, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    ok = completed(trials.frame)
    logs = log_params(trials)
    for ax, name in zip(axes.flat, names, strict=False):
        if f"param_{name}" in ok:
            values = ok[f"param_{name}"]
            present = values.notna()  # a param of one branch is absent from the others
            x = pd.to_numeric(values[present], errors="coerce")
            numeric = x.notna().all()
            ax.scatter(x if numeric else values[present].map(str), ok["loss"][present], s=12)
            if name in logs and numeric and len(x) and (x > 0).all():
                ax.set_xscale("log")
        ax.set_title(name)
        ax.set_ylabel("loss")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    figure.tight_layout()
    return figure


def _importance_plot(scores: dict[str, float]):
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6, 0.4 * max(len(scores), 2) + 1))
    ordered = sorted(scores.items(), key=lambda kv: kv[1])
    ax.barh([k for k, _ in ordered], [v for _, v in ordered])
    ax.set_xlabel("share of permutation importance")
    ax.set_title(
        "Parameter importance" if scores else f"Importance needs {MIN_TRIALS_FOR_IMPORTANCE}+ trials"
    )
    return figure


def pareto_axes(trials: SearchTrials) -> list[tuple[str, str]]:
    """(column, label) of what a search with trade-offs plots against each other: the loss and
    each further objective, or, with constraints alone, the loss and each constrained metric."""
    tradeoffs = tradeoffs_of(trials.parent.data.tags)
    if not tradeoffs.active or not len(trials.frame):
        return []
    names = [g.name for g in tradeoffs.also] or [b.name for b in tradeoffs.constraints]
    return [("loss", "loss")] + [(f"metric_{n}", n) for n in names if f"metric_{n}" in trials.frame]


def _pareto(trials: SearchTrials):
    """Every judged trial in objective space (infeasible ones grey), the front in orange and,
    for two objectives, joined as a staircase; more objectives: every pair."""
    import matplotlib.pyplot as plt

    axes_of = pareto_axes(trials)
    frame = completed(trials.frame)
    frame = frame[frame[[c for c, _ in axes_of]].notna().all(axis=1)]
    pairs = [(a, b) for i, a in enumerate(axes_of) for b in axes_of[i + 1 :]]
    figure, grid = plt.subplots(1, len(pairs), figsize=(6 * len(pairs), 4.5), squeeze=False)
    feasible = frame["feasible"].ne(False) if "feasible" in frame else pd.Series(True, index=frame.index)
    front = frame["pareto"].eq(True) if "pareto" in frame else pd.Series(False, index=frame.index)
    bounds = {b.name: b for b in tradeoffs_of(trials.parent.data.tags).constraints}
    for ax, ((x, x_label), (y, y_label)) in zip(grid[0], pairs, strict=True):
        ax.scatter(frame.loc[feasible, x], frame.loc[feasible, y], s=14, color="tab:blue", label="feasible")
        if (~feasible).any():
            ax.scatter(
                frame.loc[~feasible, x],
                frame.loc[~feasible, y],
                s=14,
                marker="x",
                color="tab:gray",
                label="infeasible",
            )
        on = frame[front].sort_values(x)
        ax.scatter(on[x], on[y], s=40, color="tab:orange", edgecolor="black", label="Pareto front", zorder=3)
        if len(pairs) == 1 and len(on) > 1:
            ax.step(on[x], on[y], where="post", color="tab:orange")
        for label, draw in ((x_label, ax.axvline), (y_label, ax.axhline)):
            if (bound := bounds.get(label)) is not None:
                for value in (bound.high, bound.low):
                    if value is not None:
                        draw(value, color="tab:red", linestyle="--", linewidth=1)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.legend(fontsize=8)
    figure.suptitle("Trade-offs: the Pareto front")
    return figure


def _html(trials: SearchTrials, scores: dict[str, float], out_dir: Path) -> str:
    parent = trials.parent
    best = best_params(parent)
    tests = {k: v for k, v in parent.data.metrics.items() if k.startswith(("test_", "best_val_"))}

    def cell(value) -> str:
        return html.escape(f"{value:.6g}" if isinstance(value, float) else str(value))

    def table(mapping) -> str:
        rows = "".join(f"<tr><td>{cell(k)}</td><td>{cell(v)}</td></tr>" for k, v in mapping.items())
        return f"<table>{rows}</table>"

    images = "".join(
        f'<h2>{name.replace("_", " ").title()}</h2><img alt="{name}" src="data:image/png;base64,'
        f'{base64.b64encode((out_dir / f"{name}.png").read_bytes()).decode()}">'
        for name in (*PLOTS, "pareto")
        if (out_dir / f"{name}.png").exists()
    )
    frame = trials.frame
    status = frame["status"].where(~pruned(frame), "PRUNED") if len(frame) else frame
    counts = status.value_counts().to_dict() if len(frame) else {}
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(parent.info.run_name or parent.info.run_id)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:2px 12px}img{max-width:100%}</style>"
        f"</head><body><h1>{html.escape(parent.info.run_name or '')}</h1>"
        f"<p>Search run {parent.info.run_id}: {len(trials.frame)} trials {html.escape(str(counts))}</p>"
        f"<h2>Best trial's params</h2>{table(best)}<h2>Validation and test metrics</h2>{table(tests)}"
        f"<h2>Importance</h2>{table(scores)}{images}</body></html>"
    )


def log_report(client: MlflowClient, parent_run_id: str) -> dict[str, float]:
    """Build the report from MLflow and log it under ``report/`` plus ``importance_*`` metrics."""
    trials = load_trials(client, parent_run_id)
    with tempfile.TemporaryDirectory() as tmp:
        scores = build_report(trials, Path(tmp) / REPORT_DIR)
        client.log_artifacts(parent_run_id, str(Path(tmp) / REPORT_DIR), REPORT_DIR)
    if scores:
        log_batch(client, parent_run_id, metrics={f"importance_{k}": v for k, v in scores.items()})
    return scores
