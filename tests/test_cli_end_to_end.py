"""The real `healthanalytics run` on the bundled sample, checked against an independent
implementation of docs/RULES.md, in a DuckDB file and in a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from healthanalytics.io.inputs import bundled
from healthanalytics.io.warehouse import open_warehouse
from tests import reference

SAMPLE = Path(bundled("prescriber_fact_sample.csv"))
CITIES = Path(bundled("us_cities_dimension.parquet"))


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """The installed command, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "healthanalytics", "run", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def table_rows(target: str, name: str, columns: list[str], date: str | None = None) -> list[tuple]:
    with open_warehouse(target) as warehouse:
        table = warehouse.read_table(name).to_pylist()
    picked = [
        tuple(r[c] for c in columns)
        for r in table
        if date is None or str(r["delivery_date"]) == date
    ]
    return sorted(picked, key=repr)


CITY_COLUMNS = ["city", "state_name", "county_name", "population", "zip_counts", "trx_counts",
                "presc_counts", "state_id"]  # fmt: skip
PRESC_COLUMNS = ["presc_id", "presc_state", "years_of_exp", "trx_cnt", "rank"]


def expected(fact: Path = SAMPLE) -> dict[str, list[tuple]]:
    kept, counts = reference.clean(fact)
    return {
        "city_report": sorted(
            (tuple(r[c] for c in CITY_COLUMNS) for r in reference.city_report(kept, CITIES)),
            key=repr,
        ),
        "prescriber_report": sorted(
            (tuple(r[c] for c in PRESC_COLUMNS) for r in reference.prescriber_report(kept)),
            key=repr,
        ),
        "counts": counts,
        "kept": len(kept),
    }


@pytest.fixture(params=["duckdb", "postgres"])
def target(request, tmp_path) -> str:
    if request.param == "duckdb":
        return str(tmp_path / "warehouse.duckdb")
    return request.getfixturevalue("pg_url")


def test_sample_run_persists_what_spec_defines(target, tmp_path):
    done = run_cli("--fact", str(SAMPLE), "--output", str(tmp_path / "out"), "--db", target,
                   "--run-date", "2026-01-15",
                   "--log-file", str(tmp_path / "run.log"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    want = expected()
    assert table_rows(target, "city_report", CITY_COLUMNS) == want["city_report"]
    assert table_rows(target, "prescriber_report", PRESC_COLUMNS) == want["prescriber_report"]
    quarantine = table_rows(target, "quarantine", ["reason", "raw_npi"])
    assert len(quarantine) == sum(want["counts"].values())
    runs = table_rows(
        target, "pipeline_runs", ["status", "rows_read", "rows_kept", "rows_quarantined"]
    )
    assert runs == [("success", 105, want["kept"], sum(want["counts"].values()))]
    # report files: one folder each, complete
    for name in ("city_report", "prescriber_report"):
        assert (tmp_path / "out" / name / "_SUCCESS").exists()
    log = (tmp_path / "run.log").read_text()
    for stage in ("ingest", "clean", "reports", "quality", "files", "persist"):
        assert f"stage {stage}: end after" in log
    assert "schema clean_prescriptions:" in log
    for table in (
        "stage_prescriptions",
        "shared_drug_keys",
        "set_aside",
        "clean_prescriptions",
        "city_report",
    ):
        assert f"table {table}: computed in" in log


def test_rerun_replaces_only_that_date(target, tmp_path):
    common = ["--fact", str(SAMPLE), "--output", str(tmp_path / "out"), "--db", target,
              "--log-file", str(tmp_path / "l")]  # fmt: skip
    for date in ("2026-01-01", "2026-01-02", "2026-01-01"):
        done = run_cli(*common, "--run-date", date, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    want = expected()
    for date in ("2026-01-01", "2026-01-02"):
        assert table_rows(target, "city_report", CITY_COLUMNS, date) == want["city_report"]
        assert (
            table_rows(target, "prescriber_report", PRESC_COLUMNS, date)
            == want["prescriber_report"]
        )
        assert len(table_rows(target, "quarantine", ["reason"], date)) == sum(
            want["counts"].values()
        )
    assert len(table_rows(target, "pipeline_runs", ["run_id"])) == 3


def test_default_run_uses_the_bundled_generated_sample(tmp_path):
    done = run_cli("--log-file", str(tmp_path / "log"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    target = str(tmp_path / "output" / "healthanalytics.duckdb")
    want = expected(Path(bundled("prescriber_fact_100k.csv.gz")))
    assert table_rows(target, "city_report", CITY_COLUMNS) == want["city_report"]
    assert table_rows(target, "prescriber_report", PRESC_COLUMNS) == want["prescriber_report"]
    runs = table_rows(target, "pipeline_runs", ["rows_read", "rows_kept", "rows_quarantined"])
    assert runs == [(100_000, want["kept"], sum(want["counts"].values()))]
