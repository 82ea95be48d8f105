"""Top prescribers per state: aggregate first, filter experience, rank with ties broken."""

import ibis

from healthanalytics.contracts import PRESCRIBER_REPORT
from healthanalytics.transforms.prescribers import (
    outside_states,
    prescriber_totals,
    prescribers_without_claims,
    top_prescribers_by_state,
)
from healthanalytics.transforms.states import US_STATE_CODES
from tests.transforms.conftest import rows

NAMES = (
    "presc_id",
    "presc_fullname",
    "presc_state",
    "country_name",
    "years_of_exp",
    "trx_cnt",
    "total_day_supply",
    "total_drug_cost",
)
SCHEMA = dict(
    zip(
        NAMES,
        ("int64", "string", "string", "string", "int64", "int64", "float64", "float64"),
        strict=True,
    )
)


def clean(lines):
    """Cleaned rows, one line each."""
    data = {n: [line[i] for line in lines] for i, n in enumerate(NAMES)}
    return ibis.memtable({**data, "lines": [1] * len(lines)}, schema={**SCHEMA, "lines": "int64"})


def ranked(report):
    return [
        (r["presc_state"], r["rank"], r["presc_id"], r["trx_cnt"])
        for r in rows(report, ["presc_state", "rank"])
    ]


def test_prescriber_drugs_are_summed_before_ranking():
    # RULES: per prescriber first, one row per prescriber (ranking drug rows filled several slots)
    table = clean(
        [
            (3000000001, "A B", "TX", "USA", 25, 50, 10.0, 1.5),
            (3000000001, "A B", "TX", "USA", 30, 40, 20.0, 2.5),  # experience: the largest counts
            (3000000002, "C D", "TX", "USA", 22, 60, 5.0, 1.0),
        ]
    )
    report = top_prescribers_by_state(table, top_n=5)
    assert list(report.columns) == PRESCRIBER_REPORT.computed_names  # the contract's order
    assert rows(report) == [
        dict(
            presc_id=3000000001,
            presc_fullname="A B",
            presc_state="TX",
            country_name="USA",
            years_of_exp=30,
            trx_cnt=90,
            total_day_supply=30.0,
            total_drug_cost=4.0,
            rank=1,
        ),
        dict(
            presc_id=3000000002,
            presc_fullname="C D",
            presc_state="TX",
            country_name="USA",
            years_of_exp=22,
            trx_cnt=60,
            total_day_supply=5.0,
            total_drug_cost=1.0,
            rank=2,
        ),
    ]


def test_ties_never_give_more_than_n_rows():
    # dense_rank() <= N returned every tied prescriber; ties here go to the lower presc_id
    table = clean(
        [(4000000000 + i, "N", "CA", "USA", 30, 100, 1.0, 1.0) for i in (5, 3, 1, 4, 2, 6)]
    )
    assert ranked(top_prescribers_by_state(table, top_n=3)) == [
        ("CA", 1, 4000000001, 100),
        ("CA", 2, 4000000002, 100),
        ("CA", 3, 4000000003, 100),
    ]


def test_experience_bounds_are_inclusive_and_configurable():
    table = clean(
        [
            (5000000019, "a", "NY", "USA", 19, 900, 1.0, 1.0),  # below the bound
            (5000000020, "b", "NY", "USA", 20, 100, 1.0, 1.0),  # on the lower bound
            (5000000050, "c", "NY", "USA", 50, 200, 1.0, 1.0),  # on the upper bound
            (5000000051, "d", "NY", "USA", 51, 800, 1.0, 1.0),  # above the bound
            (5000000099, "e", "NY", "USA", None, 700, 1.0, 1.0),  # unknown experience
        ]
    )
    assert ranked(top_prescribers_by_state(table)) == [
        ("NY", 1, 5000000050, 200),
        ("NY", 2, 5000000020, 100),
    ]
    assert ranked(top_prescribers_by_state(table, years=(10, 19))) == [("NY", 1, 5000000019, 900)]
    # layouts without experience skip the filter
    assert ranked(top_prescribers_by_state(table, top_n=2, years=None)) == [
        ("NY", 1, 5000000019, 900),
        ("NY", 2, 5000000051, 800),
    ]


def test_each_state_ranked_separately_no_claims_or_no_state_not_ranked():
    table = clean(
        [
            (6000000001, "a", "AK", "USA", 30, None, None, None),  # all claims hidden: not ranked
            (6000000001, "a", "AK", "USA", 30, None, 2.0, 3.0),
            (6000000002, "b", "AK", "USA", 30, 5, 1.0, 1.0),
            (6000000003, "c", "HI", "USA", 30, 7, 1.0, 1.0),
            (6000000004, "d", None, "USA", 30, 9, 1.0, 1.0),  # no state: not ranked
        ]
    )
    assert ranked(top_prescribers_by_state(table)) == [
        ("AK", 1, 6000000002, 5),
        ("HI", 1, 6000000003, 7),
    ]
    assert prescribers_without_claims(table).presc_id.execute().tolist() == [6000000001]


STATES = clean(
    [
        (7000000001, "a", "XX", "USA", 30, 90, 1.0, 1.0),  # unknown: not ranked
        (7000000002, "b", "ZZ", "USA", 30, 80, 1.0, 1.0),  # foreign: not ranked
        (7000000003, "c", "AA", "USA", 30, 70, 1.0, 1.0),  # armed forces: not ranked
        (7000000004, "d", "AE", "USA", 30, 60, 1.0, 1.0),
        (7000000005, "e", "AP", "USA", 30, 50, 1.0, 1.0),
        (7000000006, "f", "XX", "USA", 30, 40, 1.0, 1.0),
        (7000000006, "f", "XX", "USA", 30, 40, 1.0, 1.0),  # a second line under XX
        (7000000007, "g", "PR", "USA", 30, 30, 1.0, 1.0),  # territories are ranked
        (7000000008, "h", "GU", "USA", 30, 20, 1.0, 1.0),
        (7000000009, "i", "XX", "USA", 30, 10, 1.0, 1.0),  # XX beside a state: ranked there
        (7000000009, "i", "CA", "USA", 30, 10, 1.0, 1.0),
        (7000000010, "j", "ZZ", "USA", 30, None, None, None),  # ZZ and no claims: ZZ counts it
    ]
)


def test_only_us_states_and_territories_are_ranked():
    assert ranked(top_prescribers_by_state(STATES)) == [
        ("CA", 1, 7000000009, 20),
        ("GU", 1, 7000000008, 20),
        ("PR", 1, 7000000007, 30),
    ]
    # the prescriber with an XX line beside CA is ranked under CA, not hidden under XX
    assert rows(prescriber_totals(STATES).filter(lambda t: t.presc_id == 7000000009)) == [
        dict(
            presc_id=7000000009,
            presc_fullname="i",
            presc_state="CA",
            country_name="USA",
            years_of_exp=30,
            trx_cnt=20,
            total_day_supply=2.0,
            total_drug_cost=2.0,
        )
    ]
    assert prescribers_without_claims(STATES).count().execute() == 0


def test_codes_outside_the_states_are_counted():
    assert rows(outside_states(STATES), ["presc_state"]) == [
        dict(presc_state="AA", prescribers=1, lines=1),
        dict(presc_state="AE", prescribers=1, lines=1),
        dict(presc_state="AP", prescribers=1, lines=1),
        # 7000000009's XX line is counted, not the prescriber: it is ranked under CA
        dict(presc_state="XX", prescribers=2, lines=4),
        dict(presc_state="ZZ", prescribers=2, lines=2),
    ]
    assert [row["presc_state"] for row in outside_states(STATES).to_pyarrow().to_pylist()] == [
        "XX", "ZZ", "AA", "AE", "AP",
    ]  # fmt: skip
    # US codes only: nothing to count
    assert rows(outside_states(STATES.filter(lambda t: t.presc_state == "PR"))) == []


def test_state_codes_are_the_56_of_usps_publication_28():
    assert len(US_STATE_CODES) == 56
    assert {"DC", "PR", "GU", "VI", "AS", "MP"} <= set(US_STATE_CODES)
    assert not {"XX", "ZZ", "AA", "AE", "AP", "FM", "MH", "PW"} & set(US_STATE_CODES)
