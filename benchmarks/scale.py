"""Scale: a 1,000-trial search with a fast objective, end to end, and how its bookkeeping grows.

Per trial, bookkeeping is the search's own time around the trial (hyperopt's ``suggest`` plus
fmin's loop and handing the trial to the writer: the gap between one trial's end and the
next one's start) and the trial writer's time on its MLflow writes (create the child run, log
params, metrics and model, end it), measured in the writer. Printed as medians over the 50
trials ending at trial 100 and at trial 1,000, and their ratio.

Memory (Linux ``/proc``): the resident set of the search process and of the trial writer at
trial 100 and at the end, their peaks (``VmHWM``), and the peak of ``hpo report`` run on the
finished search in a process of its own.

The reference row (when ``optuna`` and ``optuna-integration`` are installed; neither is a
dependency of hpo_plugin): Optuna's default TPE over the same objective and space, with its
``MLflowCallback`` logging each trial as a nested run of one parent (params and value, no
model), into a sqlite store of its own, in the same run.

    .venv/bin/python benchmarks/scale.py --trials 1000
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow

from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.search import prepare as prepare_module
from hpo_plugin.search import prepare_search, run_search

ROOT = Path(__file__).resolve().parent.parent


def optuna_reference(prepared, trials: int, tracking_uri: str) -> float:
    """Seconds for Optuna + MLflowCallback to run ``trials`` trials of ``prepared``'s objective."""
    import optuna
    from optuna_integration.mlflow import MLflowCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = prepared.config.space

    def objective(trial) -> float:
        params = {}
        for p in space:
            if p.options:
                values = [o.value for o in p.options]
                params[p.name] = values[trial.suggest_categorical(p.name, list(range(len(values))))]
            else:
                params[p.name] = trial.suggest_float(p.name, p.args[0], p.args[1], log=p.kind == "loguniform")
        return prepared.objective.evaluate(params).loss

    mlflow.set_tracking_uri(tracking_uri)
    callback = MLflowCallback(tracking_uri=tracking_uri, metric_name="loss", mlflow_kwargs={"nested": True})
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    started = time.perf_counter()
    with mlflow.start_run(run_name="optuna-parent"):
        study.optimize(objective, n_trials=trials, callbacks=[callback])
    return time.perf_counter() - started


def memory_mb(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {"rss": int(fields["VmRSS"].split()[0]) / 1024, "peak": int(fields["VmHWM"].split()[0]) / 1024}


def writer_pid() -> int | None:
    """The trial writer: this process's child running ``tracking.writer``."""
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for pid in (task / "children").read_text().split():
            if b"tracking.writer" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return int(pid)
    return None


def memory_now() -> dict[str, dict[str, float]]:
    found = {"search": memory_mb(os.getpid())}
    if (pid := writer_pid()) is not None:
        found["writer"] = {**memory_mb(pid), "cpu_s": cpu_s(pid)}
    return found


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hpo_command(*args: str) -> tuple[float, float]:
    """Seconds and peak resident memory (MB) of ``hpo ARGS...`` in a process of its own."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "hpo_plugin", *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, f"hpo {args[0]} exited {process.returncode}"
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--algo", default="tpe")
    parser.add_argument("--no-reference", action="store_true", help="leave the Optuna row out")
    args = parser.parse_args()
    suggest_s: list[float] = []
    at_100: dict[str, dict[str, float]] = {}
    real_build = prepare_module.build_algorithm

    def timed_build(name, spec):
        suggest = real_build(name, spec)

        def timed(*a, **k):
            started = time.perf_counter()
            docs = suggest(*a, **k)
            suggest_s.append(time.perf_counter() - started)
            if len(suggest_s) == 100:
                at_100.update(memory_now())
            return docs

        return timed

    prepare_module.build_algorithm = timed_build
    overrides = {
        "search.max_evals": args.trials,
        "search.algo": args.algo,
        "search.report": False,
        "register.enabled": False,
        "search.threads_per_trial": 1,
    }
    # A fast objective: logistic regression on the bundled iris data (a few ms per trial).
    config = load_experiment(ROOT / "experiments" / "logistic_regression_digits.yaml", overrides)
    config = config.model_copy(update={"data": config.data.model_copy(update={"dataset": "iris"})})
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        started, cpu_before = time.perf_counter(), cpu_s(os.getpid())
        result = run_search(config)
        search_cpu = cpu_s(os.getpid()) - cpu_before
        elapsed = time.perf_counter() - started
        at_end = memory_now()
        os.environ["MLFLOW_TRACKING_URI"] = mlflow.get_tracking_uri()
        report_s, report_mb = hpo_command("report", result.parent_run_id)
        show_s, show_mb = hpo_command("show", result.parent_run_id)
        # Resume the finished search for 10 more trials: its history is read back from MLflow.
        started = time.perf_counter()
        more = config.model_copy(
            update={"search": config.search.model_copy(update={"max_evals": args.trials + 10})}
        )
        resumed = run_search(more, resume=result.parent_run_id)
        resume_s = time.perf_counter() - started
    records = sorted(result.records, key=lambda r: r.number)
    gaps = [(b.start_ms - a.end_ms) / 1000 for a, b in itertools.pairwise(records)]
    print(f"trials {len(records)} ok {result.n_ok} elapsed_s {elapsed:.1f} (search and writer drain)")

    def at(n: int) -> dict[str, float]:
        window = slice(max(0, n - 50), n)
        return {
            "suggest_ms": 1000 * statistics.median(suggest_s[window]),
            "search_side_ms": 1000 * statistics.median(gaps[max(0, n - 51) : n - 1]),
            "writer_ms": 1000 * statistics.median(r.write_s for r in records[window]),
        }

    first, last = at(100), at(len(records))
    for n, figures in ((100, first), (len(records), last)):
        total = figures["search_side_ms"] + figures["writer_ms"]
        print(
            f"at trial {n}: "
            + " ".join(f"{k} {v:.1f}" for k, v in figures.items())
            + f" total_ms {total:.1f}"
        )
    ratio = (last["search_side_ms"] + last["writer_ms"]) / (first["search_side_ms"] + first["writer_ms"])
    print(f"bookkeeping_ratio_{len(records)}_vs_100 {ratio:.2f}")
    for name in ("search", "writer"):
        if name in at_end:
            print(
                f"memory {name}: rss_mb at trial 100 {at_100.get(name, {}).get('rss', float('nan')):.0f}, "
                f"at the end {at_end[name]['rss']:.0f}; peak_rss_mb {at_end[name]['peak']:.0f}"
            )
    print(f"memory hpo report: peak_rss_mb {report_mb:.0f}")
    print(
        f"after the search: hpo report {report_s:.1f} s, peak_rss_mb {report_mb:.0f}; "
        f"hpo show {show_s:.1f} s, peak_rss_mb {show_mb:.0f}; "
        f"resume +10 trials {resume_s:.1f} s ({len(resumed.records)} trials)"
    )
    # Both processes share this machine's cores: their CPU time over the cores bounds the search.
    writer_cpu = at_end.get("writer", {}).get("cpu_s", float("nan"))
    print(
        f"cpu_s search {search_cpu:.1f} writer {writer_cpu:.1f} (since its start, imports included) "
        f"over {os.cpu_count()} cores: at least {(search_cpu + writer_cpu) / os.cpu_count():.1f} s"
    )
    if args.no_reference:
        print("optuna_reference: skipped (--no-reference)")
        return
    try:
        import optuna_integration  # noqa: F401
    except ImportError:
        print("optuna_reference: skipped (pip install optuna optuna-integration)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        seconds = optuna_reference(prepare_search(config), args.trials, f"sqlite:///{tmp}/optuna.db")
    print(f"optuna_reference trials {args.trials} elapsed_s {seconds:.1f} (TPE + MLflowCallback, no model)")


if __name__ == "__main__":
    main()
