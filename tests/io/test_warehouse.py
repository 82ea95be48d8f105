"""Both warehouse targets: same tables, per-date replacement in one transaction, masked errors."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from healthanalytics.contracts import TABLES
from healthanalytics.io.warehouse import WarehouseError, mask_url, open_warehouse
from healthanalytics.io.warehouse.base import sql_type

DAY1, DAY2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
PIPELINE_RUNS = TABLES["pipeline_runs"].schema
PRESCRIBER_REPORT = TABLES["prescriber_report"].schema


def prescribers(*ids: int) -> pa.Table:
    rows = [
        {"presc_id": presc_id, "presc_fullname": f"NAME {i}", "presc_state": "NY",
         "country_name": "USA", "years_of_exp": 20 + i, "trx_cnt": 100 - i,
         "total_day_supply": 30.5 * i, "total_drug_cost": None if i == 0 else 1 / 3, "rank": i + 1}
        for i, presc_id in enumerate(ids)
    ]  # fmt: skip
    return pa.Table.from_pylist(
        rows, PRESCRIBER_REPORT.remove(PRESCRIBER_REPORT.names.index("delivery_date"))
    )


def with_date(table: pa.Table, day: dt.date) -> list[dict]:
    return [{**row, "delivery_date": day} for row in table.to_pylist()]


@pytest.fixture(params=["duckdb", "postgres"])
def target(request, tmp_path) -> str:
    if request.param == "duckdb":
        return str(tmp_path / "nested" / "w.duckdb")
    return request.getfixturevalue("pg_url")


def sorted_rows(target: str, name: str) -> list[dict]:
    with open_warehouse(target) as warehouse:
        return sorted(warehouse.read_table(name).to_pylist(), key=repr)


def test_replace_keeps_other_dates_and_64_bit_ids(target):
    first, second, again = (
        prescribers(1003000126, 2999999999),
        prescribers(1518060555),
        prescribers(2147483648),
    )
    with open_warehouse(target) as warehouse:
        warehouse.replace_delivery(DAY1, {"prescriber_report": first})
        warehouse.replace_delivery(DAY2, {"prescriber_report": second})
        warehouse.replace_delivery(DAY1, {"prescriber_report": again})
    assert sorted_rows(target, "prescriber_report") == sorted(
        with_date(again, DAY1) + with_date(second, DAY2), key=repr
    )


def test_a_check_refusing_before_the_commit_rolls_back_and_is_raised(target):
    # as a stale S3 run is refused (stages/deliver.py): its error, as it is, and nothing kept
    with open_warehouse(target) as warehouse:
        warehouse.replace_delivery(DAY1, {"prescriber_report": prescribers(1003000126)})

    class Refused(Exception):
        pass

    def refuse() -> None:
        raise Refused("the pointer moved")

    with open_warehouse(target) as warehouse, pytest.raises(Refused):
        warehouse.replace_delivery(
            DAY1, {"prescriber_report": prescribers(1518060555)}, before_commit=refuse
        )
    assert sorted_rows(target, "prescriber_report") == with_date(prescribers(1003000126), DAY1)


def test_failed_load_rolls_back_every_table(target):
    with open_warehouse(target) as warehouse:
        warehouse.replace_delivery(DAY1, {"prescriber_report": prescribers(1003000126)})

    def broken():
        yield prescribers(1518060555).to_batches()[0]
        raise OSError("disk vanished")

    reader = pa.RecordBatchReader.from_batches(prescribers(1).schema, broken())
    with open_warehouse(target) as warehouse, pytest.raises((OSError, WarehouseError)):
        warehouse.replace_delivery(
            DAY1, {"city_report": _empty_city(), "prescriber_report": reader}
        )
    assert sorted_rows(target, "prescriber_report") == with_date(prescribers(1003000126), DAY1)


def test_run_row_is_written_with_the_delivery_or_not_at_all(target):
    # the run's success row commits with its rows: a process killed after the commit is still
    # recorded as the run that delivered them, and a failed load leaves the row as it was
    from healthanalytics.io.warehouse.base import run_row

    run = {"run_id": "r1", "run_date": DAY1, "status": "running", "rows_kept": 1}
    with open_warehouse(target) as warehouse:
        warehouse.record_run(run)
        warehouse.replace_delivery(
            DAY1, {"prescriber_report": prescribers(1003000126)}, {**run, "status": "success"}
        )

    def broken():
        yield prescribers(1518060555).to_batches()[0]
        raise OSError("disk vanished")

    reader = pa.RecordBatchReader.from_batches(prescribers(1).schema, broken())
    second = {**run, "run_id": "r2"}
    with open_warehouse(target) as warehouse, pytest.raises((OSError, WarehouseError)):
        warehouse.record_run(second)
        warehouse.replace_delivery(
            DAY1, {"prescriber_report": reader}, {**second, "status": "success"}
        )
    expected = [run_row({**run, "status": "success"}), run_row(second)]
    assert sorted_rows(target, "pipeline_runs") == sorted(
        (row for table in expected for row in table.to_pylist()), key=repr
    )


def _empty_city() -> pa.Table:
    return TABLES["city_report"].schema.empty_table().drop_columns(["delivery_date"])


def test_runs_are_appended(target):
    record = {"run_id": "a", "run_date": DAY1, "engine": "duckdb", "status": "success",
              "started_at": dt.datetime(2026, 1, 1, 8, tzinfo=dt.UTC), "rows_read": 105,
              "rows_matched_share": 0.25, "not_a_column": "ignored"}  # fmt: skip
    with open_warehouse(target) as warehouse:
        warehouse.record_run(record)
        warehouse.record_run({**record, "run_id": "b", "status": "failed"})
    rows = sorted_rows(target, "pipeline_runs")
    assert [(r["run_id"], r["status"], r["rows_read"], r["rows_matched_share"]) for r in rows] == [
        ("a", "success", 105, 0.25),
        ("b", "failed", 105, 0.25),
    ]
    assert rows[0]["started_at"] == record["started_at"]


def test_missing_columns_are_refused(target):
    with open_warehouse(target) as warehouse, pytest.raises(WarehouseError, match="presc_state"):
        warehouse.replace_delivery(
            DAY1, {"prescriber_report": prescribers(1).drop_columns(["presc_state"])}
        )


def test_table_of_another_shape_is_refused(tmp_path):
    import duckdb

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE city_report (city TEXT, trx_counts TEXT)")
    with pytest.raises(WarehouseError) as caught:
        open_warehouse(str(path))
    assert str(caught.value) == (
        f"table city_report in {path} is not of the expected shape (unexpected trx_counts TEXT; "
        "missing state_name TEXT, county_name TEXT, population BIGINT, zip_counts BIGINT, "
        "trx_counts BIGINT, presc_counts BIGINT, state_id TEXT, lat DOUBLE, lng DOUBLE, "
        "delivery_date DATE): use a new database file or drop the table"
    )


def test_table_with_a_32_bit_id_is_refused(target):
    # a 32-bit presc_id (RULES: 64-bit) must not come back through a table made by an older tool
    open_warehouse(target).close()
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as con:
            con.execute("ALTER TABLE prescriber_report ALTER COLUMN presc_id TYPE integer")
    else:
        import duckdb

        with duckdb.connect(target) as con:
            con.execute("ALTER TABLE prescriber_report ALTER presc_id TYPE INTEGER")
    with pytest.raises(WarehouseError) as caught:
        open_warehouse(target)
    assert "table prescriber_report" in str(caught.value)
    assert "(unexpected presc_id INTEGER; missing presc_id BIGINT)" in str(caught.value)


def test_unreachable_postgres_error_hides_password():
    with pytest.raises(WarehouseError) as caught:
        open_warehouse("postgresql://analyst:pa55word@127.0.0.1:1/launch")
    assert "pa55word" not in str(caught.value)
    assert "analyst:***@127.0.0.1:1/launch" in str(caught.value)


def test_unknown_scheme_is_refused():
    with pytest.raises(WarehouseError, match="mysql"):
        open_warehouse("mysql://u:secret@h/db")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("host=h password=secret user=u", "host=h password=*** user=u"),
        ("postgresql://h/db?user=u&password=secret", "postgresql://h/db?user=u&password=***"),
        ("/tmp/w.duckdb", "/tmp/w.duckdb"),
    ],
)
def test_mask_url(text, masked):
    assert mask_url(text) == masked


def test_many_batches_from_a_python_fed_reader_load(target):
    # an engine streams quarantine batches through Python; DuckDB once deadlocked on this
    import threading

    one = prescribers(1003000126).to_batches()[0]
    batches = (one for _ in range(200))
    reader = pa.RecordBatchReader.from_batches(one.schema, batches)
    errors: list[BaseException] = []

    def load() -> None:
        try:
            with open_warehouse(target) as warehouse:
                warehouse.replace_delivery(DAY1, {"prescriber_report": reader})
        except BaseException as err:  # surfaced below
            errors.append(err)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "loading hung"
    assert errors == []
    assert len(sorted_rows(target, "prescriber_report")) == 200


# pipeline_runs as the first release made it: its columns up to prescriber_report_rows
_FIRST_RUNS = PIPELINE_RUNS.names[: PIPELINE_RUNS.names.index("prescriber_report_rows") + 1]


def _execute(target: str, *statements: str) -> None:
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as con:
            for statement in statements:
                con.execute(statement)
    else:
        from pathlib import Path

        import duckdb

        Path(target).parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(target) as con:
            for statement in statements:
                con.execute(statement)


def test_an_earlier_pipeline_runs_gains_the_new_columns_and_keeps_its_rows(target):
    postgres = target.startswith("postgresql://")
    columns = ", ".join(
        f"{name} {sql_type(PIPELINE_RUNS.field(name).type, postgres=postgres)}"
        for name in _FIRST_RUNS
    )
    _execute(
        target,
        f"CREATE TABLE pipeline_runs ({columns})",
        "INSERT INTO pipeline_runs (run_id, run_date, status, rows_read, prescriber_report_rows) "
        "VALUES ('old', DATE '2026-01-01', 'success', 105, 7)",
    )
    with open_warehouse(target) as warehouse:
        warehouse.record_run({"run_id": "new", "run_date": DAY2, "status": "running", "pid": 42})
    with open_warehouse(target) as warehouse:  # opened again: nothing more to add
        table = warehouse.read_table("pipeline_runs")
    assert table.column_names == PIPELINE_RUNS.names
    added = PIPELINE_RUNS.names[len(_FIRST_RUNS) :]
    assert "host" in added and "pid" in added
    rows = sorted(table.to_pylist(), key=lambda row: row["run_id"])
    kept = [(r["run_id"], r["status"], r["rows_read"], r["prescriber_report_rows"], r["pid"])
            for r in rows]  # fmt: skip
    assert kept == [("new", "running", None, None, 42), ("old", "success", 105, 7, None)]
    assert all(rows[1][name] is None for name in added)


def test_a_table_with_a_column_the_contract_lacks_is_still_refused(target):
    # only columns appended at the end are added; anything else is refused as before
    open_warehouse(target).close()
    _execute(target, "ALTER TABLE pipeline_runs ADD COLUMN note TEXT")
    with pytest.raises(WarehouseError) as caught:
        open_warehouse(target)
    assert "table pipeline_runs" in str(caught.value)
    assert "(unexpected note TEXT)" in str(caught.value)


@pytest.mark.postgres
def test_runs_creating_the_tables_at_once_do_not_collide(postgres_url):
    # every attempt in a new database, the openers released together: without the lock on
    # creating tables, CREATE TABLE IF NOT EXISTS races fail on pg_type's unique index
    import threading
    import uuid

    import psycopg
    from psycopg import sql

    for _ in range(5):
        name = f"ha_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = postgres_url.partition("?")[0].rsplit("/", 1)[0] + "/" + name
        start, errors = threading.Barrier(4), []

        def open_at_once(
            url: str = url, start: threading.Barrier = start, errors: list = errors
        ) -> None:
            start.wait()
            try:
                open_warehouse(url).close()
            except BaseException as err:  # surfaced below
                errors.append(err)

        threads = [threading.Thread(target=open_at_once) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        assert errors == []


def test_read_delivery_reads_one_date(target):
    # a delivery table by delivery_date, pipeline_runs by run_date; a name with a quote is no
    # table (the names reach SQL only as quoted identifiers, the date only as a parameter)
    run = {"run_id": "r1", "run_date": DAY2, "engine": "duckdb", "status": "success"}
    with open_warehouse(target) as warehouse:
        warehouse.replace_delivery(DAY1, {"prescriber_report": prescribers(1003000126)})
        warehouse.replace_delivery(DAY2, {"prescriber_report": prescribers(1518060555)}, run)
        day2 = warehouse.read_delivery("prescriber_report", DAY2)
        runs = warehouse.read_delivery("pipeline_runs", DAY2).to_pylist()
        none = warehouse.read_delivery("pipeline_runs", DAY1)
        with pytest.raises(WarehouseError, match="not a warehouse table"):
            warehouse.read_delivery('prescriber_report" --', DAY1)
    assert day2.schema == PRESCRIBER_REPORT
    assert day2.to_pylist() == with_date(prescribers(1518060555), DAY2)
    assert [(r["run_id"], r["status"]) for r in runs] == [("r1", "success")]
    assert none.num_rows == 0 and none.schema.names == PIPELINE_RUNS.names
