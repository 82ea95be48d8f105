"""Work-arounds for shortcomings of the pinned Ibis (and of the sqlglot it is pinned with).

Each says what Ibis does wrong, in which version, and what lets it go. The pins are in
pyproject.toml: ibis-framework>=12.0 (<13 with the spark extra: `SparkCompiler` subclasses
Ibis' compiler) and sqlglot>=28.10,<30.11. tests/engines/test_ibis_compat.py shows that each
problem is still there: when one of its tests fails, Ibis has fixed that problem and the
work-around can be deleted.

One work-around is a pin, not code: Ibis 12 builds sqlglot's DROP with `this=`, which sqlglot
30.18 renamed to `tables`, so DROP statements lose their name (ibis issues #12101, #12124; the
fix is ibis PR #12104). The cap was set when this was found with sqlglot 30.20; it goes once an
Ibis release with the fix is the floor.

PySpark is an optional extra: the Spark pieces import it only when the Spark engine calls them.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import TYPE_CHECKING

import ibis.expr.operations as ops
import ibis.expr.types as ir
import sqlglot as sg
import sqlglot.expressions as sge
from ibis.backends.sql.compilers.pyspark import PySparkCompiler

from healthanalytics.engines.duckdb_csv import sql_path

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as DuckDBBackend
    from pyspark.sql import DataFrame, SparkSession


class SparkCompiler(PySparkCompiler):
    """Ibis' PySpark compiler with `strip()` fixed.

    Ibis 12.0 renders `strip()` as TRIM with a literal holding \\v and \\f, which Spark SQL reads
    as the letters v and f, so values lose their leading and trailing v's and f's. Here it trims
    Python's whitespace, each character spelled with CHR. Ibis issue #11894, fixed after 12.0
    by the same CHR spelling (ibis PR #11911): this class goes with an Ibis release holding it
    (then the <13 cap of the spark extra too).

    `lstrip()`/`rstrip()` stay Ibis' LTRIM/RTRIM, which in Spark trim spaces only; the project
    does not use them. They cannot be fixed by defining visit_LStrip/visit_RStrip here: Ibis'
    `__init_subclass__` replaces those with its SIMPLE_OPS ones.
    """

    __slots__ = ()

    def visit_Strip(self, op, *, arg):
        blanks = self.f.concat(
            *(
                sge.Anonymous(this="chr", expressions=[sge.convert(ord(c))])
                for c in string.whitespace
            )
        )
        return sge.Trim(this=arg, expression=blanks)


def register_arrow_memtables(session: SparkSession, table: ir.Table, registered: set[str]) -> None:
    """Each in-memory table the table reads (a driver-side result handed back as an
    ibis.memtable: the segments, the model's scores) as a session view of its name, made from
    Arrow batches, which the JVM decodes; names already in `registered` are skipped, new ones
    added.

    Compiling alone does not register them, and Ibis 12's PySpark backend registers them from
    pandas rows (`op.data.to_frame()`, "for PySpark's lack of support for arrow input prior to
    PySpark 4.0"), which executors decode in Python (executors may have none). Goes when Ibis
    registers memtables from Arrow; no upstream issue found.
    """
    from ibis.backends.pyspark.datatypes import PySparkSchema

    for memtable in table.op().find(ops.InMemoryTable):
        if memtable.name in registered:
            continue
        arrow = memtable.data.to_pyarrow(memtable.schema)
        schema = PySparkSchema.from_ibis(memtable.schema)
        session.createDataFrame(arrow, schema=schema).createOrReplaceTempView(memtable.name)
        registered.add(memtable.name)


def with_declared_types(frame: DataFrame, table: ir.Table) -> DataFrame:
    """The frame (Spark's result of the table's compiled SQL) with the column types Ibis
    declares for the table.

    Ibis 12's PySpark SQL leaves some columns in Spark's own type where Ibis declares another
    (ROW_NUMBER is an INT where Ibis declares an int64); Ibis' own to_pyarrow casts them after
    a detour through pandas, which the engine skips (it collects Arrow from Spark). Goes when
    Ibis' compiled SQL yields the declared types; no upstream issue found.
    """
    from ibis.backends.pyspark.datatypes import PySparkSchema
    from pyspark.sql import functions as F

    wanted = PySparkSchema.from_ibis(table.schema())
    if frame.schema.fields == wanted.fields:
        return frame
    return frame.select(
        *(
            F.col(f"`{field.name}`").cast(field.dataType).alias(field.name)
            if field.dataType != found.dataType
            else F.col(f"`{field.name}`")
            for field, found in zip(wanted.fields, frame.schema.fields, strict=True)
        )
    )


def create_table_as(con: DuckDBBackend, table: ir.Table, name: str) -> str:
    """The DuckDB statement that stores the table as the temporary table `name` in one
    CREATE TABLE AS, its columns cast to the types Ibis declares (DuckDB sums BIGINTs into
    HUGEINTs; a cast to a column's own type costs nothing). The in-memory tables the table
    reads are registered first, as Ibis' own calls do.

    Ibis 12's create_table runs CREATE TABLE then INSERT, which took twice as long for 25M
    staged lines (duckdb 1.5). Goes when Ibis' create_table writes one CREATE TABLE AS; no
    upstream issue found.
    """
    con._run_pre_execute_hooks(table)
    to_type = con.compiler.type_mapper.from_ibis
    typed = sg.select(
        *(
            sge.Cast(this=sg.column(column, quoted=True), to=to_type(dtype)).as_(
                column, quoted=True
            )
            for column, dtype in table.schema().items()
        )
    ).from_(con.compiler.to_sqlglot(table).subquery())
    create = sge.Create(
        kind="TABLE",
        this=sg.table(name, quoted=True),
        expression=typed,
        replace=True,
        properties=sge.Properties(expressions=[sge.TemporaryProperty()]),
    )
    return create.sql("duckdb")


def parquet_view_sql(view: str, paths: Iterable[str]) -> str:
    """The DuckDB statement that makes `view` a temporary view of the Parquet files.

    Ibis 12's DuckDB read_parquet asks for the httpfs extension for s3:// paths, and installs it
    (a download) unless DuckDB counts it installed, which an extension loaded from a file (the
    one in the duckdb-extension-httpfs wheel) is not. Goes when Ibis' read_parquet leaves an
    extension already loaded alone; no upstream issue found.
    """
    listed = ", ".join(sql_path(path) for path in paths)
    return f"CREATE OR REPLACE TEMPORARY VIEW {view} AS SELECT * FROM read_parquet([{listed}])"
