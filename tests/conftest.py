"""Shared fixtures and helpers: a real PostgreSQL server and a fresh database per test, a real
S3-compatible server (moto) and a fresh bucket per test, one
in-process Spark session, the pipeline run in process (`run_case`) and as the installed command
(`run_cli`), and whole-table comparisons with tests/reference.py.

Under pytest-xdist every worker is a process of its own: a session fixture (the PostgreSQL
cluster, the Spark session) starts once in each worker that needs it, on free loopback ports, in
temporary folders of its own, and stops with it. tests/engines/test_spark.py is one group, on one
worker, and every other test on the Spark engine another: the standalone cluster, generated inputs
and each Spark session are made once (`--dist loadgroup`, set in pyproject.toml).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import math
import os
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from healthanalytics.config import Settings
from healthanalytics.contracts import TABLES
from healthanalytics.engines import Engine, create_engine
from healthanalytics.errors import exit_code, user_error_message
from healthanalytics.io.inputs import bundled
from healthanalytics.io.warehouse import WarehouseError, open_warehouse
from tests import reference
from tests.engines.spark_cluster import FAST_JVM, missing_requirement
from tests.postgres_server import throwaway_cluster
from tests.s3_server import Bucket, fake_aws_environment, loopback_s3, new_bucket

POSTGRES_URL_ENV = "HEALTHANALYTICS_TEST_POSTGRES_URL"
SAMPLE = Path(bundled("prescriber_fact_sample.csv"))
CITIES = Path(bundled("us_cities_dimension.parquet"))
RUN_DATE = dt.date(2026, 1, 15)
# Executors are given a Python that does not exist: any Python UDF would fail the run.
NO_PYTHON = "/nonexistent/python3"
# the in-process Spark session: small, quickly started, no adaptive re-planning (it costs more
# than it saves on test-sized data)
SPARK_CONF = {
    "spark.driver.memory": "2g",
    "spark.ui.enabled": "false",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.extraJavaOptions": FAST_JVM,
}


# --- pytest-xdist ------------------------------------------------------------------------------

# Modules whose tests run on one worker: their session fixtures are expensive (a standalone Spark
# cluster, generated inputs) and made once. Their `xdist_group` mark says the same.
ONE_WORKER = ("tests/engines/test_spark.py",)


def _on_spark(nodeid: str) -> bool:
    """A test that runs the Spark engine in process: an `engine_name` case on Spark
    (`[spark...]`) or a test named `..._on_spark...`. They share one worker and its Spark
    session; the cluster's tests (ONE_WORKER) another."""
    return "[spark" in nodeid or "on_spark" in nodeid.split("::")[-1]


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` that keeps the ONE_WORKER modules on one worker, and the other Spark
    tests on one worker.
    A work-around: pytest-xdist 3.8.0 marks a group by appending "@group" to a worker's node
    ids, which pytest 9.2 no longer takes (pytest-xdist issue #1386), so the groups vanish; it
    can go once a release fixes that issue."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            if module in ONE_WORKER:
                return "spark-cluster"
            if _on_spark(nodeid):
                return "spark-cases"
            return super()._split_scope(nodeid)

    return ModuleGroups(config, log)


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An administrative URL: the server given in the environment, or a throwaway cluster
    (one per xdist worker: its own port and data folder)."""
    given = os.environ.get(POSTGRES_URL_ENV)
    if given:
        yield given
        return
    with throwaway_cluster() as url:
        yield url


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A URL to a new, empty database, dropped after the test (a random name: workers sharing
    a server given in the environment do not collide)."""
    name = f"ha_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = postgres_url.partition("?")
    yield base.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# --- Spark in this process --------------------------------------------------------------------


@pytest.fixture(scope="session")
def spark_in_process() -> Iterator[None]:
    """One local[1] Spark session for every in-process Spark run and engine test: a run's
    close() leaves it running (each run would otherwise start a JVM, ~10 s)."""
    if (missing := missing_requirement()) is not None:
        pytest.skip(missing)
    from healthanalytics.engines.spark import SparkEngine

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYSPARK_PYTHON", NO_PYTHON)
        patch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        patch.setattr(SparkEngine, "close", lambda self: None)
        yield
    from pyspark.sql import SparkSession

    if not spark_gateway_works():
        drop_spark_gateway()
    elif (active := SparkSession.getActiveSession()) is not None:
        active.stop()


def spark_gateway_works() -> bool:
    """False when this process's Py4J gateway to the Spark JVM no longer answers as it should:
    the JVM died, or a call was interrupted mid-answer (pyspark pins one connection per
    thread, so the next call would read the interrupted call's answer)."""
    from pyspark import SparkContext

    if (context := SparkContext._active_spark_context) is None:
        return True
    try:
        return context._jvm.java.lang.Integer.parseInt("4711") == 4711
    except Exception:
        return False


def drop_spark_gateway() -> None:
    """Stop the JVM of this process's Spark session and forget it and its gateway: the next
    session starts a new JVM instead of failing on the broken one."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if (gateway := SparkContext._gateway) is not None:
        if (jvm := getattr(gateway, "proc", None)) is not None:
            jvm.kill()
            jvm.wait()
        with suppress(Exception):
            gateway.shutdown()
    SparkContext._gateway = SparkContext._jvm = SparkContext._active_spark_context = None
    SparkSession._instantiatedSession = SparkSession._activeSession = None


def _kill_spark_jvm(after: float) -> None:
    if "pyspark" not in sys.modules:  # nothing to kill; not imported here just to check
        return
    from pyspark import SparkContext

    if (jvm := getattr(SparkContext._gateway, "proc", None)) is not None:
        print(f"conftest: this test's Spark JVM was killed after {after:.0f} s", file=sys.stderr)
        jvm.kill()


@contextmanager
def spark_watchdog(seconds: float) -> Iterator[None]:
    """Kill this process's Spark JVM if the block still runs after `seconds`: a call into it
    then fails at once. pytest-timeout's interrupt cannot stop such a call: pyspark's clean-up
    makes one more call, which waits for the interrupted one's answer (as long as the job
    runs), and then reads it as its own ("... does not exist in the JVM")."""
    timer = threading.Timer(seconds, _kill_spark_jvm, args=(seconds,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """A Spark test that runs into its time limit fails a little before it, its JVM killed by
    `spark_watchdog`; the next test then starts a new JVM (`drop_spark_gateway`): one hung
    test does not fail every later Spark test of its worker."""
    marker = item.get_closest_marker("timeout")
    limit = float(
        (marker.args[0] if marker and marker.args else None)
        or item.config.getoption("timeout", None)
        or item.config.getini("timeout")
        or 0
    )
    if limit <= 0:
        return (yield)
    with spark_watchdog(limit - min(15.0, limit / 4)):
        outcome = yield
    if "pyspark" in sys.modules and not spark_gateway_works():
        drop_spark_gateway()
    return outcome


# --- the pipeline in process ------------------------------------------------------------------


@dataclass
class Outcome:
    """What a run left: the error line a user reads (None on success), every table, the run's
    pipeline_runs row, the messages it logged (INFO and up) and the exit code the command
    would end with."""

    error: str | None
    tables: dict[str, pa.Table] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    code: int = 0

    def rows(self, name: str, date: dt.date | None = RUN_DATE) -> list[dict[str, Any]]:
        """The table's rows (of one delivery date unless None), as dicts, in a stable order."""
        found = self.tables[name].to_pylist()
        if date is not None and "delivery_date" in self.tables[name].column_names:
            found = [row for row in found if row["delivery_date"] == date]
        return sorted(found, key=repr)


def read_tables(target: str) -> dict[str, pa.Table]:
    """Every persisted table of a warehouse (a DuckDB file or a postgresql:// URL)."""
    with open_warehouse(target) as warehouse:
        return {name: warehouse.read_table(name) for name in TABLES}


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_case(
    fact: Path | str,
    *,
    output: Path | str,
    db: str,
    engine: str = "duckdb",
    city: Path | str = CITIES,
    run_date: dt.date = RUN_DATE,
    **settings: Any,
) -> Outcome:
    """One delivery run in process, as `healthanalytics run` would run it; a Spark run uses
    the session of `spark_in_process` unless `master` is given."""
    from healthanalytics.pipeline import run_pipeline

    extra = {"master": "local[1]", "spark_conf": SPARK_CONF} if engine == "spark" else {}
    logger = logging.getLogger("healthanalytics")
    level, logged = logger.level, _Messages()
    logger.setLevel(logging.INFO)
    logger.addHandler(logged)
    try:
        config = Settings(
            fact=str(fact), city=str(city), output=str(output), db_url=db, run_date=run_date,
            engine=engine, threads=1, **(extra | settings),
        )  # fmt: skip
        result = run_pipeline(config)
    except Exception as err:
        try:
            tables = read_tables(db)
        except WarehouseError:  # the run could not reach it either
            tables = {}
        return Outcome(
            user_error_message(err), tables, log=logged.messages, code=int(exit_code(err))
        )
    finally:
        logger.removeHandler(logged)
        logger.setLevel(level)
    return Outcome(None, read_tables(db), result.record.row(), logged.messages)


REPORT_FOLDERS = ("city_report", "prescriber_report")


def refused(fact: Path | str, *, output: Path | str, db: str, **settings: Any) -> Outcome:
    """A run that must fail: one line naming what is wrong, no report folder written."""
    outcome = run_case(fact, output=output, db=db, **settings)
    assert outcome.error is not None, "the run succeeded"
    assert "\n" not in outcome.error, outcome.error
    assert not any((Path(output) / name).exists() for name in REPORT_FOLDERS)
    return outcome


# --- the installed command --------------------------------------------------------------------


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`healthanalytics run ARGS` as a user runs it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "healthanalytics", "run", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def error_line(done: subprocess.CompletedProcess) -> str:
    """The one `error:` line a failed command printed (whitespace of wrapping folded), after
    checking there is exactly one and no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return " ".join(done.stderr[done.stderr.index("error:") :].split())


# --- whole tables compared with tests/reference.py --------------------------------------------


def _sort_key(row: tuple) -> str:
    return repr(tuple(f"{v:.9g}" if isinstance(v, float) else v for v in row))


def _same(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-9) or (math.isnan(left) and math.isnan(right))
    return left == right


def assert_same_rows(actual: list[dict], expected: list[dict], what: str) -> None:
    """The same rows in any order: the same columns, each value equal, floats to 1e-9
    relative (sums in another order differ in the last bits)."""
    if actual and expected:
        assert list(actual[0]) == list(expected[0]), f"{what}: columns differ"
    left = sorted((tuple(row.values()) for row in actual), key=_sort_key)
    right = sorted((tuple(row.values()) for row in expected), key=_sort_key)
    assert len(left) == len(right), f"{what}: {len(left)} rows, {len(right)} expected"
    differ = [(a, b) for a, b in zip(left, right, strict=True) if not all(map(_same, a, b))]
    assert not differ, f"{what}: {len(differ)} rows differ, first: {differ[0]}"


def assert_same_table(actual: pa.Table, expected: pa.Table, what: str) -> None:
    """Same column names and types, and `assert_same_rows`."""
    assert actual.column_names == expected.column_names, what
    assert [f.type for f in actual.schema] == [f.type for f in expected.schema], what
    assert_same_rows(actual.to_pylist(), expected.to_pylist(), what)


@functools.cache
def _cleaned(fact: Path, version: tuple[int, int]) -> tuple[list[dict], dict[str, int]]:
    return reference.clean(fact)


def reference_clean(fact: Path) -> tuple[list[dict], dict[str, int]]:
    """`reference.clean(fact)`, once per version of the file (a test comparing a file several
    times, or the 100,000-line sample, reads it once; the rows must not be changed)."""
    stat = fact.stat()
    return _cleaned(fact, (stat.st_mtime_ns, stat.st_size))


def expected_reports(
    fact: Path, *, cities: Path = CITIES, top_n: int = 5, years: tuple[int, int] | None = (20, 50)
) -> dict[str, list[dict[str, Any]]]:
    """What reference.py makes of `fact`: every column of the two reports, the quarantine and
    unmatched_cities (each without delivery_date)."""
    kept, _ = reference_clean(fact)
    return {
        "city_report": reference.city_report(kept, cities),
        "prescriber_report": reference.prescriber_report(kept, top_n, years),
        "quarantine": reference.quarantine(fact),
        "unmatched_cities": reference.unmatched_cities(kept, cities),
    }


def assert_reports_match(
    tables: dict[str, pa.Table], fact: Path, date: dt.date | None = RUN_DATE, **options: Any
) -> None:
    """Every delivery table's rows of `date` (all rows if None) equal reference.py's, column
    for column."""
    for name, want in expected_reports(fact, **options).items():
        rows = tables[name].to_pylist()
        if date is not None:
            rows = [row for row in rows if row.pop("delivery_date") == date]
        else:
            rows = [{k: v for k, v in row.items() if k != "delivery_date"} for row in rows]
        assert_same_rows(rows, want, name)


# --- inputs -----------------------------------------------------------------------------------


def tar_archive(data: bytes, name: str = "fact.csv") -> bytes:
    """`data` as the one member of an uncompressed tar archive (for archive-refusal tests)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        member = tarfile.TarInfo(name)
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture(scope="session")
def duckdb_engine(tmp_path_factory) -> Iterator[Engine]:
    """A DuckDB engine on one thread, for computing small Ibis tables as a run would."""
    output = tmp_path_factory.mktemp("engine")
    with closing(create_engine(Settings(output=str(output), threads=1))) as engine:
        yield engine


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    """A real S3-compatible server (moto) on a free loopback port, for the whole session, and
    the standard AWS environment pointing at it (fake keys, AWS_ENDPOINT_URL); the server is
    stopped and the environment restored afterwards, also when a test fails."""
    pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (the dev extra)")
    home = tmp_path_factory.mktemp("aws-home")
    with loopback_s3() as endpoint, pytest.MonkeyPatch.context() as patch:
        for name, value in fake_aws_environment(endpoint, home).items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> Bucket:
    """A new, empty bucket on the loopback S3 server (objects are left: the server is
    thrown away at the end of the session)."""
    return new_bucket(s3_endpoint)
