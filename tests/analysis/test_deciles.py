"""Market volume per prescriber and its deciles, on DuckDB: tiny tables compared whole."""

from __future__ import annotations

import ibis

from healthanalytics.analysis.deciles import (
    generic_keys,
    market_deciles,
    market_lines,
    market_prescribers,
    volume_decile,
)
from tests.transforms.conftest import rows

DRUG_SCHEMA = {
    "presc_id": "int64", "specialty": "string", "brand_name": "string", "generic_name": "string",
    "lines": "int64", "claims": "int64", "claims_unknown": "int64", "day_supply": "float64",
    "fills": "float64", "drug_cost": "float64", "bene_count": "int64",
}  # fmt: skip


def drugs_table(data: list[tuple]) -> ibis.Table:
    """(presc_id, specialty, brand, generic, claims, day_supply, cost): one line each."""
    return ibis.memtable(
        {
            "presc_id": [d[0] for d in data],
            "specialty": [d[1] for d in data],
            "brand_name": [d[2] for d in data],
            "generic_name": [d[3] for d in data],
            "lines": [1] * len(data),
            "claims": [d[4] for d in data],
            "claims_unknown": [int(d[4] is None) for d in data],
            "day_supply": [d[5] for d in data],
            "fills": [None if d[5] is None else d[5] / 30 for d in data],
            "drug_cost": [d[6] for d in data],
            "bene_count": [None] * len(data),
        },
        schema=DRUG_SCHEMA,
    )


def deciles_of(volumes: list[float | None], groups: list[str | None] | None = None) -> list[int]:
    t = ibis.memtable(
        {"i": list(range(len(volumes))), "v": volumes, "g": groups or [None] * len(volumes)},
        schema={"i": "int64", "v": "float64", "g": "string"},
    )
    by = [t.g] if groups else []
    return [r["d"] for r in rows(t.select("i", d=volume_decile(t.v, by)), ["i"])]


def test_deciles_cut_cumulative_volume_from_the_largest():
    # ten equal writers of a tenth each are not spread over ten deciles: a tie, all decile 10
    assert deciles_of([10.0] * 10) == [10] * 10
    # ten writers of 10..1 (total 55): each starts where the larger ones end
    # before: 0, 10, 19, 27, 34, 40, 45, 49, 52, 54 -> 10 - floor(10 x before / 55)
    assert deciles_of([10.0, 9, 8, 7, 6, 5, 4, 3, 2, 1]) == [10, 9, 7, 6, 4, 3, 2, 2, 1, 1]
    # one writer of half the market: decile 10; the next starts at exactly half: 10 - 5
    assert deciles_of([50.0, 25, 25]) == [10, 5, 5]
    # boundaries met exactly: 30 starts at 60/100 -> 10 - 6; 10 at 90/100 -> 10 - 9
    assert deciles_of([10.0, 60, 30]) == [1, 10, 4]
    # no volume, zero volume, negative (a correction): decile 0
    assert deciles_of([None, 0.0, -5.0, 5.0]) == [0, 0, 0, 10]


def test_ties_share_a_decile_whatever_their_order():
    # four equal writers of 20 after one of 20: all five tied at the top: decile 10
    assert deciles_of([20.0, 20, 20, 20, 20]) == [10] * 5
    # a tie straddling a boundary stays together: 40, then 30 and 30 start at 40 -> 6
    assert deciles_of([30.0, 40, 30]) == [6, 10, 6]


def test_specialty_deciles_rank_within_the_specialty():
    # a: 50 then 30 (before 50/80 -> 6.25 -> 4); b alone: 10; null specialty is its own group
    got = deciles_of([50.0, 30, 10, 10, 0], ["a", "a", "b", None, "a"])
    assert got == [10, 4, 10, 10, 0]


STATINS = ("ATORVASTATIN", "SIMVASTATIN")
MAP_KEYS = ("ATORVASTATIN", "LISINOPRIL", "SIMVASTATIN")
LINES = drugs_table(
    [
        (1, "Cardiology", "LIPITOR", "ATORVASTATIN CALCIUM", 20, 900.0, 100.0),
        (1, "Cardiology", "LISINOPRIL", "LISINOPRIL", 30, 300.0, 5.0),  # outside the market
        (2, "Family Practice", "ATORVASTATIN", "ATORVASTATIN", None, 300.0, 4.0),  # suppressed
        (2, "Family Practice", "SIMVASTATIN", "SIMVASTATIN", 11, 90.0, 2.0),
        (2, "Cardiology", "ZOCOR", "SIMVASTATIN", 12, 60.0, 9.0),  # a second specialty, fewer
        (3, None, "LISINOPRIL", "LISINOPRIL", 40, 600.0, 8.0),  # writes no statin: decile 0
        (4, "Dentist", "NYSTATIN", "NYSTATIN", 15, 150.0, 3.0),  # not in the map
        (5, "Cardiology", "LIPITOR", "ATORVASTATIN CALCIUM", 25, None, 50.0),  # no day supply
    ]
)
PLACES = ibis.memtable(
    {
        "presc_id": [1, 2, 2, 3, 4, 5],
        # a prescriber's US state wins over XX; without a US state, the last other code
        "presc_state": ["NY", "XX", "CA", "ZZ", None, "TX"],
    },
    schema={"presc_id": "int64", "presc_state": "string"},
)


def test_generic_keys_and_market_lines():
    keys = generic_keys(LINES, MAP_KEYS, STATINS)
    assert rows(keys, ["generic_name"]) == [
        dict(generic_name="ATORVASTATIN", ingredient_key="ATORVASTATIN", mapped=True,
             in_market=True, lines=1, claims=0),
        dict(generic_name="ATORVASTATIN CALCIUM", ingredient_key="ATORVASTATIN", mapped=True,
             in_market=True, lines=2, claims=45),
        dict(generic_name="LISINOPRIL", ingredient_key="LISINOPRIL", mapped=True,
             in_market=False, lines=2, claims=70),
        dict(generic_name="NYSTATIN", ingredient_key="NYSTATIN", mapped=False, in_market=False,
             lines=1, claims=15),
        dict(generic_name="SIMVASTATIN", ingredient_key="SIMVASTATIN", mapped=True,
             in_market=True, lines=2, claims=23),
    ]  # fmt: skip
    market = market_lines(LINES, keys)
    assert sorted(r["brand_name"] for r in rows(market.select("brand_name"))) == [
        "ATORVASTATIN", "LIPITOR", "LIPITOR", "SIMVASTATIN", "ZOCOR",
    ]  # fmt: skip
    # an empty basket: no line is in the market
    assert rows(market_lines(LINES, generic_keys(LINES, MAP_KEYS, ()))) == []


def test_market_prescribers_and_deciles():
    keys = generic_keys(LINES, MAP_KEYS, STATINS)
    prescribers = market_prescribers(LINES, PLACES, market_lines(LINES, keys))
    # volume in days: 1 -> 900, 2 -> 450 (of 1,350): 2 starts at 900/1350 = 0.67 -> decile 4
    assert rows(prescribers, ["presc_id"]) == [
        dict(presc_id=1, specialty="Cardiology", presc_state="NY", lines=1, claims=20,
             fills=30.0, drug_cost=100.0, decile=10, specialty_decile=10),
        # most lines are Family Practice; the suppressed count adds no claims
        dict(presc_id=2, specialty="Family Practice", presc_state="CA", lines=3, claims=23,
             fills=15.0, drug_cost=15.0, decile=4, specialty_decile=10),
        dict(presc_id=3, specialty=None, presc_state="ZZ", lines=0, claims=0, fills=0.0,
             drug_cost=0.0, decile=0, specialty_decile=0),
        dict(presc_id=4, specialty="Dentist", presc_state=None, lines=0, claims=0, fills=0.0,
             drug_cost=0.0, decile=0, specialty_decile=0),
        # market claims but no day supply: no volume, decile 0
        dict(presc_id=5, specialty="Cardiology", presc_state="TX", lines=1, claims=25,
             fills=0.0, drug_cost=50.0, decile=0, specialty_decile=0),
    ]  # fmt: skip
    assert rows(market_deciles(prescribers), ["decile"]) == [
        dict(decile=0, prescribers=3, prescribers_share=0.6, fills=0.0, fills_share=0.0,
             cumulative_share=1.0, claims=25, min_fills=0.0, median_fills=0.0, max_fills=0.0),
        dict(decile=4, prescribers=1, prescribers_share=0.2, fills=15.0, fills_share=1 / 3,
             cumulative_share=1.0, claims=23, min_fills=15.0, median_fills=15.0,
             max_fills=15.0),
        dict(decile=10, prescribers=1, prescribers_share=0.2, fills=30.0, fills_share=2 / 3,
             cumulative_share=2 / 3, claims=20, min_fills=30.0, median_fills=30.0,
             max_fills=30.0),
    ]  # fmt: skip


def test_decile_medians_take_the_middle_or_the_mean_of_the_middle_two():
    t = ibis.memtable(
        {
            "presc_id": [1, 2, 3, 4, 5, 6, 7],
            "fills": [1.0, 2.0, 10.0, 3.0, 3.0, 5.0, 0.0],
            "claims": [0] * 7,
            "decile": [1, 1, 1, 2, 2, 2, 0],
        }
    )
    got = rows(market_deciles(t).select("decile", "min_fills", "median_fills", "max_fills"))
    assert got == [
        dict(decile=0, min_fills=0.0, median_fills=0.0, max_fills=0.0),  # one prescriber
        dict(decile=1, min_fills=1.0, median_fills=2.0, max_fills=10.0),  # odd: the middle
        dict(decile=2, min_fills=3.0, median_fills=3.0, max_fills=5.0),  # a tie in the middle
    ]
    even = t.filter(t.presc_id != 3)
    assert rows(market_deciles(even).filter(lambda d: d.decile == 1).select("median_fills")) == [
        dict(median_fills=1.5)  # even: the mean of the middle two
    ]


def test_an_empty_market_puts_everyone_in_decile_0():
    keys = generic_keys(LINES, MAP_KEYS, ("ROSUVASTATIN",))
    prescribers = market_prescribers(LINES, PLACES, market_lines(LINES, keys))
    assert {r["decile"] for r in rows(prescribers.select("decile"))} == {0}
    assert rows(market_deciles(prescribers)) == [
        dict(decile=0, prescribers=5, prescribers_share=1.0, fills=0.0, fills_share=None,
             cumulative_share=None, claims=0, min_fills=0.0, median_fills=0.0, max_fills=0.0)
    ]  # fmt: skip
