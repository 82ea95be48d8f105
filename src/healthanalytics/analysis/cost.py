"""Cost position of each prescriber: pure Ibis transforms over the kept lines per prescriber
and drug (`cleaning.drugs_per_prescriber`) and the market's prescribers
(`deciles.market_prescribers`), one row per prescriber and one per state (docs/RULES.md, The
launch analysis, "Cost position"; issue 15 item 6).

The brief's measure, days of supply per dollar, is kept for continuity but rewards writers of
cheap generics and penalises specialists; a prescriber's **price index** compares what it paid
with what the same days of the same generic names cost at the national median, so it measures
the versions it chooses (brand or generic, costlier strengths), not its drug mix.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.analysis.medians import with_median

# Below 50 known claims a prescriber's cost per day rests on a few fills: with costs per claim
# varying by a factor of about one (CV ~1, generics next to brands), the relative standard
# error of a mean over n claims is ~1/sqrt(n): ~30 % at CMS's 11-claim line floor, ~14 % at 50.
MIN_CLAIMS_FOR_COST = 50


def national_cost_per_day(drugs: ir.Table) -> ir.Table:
    """One row per generic name with a priced row: `generic_name`, `median_cost_per_day`
    (float64 USD per day).

    In: `drugs` (`generic_name`, `day_supply` days, `drug_cost` USD). A priced row has a generic
    name, a day supply above 0 and a known cost (0 included); its cost per day is drug_cost /
    day_supply. The median is weighted by days: over the generic's rows sorted by cost per day,
    the lower median is the smallest cost per day whose rows, with all cheaper ones, hold at
    least half the days, the upper one the smallest whose rows hold more than half; the median
    is their mean. So when the days below a value are exactly half, the median is halfway to the
    next value (with one day each, the median of an even count is the mean of the middle two),
    and rows of equal cost per day count as one step (no row order matters)."""
    priced = drugs.filter(
        drugs.generic_name.notnull() & (drugs.day_supply > 0) & drugs.drug_cost.notnull()
    )
    rated = priced.select(
        "generic_name", "day_supply", cost_per_day=priced.drug_cost / priced.day_supply
    )
    upto = rated.day_supply.sum().over(
        ibis.window(group_by=rated.generic_name, order_by=rated.cost_per_day, range=(None, 0))
    )
    total = rated.day_supply.sum().over(ibis.window(group_by=rated.generic_name))
    # days are whole numbers in practice: 2 x days upto vs the total compares exactly
    steps = rated.mutate(twice_upto=2 * upto, total=total)
    medians = steps.group_by("generic_name").aggregate(
        lower=steps.cost_per_day.min(where=steps.twice_upto >= steps.total),
        upper=steps.cost_per_day.min(where=steps.twice_upto > steps.total),
    )
    return medians.select(
        "generic_name", median_cost_per_day=((medians.lower + medians.upper) / 2).cast("float64")
    )


def prescriber_cost(drugs: ir.Table, prescribers: ir.Table) -> ir.Table:
    """One row per prescriber whose costed lines (day supply and cost both known), all drugs,
    hold a day supply and a cost above 0.

    In: `drugs` (`drugs_per_prescriber`: presc_id, generic_name, claims, day_supply days,
    drug_cost USD), `prescribers` (`market_prescribers`: presc_id, specialty, presc_state).
    Out: `presc_id`, `specialty`, `presc_state` (as market_prescribers gives them); `claims`
    (int64 known claims of all its kept lines); `days` (float64 day supply), `drug_cost` (float64
    USD) of its costed lines; `days_per_dollar` (days / USD: the brief's measure);
    `cost_per_day` (USD per day); `eligible` (int64 1 when claims >= MIN_CLAIMS_FOR_COST, else
    0); `expected_cost` (float64 USD: its priced rows' days x the national median cost per day
    of the same generic name, see national_cost_per_day); `price_index` (ratio: the priced rows'
    cost / expected_cost; 1 = pays the national median for what it writes, above 1 = costlier
    versions; null when expected_cost is 0); `specialty_price_index` (ratio: price_index / the
    median price index of the eligible prescribers of its specialty, a blank specialty being its
    own group; null when either is null or that median is 0)."""
    national = national_cost_per_day(drugs).rename(national_generic="generic_name")
    joined = drugs.left_join(national, drugs.generic_name == national.national_generic)
    costed = joined.day_supply.notnull() & joined.drug_cost.notnull()
    priced = (joined.day_supply > 0) & costed & joined.median_cost_per_day.notnull()
    per = joined.group_by("presc_id").aggregate(
        claims=joined.claims.sum().fill_null(0).cast("int64"),
        days=joined.day_supply.sum(where=costed).fill_null(0.0),
        drug_cost=joined.drug_cost.sum(where=costed).fill_null(0.0),
        priced_cost=joined.drug_cost.sum(where=priced).fill_null(0.0),
        expected_cost=(joined.day_supply * joined.median_cost_per_day)
        .sum(where=priced)
        .fill_null(0.0),
    )
    kept = per.filter((per.days > 0) & (per.drug_cost > 0))
    places = prescribers.select("presc_id", "specialty", "presc_state")
    both = kept.join(places, "presc_id")
    table = both.select(
        "presc_id",
        "specialty",
        "presc_state",
        "claims",
        days=both.days.cast("float64"),
        drug_cost=both.drug_cost.cast("float64"),
        days_per_dollar=(both.days / both.drug_cost).cast("float64"),
        cost_per_day=(both.drug_cost / both.days).cast("float64"),
        eligible=(both.claims >= MIN_CLAIMS_FOR_COST).cast("int64"),
        expected_cost=both.expected_cost.cast("float64"),
        price_index=ibis.ifelse(
            both.expected_cost > 0, both.priced_cost / both.expected_cost, ibis.null("float64")
        ).cast("float64"),
    )
    peers = with_median(
        table, "price_index", table.eligible == 1, ["specialty"], "specialty_median"
    )
    return peers.select(
        *[name for name in table.columns],
        specialty_price_index=ibis.ifelse(
            peers.specialty_median > 0,
            peers.price_index / peers.specialty_median,
            ibis.null("float64"),
        ).cast("float64"),
    )


def state_cost(cost: ir.Table) -> ir.Table:
    """One row per state with at least one eligible prescriber (`prescriber_cost`, eligible =
    1, a known presc_state): `presc_state`, `prescribers` (int64 eligible prescribers), `days`
    (their day supply), `drug_cost` (USD), `days_per_dollar` (their days / their cost: weighted
    by volume, not the mean of the prescribers' ratios, which lets a prescriber of 50 claims
    weigh as much as one of 50,000), `price_index` (ratio: the mean of their price indexes
    weighted by their days; null when none has one), `priced_prescribers` (int64: those with a
    price index), rows ordered by price_index, highest first (then the state code)."""
    eligible = cost.filter((cost.eligible == 1) & cost.presc_state.notnull())
    has_index = eligible.price_index.notnull()
    per = eligible.group_by("presc_state").aggregate(
        prescribers=eligible.count().cast("int64"),
        days=eligible.days.sum(),
        drug_cost=eligible.drug_cost.sum(),
        indexed_days=eligible.days.sum(where=has_index),
        weighted_index=(eligible.price_index * eligible.days).sum(where=has_index),
        priced_prescribers=has_index.sum().fill_null(0).cast("int64"),
    )
    out = per.select(
        "presc_state",
        "prescribers",
        days=per.days.cast("float64"),
        drug_cost=per.drug_cost.cast("float64"),
        days_per_dollar=ibis.ifelse(
            per.drug_cost > 0, per.days / per.drug_cost, ibis.null("float64")
        ).cast("float64"),
        price_index=ibis.ifelse(
            per.indexed_days > 0, per.weighted_index / per.indexed_days, ibis.null("float64")
        ).cast("float64"),
        priced_prescribers=per.priced_prescribers,
    )
    return out.order_by([out.price_index.isnull(), ibis.desc(out.price_index), "presc_state"])
