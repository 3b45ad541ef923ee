"""A real Spark standalone cluster on loopback, from PySpark's own classes: one master and one
worker (``org.apache.spark.deploy.master.Master`` / ``...worker.Worker`` through
``$SPARK_HOME/bin/spark-class``), for benchmarks/parallel.py and the executor tests.

    with standalone_cluster(cores=2) as master_url:   # spark://127.0.0.1:<port>
        run a search with executor: {name: spark, spark_master: master_url}
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_class(spark_home: Path, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(spark_home / "bin" / "spark-class"), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _alive_cores(web_port: int) -> int:
    """Cores of the ALIVE workers the master's JSON status page lists (0 while none)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/json/", timeout=2) as response:
            status = json.loads(response.read())
    except OSError:
        return 0
    return sum(w.get("cores", 0) for w in status.get("workers", []) if w.get("state") == "ALIVE")


@contextlib.contextmanager
def standalone_cluster(cores: int = 2, timeout_s: float = 120) -> Iterator[str]:
    """Start a master and a worker with ``cores`` on 127.0.0.1; yield the master URL; stop both."""
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    env = {**os.environ, "SPARK_HOME": str(spark_home), "PYSPARK_PYTHON": sys.executable}
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    port, web_port, worker_web_port = _free_port(), _free_port(), _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    logs = Path(tempfile.mkdtemp(prefix="hpo-spark-"))
    master = _spark_class(
        spark_home,
        [
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(web_port)),
        ],
        env,
        logs / "master.log",
    )
    worker = None
    try:
        worker = _spark_class(
            spark_home,
            [
                "org.apache.spark.deploy.worker.Worker",
                master_url,
                *("--host", "127.0.0.1", "--cores", str(cores), "--webui-port", str(worker_web_port)),
                *("--work-dir", str(logs / "work")),
            ],
            env,
            logs / "worker.log",
        )
        deadline = time.time() + timeout_s
        while _alive_cores(web_port) < cores:
            if master.poll() is not None or worker.poll() is not None or time.time() > deadline:
                tail = (logs / "worker.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the Spark standalone cluster did not come up; worker log: {tail}")
            time.sleep(0.5)
        yield master_url
    finally:
        for process in (worker, master):
            if process is not None:
                _stop(process)
