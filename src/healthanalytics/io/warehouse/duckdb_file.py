"""The embedded warehouse: one DuckDB database file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from healthanalytics.io.warehouse.base import (
    Rows,
    Warehouse,
    WarehouseError,
    check_shape,
    columns_query,
    conform,
    run_row,
    sql_type,
)
from healthanalytics.schemas import DELIVERY_TABLES, TABLES


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDBWarehouse(Warehouse):
    kind = "duckdb"

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path))
        except (OSError, duckdb.Error) as err:
            raise WarehouseError(f"cannot open DuckDB database {self.path}: {err}") from err
        self._create_tables()

    def _create_tables(self) -> None:
        for name, schema in TABLES.items():
            columns = ", ".join(
                f"{_quote(field.name)} {sql_type(field.type, postgres=False)}" for field in schema
            )
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {_quote(name)} ({columns})")
            found = self.con.execute(columns_query("?"), [name]).fetchall()
            check_shape(name, found, str(self.path), "use a new database file or drop the table")

    def replace_delivery(self, delivery_date: dt.date, tables: Mapping[str, Rows]) -> None:
        self._check_names(tables)
        self.con.begin()
        try:
            for name, rows in tables.items():
                incoming = conform(rows, DELIVERY_TABLES[name], delivery_date)
                self.con.execute(
                    f"DELETE FROM {_quote(name)} WHERE delivery_date = ?", [delivery_date]
                )
                self._insert(name, incoming)
            self.con.commit()
        except duckdb.Error as err:
            self.con.rollback()
            reason = str(err).splitlines()[0]
            raise WarehouseError(
                f"loading into {self.path} failed and was rolled back: {reason}"
            ) from err
        except BaseException:
            self.con.rollback()
            raise

    def record_run(self, record: Mapping[str, Any]) -> None:
        self._insert("pipeline_runs", run_row(record).to_reader())

    def _insert(self, name: str, incoming: pa.RecordBatchReader) -> None:
        # Batch by batch from Python: a reader handed to DuckDB would be pulled from its worker
        # threads, and a reader fed by Python code (another engine) deadlocks there.
        for batch in incoming:
            self.con.register("incoming_rows", pa.Table.from_batches([batch]))
            try:
                self.con.execute(f"INSERT INTO {_quote(name)} SELECT * FROM incoming_rows")
            finally:
                self.con.unregister("incoming_rows")

    def read_table(self, name: str) -> pa.Table:
        return self.con.sql(f"SELECT * FROM {_quote(name)}").to_arrow_table()

    def close(self) -> None:
        self.con.close()
