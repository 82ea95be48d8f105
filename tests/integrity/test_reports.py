"""Reports that mislead (issue 12, items 16-18): codes that are no state ranked, prescribers
without a known claim count ranked, city spellings missed and nowhere listed.

Each case runs a small fact on both engines and both warehouses and compares the whole
persisted report tables with tests/reference.py, and the key rows with hand-written values.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest

from tests import reference
from tests.integrity.conftest import CITIES, RUN_DATE, SAMPLE


def write_fact(path: Path, lines: list[dict[str, str]]) -> Path:
    """A course-layout CSV of SAMPLE's header; each line SAMPLE's first data line with the
    given columns replaced (short names: npi, last, first, city, state, drug, claims, supply,
    cost, years)."""
    with SAMPLE.open(newline="") as handle:
        rows = csv.reader(handle)
        header, template = next(rows), next(rows)
    names = {"npi": "npi", "last": "nppes_provider_last_org_name",
             "first": "nppes_provider_first_name", "city": "nppes_provider_city",
             "state": "nppes_provider_state", "drug": "drug_name",
             "claims": "total_claim_count", "supply": "total_day_supply",
             "cost": "total_drug_cost", "years": "year_exp"}  # fmt: skip
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(header)
        for line in lines:
            row = list(template)
            for key, value in line.items():
                row[header.index(names[key])] = value
            out.writerow(row)
    return path


def line(npi: int, state: str, claims: str, drug: str = "DRUG A", city: str = "SPRINGFIELD",
         **more: str) -> dict[str, str]:  # fmt: skip
    return {"npi": str(npi), "last": f"DOC{npi % 100}", "first": "ANN", "city": city,
            "state": state, "drug": drug, "claims": claims, "supply": "30.5",
            "cost": "100.25", "years": "= 30.0", **more}  # fmt: skip


def presc_rows(outcome) -> list[dict]:
    found = outcome.rows("prescriber_report")
    assert {row.pop("delivery_date") for row in found} <= {RUN_DATE}
    return found


def sort(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=repr)


# --- items 16 and 17: who the prescriber report ranks -------------------------------------

STATE_LINES = [
    line(1000000011, "CA", "50", city="LOS ANGELES"),
    line(1000000012, "CA", "", city="LOS ANGELES"),  # every claim count hidden: not ranked
    line(1000000012, "CA", "", drug="DRUG B", city="LOS ANGELES"),
    line(1000000013, "XX", "20"),  # an XX line beside a CA one: ranked under CA
    line(1000000013, "CA", "20", drug="DRUG B", city="LOS ANGELES"),
    line(1000000014, "PR", "35", city="SAN JUAN"),  # a territory is ranked
    line(1000000021, "PR", "35", city="SAN JUAN"),  # tied with 1000000014: the lower NPI first
    line(1000000015, "GU", "15", city="DEDEDO"),
    line(1000000016, "XX", "90"),  # unknown, foreign, armed forces: never ranked
    line(1000000017, "ZZ", "80"),
    line(1000000017, "ZZ", "80", drug="DRUG B"),
    line(1000000018, "AA", "70"),
    line(1000000019, "AE", "60"),
    line(1000000020, "AP", "55"),
    line(1000000022, "", "99"),  # no state at all: not ranked, not counted as another code
]


def ranked(npi: int, state: str, trx: int, rank: int, lines: int = 1) -> dict:
    return {"presc_id": npi, "presc_fullname": f"ANN DOC{npi % 100}", "presc_state": state,
            "country_name": "USA", "years_of_exp": 30, "trx_cnt": trx,
            "total_day_supply": 30.5 * lines, "total_drug_cost": 100.25 * lines,
            "rank": rank}  # fmt: skip


def test_only_us_states_ranked_and_only_known_claims(run, engine_name, warehouse_url, tmp_path):
    fact = write_fact(tmp_path / "states.csv", STATE_LINES)
    outcome = run(fact, engine=engine_name, db=warehouse_url)
    assert outcome.error is None
    kept, _ = reference.clean(fact)
    assert presc_rows(outcome) == sort(reference.prescriber_report(kept))
    assert presc_rows(outcome) == sort([
        ranked(1000000011, "CA", 50, 1),
        ranked(1000000013, "CA", 40, 2, lines=2),
        ranked(1000000015, "GU", 15, 1),
        ranked(1000000014, "PR", 35, 1),
        ranked(1000000021, "PR", 35, 2),
    ])  # fmt: skip
    [run_row] = outcome.rows("pipeline_runs", date=None)
    want = {
        "prescribers_outside_states": 5,  # XX, ZZ, AA, AE, AP
        "lines_outside_states": 7,  # 1000000013's XX line included
        "prescribers_without_claims": 1,
    }
    assert reference.unranked_counts(kept) == want
    assert {key: run_row[key] for key in want} == want
    assert (run_row["trx_unimputed"], run_row["prescriber_report_rows"]) == (2, 5)


def test_unranked_prescribers_are_logged(run, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="healthanalytics")
    outcome = run(write_fact(tmp_path / "states.csv", STATE_LINES))
    assert outcome.error is None
    messages = [r.getMessage() for r in caplog.records if "not ranked" in r.getMessage()]
    assert messages == [
        "prescriber report: 5 prescribers not ranked, their state code being no US state or "
        "territory (7 kept lines give such a code): XX 1 prescribers/2 lines, ZZ 1 prescribers/"
        "2 lines, AA 1 prescribers/1 lines, AE 1 prescribers/1 lines, AP 1 prescribers/1 lines",
        "prescriber report: 1 prescribers not ranked, none of their claim counts being known "
        "(all hidden)",
    ]


# --- item 18: city spellings and what stays unmatched --------------------------------------

CITY_LINES = [
    line(1000000101, "MO", "10", city="ST.LOUIS"),  # no blank after the period
    line(1000000102, "MO", "20", city="SAINT LOUIS"),
    line(1000000103, "MO", "3", city="STE GENEVIEVE"),  # Ste. Genevieve in the dimension
    line(1000000104, "MO", "4", city="SAINTE GENEVIEVE"),
    line(1000000105, "MO", "5", city="LAKE ST LOUIS"),  # ST inside the name
    line(1000000106, "CA", "6", city="SAN JOSÉ"),  # an accent the dimension does not have
    line(1000000107, "CO", "7", city="CANON CITY"),  # no accent; Cañon City in the dimension
    line(1000000108, "MO", "8", city="O FALLON"),  # O'Fallon in the dimension
    line(1000000109, "NC", "9", city="WINSTON SALEM"),  # Winston-Salem in the dimension
    # unmatched: the most lines first, then the most claims, state, city
    line(1000000110, "TX", "1", city="NOWHERESVILLE"),
    line(1000000111, "TX", "1", city="NOWHERESVILLE"),
    line(1000000112, "TX", "", city="NOWHERESVILLE"),
    line(1000000113, "OH", "50", city="ELSEWHERE"),
    line(1000000113, "OH", "50", drug="DRUG B", city="ELSEWHERE"),
    line(1000000114, "ZZ", "5", city="TORONTO"),
    line(1000000115, "", "6", city=""),
    # more places than the table keeps: 101 towns of one line each
    *(line(1000000200 + i, "KS", "1", city=f"TOWN {i:03d}") for i in range(101)),
]


def test_city_spellings_match_and_unmatched_places_are_listed(
    run, engine_name, warehouse_url, tmp_path
):
    fact = write_fact(tmp_path / "cities.csv", CITY_LINES)
    outcome = run(fact, engine=engine_name, db=warehouse_url)
    assert outcome.error is None
    kept, _ = reference.clean(fact)
    city = outcome.rows("city_report")
    assert {row.pop("delivery_date") for row in city} == {RUN_DATE}
    assert city == sort(reference.city_report(kept, CITIES))
    assert sorted((r["city"], r["state_id"], r["trx_counts"], r["presc_counts"]) for r in city) == [
        ("CAÑON CITY", "CO", 7, 1),
        ("LAKE ST. LOUIS", "MO", 5, 1),
        ("O'FALLON", "MO", 8, 1),
        ("SAN JOSE", "CA", 6, 1),
        ("ST. LOUIS", "MO", 30, 2),
        ("STE. GENEVIEVE", "MO", 7, 2),
        ("WINSTON-SALEM", "NC", 9, 1),
    ]
    unmatched = outcome.rows("unmatched_cities")
    assert {row.pop("delivery_date") for row in unmatched} == {RUN_DATE}
    assert sorted(unmatched, key=lambda r: r["rank"]) == reference.unmatched_cities(kept, CITIES)
    top = [tuple(r.values()) for r in sorted(unmatched, key=lambda r: r["rank"])]
    assert top[:5] == [
        # presc_city, presc_state, lines, claims, prescribers, rank
        ("NOWHERESVILLE", "TX", 3, 2, 3, 1),  # the third line's claims unknown: none added
        ("ELSEWHERE", "OH", 2, 100, 1, 2),
        (None, None, 1, 6, 1, 3),  # blank city and state are listed too
        ("TORONTO", "ZZ", 1, 5, 1, 4),
        ("TOWN 000", "KS", 1, 1, 1, 5),
    ]
    assert len(top) == 100 and top[-1][:2] == ("TOWN 095", "KS")
    [run_row] = outcome.rows("pipeline_runs", date=None)
    assert run_row["unmatched_places"] == 105  # all of them, beyond the 100 kept


def test_unmatched_places_logged_and_replaced_on_rerun(run, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="healthanalytics")
    fact = write_fact(tmp_path / "cities.csv", CITY_LINES)
    first = run(fact)
    assert first.error is None
    [message] = [r.getMessage() for r in caplog.records if "unmatched places" in r.getMessage()]
    assert message.startswith(
        "unmatched places: 105 (city, state) pairs match no dimension city; most lines first "
        "(table unmatched_cities): NOWHERESVILLE, TX: 3 lines, 2 claims, 3 prescribers; "
        "ELSEWHERE, OH: 2 lines, 100 claims, 1 prescribers; (blank), (blank): 1 lines, 6 claims, "
        "1 prescribers; TORONTO, ZZ: "
    )
    assert message.endswith("TOWN 005, KS: 1 lines, 1 claims, 1 prescribers")  # ten shown
    # the same date again: its rows replaced, not added
    again = run(fact)
    assert again.error is None
    assert again.rows("unmatched_cities") == first.rows("unmatched_cities")
    assert len(again.rows("pipeline_runs", date=None)) == 2


@pytest.mark.parametrize("spelling", ["ST.LOUIS", "ST. LOUIS", "SAINT LOUIS", "st louis"])
def test_sample_line_moved_to_st_louis_matches_in_every_spelling(run, tmp_path, spelling):
    # one line, one city: the spelling alone decides whether it is matched
    outcome = run(write_fact(tmp_path / "one.csv", [line(1000000301, "MO", "12", city=spelling)]))
    assert outcome.error is None
    assert [(r["city"], r["trx_counts"]) for r in outcome.rows("city_report")] == [
        ("ST. LOUIS", 12)
    ]
    assert outcome.rows("unmatched_cities") == []
