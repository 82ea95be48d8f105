"""Market volume per prescriber and the industry's deciles: pure Ibis transforms over the kept
lines per prescriber and drug (`cleaning.drugs_per_prescriber`).

Volume is 30-day fills of the basket's lines. Deciles follow the industry convention:
prescribers sorted by volume, largest first, are cut into ten buckets of about a tenth of the
market's volume each by where their cumulative volume starts: decile 10 holds the fewest,
largest writers, decile 1 the many small ones; decile 0 is every prescriber without market
volume. Prescribers of equal volume share a decile (their cumulative volume starts at the
same place), so the result depends on no row order.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from healthanalytics.analysis.ingredients import ingredient_key_expr
from healthanalytics.transforms.prescribers import is_us_state


def generic_keys(drugs: ir.Table, map_keys: Sequence[str], basket_keys: Sequence[str]) -> ir.Table:
    """One row per generic name of `drugs` (a null name included): `generic_name`,
    `ingredient_key` (null when the name has none), `mapped` (the drug-class map holds the
    key), `in_market` (the basket holds it), `lines` (int64), `claims` (int64, known claims
    summed, 0 when none) — the input of `coverage.map_coverage` and `unmapped_generics`.
    The key is computed once per distinct name, never per line (the expression is long)."""
    per_name = drugs.group_by("generic_name").aggregate(
        lines=drugs.lines.sum().cast("int64"),
        claims=drugs.claims.sum().fill_null(0).cast("int64"),
    )
    keyed = per_name.mutate(ingredient_key=ingredient_key_expr(per_name.generic_name))
    return keyed.select(
        "generic_name",
        "ingredient_key",
        mapped=_member(keyed.ingredient_key, map_keys),
        in_market=_member(keyed.ingredient_key, basket_keys),
        lines="lines",
        claims="claims",
    )


def _member(key: ir.StringValue, keys: Sequence[str]) -> ir.BooleanValue:
    # a null key belongs nowhere; an empty list is no SQL IN
    return key.isin(list(keys)).fill_null(False) if keys else ibis.literal(False)


def market_lines(drugs: ir.Table, keys: ir.Table) -> ir.Table:
    """The rows of `drugs` whose generic name is in the market (`generic_keys`' in_market)."""
    in_market = keys.filter(keys.in_market).select("generic_name")
    return drugs.semi_join(in_market, "generic_name")


def market_prescribers(drugs: ir.Table, places: ir.Table, lines: ir.Table) -> ir.Table:
    """One row per prescriber of the kept lines (all of them, writers of the market or not).

    In: `drugs` (every prescriber's drugs), `places` (the cleaned prescriber places, for the
    state), `lines` (`market_lines`). Out: `presc_id`; `specialty` (that of most of its kept
    lines; ties: A-Z, a blank one last); `presc_state` (as the prescriber report takes it: its
    US state or territory, the last A-Z when several, else the last other code; null when
    blank); `lines`, `claims` (int64: market lines and their known claims, 0 when none),
    `fills` (float64: market 30-day fills, 0 when none), `drug_cost` (float64 USD); `decile`
    (0..10 over all prescribers) and `specialty_decile` (0..10 within the specialty)."""
    per_specialty = drugs.group_by(["presc_id", "specialty"]).aggregate(
        specialty_lines=drugs.lines.sum()
    )
    first = ibis.row_number().over(
        group_by=per_specialty.presc_id,
        order_by=[
            ibis.desc(per_specialty.specialty_lines),
            per_specialty.specialty.isnull(),
            per_specialty.specialty,
        ],
    )
    specialty = per_specialty.filter(first == 0).select("presc_id", "specialty")
    in_us = is_us_state(places.presc_state)
    states = places.group_by("presc_id").aggregate(
        presc_state=ibis.coalesce(places.presc_state.max(where=in_us), places.presc_state.max())
    )
    volume = lines.group_by("presc_id").aggregate(
        market_lines=lines.lines.sum(),
        market_claims=lines.claims.sum(),
        market_days=lines.day_supply.sum(),
        market_cost=lines.drug_cost.sum(),
    )
    joined = specialty.left_join(states, "presc_id").left_join(volume, "presc_id")
    table = joined.select(
        presc_id=joined.presc_id,
        specialty=joined.specialty,
        presc_state=joined.presc_state,
        lines=joined.market_lines.fill_null(0).cast("int64"),
        claims=joined.market_claims.fill_null(0).cast("int64"),
        # day supply decides the deciles: whole days sum exactly on every engine
        days=joined.market_days.fill_null(0.0),
        drug_cost=joined.market_cost.fill_null(0.0),
    )
    return table.select(
        "presc_id",
        "specialty",
        "presc_state",
        "lines",
        "claims",
        fills=table.days / 30,
        drug_cost=table.drug_cost,
        decile=volume_decile(table.days, []),
        specialty_decile=volume_decile(table.days, [table.specialty]),
    )


def volume_decile(volume: ir.NumericValue, group_by: list[ir.Value]) -> ir.IntegerValue:
    """The decile (int64 0..10) of each row's `volume` among the rows of its group: 0 when the
    volume is not above 0; else 10 - floor(10 x the group's volume of rows with a larger
    volume / the group's volume). Rows of equal volume get the same decile."""
    positive = ibis.ifelse(volume > 0, volume, 0.0)
    larger_or_equal = positive.sum().over(
        ibis.window(group_by=group_by, order_by=ibis.desc(positive), range=(None, 0))
    )
    equal = positive.sum().over(ibis.window(group_by=[*group_by, positive]))
    total = positive.sum().over(ibis.window(group_by=group_by))
    before = larger_or_equal - equal
    return ibis.ifelse(positive > 0, 10 - (10 * before / total).floor(), 0).cast("int64")


def market_deciles(prescribers: ir.Table) -> ir.Table:
    """One row per decile that has prescribers, from `market_prescribers`: `decile`,
    `prescribers` (int64), `prescribers_share` (of all prescribers, 0..1), `fills` (30-day
    fills), `fills_share` (of the market's fills, 0..1), `cumulative_share` (of this decile
    and the higher ones), `claims` (known claims), `min_fills`, `median_fills` (the middle
    prescriber's, or the mean of the middle two), `max_fills`. Shares are null when there is
    nothing to divide (no market volume)."""
    p = prescribers
    place = ibis.row_number().over(group_by=p.decile, order_by=[p.fills, p.presc_id])
    count = p.count().over(ibis.window(group_by=p.decile))
    ranked = p.select("decile", "fills", place=place, count=count)
    # 0-based places (n-1)//2 and n//2: the middle one, or the middle two
    middle = ranked.filter(
        (ranked.place == (ranked["count"] - 1) // 2) | (ranked.place == ranked["count"] // 2)
    )
    medians = middle.group_by("decile").aggregate(median_fills=middle.fills.mean())
    per_decile = p.group_by("decile").aggregate(
        prescribers=p.count().cast("int64"),
        fills=p.fills.sum(),
        claims=p.claims.sum().cast("int64"),
        min_fills=p.fills.min(),
        max_fills=p.fills.max(),
    )
    totals = per_decile.mutate(
        all_prescribers=per_decile.prescribers.sum().over(ibis.window()),
        all_fills=per_decile.fills.sum().over(ibis.window()),
        from_top=per_decile.fills.sum().over(
            ibis.window(order_by=ibis.desc(per_decile.decile), rows=(None, 0))
        ),
    )
    joined = totals.join(medians, "decile")
    return joined.select(
        "decile",
        "prescribers",
        prescribers_share=joined.prescribers / joined.all_prescribers,
        fills=joined.fills,
        fills_share=share_of(joined.fills, joined.all_fills),
        cumulative_share=share_of(joined.from_top, joined.all_fills),
        claims=joined.claims,
        min_fills=joined.min_fills,
        median_fills=joined.median_fills,
        max_fills=joined.max_fills,
    ).order_by(ibis.desc("decile"))


def share_of(part: ir.NumericValue, whole: ir.NumericValue) -> ir.FloatingValue:
    """part / whole, null when the whole is not above 0 (nothing to divide); at most 1: a
    part summed in another order than its whole may exceed it by a rounding error."""
    return ibis.ifelse(whole > 0, ibis.least(part / whole, 1.0), ibis.null("float64"))
