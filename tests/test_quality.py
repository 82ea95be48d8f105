"""The data-quality checks on a run's outputs: each passes on good tables and names a fault."""

from __future__ import annotations

import ibis
import pytest

from healthanalytics.quality import run_quality_checks

RECORD = {"rows_read": 10, "rows_kept": 8, "rows_quarantined": 2}
CITY = dict(city=["ST. LOUIS"], state_id=["MO"], county_name=["ST. LOUIS"], trx_counts=[5],
            presc_counts=[1], zip_counts=[2])  # fmt: skip
PRESCRIBERS = dict(
    presc_id=[1000000001, 1000000002, 1000000003],
    presc_state=["PR", "PR", "CA"],
    trx_cnt=[30, 20, 10],
    rank=[1, 2, 1],
)
UNMATCHED = dict(presc_city=["NOWHERE", "NOWHERE", None], presc_state=["PA", "OH", "PA"],
                 lines=[3, 2, 1], rank=[1, 2, 3])  # fmt: skip
SCHEMA = {"presc_id": "int64", "presc_state": "string", "trx_cnt": "int64", "rank": "int64",
          "presc_city": "string"}  # fmt: skip


def table(columns: dict[str, list]) -> ibis.Table:
    return ibis.memtable(columns, schema={c: SCHEMA.get(c, "int64") for c in columns})


def outcome(prescribers=PRESCRIBERS, unmatched=UNMATCHED) -> dict[str, tuple[bool, str]]:
    checks = run_quality_checks(
        RECORD, ibis.memtable(CITY), table(prescribers), 5, table(unmatched)
    )
    return {check.name: (check.passed, check.detail) for check in checks}


PASSED = {
    "rows_reconcile": (True, "ok"),
    "city_report_unique_city": (True, "ok"),
    "city_report_not_null": (True, "ok"),
    "city_report_has_prescribers": (True, "ok"),
    "prescriber_report_unique_presc_id": (True, "ok"),
    "prescriber_report_not_null": (True, "ok"),
    "prescriber_report_us_states": (True, "ok"),
    "prescriber_report_ranks_per_state": (True, "ok"),
    "prescriber_report_npi_in_range": (True, "ok"),
    "unmatched_cities_unique_place": (True, "ok"),
}


def test_good_outputs_pass_every_check():
    assert outcome() == PASSED


@pytest.mark.parametrize(
    ("prescribers", "unmatched", "failed"),
    [
        # a ranked prescriber whose claims are all hidden (issue 12, item 17)
        (
            {**PRESCRIBERS, "trx_cnt": [30, None, 10]},
            UNMATCHED,
            {
                "prescriber_report_not_null": (
                    False,
                    "1 rows with a null presc_id, presc_state, trx_cnt or rank",
                )
            },
        ),
        # a code that is no US state or territory ranked as if it were one (item 16)
        (
            {**PRESCRIBERS, "presc_state": ["PR", "PR", "XX"]},
            UNMATCHED,
            {
                "prescriber_report_us_states": (
                    False,
                    "1 rows whose presc_state is no US state or territory code",
                )
            },
        ),
        # the same unmatched place twice, a blank city included
        (
            PRESCRIBERS,
            {**UNMATCHED, "presc_city": [None, "NOWHERE", None]},
            {
                "unmatched_cities_unique_place": (
                    False,
                    "1 (presc_city, presc_state) places listed more than once",
                )
            },
        ),
    ],
)
def test_each_fault_fails_its_check(prescribers, unmatched, failed):
    assert outcome(prescribers, unmatched) == {**PASSED, **failed}
