"""A real `mlflow server` on a loopback port goes away mid-search and comes back."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from conftest import QUIET, UNREGISTERED, children_of, free_port, start_server, stop_server
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow


def test_search_survives_a_tracking_server_restart(tiny, tmp_path):
    path = tiny(
        model={"params": {"n_estimators": 200}}, search={"max_evals": 10, **QUIET}, register=UNREGISTERED
    )
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, port)
    search = subprocess.Popen(
        [sys.executable, "-m", "hpo_plugin", "search", str(path)],
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = MlflowClient(uri)
        deadline = time.time() + 120
        while not client.search_runs(
            [e.experiment_id for e in client.search_experiments()], "tags.`hpo.role` = 'trial'"
        ):
            assert time.time() < deadline and search.poll() is None, search.communicate()
            time.sleep(0.5)
        stop_server(server)  # mid-search: trials are being logged
        time.sleep(3)
        server = start_server(tmp_path, port)
        _, err = search.communicate(timeout=300)
        client = MlflowClient(uri)
        (parent,) = [
            r
            for e in client.search_experiments()
            for r in client.search_runs([e.experiment_id])
            if r.data.tags.get("hpo.role") == "search"
        ]
        children = children_of(client, parent)
        if search.returncode == 0:  # it waited and went on
            assert parent.info.status == "FINISHED"
            assert sorted(int(c.data.tags["hpo.trial_number"]) for c in children) == list(range(1, 11))
            assert all(c.info.status == "FINISHED" for c in children)
        else:  # or it stopped cleanly, with a resume hint
            assert "--resume" in err, err[-2000:]
            assert all(c.info.status != "RUNNING" for c in children) and parent.info.status != "RUNNING"
    finally:
        if search.poll() is None:
            search.kill()
        stop_server(server)
