"""Chaos figures: SIGKILLs at random points with resume, signals, concurrency, bad inputs, and
a fault matrix of trials whose code misbehaves under every executor.

    python benchmarks/chaos.py [--searches 6] [--kills-per-search 5] [--seed 0] [--only-faults]

Every search is a real `python -m hpo_plugin search` process against one sqlite file; kills
land anywhere (data loading, trials, the writer's model logging, the final refit, registration).
After each kill the search is resumed (or, if it had finished, its registration repaired with
`hpo register`). Prints one line per figure.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_bad_input import CASES, CSV_CASES

BASE = {
    "data": {"dataset": "breast_cancer"},
    "model": {
        "family": "xgboost",
        "params": {"n_estimators": 150},
        "space": {"max_depth": {"quniform": [2, 5, 1]}, "learning_rate": {"loguniform": [0.05, 0.3]}},
    },
    "objective": {"metric": "log_loss"},
    "search": {"algo": "tpe", "max_evals": 8, "report": False},
    "register": {"model_name": "chaos"},
}


def hpo(*args: str, env: dict, wait: bool = True):
    cmd = [sys.executable, "-m", "hpo_plugin", *args]
    if wait:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def parents(client: MlflowClient, name: str) -> list:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], max_results=5000)
    return [r for r in runs if r.data.tags.get("hpo.role") == "search"]


def children(client: MlflowClient, parent) -> list:
    query = f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    return client.search_runs([parent.info.experiment_id], query, max_results=5000)


def settle(client: MlflowClient, name: str, timeout: float = 20) -> list:
    deadline = time.time() + timeout
    while (found := parents(client, name)) and found[0].info.status == "RUNNING" and time.time() < deadline:
        time.sleep(0.5)
    return found


def kill_and_resume(args, tmp: Path, env: dict, client: MlflowClient, rng: random.Random) -> dict:
    figures = {"kills": 0, "lost": 0, "re_executed": 0, "running": 0, "short": 0, "versions_wrong": 0}
    for i in range(args.searches):
        name = f"chaos{i}"
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"name": name, **BASE, "search": {**BASE["search"], "seed": i}}))
        seen_finished: set[str] = set()
        parent_id = None
        for _ in range(args.kills_per_search):
            resume = ["--resume", parent_id] if parent_id else []
            proc = hpo("search", str(path), *resume, env=env, wait=False)
            time.sleep(rng.uniform(1.0, 9.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            figures["kills"] += 1
            found = settle(client, name)
            if not found:
                continue
            parent = found[0]
            parent_id = parent.info.run_id
            seen_finished |= {c.info.run_id for c in children(client, parent) if c.info.status == "FINISHED"}
            if parent.info.status == "FINISHED":
                hpo("register", "--run", parent_id, env=env)  # repair a registration the kill cut
                break
        if parent_id is None or parents(client, name)[0].info.status != "FINISHED":
            done = hpo("search", str(path), *(["--resume", parent_id] if parent_id else []), env=env)
            assert done.returncode == 0, done.stderr[-2000:]
        hpo("register", "--run", parents(client, name)[0].info.run_id, env=env)
        (parent,) = parents(client, name)
        final = children(client, parent)
        finished = {c.info.run_id for c in final if c.info.status == "FINISHED"}
        figures["lost"] += len(seen_finished - finished)
        figures["re_executed"] += max(0, len(finished) - BASE["search"]["max_evals"])
        figures["short"] += max(0, BASE["search"]["max_evals"] - len(finished))
        figures["running"] += sum(r.info.status == "RUNNING" for r in [parent, *final])
        versions = [
            v
            for v in client.search_model_versions("name='chaos'")
            if v.tags.get("hpo.search_id") == parent.info.run_id
        ]
        figures["versions_wrong"] += len(versions) != 1
    return figures


def signals(tmp: Path, env: dict, client: MlflowClient) -> dict[str, str]:
    outcome = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        name = f"signal_{sig.name.lower()}"
        path = tmp / f"{name}.yaml"
        config = {
            "name": name,
            **BASE,
            "search": {**BASE["search"], "max_evals": 300},  # still running when the signal comes
            "register": {"enabled": False},
        }
        path.write_text(yaml.safe_dump(config))
        proc = hpo("search", str(path), env=env, wait=False)
        deadline = time.time() + 120
        while not (found := parents(client, name)) or not children(client, found[0]):
            assert time.time() < deadline
            time.sleep(0.3)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        (parent,) = parents(client, name)
        statuses = sorted({c.info.status for c in children(client, parent)})
        outcome[sig.name] = (
            f"exit {proc.returncode}, parent {parent.info.status}, trials {'/'.join(statuses)}"
        )
    name = "objective_exception"
    failing = {
        **BASE["model"],
        "family": "logistic_regression",
        "params": {"penalty": "l1"},
        "space": {"solver": {"choice": ["lbfgs", "liblinear"]}, "C": {"loguniform": [0.1, 10]}},
    }
    config = {"name": name, **BASE, "model": failing, "register": {"enabled": False}}
    (tmp / f"{name}.yaml").write_text(yaml.safe_dump(config))
    done = hpo("search", str(tmp / f"{name}.yaml"), env=env)
    (parent,) = parents(client, name)
    statuses = {c.info.status for c in children(client, parent)}
    outcome["objective_exception"] = (
        f"exit {done.returncode}, parent {parent.info.status}, trials {'/'.join(sorted(statuses))}"
    )
    return outcome


def concurrent(tmp: Path) -> dict:
    uri = f"sqlite:///{tmp / 'concurrent' / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    path = tmp / "together.yaml"
    config = {
        "name": "together",
        **BASE,
        "search": {**BASE["search"], "algo": "random", "max_evals": 3},
        "register": {"enabled": False},
    }
    path.write_text(yaml.safe_dump(config))
    procs = [hpo("search", str(path), "--seed", str(s), env=env, wait=False) for s in range(8)]
    codes = [p.wait(timeout=900) for p in procs]
    client = MlflowClient(uri)
    found = parents(client, "together")
    numbers = [sorted(c.data.tags["hpo.trial_number"] for c in children(client, p)) for p in found]
    lost = sum(max(0, 3 - len(n)) for n in numbers) + 3 * (8 - len(found))
    duplicates = sum(len(n) - len(set(n)) for n in numbers)
    experiments = sum(e.name == "together" for e in client.search_experiments())
    return {
        "exit_nonzero": sum(c != 0 for c in codes),
        "lost": lost,
        "duplicates": duplicates,
        "experiments": experiments,
    }


def bad_inputs(tmp: Path, env: dict, client: MlflowClient) -> dict:
    folder = tmp / "bad"
    folder.mkdir()
    for name, content in CSV_CASES.items():
        (folder / name).write_text(content)
    tracebacks = wrong_exit = 0
    for i, (text, args, _) in enumerate(CASES):
        path = folder / f"case{i}.yaml"
        path.write_text(text if text is not None else yaml.safe_dump({"name": "bad", **BASE}))
        done = hpo("search", str(path), *args, env=env)
        tracebacks += "Traceback" in done.stderr
        wrong_exit += done.returncode != 2
    running = sum(
        r.info.status == "RUNNING"
        for e in client.search_experiments()
        for r in client.search_runs([e.experiment_id])
    )
    return {"tried": len(CASES), "tracebacks": tracebacks, "wrong_exit": wrong_exit, "running": running}


FAULTY = """
import os
import signal
import time


def objective(params):
    x = params["x"]
    if x < 0.15:  # two of the six trials: x = 0.0 and 0.1
        fault = {fault!r}
        if fault == "raise":
            raise RuntimeError("a bug in the trial")
        if fault == "nan":
            return float("nan")
        if fault == "system_exit":
            raise SystemExit(2)
        if fault == "keyboard_interrupt":
            raise KeyboardInterrupt
        if fault == "os_exit":
            os._exit(1)
        if fault == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if fault == "hang":
            time.sleep(3600)
        if fault == "memory":
            block = b"1" * (1500 * 2**20)
            time.sleep(30)
            return len(block)
    time.sleep(0.1)
    return (x - 0.3) ** 2


def healthy(params):
    return (params["x"] - 0.3) ** 2
"""
FAULTS = ("raise", "nan", "system_exit", "keyboard_interrupt", "os_exit", "sigkill", "hang", "memory")
LIMITS = {"hang": {"trial_timeout": 3}, "memory": {"trial_memory_mb": 700}}
EXECUTORS = {
    "sequential": {"name": "sequential"},
    "local": {"name": "local", "parallelism": 2},
    "spark": {"name": "spark", "spark_master": "local[2]"},
}
N_TRIALS = 6


def fault_case(tmp: Path, env: dict, client: MlflowClient, fault: str, executor: str) -> dict:
    """One search of six trials, two of them faulty; resumed (with a healthy function) if the
    fault took the search process with it. What MLflow holds afterwards."""
    name = f"fault_{fault}_{executor}"
    folder = tmp / name
    folder.mkdir()
    (folder / "faulty.py").write_text(FAULTY.replace("{fault!r}", repr(fault)))
    raw = {
        "name": name,
        "space": {"x": {"quniform": [0, 0.5, 0.1]}},
        "objective": {"function": "faulty.py:objective"},
        "search": {"algo": "grid", "max_evals": N_TRIALS, "report": False, **LIMITS.get(fault, {})},
        "executor": EXECUTORS[executor],
        "register": {"enabled": False},
    }
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = hpo("search", str(path), "--quiet", env=env)
    resumed = None
    if done.returncode != 0:  # the fault ended the search process: resume, the fault fixed
        (parent,) = settle(client, name)
        path.write_text(yaml.safe_dump({**raw, "objective": {"function": "faulty.py:healthy"}}))
        again = hpo("search", str(path), "--quiet", "--resume", parent.info.run_id, env=env)
        resumed = again.returncode == 0
    (parent,) = parents(client, name)
    runs = children(client, parent)
    ended = {r.data.params.get("x") for r in runs if r.info.status in ("FINISHED", "FAILED")}
    return {
        "requested": N_TRIALS,
        "recorded": len(ended),
        "lost": N_TRIALS - len(ended),
        "running": sum(r.info.status == "RUNNING" for r in runs) + (parent.info.status == "RUNNING"),
        "without_params": sum(not r.data.params for r in runs),
        "resumed": resumed,
    }


def fault_matrix(tmp: Path, env: dict, client: MlflowClient) -> list[tuple[str, str, dict]]:
    return [(f, e, fault_case(tmp, env, client, f, e)) for e in EXECUTORS for f in FAULTS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=6)
    parser.add_argument("--kills-per-search", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only-faults", action="store_true", help="only the fault matrix")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        uri = f"sqlite:///{tmp / 'mlflow.db'}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        client = MlflowClient(uri)
        started = time.perf_counter()
        cases = fault_matrix(tmp, env, client)
        for fault, executor, case in cases:
            print(
                f"fault {fault} executor {executor} requested {case['requested']} "
                f"recorded {case['recorded']} lost {case['lost']} running {case['running']} "
                f"without_params {case['without_params']} "
                f"resumed {'-' if case['resumed'] is None else case['resumed']}"
            )
        needed = [c for _, _, c in cases if c["resumed"] is not None]
        print(
            f"chaos faults {len(cases)} cases lost {sum(c['lost'] for _, _, c in cases)} "
            f"running {sum(c['running'] for _, _, c in cases)} "
            f"resumed {sum(bool(c['resumed']) for c in needed)}/{len(needed)}"
        )
        if args.only_faults:
            return
        k = kill_and_resume(args, tmp, env, client, random.Random(args.seed))
        print(
            f"sigkill kills {k['kills']} trials_lost {k['lost']} trials_re_executed {k['re_executed']} "
            f"runs_left_running {k['running']} searches_short_of_budget {k['short']} "
            f"searches_without_exactly_one_version {k['versions_wrong']}"
        )
        for cause, result in signals(tmp, env, client).items():
            print(f"{cause}: {result}")
        c = concurrent(tmp)
        print(
            f"concurrent_8 exit_nonzero {c['exit_nonzero']} runs_lost {c['lost']} "
            f"duplicates {c['duplicates']} experiments {c['experiments']}"
        )
        b = bad_inputs(tmp, env, client)
        print(
            f"bad_inputs tried {b['tried']} tracebacks {b['tracebacks']} wrong_exit {b['wrong_exit']} "
            f"runs_left_running {b['running']}"
        )
        print(f"chaos_s {time.perf_counter() - started:.0f}")


if __name__ == "__main__":
    main()
