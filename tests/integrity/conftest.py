"""The integrity corpus: small odd or broken inputs run through the real pipeline in process,
on both engines and both warehouses, with the exact outcome asserted.

`run_case` runs one delivery and returns what a user would see: the one-line error (None on
success) and every persisted table afterwards, so a test can assert that a refused run left the
earlier delivery as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from healthanalytics.config import Settings
from healthanalytics.contracts import TABLES
from healthanalytics.errors import user_error_message
from healthanalytics.io.inputs import bundled
from healthanalytics.io.warehouse import open_warehouse

SAMPLE = Path(bundled("prescriber_fact_sample.csv"))
CITIES = Path(bundled("us_cities_dimension.parquet"))
RUN_DATE = dt.date(2026, 1, 15)
# small, quickly started JVMs; no Python on executors, as in tests/engines/test_spark.py
SPARK_CONF = {
    "spark.driver.memory": "1g",
    "spark.ui.enabled": "false",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


@dataclass
class Outcome:
    """What a run left: the error line a user reads (None on success) and every table."""

    error: str | None
    tables: dict[str, pa.Table] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)

    def rows(self, name: str, date: dt.date | None = RUN_DATE) -> list[dict[str, Any]]:
        """The table's rows (of one delivery date unless None), as dicts, in a stable order."""
        found = self.tables[name].to_pylist()
        if date is not None and "delivery_date" in self.tables[name].column_names:
            found = [row for row in found if row["delivery_date"] == date]
        return sorted(found, key=repr)


@pytest.fixture(scope="session")
def spark_in_process() -> Iterator[None]:
    """One local[1] Spark session for every in-process Spark case: a run's close() leaves it
    running (each run would otherwise start a JVM, ~10 s)."""
    from tests.engines.spark_cluster import missing_requirement

    if (missing := missing_requirement()) is not None:
        pytest.skip(missing)
    from healthanalytics.engines.spark import SparkEngine

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYSPARK_PYTHON", "/nonexistent/python3")
        patch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        patch.setattr(SparkEngine, "close", lambda self: None)
        yield
    from pyspark.sql import SparkSession

    if (active := SparkSession.getActiveSession()) is not None:
        active.stop()


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine_name(request) -> str:
    """Each case on both engines."""
    if request.param == "spark":
        request.getfixturevalue("spark_in_process")
    return request.param


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request, tmp_path) -> str:
    """Each case on both warehouses: a DuckDB file, and a new database on a real PostgreSQL."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "warehouse.duckdb")


def read_tables(target: str) -> dict[str, pa.Table]:
    with open_warehouse(target) as warehouse:
        return {name: warehouse.read_table(name) for name in TABLES}


def run_case(
    fact: Path | str,
    *,
    output: Path,
    db: str,
    engine: str = "duckdb",
    city: Path | str = CITIES,
    run_date: dt.date = RUN_DATE,
    **settings: Any,
) -> Outcome:
    """One delivery run in process, as `healthanalytics run` would run it."""
    from healthanalytics.pipeline import run_pipeline

    extra = {"master": "local[1]", "spark_conf": SPARK_CONF} if engine == "spark" else {}
    try:
        config = Settings(
            fact=str(fact), city=str(city), output=str(output), db_url=db, run_date=run_date,
            engine=engine, threads=1, **extra, **settings,
        )  # fmt: skip
        result = run_pipeline(config)
    except Exception as err:
        return Outcome(user_error_message(err), read_tables(db))
    return Outcome(None, read_tables(db), result.record.row())


@pytest.fixture
def run(tmp_path) -> Callable[..., Outcome]:
    """`run(fact, engine=..., db=..., **settings)` with this test's output folder."""

    def go(fact: Path | str, **kwargs: Any) -> Outcome:
        kwargs.setdefault("output", tmp_path / "out")
        kwargs.setdefault("db", str(tmp_path / "warehouse.duckdb"))
        return run_case(fact, **kwargs)

    return go
