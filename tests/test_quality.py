"""The data-quality checks the contracts declare: each passes on good tables, names a fault,
and a failed one stops the run."""

from __future__ import annotations

import ibis
import pytest

from healthanalytics.contracts import RunParameters
from healthanalytics.quality import QualityCheckError, require_passed, run_quality_checks

# only the columns the declared tests read
CITY = dict(city=["ST. LOUIS"], state_id=["MO"], county_name=["ST. LOUIS"], trx_counts=[5],
            presc_counts=[1], zip_counts=[2])  # fmt: skip
PRESCRIBERS = dict(
    presc_id=[1000000001, 1000000002, 1000000003],
    presc_state=["PR", "PR", "CA"],
    trx_cnt=[30, 20, 10],
    rank=[1, 2, 1],
)
QUARANTINE = dict(reason=["invalid_npi", "duplicate_row"])
UNMATCHED = dict(presc_city=["NOWHERE", "NOWHERE", None], presc_state=["PA", "OH", "PA"],
                 lines=[3, 2, 1], claims=[0, 5, 0], prescribers=[1, 2, 1],
                 rank=[1, 2, 3])  # fmt: skip
SCHEMA = {"presc_id": "int64", "presc_state": "string", "trx_cnt": "int64", "rank": "int64",
          "presc_city": "string", "reason": "string"}  # fmt: skip


def table(columns: dict[str, list]) -> ibis.Table:
    return ibis.memtable(columns, schema={c: SCHEMA.get(c, "int64") for c in columns})


def checks(engine, prescribers=PRESCRIBERS, unmatched=UNMATCHED, city=CITY, quarantine=QUARANTINE):
    tables = {
        "city_report": ibis.memtable(city),
        "prescriber_report": table(prescribers),
        "quarantine": table(quarantine),
        "unmatched_cities": table(unmatched),
    }
    return run_quality_checks(tables, RunParameters(top_n=5), engine)


def outcome(engine, **tables) -> dict[str, tuple[bool, str]]:
    return {check.name: (check.passed, check.detail) for check in checks(engine, **tables)}


PASSED = {
    "city_report_unique_city": (True, "ok"),
    "city_report_not_null": (True, "ok"),
    "city_report_zip_counts_in_range": (True, "ok"),
    "city_report_trx_counts_in_range": (True, "ok"),
    "city_report_presc_counts_in_range": (True, "ok"),
    "prescriber_report_unique_presc_id": (True, "ok"),
    "prescriber_report_not_null": (True, "ok"),
    "prescriber_report_presc_id_in_range": (True, "ok"),
    "prescriber_report_presc_state_accepted_values": (True, "ok"),
    "prescriber_report_trx_cnt_in_range": (True, "ok"),
    "prescriber_report_rank_in_range": (True, "ok"),
    "prescriber_report_ranks_per_state": (True, "ok"),
    "quarantine_not_null": (True, "ok"),
    "quarantine_reason_accepted_values": (True, "ok"),
    "unmatched_cities_unique_place": (True, "ok"),
    "unmatched_cities_not_null": (True, "ok"),
    "unmatched_cities_lines_in_range": (True, "ok"),
    "unmatched_cities_claims_in_range": (True, "ok"),
    "unmatched_cities_prescribers_in_range": (True, "ok"),
    "unmatched_cities_rank_in_range": (True, "ok"),
}


def test_good_outputs_pass_every_check_in_the_contracts_order(duckdb_engine):
    assert [(c.name, c.passed, c.detail) for c in checks(duckdb_engine)] == [
        (name, *result) for name, result in PASSED.items()
    ]


@pytest.mark.parametrize(
    ("tables", "failed"),
    [
        # a ranked prescriber whose claims are all hidden (issue 12, item 17)
        (
            {"prescribers": {**PRESCRIBERS, "trx_cnt": [30, None, 10]}},
            {
                "prescriber_report_not_null": (
                    False,
                    "1 rows with a null presc_id, presc_state, trx_cnt or rank",
                )
            },
        ),
        # a code that is no US state or territory ranked as if it were one (item 16)
        (
            {"prescribers": {**PRESCRIBERS, "presc_state": ["PR", "PR", "XX"]}},
            {
                "prescriber_report_presc_state_accepted_values": (
                    False,
                    "1 rows whose presc_state is not a US state or territory code",
                )
            },
        ),
        # an NPI read as a 32-bit integer wraps to a negative presc_id (the brief's bug 1)
        (
            {"prescribers": {**PRESCRIBERS, "presc_id": [1000000001, 1000000002, -1294967293]}},
            {
                "prescriber_report_presc_id_in_range": (
                    False,
                    "1 rows whose presc_id is not in 0..9,999,999,999",
                )
            },
        ),
        # a state ranked from 2 (rank 1 lost): both the range and the per-state test fail
        (
            {"prescribers": {**PRESCRIBERS, "rank": [1, 2, 2]}},
            {
                "prescriber_report_ranks_per_state": (
                    False,
                    "1 states whose ranks are not exactly 1..k with k <= 5",
                )
            },
        ),
        # a rank of 0
        (
            {"prescribers": {**PRESCRIBERS, "rank": [1, 2, 0]}},
            {
                "prescriber_report_rank_in_range": (False, "1 rows whose rank is not at least 1"),
                "prescriber_report_ranks_per_state": (
                    False,
                    "1 states whose ranks are not exactly 1..k with k <= 5",
                ),
            },
        ),
        # the same prescriber twice
        (
            {"prescribers": {**PRESCRIBERS, "presc_id": [1000000001, 1000000002, 1000000001]}},
            {"prescriber_report_unique_presc_id": (False, "1 duplicate (presc_id) rows")},
        ),
        # a city listed without a prescriber
        (
            {"city": {**CITY, "presc_counts": [0]}},
            {
                "city_report_presc_counts_in_range": (
                    False,
                    "1 rows whose presc_counts is not at least 1",
                )
            },
        ),
        # the same unmatched place twice, a blank city included
        (
            {"unmatched": {**UNMATCHED, "presc_city": [None, "NOWHERE", None]}},
            {
                "unmatched_cities_unique_place": (
                    False,
                    "1 duplicate (presc_city, presc_state) rows",
                )
            },
        ),
        # a quarantine reason no rule gives, and one missing
        (
            {"quarantine": {"reason": ["invalid_npi", "bad_vibes", None]}},
            {
                "quarantine_not_null": (False, "1 rows with a null reason"),
                "quarantine_reason_accepted_values": (
                    False,
                    "1 rows whose reason is not one of invalid_npi, missing_drug, "
                    "invalid_number, duplicate_row",
                ),
            },
        ),
    ],
)
def test_each_fault_fails_its_check(duckdb_engine, tables, failed):
    assert outcome(duckdb_engine, **tables) == {**PASSED, **failed}


def test_a_failed_check_stops_the_run_naming_it(duckdb_engine):
    # what the quality stage does after writing quality_checks.json
    broken = {**PRESCRIBERS, "presc_state": ["PR", "PR", "XX"], "trx_cnt": [30, None, 10]}
    with pytest.raises(QualityCheckError) as caught:
        require_passed(checks(duckdb_engine, prescribers=broken))
    assert str(caught.value) == (
        "data-quality checks failed: prescriber_report_not_null: 1 rows with a null presc_id, "
        "presc_state, trx_cnt or rank; prescriber_report_presc_state_accepted_values: 1 rows "
        "whose presc_state is not a US state or territory code"
    )


def test_passing_checks_do_not_stop_the_run(duckdb_engine):
    assert require_passed(checks(duckdb_engine)) is None
