"""Errors a user meets: one clear line, a non-zero exit, no traceback, no partial output.

Each case runs the pipeline in process and asserts the line the command prints after `error: `
(`user_error_message`); the last few run the real command, for what only it does: its exit
codes, the line on stderr, and the errors raised before the pipeline starts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from tests.conftest import SAMPLE, error_line, refused, run_case, run_cli


@pytest.fixture
def refuse(tmp_path):
    """`refuse(fact=SAMPLE, db=<a DuckDB file>, **settings)`: a run that must fail, into this
    test's output folder; returns its one-line error."""

    def go(fact: Path | str = SAMPLE, **settings) -> str:
        settings.setdefault("db", str(tmp_path / "w.duckdb"))
        return refused(fact, output=settings.pop("output", tmp_path / "out"), **settings).error

    return go


def test_missing_fact_file(refuse, tmp_path):
    message = refuse(tmp_path / "nope.csv")
    assert "fact file not found" in message and "nope.csv" in message


def test_header_of_neither_layout_names_missing_columns(refuse, tmp_path):
    fact = tmp_path / "odd.csv"
    fact.write_text("npi,drug_name,total_claim_count\n1234567893,X,12\n")
    message = refuse(fact)
    assert "odd.csv" in message
    assert "nppes_provider_city" in message and "nppes_provider_state" in message


def test_missing_city_columns_named(refuse, tmp_path):
    cities = tmp_path / "cities.csv"
    cities.write_text("city,state_id\nAustin,TX\n")
    message = refuse(city=cities)
    assert "cities.csv" in message and "population" in message and "zips" in message


def test_unreadable_compressed_file(refuse, tmp_path):
    # a bzip2 magic number followed by garbage: the file cannot be decompressed
    fact = tmp_path / "broken.csv.bz2"
    fact.write_bytes(b"BZh9" + b"\x00garbage" * 10)
    assert "broken.csv.bz2" in refuse(fact)


def test_ragged_csv_row_is_reported_not_dropped(refuse, tmp_path):
    fact = tmp_path / "ragged.csv"
    lines = SAMPLE.read_text().splitlines()
    lines.insert(50, "1234567893,ONLY,THREE")
    fact.write_text("\n".join(lines) + "\n")
    assert "ragged.csv" in refuse(fact)


def test_unreachable_database_masks_password(tmp_path):
    url = "postgresql://analyst:s3cr3t-pw@127.0.0.1:1/launch"
    outcome = refused(SAMPLE, output=tmp_path / "out", db=url)
    assert "s3cr3t-pw" not in outcome.error and "***" in outcome.error
    assert not any("s3cr3t-pw" in message for message in outcome.log)


def test_missing_database_is_refused(refuse, pg_url):
    # the server is up but refuses the connection: that database does not exist
    url = pg_url.rsplit("/", 1)[0] + "/no_such_database"
    assert "no_such_database" in refuse(db=url)


@pytest.mark.parametrize("content", [b"", b"\n"])
def test_empty_fact_file(refuse, tmp_path, content):
    # no header row at all
    fact = tmp_path / "empty.csv"
    fact.write_bytes(content)
    assert "empty.csv" in refuse(fact)


def test_hadoop_uri_on_duckdb_points_to_spark(refuse):
    # viewfs:// is Hadoop's: the DuckDB engine (fsspec) cannot list it
    message = refuse("viewfs://cluster/data/fact.csv.gz")
    assert "viewfs://cluster/data/fact.csv.gz" in message and "Spark engine" in message


def test_uri_output_on_duckdb_points_to_spark(tmp_path):
    outcome = refused(SAMPLE, output="viewfs://cluster/out", db=str(tmp_path / "w.duckdb"))
    assert outcome.error == (
        "--output viewfs://cluster/out: the duckdb engine writes its outputs to a local folder "
        "or an s3:// prefix; run with --engine spark to write to another cluster file system URI"
    )
    # refused before any stage ran; the run is recorded as failed, as every failed run is
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]
    assert not any(message.startswith("stage ingest") for message in outcome.log)
    assert [
        (run["status"], run["error"].split(":")[0]) for run in outcome.rows("pipeline_runs")
    ] == [("failed", "EngineError")]


def test_failed_load_leaves_the_earlier_report_files(tmp_path, pg_url):
    # the report folders move in only after the database took the rows (quality_checks.json
    # is this run's own: it explains a failed check)
    out = tmp_path / "out"

    def reports() -> dict[Path, bytes]:
        return {
            path.relative_to(out): path.read_bytes()
            for path in out.rglob("*")
            if path.is_file() and path.name not in ("quality_checks.json", ".healthanalytics.lock")
        }

    first = run_case(SAMPLE, output=out, db=pg_url, run_date=dt.date(2026, 1, 1))
    assert first.error is None
    before = reports()
    with psycopg.connect(pg_url, autocommit=True) as admin:  # a rule the load breaks
        admin.execute(
            "ALTER TABLE prescriber_report ADD CONSTRAINT before_2026_01_02 "
            "CHECK (delivery_date < DATE '2026-01-02')"
        )
    second = run_case(SAMPLE, output=out, db=pg_url, run_date=dt.date(2026, 1, 2))
    assert second.error is not None and "before_2026_01_02" in second.error
    assert reports() == before
    # the first run's launch brief is left as it was too: the failed run wrote none
    assert sorted(path.name for path in out.iterdir()) == [
        ".healthanalytics.lock", "charts", "city_report", "launch_brief.html",
        "prescriber_report", "quality_checks.json"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'"3,abc\n', 'line 107: a quoted value is never closed ("3,abc); fix or remove'),
        (b'"3,abc\n' + SAMPLE.read_bytes().split(b"\n", 2)[1] + b"\n",  # the row runs on
         'line 107: a quoted value is never closed ("3,abc); fix or remove'),
        (b"3,\xff\xfe\n", "line 107: byte 0xff is not UTF-8 text (3,\ufffd\ufffd); pass --encoding "
                          "latin-1 or --encoding cp1252 if the file is written so, or save it as "
                          "UTF-8"),
    ],
)  # fmt: skip
def test_malformed_csv_row_says_what_is_wrong(refuse, tmp_path, content, expected):
    fact = tmp_path / "bad.csv"
    fact.write_bytes(SAMPLE.read_bytes() + content)
    assert refuse(fact).startswith(f"{fact}: {expected}")


def test_memory_limit_duckdb_refuses_is_named_and_leaves_no_scratch(refuse, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    message = refuse(memory_limit="4GiBs", temp_directory=str(scratch))
    assert "memory limit 4GiBs" in message and "--memory-limit" in message
    assert list(scratch.iterdir()) == []


def test_unusable_temp_directory_is_named(refuse, tmp_path):
    message = refuse(temp_directory=str(tmp_path / "no" / "such"))
    assert f"--temp-directory {tmp_path / 'no' / 'such'}" in message


# --- the command itself: exit codes and the line on stderr ------------------------------------


def test_command_fails_with_exit_1_and_one_line(tmp_path):
    # an error of the pipeline: exit 1, the line on stderr, nothing written but the log and
    # the failed run's row
    done = run_cli("--fact", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "out"),
                   "--db", str(tmp_path / "w.duckdb"), "--log-file", str(tmp_path / "run.log"),
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert error_line(done) == (
        f"error: fact file not found: {tmp_path / 'nope.csv'} — check the path or pass --fact."
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "run.log", "w.duckdb"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".healthanalytics.lock"]
    assert "run failed: fact file not found" in (tmp_path / "run.log").read_text()


def test_database_url_from_environment_is_masked(tmp_path):
    env = {"HEALTHANALYTICS_DB_URL": "postgresql://analyst:env-pw-123@127.0.0.1:1/launch"}
    done = run_cli("--fact", str(SAMPLE), "--output", str(tmp_path / "out"),
                   "--log-file", str(tmp_path / "run.log"), cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == 5  # unreachable: tests/test_exit_codes.py
    message = error_line(done)
    assert "env-pw-123" not in message and "127.0.0.1" in message
    assert "env-pw-123" not in done.stderr
    assert "env-pw-123" not in (tmp_path / "run.log").read_text()


def test_bad_run_date_is_a_usage_error(tmp_path):
    done = run_cli("--run-date", "2026-13-45", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Invalid value for '--run-date'" in done.stderr


def test_uri_output_needs_a_database_given(tmp_path):
    # the default warehouse would go into the output folder, which is not local
    done = run_cli("--output", "viewfs://cluster/out", "--engine", "spark",
                   "--log-file", str(tmp_path / "run.log"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert error_line(done) == (
        "error: invalid settings: --output viewfs://cluster/out is a URI, where the default "
        "DuckDB warehouse (<output>/healthanalytics.duckdb) cannot be kept: pass --db with a "
        "local DuckDB file or a postgresql:// URL"
    )
    assert list(tmp_path.iterdir()) == []  # stopped before anything was written, even the log


def test_unwritable_log_file_is_named(tmp_path):
    (tmp_path / "a_file").write_text("")
    log = tmp_path / "a_file" / "run.log"
    done = run_cli("--fact", str(SAMPLE), "--output", str(tmp_path / "out"),
                   "--db", str(tmp_path / "w.duckdb"), "--log-file", str(log),
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert error_line(done).startswith(f"error: --log-file {log} cannot be written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
