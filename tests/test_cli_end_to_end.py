"""The bundled sample through the pipeline, every persisted table compared whole with an
independent implementation of the rules (tests/reference.py), in a DuckDB file and in a real
PostgreSQL server; and the real `healthanalytics run` on its default input, as a user runs it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from healthanalytics.io.inputs import bundled
from tests import reference
from tests.conftest import (
    CITIES,
    SAMPLE,
    assert_reports_match,
    read_tables,
    reference_clean,
    run_case,
    run_cli,
)

STAGES = ("connect", "ingest", "clean", "reports", "quality", "files", "persist")


def expected_run(fact: Path) -> dict[str, object]:
    """The pipeline_runs counts reference.py gives for `fact`."""
    kept, counts = reference_clean(fact)
    years = (20, 50) if "npi" in reference.read_fact(fact)[0] else None
    return {
        "status": "success",
        "rows_read": len(kept) + sum(counts.values()),
        "rows_kept": len(kept),
        "rows_quarantined": sum(counts.values()),
        **{f"quarantined_{reason}": n for reason, n in counts.items()},
        "trx_unimputed": sum(1 for line in kept if line["trx_cnt"] is None),
        "repeated_drug_lines": reference.repeated_drug_lines(kept),
        "city_report_rows": len(reference.city_report(kept, CITIES)),
        "prescriber_report_rows": len(reference.prescriber_report(kept, 5, years)),
        "unmatched_places": len(reference.unmatched_cities(kept, CITIES, top=10**9)),
        **reference.unranked_counts(kept),
    }


def run_row(tables, keys) -> dict[str, object]:
    [row] = tables["pipeline_runs"].to_pylist()
    return {key: row[key] for key in keys}


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, tmp_path) -> str:
    if request.param == "duckdb":
        return str(tmp_path / "warehouse.duckdb")
    return request.getfixturevalue("pg_url")


def test_sample_run_persists_what_the_rules_define(target, tmp_path):
    outcome = run_case(SAMPLE, output=tmp_path / "out", db=target)
    assert outcome.error is None
    assert_reports_match(outcome.tables, SAMPLE)
    want = expected_run(SAMPLE)
    assert run_row(outcome.tables, want) == want
    # report files: one folder each, complete
    for name in ("city_report", "prescriber_report"):
        assert (tmp_path / "out" / name / "_SUCCESS").exists()
    # the log names each stage's end and each table the engine computed, with its schema
    for stage in STAGES:
        assert any(m.startswith(f"stage {stage}: end after") for m in outcome.log), stage
    assert any(m.startswith("schema clean_prescriptions: ") for m in outcome.log)
    for table in ("stage_prescriptions", "shared_drug_keys", "set_aside", "clean_prescriptions",
                  "city_report"):  # fmt: skip
        assert any(m.startswith(f"table {table}: computed in") for m in outcome.log), table


def test_rerun_replaces_only_that_date(target, tmp_path):
    first, second = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    for date in (first, second, first):
        outcome = run_case(SAMPLE, output=tmp_path / "out", db=target, run_date=date)
        assert outcome.error is None
    tables = read_tables(target)
    for date in (first, second):
        assert_reports_match(tables, SAMPLE, date)
    assert len(tables["pipeline_runs"]) == 3


# --- the command itself -----------------------------------------------------------------------


def test_default_run_uses_the_bundled_generated_sample(tmp_path):
    # no option at all: the bundled 100,000-line sample, output/ and its DuckDB file
    done = run_cli("--log-file", str(tmp_path / "run.log"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    fact = Path(bundled("prescriber_fact_100k.csv.gz"))
    tables = read_tables(str(tmp_path / "output" / "healthanalytics.duckdb"))
    today = tables["pipeline_runs"]["run_date"][0].as_py()
    assert_reports_match(tables, fact, today)
    want = expected_run(fact)
    assert run_row(tables, want) == want
    # the summary table a user reads, its counts those of the run
    assert "Run summary" in done.stderr
    for label, key in (("rows read", "rows_read"), ("rows kept", "rows_kept"),
                       ("quarantined: duplicate_row", "quarantined_duplicate_row"),
                       ("city report rows", "city_report_rows")):  # fmt: skip
        assert re.search(rf"{re.escape(label)}\s+│\s+{want[key]:,}\s", done.stderr), label
    for name in ("city_report", "prescriber_report"):
        assert (tmp_path / "output" / name / "_SUCCESS").exists()
    log = (tmp_path / "run.log").read_text()
    for stage in STAGES:
        assert f"stage {stage}: end after" in log
