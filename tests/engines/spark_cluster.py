"""A real Spark standalone cluster (one master, N workers) on 127.0.0.1, for tests.

Started with the installed PySpark's own launcher, so it is the same Spark the driver uses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_SECONDS = 120
# Short-lived JVMs: C1 only starts faster and the test data is small.
FAST_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


class ClusterError(RuntimeError):
    """The cluster did not come up; the message holds the tail of its logs."""


@dataclass(frozen=True)
class SparkCluster:
    """Where the running cluster listens and logs."""

    master_url: str
    web_url: str
    log_dir: Path


def missing_requirement() -> str | None:
    """Why a cluster cannot be started here (no Java, no PySpark), or None."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (the Spark engine needs Java 17+)"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed: pip install 'healthanalytics[spark]'"
    return None


def spark_home() -> Path:
    """The installed PySpark package: it carries bin/spark-class and the jars."""
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cluster_env(log_dir: Path) -> dict[str, str]:
    """The environment of the daemons, and of drivers that talk to them."""
    return {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(log_dir),
        "SPARK_DAEMON_JAVA_OPTS": FAST_JVM,
        "SPARK_DAEMON_MEMORY": "256m",
    }


def _alive_workers(web_url: str) -> int:
    with urllib.request.urlopen(f"{web_url}/json", timeout=2) as answer:
        return int(json.load(answer).get("aliveworkers", 0))


def _log_tails(log_dir: Path) -> str:
    tails = []
    for log in sorted(log_dir.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        tails.append(f"--- {log.name}\n" + "\n".join(lines))
    return "\n".join(tails)


def _stop(process: subprocess.Popen) -> None:
    """End the daemon's whole process group: spark-class runs java as a child."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def standalone_cluster(
    workers: int = 2, cores: int = 1, memory: str = "1g"
) -> Iterator[SparkCluster]:
    """Start a master and `workers` workers on free loopback ports; stop them all afterwards."""
    root = Path(tempfile.mkdtemp(prefix="ha-spark-"))
    log_dir = root / "logs"
    log_dir.mkdir()
    env = cluster_env(log_dir)
    spark_class = str(spark_home() / "bin" / "spark-class")
    port, web_port = free_port(), free_port()
    cluster = SparkCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web_port}", log_dir)
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> None:
        log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - the daemon keeps writing
        processes.append(
            subprocess.Popen(
                [spark_class, *args],
                env=env,
                cwd=root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()

    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
              "--port", str(port), "--webui-port", str(web_port))  # fmt: skip
        for index in range(workers):
            work = root / f"work-{index}"
            start(f"worker-{index}", "org.apache.spark.deploy.worker.Worker",
                  "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory,
                  "--webui-port", "0", "--work-dir", str(work), cluster.master_url)  # fmt: skip
        _wait_for_workers(cluster, workers, processes)
        yield cluster
    finally:
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_workers(cluster: SparkCluster, workers: int, processes: list) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise ClusterError(f"a Spark daemon exited early:\n{_log_tails(cluster.log_dir)}")
        try:
            if _alive_workers(cluster.web_url) >= workers:
                return
        except OSError:
            pass  # the master's web UI is not up yet
        time.sleep(0.5)
    raise ClusterError(
        f"{workers} workers did not register within {START_TIMEOUT_SECONDS} s:\n"
        f"{_log_tails(cluster.log_dir)}"
    )
