"""PostgreSQL through psycopg 3; rows go in with COPY, names are quoted as identifiers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from healthanalytics.io.warehouse.base import (
    Rows,
    Warehouse,
    WarehouseError,
    check_shape,
    columns_query,
    conform,
    mask_url,
    run_row,
    sql_type,
)
from healthanalytics.schemas import DELIVERY_TABLES, TABLES

CONNECT_TIMEOUT_SECONDS = 10
# Unquoted empty = NULL and quoted empty = '' in PostgreSQL's CSV COPY, as pyarrow writes them.
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=65_536)


def _one_line(err: BaseException) -> str:
    """The whole message on one line: psycopg puts its DETAIL on a line of its own."""
    text = str(err).strip() or type(err).__name__
    return " ".join(text.split())


class PostgresWarehouse(Warehouse):
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = mask_url(url)
        try:
            self.conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        except psycopg.Error as err:
            raise WarehouseError(
                f"cannot connect to PostgreSQL at {self.url}: {mask_url(_one_line(err))} "
                "(check host, port, user, password and database name)"
            ) from None
        try:
            self._create_tables()
        except psycopg.Error as err:
            self.conn.close()
            raise WarehouseError(
                f"cannot create tables in {self.url}: {mask_url(_one_line(err))}"
            ) from None

    def _create_tables(self) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            for name, schema in TABLES.items():
                columns = sql.SQL(", ").join(
                    sql.SQL("{} {}").format(
                        sql.Identifier(field.name), sql.SQL(sql_type(field.type, postgres=True))
                    )
                    for field in schema
                )
                cur.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                        sql.Identifier(name), columns
                    )
                )
                if name in DELIVERY_TABLES:
                    cur.execute(
                        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (delivery_date)").format(
                            sql.Identifier(f"{name}_delivery_date_idx"), sql.Identifier(name)
                        )
                    )
                cur.execute(columns_query("%s"), [name])
                found = cur.fetchall()
                check_shape(name, found, self.url, "use another database or drop the table")

    def replace_delivery(self, delivery_date: dt.date, tables: Mapping[str, Rows]) -> None:
        self._check_names(tables)
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                for name, rows in tables.items():
                    incoming = conform(rows, DELIVERY_TABLES[name], delivery_date)
                    cur.execute(
                        sql.SQL("DELETE FROM {} WHERE delivery_date = %s").format(
                            sql.Identifier(name)
                        ),
                        [delivery_date],
                    )
                    self._copy(cur, name, incoming)
        except psycopg.Error as err:
            raise WarehouseError(
                f"loading into {self.url} failed and was rolled back: {mask_url(_one_line(err))}"
            ) from None

    def record_run(self, record: Mapping[str, Any]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._copy(cur, "pipeline_runs", run_row(record).to_reader())

    @staticmethod
    def _copy(cur: psycopg.Cursor, name: str, incoming: pa.RecordBatchReader) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            sql.Identifier(name),
            sql.SQL(", ").join(sql.Identifier(column) for column in incoming.schema.names),
        )
        with cur.copy(statement) as copy:
            for batch in incoming:
                sink = pa.BufferOutputStream()
                pacsv.write_csv(batch, sink, _CSV)
                copy.write(sink.getvalue().to_pybytes())

    def read_table(self, name: str) -> pa.Table:
        schema = TABLES[name]
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)))
            rows = [dict(zip(schema.names, row, strict=True)) for row in cur.fetchall()]
        self.conn.commit()
        return pa.Table.from_pylist(rows, schema)

    def close(self) -> None:
        self.conn.close()
