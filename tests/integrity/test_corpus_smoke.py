"""The corpus helpers themselves: a good input gives a delivery on each engine and warehouse."""

from __future__ import annotations

from tests.integrity.conftest import SAMPLE


def test_sample_delivers_on_every_engine_and_warehouse(run, engine_name, warehouse_url):
    outcome = run(SAMPLE, engine=engine_name, db=warehouse_url)
    assert outcome.error is None
    runs = outcome.rows("pipeline_runs", date=None)
    assert [(r["status"], r["rows_read"]) for r in runs] == [("success", 105)]
    assert len(outcome.rows("city_report")) == outcome.record["city_report_rows"] > 0
