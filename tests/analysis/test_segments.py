"""City segmentation: the features on DuckDB (tiny tables compared whole, and unchanged when
the market's own lines change), the choice of k, the segments' order and names on planted
groups of cities, and independence of row order and thread count. k-means, the silhouette and
the adjusted Rand index are scikit-learn's, not tested here."""

from __future__ import annotations

import math

import ibis
import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from healthanalytics.analysis.segments import (
    MIN_SEGMENT_SHARE,
    SEGMENT_COLUMNS,
    choose_k,
    city_features,
    prescriber_segments,
    segment_cities,
    segment_profiles,
)
from healthanalytics.contracts import RunParameters
from healthanalytics.contracts.segments import SEGMENT_SELECTION
from healthanalytics.io.warehouse import open_warehouse
from tests.analysis.test_analysis_run import run
from tests.analysis.test_deciles import drugs_table
from tests.transforms.conftest import rows

# (city_id, city, state_id, population)
CITIES = [
    (1, "Albany", "NY", 100_000),
    (2, "Buffalo", "NY", 250_000),
    (3, "Ghost", "NY", 0),  # no residents: not segmented
    (4, "Empty", "NY", 5_000),  # no prescriber: not segmented
]
STATIN = "ATORVASTATIN CALCIUM"  # the market


def feature_inputs(drugs: list[tuple]) -> tuple[ibis.Table, ...]:
    """(drugs, keys, matched, cities, prescribers) for `city_features`."""
    d = drugs_table(drugs)
    names = sorted({row[3] for row in drugs if row[3] is not None})
    keys = ibis.memtable(
        {"generic_name": [*names, None], "in_market": [n == STATIN for n in names] + [False]},
        schema={"generic_name": "string", "in_market": "boolean"},
    )
    located = {1: 1, 2: 1, 3: 1, 4: 2, 5: 3, 6: None}  # presc_id -> matched city_id
    matched = ibis.memtable(
        {"presc_id": list(located), "presc_state": ["NY"] * 6, "city_id": list(located.values())},
        schema={"presc_id": "int64", "presc_state": "string", "city_id": "int64"},
    )
    cities = ibis.memtable(
        {
            "city_id": [c[0] for c in CITIES],
            "city": [c[1] for c in CITIES],
            "state_id": [c[2] for c in CITIES],
            "population": [c[3] for c in CITIES],
            "lat": [42.0 + c[0] for c in CITIES],
            "lng": [-74.0 - c[0] for c in CITIES],
        }
    )
    prescribers = ibis.memtable({"presc_id": list(located), "presc_state": ["NY"] * 6})
    return d, keys, matched, cities, prescribers


# (presc_id, specialty, brand, generic, claims, day_supply, cost)
DRUGS = [
    (1, "Cardiology", "LIPITOR", STATIN, 50, 900.0, 10.0),  # market: not a feature
    (1, "Cardiology", "ZOLOFT", "SERTRALINE HCL", 20, 600.0, 5.0),
    (2, "Family", "X", None, 5, 60.0, 1.0),  # a null generic is outside every market
    (2, "Family", "METFORMIN HCL", "METFORMIN HCL", None, 90.0, 1.0),  # suppressed claims
    (3, "Cardiology", "LIPITOR", STATIN, 70, 2100.0, 9.0),  # market lines only: not counted
    (4, "Family", "METFORMIN HCL", "METFORMIN HCL", 30, 300.0, 2.0),
    (5, "Family", "METFORMIN HCL", "METFORMIN HCL", 9, 90.0, 1.0),  # in Ghost (no residents)
    (6, "Family", "METFORMIN HCL", "METFORMIN HCL", 9, 90.0, 1.0),  # no matched city
]


def test_city_features_compared_whole(con):
    got = rows(city_features(*feature_inputs(DRUGS)), ["city_id"])
    assert got == [
        # prescribers 1 and 2: 20 + 5 claims, (600 + 60 + 90) / 30 = 25 fills
        {"city_id": 1, "city": "Albany", "state_id": "NY", "population": 100_000,
         "lat": 43.0, "lng": -75.0, "prescribers": 2, "non_market_claims": 25,
         "non_market_fills": 25.0, "prescribers_per_1000": 2 / 100_000 * 1000,
         "non_market_claims_per_1000": 25 / 100_000 * 1000,
         "non_market_fills_per_prescriber": 12.5},
        {"city_id": 2, "city": "Buffalo", "state_id": "NY", "population": 250_000,
         "lat": 44.0, "lng": -76.0, "prescribers": 1, "non_market_claims": 30,
         "non_market_fills": 10.0, "prescribers_per_1000": 1 / 250_000 * 1000,
         "non_market_claims_per_1000": 30 / 250_000 * 1000,
         "non_market_fills_per_prescriber": 10.0},
    ]  # fmt: skip


def test_features_do_not_read_the_market_lines(con):
    # the leakage test: other market claims and day supplies change no feature
    changed = [
        (p, s, b, g, 10 * c + 7, 3 * days, cost) if g == STATIN else (p, s, b, g, c, days, cost)
        for p, s, b, g, c, days, cost in DRUGS
    ]
    assert changed != DRUGS
    before = rows(city_features(*feature_inputs(DRUGS)), ["city_id"])
    assert rows(city_features(*feature_inputs(changed)), ["city_id"]) == before


@pytest.mark.parametrize(
    ("figures", "chosen"),
    [
        # both rules met by k = 2 and 3: the higher silhouette (3); k = 4 has a tiny segment
        ([(2, 0.5, 0.30, 0.9), (3, 0.6, 0.20, 0.85), (4, 0.9, 0.01, 1.0)], 3),
        # k = 3 unstable: k = 2, though 3 has the higher silhouette
        ([(2, 0.5, 0.30, 0.9), (3, 0.6, 0.20, 0.5)], 2),
        # none stable: the highest silhouette among those meeting the share
        ([(2, 0.5, 0.30, 0.5), (3, 0.6, 0.20, 0.5), (4, 0.9, 0.04, 0.9)], 3),
        # none meets the share: the largest smallest segment; ties: the smaller k
        ([(2, 0.5, 0.04, 1.0), (3, 0.6, 0.04, 1.0), (4, 0.9, 0.01, 1.0)], 2),
        # equal silhouettes: the smaller k
        ([(2, 0.5, 0.30, 0.9), (3, 0.5, 0.20, 0.9)], 2),
        # the share at exactly the minimum counts
        ([(2, 0.5, 0.30, 0.9), (3, 0.6, MIN_SEGMENT_SHARE, 0.8)], 3),
    ],
)
def test_choose_k(figures, chosen):
    rows_ = [{"k": k, "silhouette": s, "min_segment_share": m, "stability": st}
             for k, s, m, st in figures]  # fmt: skip
    assert choose_k(rows_) == chosen


def planted(groups: list[tuple], seed: int = 7) -> pa.Table:
    """Cities of planted groups, as city_features gives them: per group (cities, population,
    prescribers per 1,000, claims per 1,000, fills per prescriber), each city within +-10 %."""
    rng = np.random.default_rng(seed)
    out, city_id = [], 1
    for count, population, ppk, cpk, fpp in groups:
        for _ in range(count):
            pop = int(population * rng.uniform(0.9, 1.1))
            presc = max(1, round(pop * ppk / 1000 * rng.uniform(0.9, 1.1)))
            claims = round(pop * cpk / 1000 * rng.uniform(0.9, 1.1))
            fills = presc * fpp * rng.uniform(0.9, 1.1)
            out.append({
                "city_id": city_id, "city": f"C{city_id}", "state_id": "NY",
                "population": pop, "lat": 40.0, "lng": -75.0, "prescribers": presc,
                "non_market_claims": claims, "non_market_fills": fills,
                "prescribers_per_1000": presc / pop * 1000,
                "non_market_claims_per_1000": claims / pop * 1000,
                "non_market_fills_per_prescriber": fills / presc,
            })  # fmt: skip
            city_id += 1
    return pa.Table.from_pylist(out)


# large metros of average demand, towns of low demand, small towns of high demand
THREE_GROUPS = [
    (10, 2_000_000, 3.0, 2000.0, 400.0),
    (20, 50_000, 1.0, 500.0, 300.0),
    (15, 3_000, 8.0, 6000.0, 900.0),
]


def test_three_planted_groups_give_three_named_segments():
    features = planted(THREE_GROUPS)
    result = segment_cities(features)
    chosen = [r["k"] for r in result.selection.to_pylist() if r["chosen"]]
    assert chosen == [3]
    assert result.selection.column("k").to_pylist() == list(range(2, 9))
    cities = result.cities.to_pylist()
    group = [0] * 10 + [1] * 20 + [2] * 15
    # each planted group is one segment
    assert adjusted_rand_score(np.array(group), np.array([c["segment"] for c in cities])) == 1.0
    # the national rate: all claims / all residents; each segment's index against it
    national = sum(c["non_market_claims"] for c in cities) / sum(c["population"] for c in cities)
    profiles = result.segments.to_pylist()
    for p in profiles:
        members = [c for c in cities if c["segment"] == p["segment"]]
        rate = sum(c["non_market_claims"] for c in members) / p["population"]
        assert math.isclose(p["demand_index"], rate / national)
        assert p["cities"] == len(members)
    # numbered by demand, highest first; named by median population and demand index
    assert [p["segment_name"] for p in profiles] == [
        "small town, high demand",
        "large metro, average demand",
        "town, low demand",
    ]
    assert [p["cities"] for p in profiles] == [15, 10, 20]
    assert math.isclose(sum(p["population_share"] for p in profiles), 1.0)
    # the centroid in original units: exp of the mean log population
    metros = [c["population"] for c in cities if c["segment"] == 2]
    want = math.exp(sum(math.log(p) for p in metros) / len(metros))
    assert math.isclose(profiles[1]["centroid_population"], want)


def test_same_tables_whatever_the_row_order():
    features = planted(THREE_GROUPS)
    first = segment_cities(features)
    for seed in (1, 2):
        shuffled = features.take(np.random.default_rng(seed).permutation(features.num_rows))
        again = segment_cities(shuffled)
        assert again.cities.equals(first.cities)
        assert again.segments.equals(first.segments)
        assert again.selection.equals(first.selection)


def test_same_tables_whatever_the_threads():
    # KMeans' OpenMP threads add up their partial sums in an order that follows their number:
    # enough cities for several chunks (256 rows each), fitted under 1 and 8 OpenMP threads
    features = planted([(g[0] * 40, *g[1:]) for g in THREE_GROUPS])
    with threadpool_limits(limits=1, user_api="openmp"):
        first = segment_cities(features)
    with threadpool_limits(limits=8, user_api="openmp"):
        again = segment_cities(features)
    assert again.selection.equals(first.selection)
    assert again.cities.equals(first.cities)


def test_a_handful_of_megacities_makes_no_segment_of_their_own():
    # the brief's failure: 3 of 100 cities far from the rest would be a segment at k = 3
    features = planted([(50, 20_000, 2.0, 900.0, 300.0), (47, 2_000, 6.0, 3000.0, 600.0),
                        (3, 8_000_000, 2.0, 900.0, 300.0)])  # fmt: skip
    result = segment_cities(features)
    selection = result.selection.to_pylist()
    assert any(r["min_segment_share"] < MIN_SEGMENT_SHARE for r in selection)
    (chosen,) = [r for r in selection if r["chosen"]]
    assert chosen["min_segment_share"] >= MIN_SEGMENT_SHARE
    sizes = [p["cities"] for p in result.segments.to_pylist()]
    assert min(sizes) >= MIN_SEGMENT_SHARE * 100


def test_equal_names_are_numbered():
    # two groups of small towns, both of low demand, apart in prescribers and fills
    features = planted([(10, 2_000_000, 3.0, 2000.0, 400.0), (20, 3_000, 0.5, 300.0, 100.0),
                        (20, 3_000, 8.0, 400.0, 5.0)])  # fmt: skip
    names = [p["segment_name"] for p in segment_cities(features).segments.to_pylist()]
    assert len(set(names)) == len(names) == 3
    assert names[0] == "large metro, average demand"
    assert sorted(names[1:]) == ["small town, low demand (2)", "small town, low demand (3)"]


def test_too_few_cities_are_one_segment():
    features = planted([(2, 50_000, 1.0, 500.0, 300.0)])
    result = segment_cities(features)
    assert result.selection.num_rows == 0
    assert result.cities.column("segment").to_pylist() == [1, 1]
    assert result.segments.column("cities").to_pylist() == [2]
    empty = segment_cities(features.slice(0, 0))
    assert (empty.cities.num_rows, empty.segments.num_rows) == (0, 0)


def test_segment_profiles_add_the_market_of_their_cities(con):
    segments = ibis.memtable(
        pa.Table.from_pylist(
            [{**{c: 0 for c in SEGMENT_COLUMNS}, "segment": s, "segment_name": f"s{s}",
              "population": pop, "population_share": 0.5, "demand_index": 1.0}
             for s, pop in ((1, 100_000), (2, 200_000), (3, 50_000))],
            pa.schema(list(SEGMENT_COLUMNS.items())),
        )
    )  # fmt: skip
    city_segments = ibis.memtable({"city_id": [1, 2, 4, 5], "segment": [1, 2, 2, 3]})
    # (presc_id, state, fills, matched city)
    located = [(1, "NY", 30.0, 1), (2, "NY", 0.0, 1), (3, "NY", 12.0, 2), (4, "NY", 3.0, 4),
               (5, "NY", 8.0, None), (6, "NY", 5.0, 9)]  # fmt: skip
    prescribers = ibis.memtable(
        {"presc_id": [p[0] for p in located], "presc_state": [p[1] for p in located],
         "fills": [p[2] for p in located]}
    )  # fmt: skip
    matched = ibis.memtable(
        {"presc_id": [p[0] for p in located], "presc_state": [p[1] for p in located],
         "city_id": [p[3] for p in located]},
        schema={"presc_id": "int64", "presc_state": "string", "city_id": "int64"},
    )  # fmt: skip
    got = rows(segment_profiles(segments, city_segments, prescribers, matched), ["segment"])
    market = [(r["segment"], r["market_fills"], r["market_writers"], r["market_fills_per_1000"])
              for r in got]  # fmt: skip
    # segment 1: 30 + 0 fills, one writer; 2: 12 + 3 in two cities; 3: no prescriber located;
    # prescribers 5 (no city) and 6 (a city in no segment) count nowhere
    assert market == [(1, 30.0, 1, 0.3), (2, 15.0, 2, 0.075), (3, 0.0, 0, 0.0)]
    assert [r["segment_name"] for r in got] == ["s1", "s2", "s3"]


@pytest.fixture(scope="module")
def sample_segments(tmp_path_factory) -> dict[str, list[dict]]:
    """The segmentation tables of a real run on the bundled 100,000-line sample."""
    out = tmp_path_factory.mktemp("segments")
    found = run(out)
    with open_warehouse(str(out / "healthanalytics.duckdb")) as warehouse:
        for name in ("city_segments", "segment_profiles", "segment_selection"):
            found[name] = warehouse.read_table(name).to_pylist()
    return found


def test_a_run_segments_the_sample_cities(sample_segments):
    cities = sample_segments["city_segments"]
    profiles = sample_segments["segment_profiles"]
    selection = sample_segments["segment_selection"]
    assert sample_segments["pipeline_runs"][0]["analysis_error"] is None
    assert cities and profiles and selection
    # one chosen k, and as many segments, numbered 1..k
    (chosen,) = [r["k"] for r in selection if r["chosen"]]
    assert sorted(p["segment"] for p in profiles) == list(range(1, chosen + 1))
    # the profiles reconcile with the cities
    assert sum(p["cities"] for p in profiles) == len(cities)
    for p in profiles:
        members = [c for c in cities if c["segment"] == p["segment"]]
        assert p["cities"] == len(members)
        assert p["population"] == sum(c["population"] for c in members)
        assert p["prescribers"] == sum(c["prescribers"] for c in members)
        assert {c["segment_name"] for c in members} == {p["segment_name"]}
    assert len({p["segment_name"] for p in profiles}) == len(profiles)
    # the market's fills of the segments' prescribers: those of the geography's segmented cities
    geography = {r["city_id"]: r["fills"] for r in sample_segments["market_geography"]
                 if r["level"] == "city"}  # fmt: skip
    for p in profiles:
        want = sum(geography[c["city_id"]] for c in cities if c["segment"] == p["segment"])
        assert math.isclose(p["market_fills"], want, rel_tol=1e-9, abs_tol=1e-9)
    demand = [p["demand_index"] for p in profiles]
    assert demand == sorted(demand, reverse=True)


@pytest.mark.parametrize(
    ("chosen", "failures"),
    [([0, 1, 0], 0), ([1, 1, 0], 1), ([0, 0, 0], 1), ([], 0)],  # no k tried: nothing to choose
)
def test_the_quality_check_wants_one_chosen_k(con, chosen, failures):
    (check,) = [t for t in SEGMENT_SELECTION.tests() if t.name == "segment_selection_one_chosen"]
    table = ibis.memtable({"chosen": chosen}, schema={"chosen": "int64"})
    assert check.count(table, RunParameters(top_n=5)).execute() == failures


def test_prescriber_segments(con):
    city_segments = ibis.memtable({"city_id": [1, 2], "segment": [2, 1]})
    # (presc_id, matched city): 3 has no city, 4 a city not segmented
    located = [(1, 1), (2, 2), (3, None), (4, 9)]
    matched = ibis.memtable(
        {"presc_id": [p for p, _ in located], "presc_state": ["NY"] * 4,
         "city_id": [c for _, c in located]},
        schema={"presc_id": "int64", "presc_state": "string", "city_id": "int64"},
    )  # fmt: skip
    prescribers = ibis.memtable({"presc_id": [1, 2, 3, 4], "presc_state": ["NY"] * 4})
    got = rows(prescriber_segments(city_segments, matched, prescribers), ["presc_id"])
    assert got == [
        {"presc_id": 1, "segment": 2},
        {"presc_id": 2, "segment": 1},
        {"presc_id": 3, "segment": None},
        {"presc_id": 4, "segment": None},
    ]
