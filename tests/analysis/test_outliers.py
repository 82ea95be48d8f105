"""Peer outliers (modified z-scores within specialty), on DuckDB: tiny tables compared whole,
the expected scores computed by the definition with Python's statistics module."""

from __future__ import annotations

import math
import statistics

import ibis

from healthanalytics.analysis.outliers import MIN_PEERS, peer_outliers
from tests.transforms.conftest import rows

PRESCRIBER_SCHEMA = {"presc_id": "int64", "specialty": "string", "fills": "float64"}
COST_SCHEMA = {
    "presc_id": "int64", "specialty": "string", "eligible": "int64", "cost_per_day": "float64",
}  # fmt: skip


def prescribers(data: list[tuple]) -> ibis.Table:
    """(presc_id, specialty, fills)."""
    return ibis.memtable(
        {name: [d[i] for d in data] for i, name in enumerate(PRESCRIBER_SCHEMA)},
        schema=PRESCRIBER_SCHEMA,
    )


def costs(data: list[tuple]) -> ibis.Table:
    """(presc_id, specialty, eligible, cost_per_day)."""
    return ibis.memtable(
        {name: [d[i] for d in data] for i, name in enumerate(COST_SCHEMA)}, schema=COST_SCHEMA
    )


NO_COST = costs([])


def expected_outliers(ids, specialty, measure, values):
    """The flagged rows of one peer group, by the definition (Iglewicz & Hoaglin 1993)."""
    logs = [math.log(v) for v in values]
    centre = statistics.median(logs)
    mad = statistics.median(abs(x - centre) for x in logs)
    found = []
    for presc_id, value, x in zip(ids, values, logs, strict=True):
        z = 0.6745 * (x - centre) / mad
        if abs(z) > 3.5:
            found.append(
                dict(presc_id=presc_id, specialty=specialty, measure=measure, value=value,
                     peer_median=statistics.median(values), mad=mad, peers=len(values), z=z,
                     direction="high" if z > 0 else "low")
            )  # fmt: skip
    return found


def same(got, want):
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        for key, value in w.items():
            if isinstance(value, float):
                assert math.isclose(g[key], value, rel_tol=1e-9), (key, g, w)
            else:
                assert g[key] == value, (key, g, w)


def test_a_planted_high_writer_is_flagged_on_the_log_scale():
    # 31 writers growing by 10 % each (an even spread on the log scale), one of 50,000 fills
    fills = [10 * 1.1**k for k in range(30)] + [50_000.0]
    ids = list(range(1, 32))
    table = prescribers(
        [(i, "Cardiology", f) for i, f in zip(ids, fills, strict=True)]
        + [(100, "Cardiology", 0.0)]  # no market fills: no peer
        + [(101, None, 1e9)]  # a blank specialty is no peer group
    )
    want = expected_outliers(ids, "Cardiology", "market_fills", fills)
    assert [w["presc_id"] for w in want] == [31]  # the plant, and only it
    same(rows(peer_outliers(table, NO_COST), ["presc_id"]), want)


def test_the_peer_floor_and_a_mad_of_zero_score_no_one():
    assert MIN_PEERS == 30
    few = [10 * 1.1**k for k in range(MIN_PEERS - 2)] + [50_000.0]  # 29 peers
    flat = [20.0] * 16 + [10 * 1.1**k for k in range(14)] + [50_000.0]  # 16 of 31 equal: MAD 0
    table = prescribers(
        [(i, "Few", f) for i, f in enumerate(few)]
        + [(100 + i, "Flat", f) for i, f in enumerate(flat)]
    )
    assert rows(peer_outliers(table, NO_COST)) == []


def test_cost_per_day_of_eligible_prescribers_and_low_outliers():
    prices = [2.0 * 1.05**k for k in range(30)] + [0.01]  # one prescriber far below its peers
    ids = list(range(1, 32))
    cost = costs(
        [(i, "Family Practice", 1, p) for i, p in zip(ids, prices, strict=True)]
        + [(50, "Family Practice", 0, 5_000.0)]  # not eligible: no peer, not flagged
    )
    fills = prescribers([(i, "Family Practice", 10.0) for i in ids])  # equal: MAD 0
    want = expected_outliers(ids, "Family Practice", "cost_per_day", prices)
    assert [(w["presc_id"], w["direction"]) for w in want] == [(31, "low")]
    same(rows(peer_outliers(fills, cost), ["presc_id"]), want)


def test_even_peer_groups_take_the_mean_of_the_middle_two():
    # 32 writers: the medians (of the values, of the logs, of the deviations) are means of two
    fills = [10 * 1.2**k for k in range(31)] + [1e7]
    ids = list(range(1, 33))
    table = prescribers([(i, "Oncology", f) for i, f in zip(ids, fills, strict=True)])
    want = expected_outliers(ids, "Oncology", "market_fills", fills)
    assert want and want[0]["peer_median"] == (fills[15] + fills[16]) / 2
    same(rows(peer_outliers(table, NO_COST), ["presc_id"]), want)
