"""What both warehouse targets share: the contract, type mapping and conforming of rows."""

from __future__ import annotations

import datetime as dt
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from healthanalytics.contracts import DELIVERY_TABLES, TABLES

Rows = pa.Table | pa.RecordBatchReader

# Greedy up to the last "@": a password may itself hold an unescaped "@".
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)\S*@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|[^\s&]+)", re.IGNORECASE)


class WarehouseError(RuntimeError):
    """The database cannot be reached, refuses the login or holds tables of another shape."""


class WarehouseUnavailableError(WarehouseError):
    """The database server cannot be reached or refused the connection (down, restarting, a
    network fault; also a refused login, which psycopg does not tell apart): running again
    later may succeed."""


def mask_url(text: str) -> str:
    """`text` with any password (in a URL or a key=value DSN) replaced by ***."""
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _KEYWORD_PASSWORD.sub(r"\1***", text)


def sql_type(dtype: pa.DataType, *, postgres: bool) -> str:
    """The column type both targets use for an Arrow type of the contracts."""
    if pa.types.is_string(dtype):
        return "TEXT"
    if pa.types.is_int64(dtype):
        return "BIGINT"
    if pa.types.is_float64(dtype):
        return "DOUBLE PRECISION" if postgres else "DOUBLE"
    if pa.types.is_date32(dtype):
        return "DATE"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMPTZ"
    raise TypeError(f"no SQL type for {dtype}")


def columns_query(marker: str) -> str:
    """The query listing a table's columns and their types in order; `marker` is the driver's
    parameter mark."""
    return (
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_name = {marker} AND table_schema = current_schema() "
        "ORDER BY ordinal_position"
    )


# information_schema's spellings of the types `sql_type` creates, in DuckDB and PostgreSQL
_SAME_TYPE = {
    "VARCHAR": "TEXT",
    "DOUBLE PRECISION": "DOUBLE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
}


def check_shape(name: str, found: list[tuple[str, str]], where: str, remedy: str) -> None:
    """Refuse a table whose columns or column types are not the ones the contracts define
    (a 32-bit presc_id, say, would fail on the first NPI above 2,147,483,647)."""
    if missing_trailing_columns(name, found, where, remedy):
        _refuse(name, found, where, remedy)


def missing_trailing_columns(
    name: str, found: list[tuple[str, str]], where: str, remedy: str
) -> list[pa.Field]:
    """The columns the contracts add after those `found` in an existing table (a table made by an
    earlier release), for the caller to add with ALTER TABLE; [] when the table is up to date.
    Any other difference (a column of another type or name, another order, a column the contracts
    lack) is refused as `check_shape` refuses it."""
    expected, got = _expected(name), _found(found)
    if got != expected[: len(got)]:
        _refuse(name, found, where, remedy)
    return list(TABLES[name].schema)[len(got) :]


def _expected(name: str) -> list[tuple[str, str]]:
    """The contract's columns with the types information_schema reports (as `_found` spells
    them)."""
    return [(field.name, sql_type(field.type, postgres=False)) for field in TABLES[name].schema]


def _found(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(column, _SAME_TYPE.get(kind.upper(), kind.upper())) for column, kind in found]


def _refuse(name: str, found: list[tuple[str, str]], where: str, remedy: str) -> None:
    expected, got = _expected(name), _found(found)
    unexpected = [f"{column} {kind}" for column, kind in got if (column, kind) not in expected]
    missing = [f"{column} {kind}" for column, kind in expected if (column, kind) not in got]
    differences = "; ".join(
        f"{label} {', '.join(columns)}"
        for label, columns in (("unexpected", unexpected), ("missing", missing))
        if columns
    )
    raise WarehouseError(
        f"table {name} in {where} is not of the expected shape "
        f"({differences or 'columns in another order'}): {remedy}"
    )


def conform(rows: Rows, schema: pa.Schema, delivery_date: dt.date) -> pa.RecordBatchReader:
    """`rows` in the table's column order and types, with `delivery_date` added, streamed."""
    source = rows.to_reader() if isinstance(rows, pa.Table) else rows
    names = [name for name in schema.names if name != "delivery_date"]
    missing = [name for name in names if name not in source.schema.names]
    if missing:
        raise WarehouseError(f"rows for loading lack columns: {', '.join(missing)}")

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in source:
            columns = [
                pa.array([delivery_date] * batch.num_rows, pa.date32())
                if name == "delivery_date"
                else pc.cast(batch.column(name), schema.field(name).type)
                for name in schema.names
            ]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


ABANDONED = "abandoned"


def date_column(name: str) -> str:
    """The column holding a table's delivery date: `run_date` in pipeline_runs."""
    if name not in TABLES:
        raise WarehouseError(f"not a warehouse table: {name}")
    return "run_date" if name == "pipeline_runs" else "delivery_date"


def abandoned_error(found_by: str) -> str:
    """The `error` an abandoned run's row gets."""
    noticed = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return (
        "abandoned: the run stopped without recording its outcome (killed, or its machine "
        f"stopped); found by run {found_by} at {noticed}"
    )


def run_row(record: Mapping[str, Any]) -> pa.Table:
    """A pipeline_runs record as a one-row table of the table's schema (unknown keys dropped)."""
    schema = TABLES["pipeline_runs"].schema
    return pa.Table.from_pylist([{name: record.get(name) for name in schema.names}], schema)


class Warehouse(ABC):
    """Delivery tables replaced per run date in one transaction; one pipeline_runs row per run,
    inserted as `running` when the run starts and updated when it ends."""

    kind: str

    def lock_delivery(self, delivery_date: dt.date, timeout: float) -> None:
        """Hold, until `close`, the right to deliver `delivery_date` into this warehouse; a
        RunLockError when another run still holds it after `timeout` seconds. (A DuckDB file
        is held whole by the process that opened it, which is lock enough.)"""
        return None

    @abstractmethod
    def abandon_dead_runs(self, found_by: str) -> list[dict[str, Any]]:
        """Mark `abandoned` the `running` rows whose run is gone (it holds no lock any more);
        returns those rows' run_id, run_date, host, pid and started_at."""

    @abstractmethod
    def last_delivery(self, delivery_date: dt.date) -> dict[str, Any] | None:
        """run_id and rows_kept of the last successful run of `delivery_date` (the delivery a
        new run of that date replaces), or None."""

    @abstractmethod
    def update_run(self, record: Mapping[str, Any]) -> None:
        """Replace the pipeline_runs row of `record`'s run_id with `record`."""

    @abstractmethod
    def replace_delivery(
        self,
        delivery_date: dt.date,
        tables: Mapping[str, Rows],
        run: Mapping[str, Any] | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        """Replace `delivery_date`'s rows of every table in `tables` and, when given, write the
        run's `pipeline_runs` row (`run`, status `success`), all in one transaction: a delivery
        in the tables is recorded as the successful run that made it, even when the process
        dies right after the commit. `before_commit` is called inside the transaction, last
        before the commit: what it raises rolls everything back and is raised as it is."""

    @abstractmethod
    def record_run(self, record: Mapping[str, Any]) -> None:
        """Append one pipeline_runs row (a run's first record, or a run refused at start)."""

    @abstractmethod
    def read_table(self, name: str) -> pa.Table:
        """A whole table (for checks and tests; tables here are report-sized)."""

    @abstractmethod
    def read_delivery(self, name: str, delivery_date: dt.date) -> pa.Table:
        """The rows of one delivery date: a delivery table's `delivery_date` rows, or the
        `pipeline_runs` rows of that `run_date` (a parametrised query, never the whole table)."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _check_names(tables: Mapping[str, Rows]) -> None:
        unknown = sorted(set(tables) - set(DELIVERY_TABLES))
        if unknown:
            raise WarehouseError(f"not a delivery table: {', '.join(unknown)}")
