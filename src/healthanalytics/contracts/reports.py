"""Contracts of the report tables a run delivers: city_report, prescriber_report and
unmatched_cities."""

from __future__ import annotations

import ibis.expr.types as ir
import pyarrow as pa

from healthanalytics.contracts.model import (
    DELIVERY_DATE,
    Accepted,
    Column,
    DataTest,
    Range,
    RunParameters,
    TableContract,
)
from healthanalytics.transforms.states import US_STATE_CODES

TEXT, INT, FLOAT = pa.string(), pa.int64(), pa.float64()
DELIVERY = Column(DELIVERY_DATE, pa.date32(), "the run date this row was delivered for")

CITY_REPORT = TableContract(
    name="city_report",
    description="One row per dimension city with at least one prescriber: demand by city.",
    columns=(
        Column("city", TEXT, "city name from the dimension, upper case", not_null=True),
        Column("state_name", TEXT, "state name, upper case"),
        Column("county_name", TEXT, "county name, upper case"),
        Column("population", INT, "the dimension's population figure (simplemaps: an estimate "
               "of the city's urban population, which for the largest cities covers more than "
               "the city proper), not a census count of the city", unit="people"),
        Column("zip_counts", INT, "ZIP codes of the city (0 when none)", unit="ZIP codes",
               not_null=True, range=Range(0)),
        Column("trx_counts", INT, "claims of the lines matched to the city, summed",
               unit="claims", not_null=True, range=Range(0)),
        Column("presc_counts", INT, "distinct prescribers (NPIs) of those lines",
               unit="prescribers", not_null=True, range=Range(1)),
        Column("state_id", TEXT, "two-letter state code", not_null=True),
        Column("lat", FLOAT, "latitude, from the dimension", unit="degrees"),
        Column("lng", FLOAT, "longitude, from the dimension", unit="degrees"),
        DELIVERY,
    ),
    key=("state_id", "city", "county_name"),
    grain="city",
)  # fmt: skip


def _bad_rank_states(table: ir.Table, params: RunParameters) -> ir.IntegerScalar:
    per_state = table.group_by("presc_state").aggregate(
        rows=table.count(), top=table["rank"].max(), low=table["rank"].min()
    )
    bad = per_state.filter(
        (per_state.rows > params.top_n) | (per_state.top != per_state.rows) | (per_state.low != 1)
    )
    return bad.count()


PRESCRIBER_REPORT = TableContract(
    name="prescriber_report",
    description=(
        "The top prescribers of each US state or territory by claims: at most top_n per state."
    ),
    columns=(
        # a ten-digit NPI as an integer: negative or larger means it overflowed or was misread
        Column("presc_id", INT, "the prescriber's NPI as an integer", unit="identifier",
               not_null=True, range=Range(0, 9_999_999_999)),
        Column("presc_fullname", TEXT, "first and last name, one space between"),
        Column("presc_state", TEXT, "US state or territory code of the prescriber's lines",
               not_null=True, accepted=Accepted(US_STATE_CODES, "a US state or territory code")),
        Column("country_name", TEXT, "country: USA"),
        Column("years_of_exp", INT, "experience, the largest its lines give", unit="years"),
        Column("trx_cnt", INT, "claims over all its drugs, summed", unit="claims",
               not_null=True, range=Range(0)),
        Column("total_day_supply", FLOAT, "days of supply over all its drugs, summed",
               unit="days"),
        Column("total_drug_cost", FLOAT, "drug cost over all its drugs, summed", unit="USD"),
        Column("rank", INT, "place in its state by claims: 1 = most, ties to the lower presc_id",
               unit="rank", not_null=True, range=Range(1)),
        DELIVERY,
    ),
    key=("presc_id",),
    custom_tests=(
        DataTest(
            "prescriber_report_ranks_per_state",
            "ranks per presc_state are exactly 1..k with k <= top_n (a setting, 5 by default)",
            "states whose ranks are not exactly 1..k with k <= {top_n}",
            count=_bad_rank_states,
        ),
    ),
)  # fmt: skip

UNMATCHED_CITIES = TableContract(
    name="unmatched_cities",
    description=(
        "The 100 places (city, state) of kept lines with the most lines that match no "
        "dimension city: what to add to the dimension or correct."
    ),
    columns=(
        Column("presc_city", TEXT, "city as cleaned (trimmed, upper case); null when blank"),
        Column("presc_state", TEXT, "state code as cleaned; null when blank"),
        Column("lines", INT, "kept lines of the place", unit="lines", not_null=True,
               range=Range(1)),
        Column("claims", INT, "known claims of those lines, summed (0 when none)",
               unit="claims", not_null=True, range=Range(0)),
        Column("prescribers", INT, "distinct prescribers (NPIs) of those lines",
               unit="prescribers", not_null=True, range=Range(1)),
        Column("rank", INT, "1 = most lines; ties: more claims, then state and city A-Z, "
               "blanks last", unit="rank", not_null=True, range=Range(1)),
        DELIVERY,
    ),
    key=("presc_city", "presc_state"),
    grain="place",
)  # fmt: skip
