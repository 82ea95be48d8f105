"""The specialty mix of the market, on DuckDB: a hand-made prescribers table, the whole output
compared with rows computed independently in plain Python."""

from __future__ import annotations

from collections import defaultdict

import ibis

from healthanalytics.analysis.deciles import generic_keys, market_lines, market_prescribers
from healthanalytics.analysis.specialties import market_specialties
from tests.analysis.test_deciles import LINES, MAP_KEYS, PLACES, STATINS
from tests.transforms.conftest import rows

PRESCRIBER_SCHEMA = {
    "presc_id": "int64", "specialty": "string", "presc_state": "string", "lines": "int64",
    "claims": "int64", "fills": "float64", "drug_cost": "float64", "decile": "int64",
    "specialty_decile": "int64",
}  # fmt: skip

# (presc_id, specialty, claims, fills, decile): as market_prescribers gives them
PRESCRIBERS = [
    (1, "Cardiology", 40, 30.0, 10),
    (2, "Cardiology", 15, 12.0, 8),
    (3, "Cardiology", 9, 6.0, 5),
    (4, "Cardiology", 3, 0.0, 0),  # claims but no day supply: not a writer
    (5, "Family Practice", 11, 10.0, 7),
    (6, "Family Practice", 2, 2.0, 2),
    (7, "Family Practice", 0, 0.0, 0),
    (8, "Dentist", 0, 0.0, 0),  # a specialty without writers
    (9, "Dentist", 0, 0.0, 0),
    (10, None, 14, 12.0, 8),  # a blank specialty: its own group, tied with Family Practice
]


def prescribers_table(data: list[tuple]) -> ibis.Table:
    return ibis.memtable(
        {
            "presc_id": [p[0] for p in data],
            "specialty": [p[1] for p in data],
            "presc_state": ["NY"] * len(data),
            "lines": [int(p[2] > 0) for p in data],
            "claims": [p[2] for p in data],
            "fills": [p[3] for p in data],
            "drug_cost": [0.0] * len(data),
            "decile": [p[4] for p in data],
            "specialty_decile": [0] * len(data),
        },
        schema=PRESCRIBER_SCHEMA,
    )


def expected(data: list[tuple]) -> list[dict]:
    """The rule in plain Python: per specialty, writers (fills > 0), all prescribers, fills,
    claims, the writers' median, writers in deciles 8-10; ranked by fills (ties A-Z, blank
    last)."""
    groups: dict[str | None, list[tuple]] = defaultdict(list)
    for p in data:
        groups[p[1]].append(p)
    total = sum(p[3] for p in data)
    out = []
    for specialty, members in groups.items():
        written = sorted(p[3] for p in members if p[3] > 0)
        n = len(written)
        fills = sum(p[3] for p in members)
        out.append(
            {"specialty": specialty, "writers": n, "prescribers": len(members),
             "penetration": n / len(members), "fills": fills,
             "claims": sum(p[2] for p in members),
             "fills_share": fills / total if total > 0 else None,
             "median_fills_per_writer": (written[(n - 1) // 2] + written[n // 2]) / 2
             if n else None,
             "high_decile_writers": sum(1 for p in members if p[3] > 0 and p[4] >= 8)}
        )  # fmt: skip
    out.sort(key=lambda r: (-r["fills"], r["specialty"] is None, r["specialty"] or ""))
    return [{"specialty": r["specialty"], "rank": i, **r} for i, r in enumerate(out, 1)]


def test_specialty_mix_compared_whole():
    got = rows(market_specialties(prescribers_table(PRESCRIBERS)), ["rank"])
    want = expected(PRESCRIBERS)
    assert got == want
    # spelled out: 72 fills in all
    assert got == [
        dict(specialty="Cardiology", rank=1, writers=3, prescribers=4, penetration=0.75,
             fills=48.0, claims=67, fills_share=48 / 72, median_fills_per_writer=12.0,
             high_decile_writers=2),
        # an even count of writers: the mean of the middle two
        dict(specialty="Family Practice", rank=2, writers=2, prescribers=3, penetration=2 / 3,
             fills=12.0, claims=13, fills_share=12 / 72, median_fills_per_writer=6.0,
             high_decile_writers=0),
        # as many fills as Family Practice: the blank specialty after it
        dict(specialty=None, rank=3, writers=1, prescribers=1, penetration=1.0, fills=12.0,
             claims=14, fills_share=12 / 72, median_fills_per_writer=12.0,
             high_decile_writers=1),
        # no writers: penetration 0, no median
        dict(specialty="Dentist", rank=4, writers=0, prescribers=2, penetration=0.0, fills=0.0,
             claims=0, fills_share=0.0, median_fills_per_writer=None, high_decile_writers=0),
    ]  # fmt: skip
    assert abs(sum(r["fills_share"] for r in got) - 1) < 1e-12
    # the rows come ordered by rank
    ordered = market_specialties(prescribers_table(PRESCRIBERS)).execute()
    assert ordered["rank"].tolist() == [1, 2, 3, 4]


def test_specialty_mix_of_the_market_prescribers():
    # from the kept lines: Cardiology 1 (30 fills, decile 10) and 5 (claims, no day supply),
    # Family Practice 2 (15 fills, decile 4), Dentist 4 and a blank specialty 3, no statins
    keys = generic_keys(LINES, MAP_KEYS, STATINS)
    prescribers = market_prescribers(LINES, PLACES, market_lines(LINES, keys))
    assert rows(market_specialties(prescribers), ["rank"]) == [
        dict(specialty="Cardiology", rank=1, writers=1, prescribers=2, penetration=0.5,
             fills=30.0, claims=45, fills_share=2 / 3, median_fills_per_writer=30.0,
             high_decile_writers=1),
        dict(specialty="Family Practice", rank=2, writers=1, prescribers=1, penetration=1.0,
             fills=15.0, claims=23, fills_share=1 / 3, median_fills_per_writer=15.0,
             high_decile_writers=0),
        dict(specialty="Dentist", rank=3, writers=0, prescribers=1, penetration=0.0,
             fills=0.0, claims=0, fills_share=0.0, median_fills_per_writer=None,
             high_decile_writers=0),
        dict(specialty=None, rank=4, writers=0, prescribers=1, penetration=0.0, fills=0.0,
             claims=0, fills_share=0.0, median_fills_per_writer=None, high_decile_writers=0),
    ]  # fmt: skip


def test_an_empty_market_has_no_writers_and_no_shares():
    none = [(p[0], p[1], 0, 0.0, 0) for p in PRESCRIBERS]
    got = rows(market_specialties(prescribers_table(none)), ["rank"])
    assert got == expected(none)
    assert [(r["specialty"], r["writers"], r["penetration"], r["fills_share"],
             r["median_fills_per_writer"]) for r in got] == [
        ("Cardiology", 0, 0.0, None, None),
        ("Dentist", 0, 0.0, None, None),
        ("Family Practice", 0, 0.0, None, None),
        (None, 0, 0.0, None, None),
    ]  # fmt: skip


def test_no_prescribers_no_rows():
    assert rows(market_specialties(prescribers_table([]))) == []
