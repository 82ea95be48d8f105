"""Errors a user meets: one clear line, a non-zero exit, no traceback, no partial output."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from healthanalytics.io.inputs import bundled
from healthanalytics.io.warehouse import open_warehouse
from tests.test_cli_end_to_end import run_cli

SAMPLE = Path(bundled("prescriber_fact_sample.csv"))


def failing_run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run the CLI expecting failure; returns stderr after checking the common promises."""
    out = tmp_path / "out"
    given = "--db" in args or "HEALTHANALYTICS_DB_URL" in (env or {})
    db = [] if given else ["--db", str(tmp_path / "w.duckdb")]
    output = [] if "--output" in args else ["--output", str(out)]
    done = run_cli(*output, "--log-file", str(tmp_path / "run.log"), *db, *args,
                   cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert not (out / "city_report").exists() and not (out / "prescriber_report").exists()
    return " ".join(done.stderr.split())


def test_missing_fact_file(tmp_path):
    message = failing_run(tmp_path, "--fact", str(tmp_path / "nope.csv"))
    assert "fact file not found" in message and "nope.csv" in message


def test_header_of_neither_layout_names_missing_columns(tmp_path):
    fact = tmp_path / "odd.csv"
    fact.write_text("npi,drug_name,total_claim_count\n1234567893,X,12\n")
    message = failing_run(tmp_path, "--fact", str(fact))
    assert "odd.csv" in message
    assert "nppes_provider_city" in message and "nppes_provider_state" in message


def test_missing_city_columns_named(tmp_path):
    cities = tmp_path / "cities.csv"
    cities.write_text("city,state_id\nAustin,TX\n")
    message = failing_run(tmp_path, "--city", str(cities))
    assert "cities.csv" in message and "population" in message and "zips" in message


def test_unreadable_compressed_file(tmp_path):
    # a bzip2 magic number followed by garbage: the file cannot be decompressed
    fact = tmp_path / "broken.csv.bz2"
    fact.write_bytes(b"BZh9" + b"\x00garbage" * 10)
    message = failing_run(tmp_path, "--fact", str(fact))
    assert "broken.csv.bz2" in message


def test_ragged_csv_row_is_reported_not_dropped(tmp_path):
    fact = tmp_path / "ragged.csv"
    lines = SAMPLE.read_text().splitlines()
    lines.insert(50, "1234567893,ONLY,THREE")
    fact.write_text("\n".join(lines) + "\n")
    message = failing_run(tmp_path, "--fact", str(fact))
    assert "ragged.csv" in message


def test_unreachable_database_masks_password(tmp_path):
    url = "postgresql://analyst:s3cr3t-pw@127.0.0.1:1/launch"
    message = failing_run(tmp_path, "--db", url)
    assert "s3cr3t-pw" not in message and "***" in message
    assert "s3cr3t-pw" not in (tmp_path / "run.log").read_text()


def test_database_url_from_environment_is_masked(tmp_path):
    env = {"HEALTHANALYTICS_DB_URL": "postgresql://analyst:env-pw-123@127.0.0.1:1/launch"}
    message = failing_run(tmp_path, env=env)
    assert "env-pw-123" not in message and "127.0.0.1" in message


def test_missing_database_is_refused(tmp_path, pg_url):
    # the server is up but refuses the connection: that database does not exist
    url = pg_url.rsplit("/", 1)[0] + "/no_such_database"
    message = failing_run(tmp_path, "--db", url)
    assert "no_such_database" in message


def test_bad_run_date(tmp_path):
    done = run_cli("--run-date", "2026-13-45", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr


@pytest.mark.parametrize("content", [b"", b"\n"])
def test_empty_fact_file(tmp_path, content):
    # no header row at all
    fact = tmp_path / "empty.csv"
    fact.write_bytes(content)
    message = failing_run(tmp_path, "--fact", str(fact))
    assert "empty.csv" in message


def test_hadoop_uri_on_duckdb_points_to_spark(tmp_path):
    # viewfs:// is Hadoop's: the DuckDB engine (fsspec) cannot list it
    message = failing_run(tmp_path, "--fact", "viewfs://cluster/data/fact.csv.gz")
    assert "viewfs://cluster/data/fact.csv.gz" in message and "Spark engine" in message


def test_uri_output_needs_a_database_given(tmp_path):
    # the default warehouse would go into the output folder, which is not local
    done = run_cli("--output", "viewfs://cluster/out", "--engine", "spark",
                   "--log-file", str(tmp_path / "run.log"), cwd=tmp_path)  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert " ".join(done.stderr.split()) == (
        "error: invalid settings: --output viewfs://cluster/out is a URI, where the default "
        "DuckDB warehouse (<output>/healthanalytics.duckdb) cannot be kept: pass --db with a "
        "local DuckDB file or a postgresql:// URL"
    )
    assert list(tmp_path.iterdir()) == []  # stopped before anything was written, even the log


def test_uri_output_on_duckdb_points_to_spark(tmp_path):
    message = failing_run(tmp_path, "--output", "viewfs://cluster/out")
    assert message.endswith(
        "error: --output viewfs://cluster/out: the duckdb engine writes its outputs to a local "
        "folder only; give --output a local folder, or run with --engine spark to write to a "
        "cluster file system URI"
    )
    # refused before any stage ran; the run is recorded as failed, as every failed run is
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.log", "w.duckdb"]
    assert "stage ingest" not in (tmp_path / "run.log").read_text()
    with open_warehouse(str(tmp_path / "w.duckdb")) as warehouse:
        runs = warehouse.read_table("pipeline_runs").to_pylist()
    assert [(run["status"], run["error"].split(":")[0]) for run in runs] == [
        ("failed", "EngineError")
    ]


def test_failed_load_leaves_the_earlier_report_files(tmp_path, pg_url):
    # the report folders move in only after the database took the rows (quality_checks.json
    # is this run's own: it explains a failed check)
    out = tmp_path / "out"
    common = ["--fact", str(SAMPLE), "--output", str(out), "--db", pg_url, "--log-file",
              str(tmp_path / "log")]  # fmt: skip

    def reports() -> dict[Path, bytes]:
        return {
            path.relative_to(out): path.read_bytes()
            for path in out.rglob("*")
            if path.is_file() and path.name not in ("quality_checks.json", ".healthanalytics.lock")
        }

    assert run_cli(*common, "--run-date", "2026-01-01", cwd=tmp_path).returncode == 0
    before = reports()
    with psycopg.connect(pg_url, autocommit=True) as admin:  # a rule the load breaks
        admin.execute(
            "ALTER TABLE prescriber_report ADD CONSTRAINT before_2026_01_02 "
            "CHECK (delivery_date < DATE '2026-01-02')"
        )
    done = run_cli(*common, "--run-date", "2026-01-02", cwd=tmp_path)
    assert done.returncode != 0 and "before_2026_01_02" in done.stderr
    assert reports() == before
    assert sorted(path.name for path in out.iterdir()) == [
        ".healthanalytics.lock", "city_report", "prescriber_report", "quality_checks.json"
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
def test_malformed_csv_row_says_what_is_wrong(tmp_path, content, expected):
    fact = tmp_path / "bad.csv"
    fact.write_bytes(SAMPLE.read_bytes() + content)
    assert f"{fact}: {expected}" in failing_run(tmp_path, "--fact", str(fact))


def test_memory_limit_duckdb_refuses_is_named_and_leaves_no_scratch(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    message = failing_run(tmp_path, "--memory-limit", "4GiBs", "--temp-directory", str(scratch))
    assert "memory limit 4GiBs" in message and "--memory-limit" in message
    assert list(scratch.iterdir()) == []


def test_unusable_temp_directory_is_named(tmp_path):
    message = failing_run(tmp_path, "--temp-directory", str(tmp_path / "no" / "such"))
    assert f"--temp-directory {tmp_path / 'no' / 'such'}" in message


def test_unwritable_log_file_is_named(tmp_path):
    (tmp_path / "a_file").write_text("")
    message = failing_run(tmp_path, "--log-file", str(tmp_path / "a_file" / "run.log"))
    assert f"--log-file {tmp_path / 'a_file' / 'run.log'} cannot be written" in message
