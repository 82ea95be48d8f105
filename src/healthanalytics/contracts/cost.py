"""Contracts of the launch analysis' cost tables: each prescriber's cost position, the states'
volume-weighted averages, and the prescribers far from their specialty's peers (docs/RULES.md,
The launch analysis, "Cost position" and "Peer outliers")."""

from __future__ import annotations

from healthanalytics.contracts.columns import amount
from healthanalytics.contracts.model import Accepted, Column, Range, TableContract
from healthanalytics.contracts.reports import DELIVERY, FLOAT, INT, TEXT

PER_DAY = "USD per day"
DAYS_PER_USD = "days per USD"
RATIO = "ratio"
MEASURES = ("market_fills", "cost_per_day")  # as analysis/outliers.py names them




def _ratio(name: str, description: str) -> Column:
    return Column(name, FLOAT, description, unit=RATIO, range=Range(0))


PRESCRIBER_COST = TableContract(
    name="prescriber_cost",
    description=(
        "One row per prescriber whose costed lines (all drugs) hold a day supply and a cost "
        "above 0: its cost per day, days per dollar and price index against the national "
        "median of the same generic names."
    ),
    columns=(
        Column("presc_id", INT, "the prescriber's NPI as an integer", unit="identifier",
               not_null=True, range=Range(0, 9_999_999_999)),
        Column("specialty", TEXT, "its specialty, as market_prescribers gives it"),
        Column("presc_state", TEXT, "its state code, as market_prescribers gives it"),
        Column("claims", INT, "known claims of all its kept lines", unit="claims",
               not_null=True, range=Range(0)),
        amount("days", "day supply of its lines with day supply and cost known", "days"),
        amount("drug_cost", "drug cost of those lines", "USD"),
        amount("days_per_dollar", "days / drug_cost: the brief's measure, kept for "
                  "continuity (favours writers of cheap generics)", DAYS_PER_USD),
        amount("cost_per_day", "drug_cost / days", PER_DAY),
        Column("eligible", INT, "1 when claims >= 50 (enough volume to rank its cost), else 0",
               unit="flag 0/1", not_null=True, range=Range(0, 1)),
        amount("expected_cost", "its days of each generic name x that generic's national "
                  "days-weighted median cost per day", "USD"),
        _ratio("price_index", "cost / expected_cost of its lines of generics with a national "
               "median: 1 = pays the national median for what it writes, above 1 = costlier "
               "versions or brands; null when expected_cost is 0"),
        _ratio("specialty_price_index", "price_index / the median price_index of its "
               "specialty's eligible prescribers (1 = its peers' median)"),
        DELIVERY,
    ),
    key=("presc_id",),
)  # fmt: skip

STATE_COST = TableContract(
    name="state_cost",
    description=(
        "One row per state with eligible prescribers (50+ claims): their volume-weighted "
        "days per dollar and days-weighted price index."
    ),
    columns=(
        Column("presc_state", TEXT, "the prescribers' state code (market_prescribers)",
               not_null=True),
        Column("prescribers", INT, "eligible prescribers of the state", unit="prescribers",
               not_null=True, range=Range(1)),
        amount("days", "their day supply", "days"),
        amount("drug_cost", "their drug cost", "USD"),
        Column("days_per_dollar", FLOAT, "their days / their cost (weighted by volume, not the "
               "mean of the prescribers' ratios); null when the cost is 0",
               unit=DAYS_PER_USD, range=Range(0)),
        _ratio("price_index", "the mean of their price indexes weighted by their days; null "
               "when none has one"),
        Column("priced_prescribers", INT, "of which with a price index", unit="prescribers",
               not_null=True, range=Range(0)),
        DELIVERY,
    ),
    key=("presc_state",),
)  # fmt: skip

PEER_OUTLIERS = TableContract(
    name="peer_outliers",
    description=(
        "One row per prescriber and measure beyond a modified z-score of 3.5 within its "
        "specialty (log scale, 30+ peers): a data-quality and targeting signal, not a verdict."
    ),
    columns=(
        Column("presc_id", INT, "the prescriber's NPI as an integer", unit="identifier",
               not_null=True, range=Range(0, 9_999_999_999)),
        Column("specialty", TEXT, "its specialty (the peer group)", not_null=True),
        Column("measure", TEXT, "market_fills (30-day fills, writers) or cost_per_day (USD "
               "per day, all drugs, eligible prescribers)", not_null=True,
               accepted=Accepted(MEASURES)),
        amount("value", "its value, in the measure's unit", "30-day fills or USD per day"),
        amount("peer_median", "the specialty's median value (mean of the middle two)",
                  "30-day fills or USD per day"),
        Column("mad", FLOAT, "median absolute deviation of ln(value) from its median",
               unit="natural-log units", not_null=True, range=Range(0)),
        Column("peers", INT, "prescribers of the specialty with the measure",
               unit="prescribers", not_null=True, range=Range(30)),
        Column("z", FLOAT, "0.6745 x (ln value - median ln value) / mad (Iglewicz & Hoaglin "
               "1993)", unit="modified z-score", not_null=True),
        Column("direction", TEXT, "high: above the peers, low: below", not_null=True,
               accepted=Accepted(("high", "low"))),
        DELIVERY,
    ),
    key=("presc_id", "measure"),
    grain="prescriber_measure",
)  # fmt: skip
