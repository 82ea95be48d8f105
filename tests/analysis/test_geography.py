"""Geographic demand of the market, on DuckDB: hand-made prescribers, matched lines and city
dimension, the whole output compared with rows computed independently in plain Python (the
empirical-Bayes rate written again from its definition: Clayton & Kaldor 1987, Marshall 1991)."""

from __future__ import annotations

import math
from collections import Counter

import ibis
import pytest

from healthanalytics.analysis.geography import market_geography
from tests.analysis.test_specialties import PRESCRIBER_SCHEMA
from tests.transforms.conftest import rows

# (city_id, city, state_id, population)
CITIES = [
    (1, "Albany", "NY", 100_000),
    (2, "Buffalo", "NY", 250_000),
    (3, "Tinytown", "NY", 50),  # tiny: its raw rate is extreme
    (4, "Ghost", "NY", 0),  # no residents: no rate, ranked last
    (5, "Newark", "NJ", 300_000),
    (6, "Trenton", "NJ", 80_000),  # no prescriber: 0 fills
]

# (presc_id, presc_state, claims, fills, decile, [(line state, matched city_id or None)])
PRESCRIBERS = [
    (1, "NY", 40, 30.0, 10, [("NY", 1), ("NY", 1), ("NY", 2)]),  # most lines: Albany
    (2, "NY", 15, 12.0, 8, [("NY", 2)]),
    (3, "NY", 9, 6.0, 5, [("NY", 3)]),  # Tinytown's writer
    (4, "NY", 3, 0.0, 0, [("NY", 3)]),  # not a writer
    (5, "NY", 11, 10.0, 7, [("NY", 4)]),  # in Ghost (population 0)
    # its lines in another state match more often, but only its own state's count
    (6, "NJ", 20, 25.0, 9, [("NJ", 5), ("NY", 1), ("NY", 1), ("NJ", None)]),
    (7, "NJ", 2, 2.0, 2, [("NJ", None)]),  # no matched city: NJ's row only
    (8, None, 5, 4.0, 6, [(None, None)]),  # state unknown: counted nowhere
    (9, "XX", 1, 1.0, 1, [("XX", None)]),  # a code the dimension lacks: population null
    (10, "NY", 0, 0.0, 0, [("NY", 2), ("NY", 1)]),  # tie: the lower city_id (Albany)
]


def inputs(prescribers: list[tuple], cities: list[tuple]) -> tuple[ibis.Table, ...]:
    p = ibis.memtable(
        {
            "presc_id": [r[0] for r in prescribers],
            "specialty": ["Cardiology"] * len(prescribers),
            "presc_state": [r[1] for r in prescribers],
            "lines": [len(r[5]) for r in prescribers],
            "claims": [r[2] for r in prescribers],
            "fills": [r[3] for r in prescribers],
            "drug_cost": [0.0] * len(prescribers),
            "decile": [r[4] for r in prescribers],
            "specialty_decile": [0] * len(prescribers),
        },
        schema=PRESCRIBER_SCHEMA,
    )
    lines = [(r[0], state, city) for r in prescribers for state, city in r[5]]
    matched = ibis.memtable(
        {
            "presc_id": [line[0] for line in lines],
            "presc_state": [line[1] for line in lines],
            "city_id": [line[2] for line in lines],
        },
        schema={"presc_id": "int64", "presc_state": "string", "city_id": "int64"},
    )
    dim = ibis.memtable(
        {
            "city_id": [c[0] for c in cities],
            "city": [c[1] for c in cities],
            "state_id": [c[2] for c in cities],
            "population": [c[3] for c in cities],
        },
        schema={"city_id": "int64", "city": "string", "state_id": "string", "population": "int64"},
    )
    return p, matched, dim


def shrink(areas: list[dict]) -> None:
    """Clayton & Kaldor's Poisson-Gamma estimate, Marshall's moments, on one level's areas:
    sets fills_per_1000, fills_per_1000_shrunk and index in place."""
    counted = [a for a in areas if a["population"]]
    total_pop = sum(a["population"] for a in counted)
    r = sum(a["fills"] for a in counted) / total_pop
    mean_pop = total_pop / len(counted)
    s2 = sum(a["population"] * (a["fills"] / a["population"] - r) ** 2 for a in counted)
    v = max(s2 / total_pop - r / mean_pop, 1e-12)
    for a in areas:
        if not a["population"]:
            a.update(fills_per_1000=None, fills_per_1000_shrunk=None, index=None)
            continue
        raw = a["fills"] / a["population"]
        shrunk = r + (raw - r) * v / (v + r / a["population"])
        a.update(
            fills_per_1000=raw * 1000,
            fills_per_1000_shrunk=shrunk * 1000,
            index=shrunk / r if r else None,
        )


def expected(prescribers: list[tuple], cities: list[tuple]) -> list[dict]:
    city_of = {}
    for p in prescribers:
        votes = Counter(city for state, city in p[5] if city is not None and state == p[1])
        if votes:
            city_of[p[0]] = min(votes, key=lambda c: (-votes[c], c))

    def demand(members: list[tuple]) -> dict:
        return {
            "fills": sum(p[3] for p in members),
            "claims": sum(p[2] for p in members),
            "writers": sum(1 for p in members if p[3] > 0),
            "high_decile_writers": sum(1 for p in members if p[3] > 0 and p[4] >= 8),
        }

    state_ids = {c[2] for c in cities} | {p[1] for p in prescribers if p[1] is not None}
    states = [
        {"level": "state", "state_id": s, "city": None, "city_id": None,
         "population": sum(c[3] for c in cities if c[2] == s)
         if any(c[2] == s for c in cities) else None,
         **demand([p for p in prescribers if p[1] == s])}
        for s in state_ids
    ]  # fmt: skip
    towns = [
        {"level": "city", "state_id": c[2], "city": c[1], "city_id": c[0], "population": c[3],
         **demand([p for p in prescribers if city_of.get(p[0]) == c[0]])}
        for c in cities
    ]  # fmt: skip
    out = []
    for level in (states, towns):
        shrink(level)
        level.sort(
            key=lambda a: (a["index"] is None, -(a["index"] or 0), -a["fills"], a["state_id"],
                           a["city_id"] or 0)
        )  # fmt: skip
        for rank, a in enumerate(level, 1):
            a["opportunity_rank"] = rank
        out.extend(level)
    return out


def close(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        for k, value in w.items():
            if isinstance(value, float):
                assert g[k] == pytest.approx(value, rel=1e-9), (k, g, w)
            else:
                assert g[k] == value, (k, g, w)


KEY = ["level", "opportunity_rank"]


def result(prescribers: list[tuple], cities: list[tuple] = CITIES) -> list[dict]:
    """The output's rows (DuckDB sums int64 to a 128-bit integer: populations as int)."""
    got = rows(market_geography(*inputs(prescribers, cities)), KEY)
    for r in got:
        r["population"] = None if r["population"] is None else int(r["population"])
    return got


def test_geography_compared_whole():
    got = result(PRESCRIBERS)
    want = sorted(expected(PRESCRIBERS, CITIES), key=lambda r: (r["level"], r["opportunity_rank"]))
    close(got, want)
    by_city = {r["city"]: r for r in got if r["level"] == "city"}
    states = {r["state_id"]: r for r in got if r["level"] == "state"}
    # the rows the rules single out
    assert by_city["Albany"]["writers"] == 1 and by_city["Albany"]["fills"] == 30.0
    assert by_city["Newark"]["fills"] == 25.0  # prescriber 6's NY lines do not count
    assert states["NJ"]["fills"] == 27.0 and states["NY"]["fills"] == 58.0
    assert states["XX"]["population"] is None and states["XX"]["opportunity_rank"] == 3
    assert "Ghost" in by_city and by_city["Ghost"]["fills_per_1000"] is None
    assert by_city["Ghost"]["opportunity_rank"] == len(CITIES)
    assert by_city["Trenton"]["fills"] == 0.0 and by_city["Trenton"]["claims"] == 0
    assert sum(r["fills"] for r in got if r["level"] == "state") == 86.0  # all but prescriber 8


def test_tiny_city_shrunk_between_raw_and_national():
    got = result(PRESCRIBERS)
    cities = [r for r in got if r["level"] == "city"]
    counted = [r for r in cities if r["population"]]
    national = 1000 * sum(r["fills"] for r in counted) / sum(r["population"] for r in counted)
    tiny = next(r for r in cities if r["city"] == "Tinytown")
    assert tiny["fills_per_1000"] == pytest.approx(120.0)
    assert national < tiny["fills_per_1000_shrunk"] < tiny["fills_per_1000"]
    # the large cities move little, the tiny one a lot
    albany = next(r for r in cities if r["city"] == "Albany")
    assert (
        abs(albany["fills_per_1000_shrunk"] - albany["fills_per_1000"])
        < abs(tiny["fills_per_1000_shrunk"] - tiny["fills_per_1000"]) / 100
    )
    # every shrunk rate lies between its raw rate and the national one
    for r in counted:
        low, high = sorted([r["fills_per_1000"], national])
        assert low - 1e-12 <= r["fills_per_1000_shrunk"] <= high + 1e-12
        assert r["index"] == pytest.approx(r["fills_per_1000_shrunk"] / national)


def test_weighted_index_means():
    """What follows from the method: the raw rates' population-weighted mean is the national
    rate exactly (r = total fills / total population). The shrunk index has no such identity:
    each area moves towards r by its own factor v / (v + r / population), so its weighted mean
    is 1 only when those factors are equal; it is not asserted to be 1."""
    got = result(PRESCRIBERS)
    for level in ("state", "city"):
        counted = [r for r in got if r["level"] == level and r["population"]]
        pop = sum(r["population"] for r in counted)
        national = 1000 * sum(r["fills"] for r in counted) / pop
        raw_mean = sum(r["population"] * r["fills_per_1000"] for r in counted) / pop
        assert raw_mean / national == pytest.approx(1.0, rel=1e-12)
        shrunk_mean = sum(r["population"] * r["index"] for r in counted) / pop
        assert math.isfinite(shrunk_mean) and shrunk_mean > 0


def test_no_fills_gives_null_index_and_ranks_by_id():
    idle = [(p[0], p[1], 0, 0.0, 0, p[5]) for p in PRESCRIBERS]
    got = result(idle)
    close(got, sorted(expected(idle, CITIES), key=lambda r: (r["level"], r["opportunity_rank"])))
    assert all(r["index"] is None for r in got)
    # no rate anywhere: ordered by fills (all 0), then state_id, then city_id
    assert [r["city_id"] for r in got if r["level"] == "city"] == [5, 6, 1, 2, 3, 4]


def test_marshall_moments_worked_by_hand():
    # two cities of 100 residents, 10 fills and none: m = 10 / 200 = 0.05 a resident;
    # s2 = (100 x 0.05^2 + 100 x 0.05^2) / 200 = 0.0025; m / mean(n) = 0.05 / 100 = 0.0005;
    # v = 0.002; each weight v / (v + m / 100) = 0.8: A = 0.05 + 0.05 x 0.8 = 0.09, B = 0.01
    cities = [(1, "A", "NY", 100), (2, "B", "NY", 100)]
    prescribers = [(1, "NY", 10, 10.0, 10, [("NY", 1)]), (2, "NY", 1, 0.0, 0, [("NY", 2)])]
    got = {r["city"]: r for r in result(prescribers, cities) if r["level"] == "city"}
    assert got["A"]["fills_per_1000_shrunk"] == pytest.approx(90.0, rel=1e-12)
    assert got["B"]["fills_per_1000_shrunk"] == pytest.approx(10.0, rel=1e-12)
    assert [got["A"]["index"], got["B"]["index"]] == pytest.approx([1.8, 0.2], rel=1e-12)


def test_marshall_prior_variance_below_zero_shrinks_to_the_national_rate():
    # 1.0 and 1.2 fills on 1,000 residents each: m = 0.0011, s2 = 1e-8 < m / mean(n) = 1.1e-6,
    # so the prior variance is floored (1e-12) and both rates move to m (weight 1e-12 / 1.1e-6)
    cities = [(1, "A", "NY", 1000), (2, "B", "NY", 1000)]
    prescribers = [(1, "NY", 1, 1.0, 10, [("NY", 1)]), (2, "NY", 1, 1.2, 9, [("NY", 2)])]
    got = [r for r in result(prescribers, cities) if r["level"] == "city"]
    assert [r["index"] for r in got] == pytest.approx([1.0, 1.0], abs=1e-6)
    assert [r["fills_per_1000"] for r in got] == pytest.approx([1.2, 1.0], rel=1e-12)
