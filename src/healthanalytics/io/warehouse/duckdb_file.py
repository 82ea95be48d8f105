"""The embedded warehouse: one DuckDB database file."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from healthanalytics.contracts import DELIVERY_TABLES, TABLES
from healthanalytics.io.locks import RunLockError, busy_message
from healthanalytics.io.warehouse.base import (
    ABANDONED,
    Rows,
    Warehouse,
    WarehouseError,
    abandoned_error,
    columns_query,
    conform,
    date_column,
    missing_trailing_columns,
    run_row,
    sql_type,
)

_POLL_SECONDS = 0.2
# DuckDB's words when another process has the file open, and where it names that process
_LOCKED = "Could not set lock on file"
_HOLDER = re.compile(r"\(PID (\d+)\)")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column(field: pa.Field) -> str:
    return f"{_quote(field.name)} {sql_type(field.type, postgres=False)}"


class DuckDBWarehouse(Warehouse):
    """A DuckDB file. DuckDB lets one process at a time open it for writing, so the process
    that has it open holds every delivery date of it: a second run waits up to `lock_timeout`
    seconds, then is refused naming the process that holds it."""

    kind = "duckdb"

    def __init__(self, path: str, lock_timeout: float = 0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = self._connect(lock_timeout)
        except (OSError, duckdb.Error) as err:
            raise WarehouseError(f"cannot open DuckDB database {self.path}: {err}") from err
        try:
            self._create_tables()
        except BaseException:
            self.con.close()
            raise

    def _connect(self, timeout: float) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as err:
                if _LOCKED not in str(err):
                    raise
                left = deadline - time.monotonic()
                if left > 0:
                    time.sleep(min(_POLL_SECONDS, left))
                    continue
                pid = _HOLDER.search(str(err))
                holder = f"another process (pid {pid[1]})" if pid else "another process"
                what = f"using the DuckDB database {self.path}"
                raise RunLockError(busy_message(holder, what, timeout)) from None

    def _create_tables(self) -> None:
        """Missing tables created and tables of an earlier release given the columns the
        contracts add at their end, in one transaction (the file is this process's alone)."""
        remedy = "use a new database file or drop the table"
        self.con.begin()
        try:
            for name, contract in TABLES.items():
                found = self.con.execute(columns_query("?"), [name]).fetchall()
                if not found:
                    columns = ", ".join(_column(field) for field in contract.schema)
                    self.con.execute(f"CREATE TABLE {_quote(name)} ({columns})")
                    continue
                for field in missing_trailing_columns(name, found, str(self.path), remedy):
                    self.con.execute(f"ALTER TABLE {_quote(name)} ADD COLUMN {_column(field)}")
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise

    def replace_delivery(
        self,
        delivery_date: dt.date,
        tables: Mapping[str, Rows],
        run: Mapping[str, Any] | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        self._check_names(tables)
        self.con.begin()
        try:
            for name, rows in tables.items():
                incoming = conform(rows, DELIVERY_TABLES[name].schema, delivery_date)
                self.con.execute(
                    f"DELETE FROM {_quote(name)} WHERE delivery_date = ?", [delivery_date]
                )
                self._insert(name, incoming)
            if run is not None:
                self._write_run(run)
            if before_commit is not None:
                before_commit()
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

    def update_run(self, record: Mapping[str, Any]) -> None:
        self.con.begin()
        try:
            self._write_run(record)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise

    def _write_run(self, record: Mapping[str, Any]) -> None:
        self.con.execute("DELETE FROM pipeline_runs WHERE run_id = ?", [record["run_id"]])
        self._insert("pipeline_runs", run_row(record).to_reader())

    def abandon_dead_runs(self, found_by: str) -> list[dict[str, Any]]:
        # a run that is alive has this file open: any "running" row left belongs to a dead one
        found = self.con.execute(
            "UPDATE pipeline_runs SET status = ?, error = ? WHERE status = 'running' "
            # (a timestamp with time zone would need pytz to reach Python)
            "RETURNING run_id, run_date, host, pid, CAST(started_at AS VARCHAR) AS started_at",
            [ABANDONED, abandoned_error(found_by)],
        )
        names = [column[0] for column in found.description]
        return [dict(zip(names, row, strict=True)) for row in found.fetchall()]

    def last_delivery(self, delivery_date: dt.date) -> dict[str, Any] | None:
        found = self.con.execute(
            "SELECT run_id, rows_kept FROM pipeline_runs "
            "WHERE run_date = ? AND status = 'success' "
            "ORDER BY finished_at DESC NULLS LAST LIMIT 1",
            [delivery_date],
        ).fetchone()
        if found is None:
            return None
        return dict(zip(("run_id", "rows_kept"), found, strict=True))

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

    def read_delivery(self, name: str, delivery_date: dt.date) -> pa.Table:
        column = date_column(name)
        query = f"SELECT * FROM {_quote(name)} WHERE {_quote(column)} = ?"
        return self.con.execute(query, [delivery_date]).to_arrow_table()

    def close(self) -> None:
        self.con.close()
