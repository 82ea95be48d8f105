"""Cost position per prescriber and per state, on DuckDB: tiny tables compared whole, and the
price index checked against an independent pandas implementation on a random table."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from healthanalytics.analysis.cost import (
    MIN_CLAIMS_FOR_COST,
    national_cost_per_day,
    prescriber_cost,
    state_cost,
)
from healthanalytics.analysis.medians import with_median
from tests.analysis.test_deciles import drugs_table
from tests.transforms.conftest import rows


def prescribers_table(data: list[tuple]) -> ibis.Table:
    """(presc_id, specialty, presc_state): the columns of market_prescribers read here."""
    return ibis.memtable(
        {
            "presc_id": [d[0] for d in data],
            "specialty": [d[1] for d in data],
            "presc_state": [d[2] for d in data],
        },
        schema={"presc_id": "int64", "specialty": "string", "presc_state": "string"},
    )


def test_national_median_is_weighted_by_days_with_ties_and_even_counts():
    # one prescriber per row; cost per day = cost / days
    drugs = drugs_table(
        [
            # EVEN: 1, 2, 3, 4 USD/day, 10 days each: the days below 2 are exactly half ->
            # halfway to the next value, as the median of an even count
            (1, "a", "B", "EVEN", 1, 10.0, 10.0),
            (2, "a", "B", "EVEN", 1, 10.0, 20.0),
            (3, "a", "B", "EVEN", 1, 10.0, 30.0),
            (4, "a", "B", "EVEN", 1, 10.0, 40.0),
            # WEIGHTED: 1 USD/day for 10 days, 5 for 30: the days decide, not the rows (3)
            (1, "a", "B", "WEIGHTED", 1, 10.0, 10.0),
            (2, "a", "B", "WEIGHTED", 1, 30.0, 150.0),
            # TIED_HALF: two rows at 2 USD/day (5 days each) hold exactly half: (2 + 7) / 2
            (1, "a", "B", "TIED_HALF", 1, 5.0, 10.0),
            (2, "a", "B", "TIED_HALF", 1, 5.0, 10.0),
            (3, "a", "B", "TIED_HALF", 1, 10.0, 70.0),
            # TIED_OVER: the tie at 2 holds 10 of 15 days: 2
            (1, "a", "B", "TIED_OVER", 1, 5.0, 10.0),
            (2, "a", "B", "TIED_OVER", 1, 5.0, 10.0),
            (3, "a", "B", "TIED_OVER", 1, 5.0, 35.0),
            # FREE: a cost of 0 is a price (10 of 15 days at 0 USD/day)
            (1, "a", "B", "FREE", 1, 10.0, 0.0),
            (2, "a", "B", "FREE", 1, 5.0, 15.0),
            # rows that price nothing: no day supply, day supply 0, no cost, no generic name
            (1, "a", "B", "UNPRICED", 1, None, 10.0),
            (2, "a", "B", "UNPRICED", 1, 0.0, 10.0),
            (3, "a", "B", "UNPRICED", 1, 10.0, None),
            (4, "a", "B", None, 1, 10.0, 10.0),
        ]
    )
    assert rows(national_cost_per_day(drugs), ["generic_name"]) == [
        dict(generic_name="EVEN", median_cost_per_day=2.5),
        dict(generic_name="FREE", median_cost_per_day=0.0),
        dict(generic_name="TIED_HALF", median_cost_per_day=4.5),
        dict(generic_name="TIED_OVER", median_cost_per_day=2.0),
        dict(generic_name="WEIGHTED", median_cost_per_day=5.0),
    ]


def test_with_median_takes_the_middle_of_members_in_each_group():
    t = ibis.memtable(
        {
            "g": ["odd", "odd", "odd", "even", "even", "even", "even", None, None, "none"],
            "v": [3.0, 1.0, 2.0, 4.0, 1.0, 3.0, 100.0, 7.0, None, 5.0],
            "m": [True, True, True, True, True, True, False, True, True, False],
        }
    )
    got = with_median(t, "v", t.m, ["g"], "med")
    assert rows(got.select("g", "med").distinct(), ["g"]) == [
        dict(g="even", med=3.0),  # 1, 3, 4 (100 is no member): odd count -> 3
        dict(g="none", med=None),  # no member: null
        dict(g="odd", med=2.0),
        dict(g=None, med=7.0),  # a null key is its own group; a null value is no member
    ]
    even = t.filter(t.g != "odd")
    got = with_median(even, "v", ibis.literal(True), ["g"], "med")
    # every row a member: 1, 3, 4, 100 -> the mean of the middle two
    assert rows(got.filter(got.g == "even").select("med").distinct()) == [dict(med=3.5)]


def test_prescriber_cost_whole_table():
    assert MIN_CLAIMS_FOR_COST == 50  # the claims below are chosen around it
    drugs = drugs_table(
        [
            (1, "Cardiology", "BRANDG", "G", 50, 100.0, 400.0),  # 4 USD/day; 50 claims: eligible
            (2, "Cardiology", "G", "G", 60, 100.0, 100.0),  # 1 USD/day
            (3, "Cardiology", "G", "G", 49, 100.0, 500.0),  # 5 USD/day; 49 claims: not eligible
            (4, "Cardiology", "H", "H", 80, 30.0, 60.0),  # H's only row: index 1
            (4, "Cardiology", "X", None, 20, 10.0, 50.0),  # no generic: cost, not index
            (5, None, "G", "G", 100, 100.0, 200.0),  # blank specialty: its own peers
            (6, "Dentist", "G", "G", 10, 0.0, 0.0),  # no day supply: no row
            (7, "Dentist", "G", "G", 5, None, 30.0),  # day supply unknown: no costed line
            (8, "Dentist", "BRANDG", "G", None, 50.0, 0.0),  # free: prices G, but no row
        ]
    )
    places = prescribers_table(
        [(i, s, st) for i, s, st in [
            (1, "Cardiology", "NY"), (2, "Cardiology", "NY"), (3, "Cardiology", "NY"),
            (4, "Cardiology", "CA"), (5, None, None), (6, "Dentist", "TX"),
            (7, "Dentist", "TX"), (8, "Dentist", "TX"),
        ]]
    )  # fmt: skip
    # G's days by USD/day: 0 (50), 1 (100), 2 (100), 4 (100), 5 (100): half of 450 is
    # passed at 2 -> median 2; H: 2. Cardiology's eligible indexes 2.0, 0.5, 1.0 -> median
    # 1.0 (with the ineligible 2.5 it would be 1.5)
    assert rows(prescriber_cost(drugs, places), ["presc_id"]) == [
        dict(presc_id=1, specialty="Cardiology", presc_state="NY", claims=50, days=100.0,
             drug_cost=400.0, days_per_dollar=0.25, cost_per_day=4.0, eligible=1,
             expected_cost=200.0, price_index=2.0, specialty_price_index=2.0),
        dict(presc_id=2, specialty="Cardiology", presc_state="NY", claims=60, days=100.0,
             drug_cost=100.0, days_per_dollar=1.0, cost_per_day=1.0, eligible=1,
             expected_cost=200.0, price_index=0.5, specialty_price_index=0.5),
        dict(presc_id=3, specialty="Cardiology", presc_state="NY", claims=49, days=100.0,
             drug_cost=500.0, days_per_dollar=0.2, cost_per_day=5.0, eligible=0,
             expected_cost=200.0, price_index=2.5, specialty_price_index=2.5),
        dict(presc_id=4, specialty="Cardiology", presc_state="CA", claims=100, days=40.0,
             drug_cost=110.0, days_per_dollar=40 / 110, cost_per_day=2.75, eligible=1,
             expected_cost=60.0, price_index=1.0, specialty_price_index=1.0),
        dict(presc_id=5, specialty=None, presc_state=None, claims=100, days=100.0,
             drug_cost=200.0, days_per_dollar=0.5, cost_per_day=2.0, eligible=1,
             expected_cost=200.0, price_index=1.0, specialty_price_index=1.0),
    ]  # fmt: skip


def test_a_prescriber_of_unpriced_lines_only_has_no_index():
    # its only line has no generic name: a cost per day but nothing to compare it with
    drugs = drugs_table([(1, "a", "X", None, 60, 30.0, 90.0)])
    got = rows(prescriber_cost(drugs, prescribers_table([(1, "a", "NY")])))
    assert [(r["cost_per_day"], r["expected_cost"], r["price_index"]) for r in got] == [
        (3.0, 0.0, None)
    ]
    assert got[0]["specialty_price_index"] is None


COST_SCHEMA = {
    "presc_id": "int64", "presc_state": "string", "eligible": "int64", "days": "float64",
    "drug_cost": "float64", "price_index": "float64",
}  # fmt: skip


def test_state_cost_weights_by_volume_not_by_prescriber():
    cost = ibis.memtable(
        pd.DataFrame(
            [
                (1, "NY", 1, 1000.0, 100.0, 0.8),  # 10 days per USD
                (2, "NY", 1, 10.0, 50.0, 3.0),  # 0.2 days per USD
                (3, "NY", 0, 5000.0, 10.0, 9.0),  # not eligible: left out
                (4, "CA", 1, 100.0, 100.0, None),  # no price index
                (5, None, 1, 100.0, 1.0, 1.0),  # no state: in no row
                (6, "TX", 0, 100.0, 1.0, 1.0),  # a state of ineligible prescribers: no row
            ],
            columns=list(COST_SCHEMA),
        ),
        schema=COST_SCHEMA,
    )
    got = state_cost(cost).execute().astype(object)
    got = got.where(pd.notna(got), None).to_dict(orient="records")
    # NY: 1,010 days / 150 USD = 6.73 (the brief's unweighted mean: (10 + 0.2) / 2 = 5.1);
    # index (0.8 x 1000 + 3.0 x 10) / 1010 = 0.82 (unweighted: 1.9). Ordered by index, nulls last
    assert got == [
        dict(presc_state="NY", prescribers=2, days=1010.0, drug_cost=150.0,
             days_per_dollar=pytest.approx(1010 / 150), price_index=pytest.approx(830 / 1010),
             priced_prescribers=2),
        dict(presc_state="CA", prescribers=1, days=100.0, drug_cost=100.0, days_per_dollar=1.0,
             price_index=None, priced_prescribers=0),
    ]  # fmt: skip
    assert got[0]["days_per_dollar"] != pytest.approx((10 + 0.2) / 2)


def reference_price_index(frame: pd.DataFrame) -> dict[int, float]:
    """The price index by the definition, independently: a generic's median is the plain
    median of its cost per day repeated once per day of supply (whole days)."""
    priced = frame[frame.generic_name.notna() & (frame.day_supply > 0) & frame.drug_cost.notna()]
    medians = {
        generic: float(np.median(np.repeat(g.drug_cost / g.day_supply, g.day_supply.astype(int))))
        for generic, g in priced.groupby("generic_name")
    }
    paying = set(frame.groupby("presc_id").drug_cost.sum().loc[lambda c: c > 0].index)
    found = {}
    for presc_id, g in priced[priced.presc_id.isin(paying)].groupby("presc_id"):
        expected = sum(r.day_supply * medians[r.generic_name] for r in g.itertuples())
        if expected > 0:
            found[presc_id] = g.drug_cost.sum() / expected
    return found


# many lines of few generics; few lines of equal day supply (exact halves, even counts)
@pytest.mark.parametrize(("n", "days"), [(400, [30.0, 60.0, 90.0]), (40, [30.0])])
def test_price_index_matches_an_independent_implementation_on_a_random_table(n, days):
    rng = np.random.default_rng(15)
    frame = pd.DataFrame(
        {
            "presc_id": rng.integers(1, 40, n),
            "specialty": rng.choice(["a", "b"], n),
            "brand_name": "B",
            "generic_name": rng.choice(["G1", "G2", "G3", "G4", "G5", "G6", None], n),
            "claims": rng.integers(11, 80, n),
            # whole days, a few repeated costs per day (ties), some zero costs
            "day_supply": rng.choice(days, n),
            "drug_cost": rng.choice([0.0, 15.0, 30.0, 45.0, 120.0, 300.0], n),
        }
    )
    # rows are (presc_id, generic) pairs in the real table: sum the repeats as cleaning does
    frame = frame.groupby(
        ["presc_id", "specialty", "brand_name", "generic_name"], dropna=False, as_index=False
    ).sum()
    frame["generic_name"] = frame.generic_name.astype(object).where(frame.generic_name.notna())
    data = [
        (int(r.presc_id), r.specialty, r.brand_name, r.generic_name, r.claims, r.day_supply,
         r.drug_cost)
        for r in frame.itertuples()
    ]  # fmt: skip
    drugs = drugs_table(data)
    ids = sorted(frame.presc_id.unique())
    places = prescribers_table([(int(i), "a", "NY") for i in ids])
    got = {r["presc_id"]: r["price_index"] for r in rows(prescriber_cost(drugs, places))}
    want = reference_price_index(frame)
    assert {k: v for k, v in got.items() if v is not None} == pytest.approx(want, rel=1e-12)
    assert len(want) > 15  # the table exercised many prescribers
