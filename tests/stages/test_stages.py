"""The stage functions one by one, on the DuckDB engine and tiny inputs written here."""

from __future__ import annotations

import dataclasses
import datetime as dt
from contextlib import closing
from pathlib import Path

import pytest

from healthanalytics.config import Settings
from healthanalytics.contracts import TABLES
from healthanalytics.engines import create_engine
from healthanalytics.io.files import LOCAL_FILES
from healthanalytics.io.inputs import bundled
from healthanalytics.io.integrity import checking_inputs
from healthanalytics.io.publish import LocalOutput
from healthanalytics.io.warehouse import open_warehouse
from healthanalytics.quality import QualityCheckError
from healthanalytics.stages.clean import DeliveryShrinkError, clean, refuse_smaller_delivery
from healthanalytics.stages.deliver import write_report_folders
from healthanalytics.stages.ingest import ingest
from healthanalytics.stages.quality import check_quality
from healthanalytics.stages.record import (
    RUN_COLUMNS,
    CleaningCounts,
    ReportCounts,
    RunRecord,
    RunTracker,
)
from healthanalytics.stages.reports import build_reports

SAMPLE = Path(bundled("prescriber_fact_sample.csv"))
HEADER = SAMPLE.read_text().splitlines()[0]


def line(npi, first, last, city, state, drug, claims, supply, cost, years) -> str:
    """A line of the course layout (the bundled sample's header) with these values."""
    values = dict.fromkeys(HEADER.split(","), "")
    values.update(
        npi=npi, nppes_provider_first_name=first, nppes_provider_last_org_name=last,
        nppes_provider_city=city, nppes_provider_state=state, drug_name=drug,
        generic_name=drug, total_claim_count=claims, total_day_supply=supply,
        total_drug_cost=cost, year_exp=years,
    )  # fmt: skip
    return ",".join(values.values())


LINES = [
    line("1003000126", "ANN", "LEE", "SEATTLE", "WA", "APIXABAN", "10", "300", "900.5", "= 25.0"),
    # no claim count: imputed as the mean of the prescriber's known ones, 10
    line("1003000126", "ANN", "LEE", "SEATTLE", "WA", "RIVAROXABAN", "", "90", "100", "= 25.0"),
    # an exact copy of the first line: quarantined as duplicate_row
    line("1003000126", "ANN", "LEE", "SEATTLE", "WA", "APIXABAN", "10", "300", "900.5", "= 25.0"),
    # a place the dimension does not know
    line("1003000134", "BO", "KIM", "NOWHERE", "WA", "FUROSEMIDE", "20", "600", "30", "= 30.0"),
    line("12345", "CY", "RAY", "SEATTLE", "WA", "FUROSEMIDE", "5", "30", "3", "= 40.0"),  # bad NPI
    line("1003000142", "DI", "FOX", "TACOMA", "WA", "", "7", "70", "7", "= 22.0"),  # no drug
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    fact = tmp_path / "fact.csv"
    fact.write_text("\n".join([HEADER, *LINES]) + "\n")
    return Settings(fact=str(fact), output=str(tmp_path / "out"), run_date=dt.date(2026, 1, 15),
                    threads=1)  # fmt: skip


def test_ingest_clean_reports_count_what_they_did(settings):
    with closing(create_engine(settings)) as engine, checking_inputs() as verify:
        ingested = ingest(settings, engine, verify)
        cleaned = clean(engine, ingested, verify)
        reports = build_reports(settings, engine, ingested, cleaned)
        assert ingested.fact.layout.name == "course"
        assert cleaned.counts == CleaningCounts(
            rows_read=6, rows_kept=3, rows_quarantined=3, quarantined_invalid_npi=1,
            quarantined_missing_drug=1, quarantined_invalid_number=0,
            quarantined_duplicate_row=1, npi_luhn_failures=0, trx_unimputed=0,
            repeated_drug_lines=0,
        )  # fmt: skip
        assert cleaned.summary() == "6 read = 3 kept + 3 quarantined"
        assert reports.counts == ReportCounts(
            rows_matched_share=0.666667, claims_matched_share=0.5, city_report_rows=1,
            prescriber_report_rows=2, prescribers_outside_states=0, lines_outside_states=0,
            prescribers_without_claims=0, unmatched_places=1,
        )  # fmt: skip
        assert reports.unmatched_rows.to_pylist() == [
            {"presc_city": "NOWHERE", "presc_state": "WA", "lines": 1, "claims": 20,
             "prescribers": 1, "rank": 1},
        ]  # fmt: skip
        report = engine.to_arrow(reports.prescriber_report.order_by("rank")).to_pylist()
        assert [(r["presc_id"], r["trx_cnt"], r["rank"]) for r in report] == [
            (1003000126, 20, 1),  # 10 known + 10 imputed (the mean of the known)
            (1003000134, 20, 2),  # a tie on claims: the smaller NPI first
        ]


def test_quality_stage_writes_every_check_then_refuses_a_failed_one(settings):
    with closing(create_engine(settings)) as engine, checking_inputs() as verify:
        ingested = ingest(settings, engine, verify)
        cleaned = clean(engine, ingested, verify)
        reports = build_reports(settings, engine, ingested, cleaned)
        checked = check_quality(settings, engine, LOCAL_FILES, cleaned, reports)
        assert all(check.passed for check in checked.checks)
        # a prescriber listed twice breaks the report's key
        broken = reports.prescriber_report.union(reports.prescriber_report)
        bad = dataclasses.replace(reports, prescriber_report=broken)
        with pytest.raises(QualityCheckError, match="prescriber_report_unique_presc_id"):
            check_quality(settings, engine, LOCAL_FILES, cleaned, bad)
        # the results were written before the refusal
        assert "prescriber_report_unique_presc_id" in Path(checked.path).read_text()


def test_report_folders_stay_hidden_until_published(settings):
    out = Path(settings.output)
    with closing(create_engine(settings)) as engine, checking_inputs() as verify:
        ingested = ingest(settings, engine, verify)
        reports = build_reports(settings, engine, ingested, clean(engine, ingested, verify))
        with write_report_folders(
            settings, engine, LocalOutput(settings.output, LOCAL_FILES), reports
        ) as staged:
            hidden = sorted(p.name.split(".tmp-")[0] for p in out.iterdir())
            assert hidden == [".city_report", ".prescriber_report"]
            staged.publish()
        assert sorted(p.name for p in out.iterdir()) == ["city_report", "prescriber_report"]
        # written but never published: removed when the block ends
        failing = pytest.raises(RuntimeError, match="load failed")
        with (
            failing,
            write_report_folders(
                settings, engine, LocalOutput(settings.output, LOCAL_FILES), reports
            ),
        ):
            raise RuntimeError("load failed")
        assert sorted(p.name for p in out.iterdir()) == ["city_report", "prescriber_report"]


def test_tracker_records_running_then_the_outcome(settings, tmp_path):
    run = RunTracker(RunRecord.start(settings))
    with open_warehouse(str(tmp_path / "w.duckdb")) as warehouse:
        with pytest.raises(ValueError, match="boom"), run.tracked():
            run.attach(warehouse)
            run.begin()
            assert warehouse.read_table("pipeline_runs")["status"].to_pylist() == ["running"]
            raise ValueError("boom")
        rows = warehouse.read_table("pipeline_runs").to_pylist()
    assert [(r["run_id"], r["status"], r["error"]) for r in rows] == [
        (run.record.run_id, "failed", "ValueError: boom")
    ]
    assert rows[0]["finished_at"] is not None


def test_the_run_record_is_a_pipeline_runs_row():
    assert sorted(RUN_COLUMNS) == sorted(TABLES["pipeline_runs"].names)


def test_a_delivery_keeping_no_rows_is_refused(settings, tmp_path):
    record = RunRecord.start(settings).counted(CleaningCounts(4, 0, 4, 4, 0, 0, 0, 0, 0, 0))
    with open_warehouse(str(tmp_path / "w.duckdb")) as warehouse:
        with pytest.raises(DeliveryShrinkError, match=r"keeps no rows \(4 read, 4 quarantined: 4 "):
            refuse_smaller_delivery(settings, warehouse, record)
        allowed = settings.model_copy(update={"allow_smaller_delivery": True})
        assert refuse_smaller_delivery(allowed, warehouse, record) is None
