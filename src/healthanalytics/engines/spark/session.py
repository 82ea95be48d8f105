"""The SparkSession: our defaults under the cluster's and the user's settings, a master that
does not answer refused fast, executors' task-failure logs kept off the console."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from pathlib import Path

import pyspark
from py4j.protocol import Py4JError
from pyspark.sql import SparkSession

from healthanalytics.engines.base import EngineError
from healthanalytics.engines.spark.errors import error_line

log = logging.getLogger(__name__)

DEFAULT_CONF: dict[str, str] = {
    "spark.app.name": "healthanalytics",
    "spark.driver.memory": "2g",  # only honoured when this process starts the JVM
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    # lets Spark plan the joins with the small duplicate-hash table as broadcasts up front
    # (its size is estimated from the whole input); adaptive execution still converts later
    "spark.sql.autoBroadcastJoinThreshold": "64m",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "ERROR",
}
_CORE_SHOWN = ("spark.driver.memory", "spark.executor.memory", "spark.executor.cores")
_SQL_SHOWN = ("spark.sql.ansi.enabled", "spark.sql.adaptive.enabled")


def start_session(master: str, user_conf: dict[str, str]) -> SparkSession:
    """A session on `master` (started, or the running one) with DEFAULT_CONF, less the keys
    the cluster's spark-defaults.conf sets, and then `user_conf` (--spark-conf) over them;
    an EngineError saying what to check when it cannot start."""
    check_reachable(master)
    # ours < the cluster's spark-defaults.conf < --spark-conf
    cluster = spark_defaults_keys()
    conf = {k: v for k, v in DEFAULT_CONF.items() if k not in cluster} | user_conf
    builder = SparkSession.builder.master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as err:
        raise EngineError(
            f"cannot start Spark with master {master!r}: {error_line(err)} "
            "(check --master, that Java 17+ is installed and the cluster is reachable)"
        ) from err
    if not log.isEnabledFor(logging.DEBUG):  # -v shows them
        quiet_task_failures(session)
    return session


def describe_session(session: SparkSession) -> str:
    """Spark's version, master, application and the settings that size the run, on one line."""
    context = session.sparkContext
    shown = {key: context.getConf().get(key) for key in _CORE_SHOWN}
    shown |= {key: session.conf.get(key) for key in _SQL_SHOWN}
    settings = ", ".join(f"{k}={v}" for k, v in shown.items() if v is not None)
    return (
        f"spark {pyspark.__version__} master={context.master} app={context.applicationId} "
        f"parallelism={context.defaultParallelism}, {settings}"
    )


def check_reachable(master: str) -> None:
    """Fail fast on a standalone master nobody answers at: Spark itself waits for minutes."""
    if not master.startswith("spark://"):
        return
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.rpartition(":")
        with contextlib.suppress(OSError, ValueError):
            socket.create_connection((host, int(port)), timeout=5).close()
            return
    raise EngineError(
        f"no Spark master answers at {master}: start the cluster or check --master "
        "(spark://HOST:PORT, default port 7077)"
    )


def quiet_task_failures(session: SparkSession) -> None:
    """A failed task's exception reaches the driver, which reports it in one line; the logs of
    it by the executor and the scheduler (a page of Java stack before that line) are turned
    off. Executors of a cluster log to their own files, which keep it."""
    jvm = session.sparkContext._jvm
    with contextlib.suppress(Py4JError):
        off = jvm.org.apache.logging.log4j.Level.OFF
        for logger in (
            "org.apache.spark.executor.Executor",
            "org.apache.spark.scheduler.TaskSetManager",
        ):
            jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(logger, off)


def spark_defaults_keys() -> set[str]:
    """The keys the installation's spark-defaults.conf sets (spark-submit applies them)."""
    home = os.environ.get("SPARK_HOME") or str(Path(pyspark.__file__).parent)
    path = Path(os.environ.get("SPARK_CONF_DIR") or Path(home) / "conf") / "spark-defaults.conf"
    if not path.is_file():
        return set()
    lines = (line.strip() for line in path.read_text(errors="replace").splitlines())
    # a Java properties file: "key value", "key=value" or "key: value"
    return {re.split(r"[\s=:]", line, maxsplit=1)[0] for line in lines if line[:1] not in "#!"}
