"""Contracts of the city segmentation's tables: city_segments, segment_profiles and
segment_selection (docs/RULES.md, The launch analysis, "City segments"; issue 15 item 5)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.analysis.segments import K_RANGE
from healthanalytics.contracts.columns import amount, count
from healthanalytics.contracts.model import Column, DataTest, Range, RunParameters, TableContract
from healthanalytics.contracts.reports import DELIVERY, FLOAT, INT, TEXT

FILLS = "30-day fills"
SHARE = "share 0..1"
CLAIMS_PER_1000 = "claims per 1,000 residents"
PRESCRIBERS_PER_1000 = "prescribers per 1,000 residents"
FILLS_PER_PRESCRIBER = "30-day fills per prescriber"
MAX_SEGMENTS = max(K_RANGE)


def _chosen_not_one(table: ir.Table, params: RunParameters) -> ir.IntegerScalar:
    wrong = (table.count() > 0) & (table.chosen.sum().fill_null(0) != 1)
    return ibis.ifelse(wrong, 1, 0).cast("int64")


def _segment() -> Column:
    return Column("segment", INT, "1 = the highest demand index (see segment_profiles)",
                  unit="segment", not_null=True, range=Range(1, MAX_SEGMENTS))  # fmt: skip


def _name() -> Column:
    return Column("segment_name", TEXT, "size (median population) and demand (index against "
                  "the national rate), e.g. 'large metro, high demand'", not_null=True)  # fmt: skip






CITY_SEGMENTS = TableContract(
    name="city_segments",
    description="One row per dimension city with residents and a prescriber of lines outside "
    "the market: its segment and the features it was clustered on, in original units.",
    columns=(
        Column("city_id", INT, "the dimension city's id", unit="identifier", not_null=True,
               range=Range(0)),
        Column("city", TEXT, "city name from the dimension"),
        Column("state_id", TEXT, "two-letter state code from the dimension"),
        count("population", "residents: the dimension's population figure (for the largest "
              "cities more than the city proper)", "residents", 1),
        Column("lat", FLOAT, "latitude, from the dimension", unit="degrees",
               range=Range(-90, 90)),
        Column("lng", FLOAT, "longitude, from the dimension", unit="degrees",
               range=Range(-180, 180)),
        _segment(),
        _name(),
        count("prescribers", "prescribers located in the city (geography's rule) with a line "
               "outside the market", "prescribers", 1),
        count("non_market_claims", "their known claims outside the market", "claims"),
        amount("non_market_fills", "their 30-day fills outside the market", FILLS),
        amount("prescribers_per_1000", "prescribers / population x 1,000",
                PRESCRIBERS_PER_1000),
        amount("non_market_claims_per_1000", "non-market claims / population x 1,000",
                CLAIMS_PER_1000),
        amount("non_market_fills_per_prescriber", "non-market fills / prescribers",
                FILLS_PER_PRESCRIBER),
        DELIVERY,
    ),
    key=("city_id",),
)  # fmt: skip

SEGMENT_PROFILES = TableContract(
    name="segment_profiles",
    description="One row per city segment: its size, its centroid in original units, its "
    "demand outside the market, and (descriptive only) the market's fills there.",
    columns=(
        _segment(),
        _name(),
        count("cities", "cities of the segment", "cities", 1),
        count("population", "their residents", "residents", 1),
        Column("population_share", FLOAT, "of the segmented cities' residents", unit=SHARE,
               not_null=True, range=Range(0, 1)),
        count("prescribers", "prescribers of lines outside the market located there",
               "prescribers", 1),
        amount("median_population", "the middle city's population (mean of the middle two); "
                "decides the size word", "residents"),
        amount("centroid_population", "centroid: exp of the mean log population",
                "residents"),
        amount("centroid_prescribers_per_1000", "centroid (mean of log(1 + x), inverted)",
                PRESCRIBERS_PER_1000),
        amount("centroid_non_market_claims_per_1000", "centroid (mean of log(1 + x), "
                "inverted)", CLAIMS_PER_1000),
        amount("centroid_non_market_fills_per_prescriber", "centroid (mean of log(1 + x), "
                "inverted)", FILLS_PER_PRESCRIBER),
        count("non_market_claims", "known claims outside the market of its prescribers",
               "claims"),
        amount("non_market_claims_per_1000", "non_market_claims / population x 1,000",
                CLAIMS_PER_1000),
        Column("demand_index", FLOAT, "non_market_claims_per_1000 / that of all segmented "
               "cities (1 = national; orders the segments); null without claims",
               unit="ratio", range=Range(0)),
        amount("market_fills", "the market's fills of the prescribers located in its cities "
                "(output only, not a clustering feature)", FILLS),
        count("market_writers", "of those prescribers, the market's writers", "prescribers"),
        amount("market_fills_per_1000", "market_fills / population x 1,000",
                "30-day fills per 1,000 residents"),
        DELIVERY,
    ),
    key=("segment",),
)  # fmt: skip

SEGMENT_SELECTION = TableContract(
    name="segment_selection",
    description="One row per number of segments k tried: the figures k was chosen by.",
    columns=(
        Column("k", INT, "segments fitted", unit="segments", not_null=True,
               range=Range(2, MAX_SEGMENTS)),
        count("cities", "cities clustered", "cities", 1),
        Column("silhouette", FLOAT, "mean silhouette coefficient (on at most 10,000 cities, "
               "a fixed-seed sample)", unit="silhouette -1..1", not_null=True,
               range=Range(-1, 1)),
        Column("min_segment_share", FLOAT, "the smallest segment's share of the cities "
               "(at least 0.05 to be chosen)", unit=SHARE, not_null=True, range=Range(0, 1)),
        Column("stability", FLOAT, "mean adjusted Rand index between the fits of 5 seeds "
               "(at least 0.8 to be chosen)", unit="adjusted Rand index", not_null=True,
               range=Range(-1, 1)),
        amount("inertia", "sum of squared distances to the centres, in scaled units",
                "squared standard deviations"),
        Column("chosen", INT, "1 for the k used, else 0", unit="flag", not_null=True,
               range=Range(0, 1)),
        DELIVERY,
    ),
    key=("k",),
    custom_tests=(
        DataTest(
            "segment_selection_one_chosen",
            "exactly one k is chosen when any was tried",
            "deliveries whose tried k are not exactly one chosen",
            count=_chosen_not_one,
        ),
    ),
)  # fmt: skip

SEGMENT_TABLES = (CITY_SEGMENTS, SEGMENT_PROFILES, SEGMENT_SELECTION)
