"""PostgreSQL through psycopg 3; rows go in with COPY, names are quoted as identifiers."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from healthanalytics.contracts import DELIVERY_TABLES, TABLES
from healthanalytics.io.locks import RunLockError, busy_message, describe_owner
from healthanalytics.io.warehouse.base import (
    ABANDONED,
    Rows,
    Warehouse,
    WarehouseError,
    WarehouseUnavailableError,
    abandoned_error,
    columns_query,
    conform,
    date_column,
    mask_url,
    missing_trailing_columns,
    run_row,
    sql_type,
)

CONNECT_TIMEOUT_SECONDS = 10
# Advisory lock keys are two int4: a class of ours, then the object. A run holds
# (DELIVERY_LOCK, date.toordinal()) for its whole session; creating or extending the tables
# holds (TABLES_LOCK, 0) for that transaction.
DELIVERY_LOCK = 0x48410001
TABLES_LOCK = 0x48410002
_POLL_SECONDS = 0.2
# Unquoted empty = NULL and quoted empty = '' in PostgreSQL's CSV COPY, as pyarrow writes them.
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=65_536)


def _one_line(err: BaseException) -> str:
    """The whole message on one line: psycopg puts its DETAIL on a line of its own."""
    text = str(err).strip() or type(err).__name__
    return " ".join(text.split())


def _column(field: pa.Field) -> sql.Composable:
    return sql.SQL("{} {}").format(
        sql.Identifier(field.name), sql.SQL(sql_type(field.type, postgres=True))
    )


class PostgresWarehouse(Warehouse):
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = mask_url(url)
        try:
            self.conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        except psycopg.Error as err:
            # OperationalError: the server is not reached or refuses the connection
            unusable = isinstance(err, psycopg.OperationalError)
            raise (WarehouseUnavailableError if unusable else WarehouseError)(
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
        except BaseException:
            self.conn.close()
            raise

    def _create_tables(self) -> None:
        """Missing tables created and tables of an earlier release given the columns the
        contracts add at their end, in one transaction that runs doing the same wait for."""
        remedy = "use another database or drop the table"
        with self.conn.transaction(), self.conn.cursor() as cur:
            # two runs creating the tables at once would collide in the catalog
            cur.execute("SELECT pg_advisory_xact_lock(%s::integer, 0)", [TABLES_LOCK])
            for name, contract in TABLES.items():
                cur.execute(columns_query("%s"), [name])
                found = cur.fetchall()
                if found:
                    for field in missing_trailing_columns(name, found, self.url, remedy):
                        cur.execute(
                            sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(
                                sql.Identifier(name), _column(field)
                            )
                        )
                    continue
                columns = sql.SQL(", ").join(_column(field) for field in contract.schema)
                cur.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(name), columns))
                if contract.per_delivery:
                    cur.execute(
                        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (delivery_date)").format(
                            sql.Identifier(f"{name}_delivery_date_idx"), sql.Identifier(name)
                        )
                    )

    def lock_delivery(self, delivery_date: dt.date, timeout: float) -> None:
        """A session advisory lock on the date: released when the connection closes, also
        when the run's process is killed (the server ends the session)."""
        deadline = time.monotonic() + timeout
        try:
            while not self._try_lock(delivery_date):
                left = deadline - time.monotonic()
                if left <= 0:
                    holder = describe_owner(self._running_run(delivery_date))
                    what = f"delivering {delivery_date} into {self.url}"
                    raise RunLockError(busy_message(holder, what, timeout))
                time.sleep(min(_POLL_SECONDS, left))
        except psycopg.Error as err:
            raise WarehouseError(
                f"cannot lock {delivery_date} in {self.url}: {mask_url(_one_line(err))}"
            ) from None

    def _try_lock(self, delivery_date: dt.date) -> bool:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                "SELECT pg_try_advisory_lock(%s::integer, %s::integer)",
                [DELIVERY_LOCK, delivery_date.toordinal()],
            )
            return bool(cur.fetchone()[0])

    def _running_run(self, delivery_date: dt.date) -> dict[str, Any] | None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                "SELECT host, pid FROM pipeline_runs WHERE run_date = %s AND status = 'running' "
                "ORDER BY started_at DESC LIMIT 1",
                [delivery_date],
            )
            found = cur.fetchone()
        return {"host": found[0], "pid": found[1]} if found else None

    def abandon_dead_runs(self, found_by: str) -> list[dict[str, Any]]:
        # A run holds its date's lock from before its row is inserted until after its last
        # update: a "running" row whose date no other session holds belongs to a dead run.
        # (A run that has just finished fails the status test when its row is re-read.)
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                "UPDATE pipeline_runs AS r SET status = %s, error = %s "
                "WHERE r.status = 'running' AND NOT EXISTS ("
                " SELECT 1 FROM pg_locks AS l WHERE l.locktype = 'advisory' AND l.granted"
                " AND l.pid <> pg_backend_pid()"
                " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND l.classid = %s::integer::oid AND l.objsubid = 2"
                " AND l.objid = (r.run_date - DATE '0001-01-01' + 1)::integer::oid) "
                "RETURNING r.run_id, r.run_date, r.host, r.pid, r.started_at",
                [ABANDONED, abandoned_error(found_by), DELIVERY_LOCK],
            )
            names = [column.name for column in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def last_delivery(self, delivery_date: dt.date) -> dict[str, Any] | None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                "SELECT run_id, rows_kept FROM pipeline_runs "
                "WHERE run_date = %s AND status = 'success' "
                "ORDER BY finished_at DESC NULLS LAST LIMIT 1",
                [delivery_date],
            )
            found = cur.fetchone()
        if found is None:
            return None
        return dict(zip(("run_id", "rows_kept"), found, strict=True))

    def replace_delivery(
        self,
        delivery_date: dt.date,
        tables: Mapping[str, Rows],
        run: Mapping[str, Any] | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        self._check_names(tables)
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                for name, rows in tables.items():
                    incoming = conform(rows, DELIVERY_TABLES[name].schema, delivery_date)
                    cur.execute(
                        sql.SQL("DELETE FROM {} WHERE delivery_date = %s").format(
                            sql.Identifier(name)
                        ),
                        [delivery_date],
                    )
                    self._copy(cur, name, incoming)
                if run is not None:
                    self._write_run(cur, run)
                if before_commit is not None:
                    before_commit()
        except psycopg.Error as err:
            raise WarehouseError(
                f"loading into {self.url} failed and was rolled back: {mask_url(_one_line(err))}"
            ) from None

    def record_run(self, record: Mapping[str, Any]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._copy(cur, "pipeline_runs", run_row(record).to_reader())

    def update_run(self, record: Mapping[str, Any]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._write_run(cur, record)

    def _write_run(self, cur: psycopg.Cursor, record: Mapping[str, Any]) -> None:
        cur.execute("DELETE FROM pipeline_runs WHERE run_id = %s", [record["run_id"]])
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
        schema = TABLES[name].schema
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)))
            rows = [dict(zip(schema.names, row, strict=True)) for row in cur.fetchall()]
        self.conn.commit()
        return pa.Table.from_pylist(rows, schema)

    def read_delivery(self, name: str, delivery_date: dt.date) -> pa.Table:
        column = date_column(name)  # refuses a name that is no table
        schema = TABLES[name].schema
        query = sql.SQL("SELECT * FROM {} WHERE {} = %s").format(
            sql.Identifier(name), sql.Identifier(column)
        )
        with self.conn.cursor() as cur:
            cur.execute(query, (delivery_date,))
            rows = [dict(zip(schema.names, row, strict=True)) for row in cur.fetchall()]
        self.conn.commit()
        return pa.Table.from_pylist(rows, schema)

    def close(self) -> None:
        self.conn.close()
