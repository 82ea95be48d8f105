"""Each work-around in engines/ibis_compat.py: the problem is still there in the pinned Ibis
(a test here failing means Ibis fixed it: delete the work-around and its test), and ours gives
the fixed form. None starts Spark: Ibis' PySpark SQL is compiled to text, and what Ibis hands a
SparkSession is recorded."""

from __future__ import annotations

import string

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ibis import _

from healthanalytics.engines.duckdb_csv import sql_string
from healthanalytics.engines.ibis_compat import (
    SparkCompiler,
    create_table_as,
    parquet_view_sql,
    register_arrow_memtables,
)

TEXT = ibis.table({"s": "string"}, name="t")


def _spark_sql(expr: ibis.Table) -> str:
    compiler = SparkCompiler()
    return compiler.to_sqlglot(expr).sql(dialect=compiler.dialect)


class _RecordingConnection:
    """A DuckDB connection that records the statements Ibis runs on it, and refuses those
    starting with `refuse` (an INSTALL would download)."""

    def __init__(self, real, refuse: str | None = None) -> None:
        self.real, self.refuse, self.statements = real, refuse, []

    def execute(self, query, *args, **kwargs):
        self.statements.append(str(query))
        if self.refuse and str(query).startswith(self.refuse):
            raise _Refused(query)
        self.real.execute(query, *args, **kwargs)
        return self

    def __getattr__(self, name):
        return getattr(self.real, name)


class _Refused(Exception):
    pass


class _RecordingSession:
    """Stands for a SparkSession: keeps the data each createDataFrame is given."""

    def __init__(self) -> None:
        self.given: list[object] = []
        self.views: list[str] = []

    def createDataFrame(self, data, schema=None, verifySchema=True):
        self.given.append(data)
        return self

    def createOrReplaceTempView(self, name):
        self.views.append(name)


# --- SparkCompiler: strip() -------------------------------------------------------------------


def test_stock_pyspark_strip_writes_escapes_spark_reads_as_letters():
    stock = ibis.to_sql(TEXT.select(both=TEXT.s.strip()), dialect="pyspark")
    # \v and \f are no escapes in Spark SQL: the literal holds the letters v and f
    assert r"TRIM(' \t\n\r\v\f' FROM `t0`.`s`)" in stock


def test_our_strip_spells_each_whitespace_character_with_chr():
    chars = ", ".join(f"CHR({ord(c)})" for c in string.whitespace)
    assert _spark_sql(TEXT.select(both=TEXT.s.strip())) == (
        f"SELECT TRIM(CONCAT({chars}) FROM `t0`.`s`) AS `both` FROM `t` AS `t0`"
    )


def test_lstrip_and_rstrip_stay_spark_ltrim_and_rtrim():
    # Spark's one-argument LTRIM/RTRIM trim spaces only; not fixed here (see SparkCompiler)
    expr = TEXT.select(left=TEXT.s.lstrip(), right=TEXT.s.rstrip())
    expected = "SELECT LTRIM(`t0`.`s`) AS `left`, RTRIM(`t0`.`s`) AS `right` FROM `t` AS `t0`"
    assert _spark_sql(expr) == expected
    assert ibis.to_sql(expr, dialect="pyspark").split() == expected.split()


# --- register_arrow_memtables -----------------------------------------------------------------


def test_stock_pyspark_registers_memtables_from_pandas():
    pytest.importorskip("pyspark")
    import pandas as pd
    from ibis.backends.pyspark import Backend

    backend = Backend.__new__(Backend)  # no session started: only what it hands one is seen
    backend._session = session = _RecordingSession()
    memtable = ibis.memtable(pa.table({"a": [1, 2]}))
    backend._register_in_memory_table(memtable.op())
    assert [type(data) for data in session.given] == [pd.DataFrame]


def test_our_memtables_are_registered_from_arrow_once():
    pytest.importorskip("pyspark")
    rows = pa.table({"a": pa.array([1, None], pa.int64()), "b": ["x", "y"]})
    memtable = ibis.memtable(rows)
    table = memtable.join(memtable.view(), "a")  # the same memtable read twice
    session, registered = _RecordingSession(), set()
    register_arrow_memtables(session, table, registered)
    register_arrow_memtables(session, table, registered)  # already a view: not again
    assert session.views == [memtable.op().name] and registered == {memtable.op().name}
    assert len(session.given) == 1 and session.given[0].equals(rows)


# --- with_declared_types ----------------------------------------------------------------------


def test_stock_pyspark_row_number_is_not_cast_to_the_int64_ibis_declares():
    expr = TEXT.select(r=ibis.row_number().over(order_by=TEXT.s))
    assert expr.schema()["r"] == dt.int64
    # Spark's ROW_NUMBER is an INT; the SQL keeps it one (with_declared_types casts the result)
    sql = ibis.to_sql(expr, dialect="pyspark")
    assert "ROW_NUMBER() OVER" in sql and "CAST" not in sql.upper()


# --- create_table_as (DuckDB) -----------------------------------------------------------------


@pytest.fixture
def duckdb_con():
    con = ibis.duckdb.connect()
    con.raw_sql("CREATE TABLE src AS SELECT * FROM (VALUES (1::BIGINT), (2::BIGINT)) v(x)")
    yield con
    con.disconnect()


def test_stock_duckdb_create_table_runs_create_then_insert(duckdb_con):
    expr = duckdb_con.table("src").mutate(total=_.x.sum().over())
    recorder = _RecordingConnection(duckdb_con.con)
    duckdb_con.con = recorder
    duckdb_con.create_table("stored", expr, temp=True)
    writes = [sql for sql in recorder.statements if sql.startswith(("CREATE", "INSERT"))]
    assert [" ".join(sql.split()[:2]) for sql in writes] == ["CREATE TEMPORARY", "INSERT INTO"]
    # the declared columns, no query: the rows come by the INSERT
    assert writes[0].endswith('"stored" ("x" BIGINT, "total" BIGINT)')


def test_our_table_is_one_create_table_as_in_the_declared_types(duckdb_con):
    labels = ibis.memtable({"x": [1, 2], "label": ["one", "two"]})
    expr = duckdb_con.table("src").mutate(total=_.x.sum().over()).join(labels, "x")
    assert expr.schema()["total"] == dt.int64  # DuckDB's own SUM would be a HUGEINT
    sql = create_table_as(duckdb_con, expr, "stored")  # the memtable is registered first
    assert sql.startswith('CREATE OR REPLACE TEMPORARY TABLE "stored" AS SELECT CAST(')
    duckdb_con.raw_sql(sql)
    stored = duckdb_con.con.sql("SELECT * FROM stored ORDER BY x").to_arrow_table()
    expected = pa.table(
        {
            "x": pa.array([1, 2], pa.int64()),
            "total": pa.array([3, 3], pa.int64()),
            "label": ["one", "two"],
        }
    )
    assert stored.equals(expected)


# --- parquet_view_sql (DuckDB) ----------------------------------------------------------------


def test_stock_duckdb_read_parquet_installs_httpfs_loaded_from_its_wheel():
    pytest.importorskip("duckdb_extension_httpfs")
    from healthanalytics.engines.duckdb_s3 import httpfs_extension

    con = ibis.duckdb.connect(autoinstall_known_extensions=False)
    con.raw_sql(f"LOAD {sql_string(httpfs_extension())}")  # loaded, as the engine loads it
    recorder = _RecordingConnection(con.con, refuse="INSTALL")
    con.con = recorder
    with pytest.raises(_Refused):
        con.read_parquet("s3://bucket/x.parquet")
    assert recorder.statements[-1] == "INSTALL 'httpfs'"


def test_our_parquet_view_reads_the_file_named_even_with_glob_characters(tmp_path):
    rows = pa.table({"a": pa.array([1, None], pa.int64()), "b": ["x", None]})
    pq.write_table(rows, tmp_path / "x[1].parquet")
    pq.write_table(pa.table({"a": [9], "b": ["not me"]}), tmp_path / "x1.parquet")
    con = ibis.duckdb.connect()
    con.raw_sql(parquet_view_sql("v", [str(tmp_path / "x[1].parquet")]))
    assert con.table("v").to_pyarrow().equals(rows)
