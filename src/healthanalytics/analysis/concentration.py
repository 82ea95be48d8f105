"""Market share and concentration: the basket's products and the market in one row, pure Ibis
transforms over the market's lines (`deciles.market_lines`) and prescribers.

Shares are of 30-day fills (and of cost); the HHI is the sum of the squared fill shares of the
products in percent (0..10,000: 10,000 is one product); the top 1/5/10 % of writers are the
ceil(p x writers) largest prescribers by fills (which of two tied prescribers is taken does not
change the share).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.analysis.deciles import share_of
from healthanalytics.analysis.ingredients import generic_product_expr
from healthanalytics.analysis.market import MarketBasket

TOP_PERCENTS = (1, 5, 10)


def market_products(lines: ir.Table, keys: ir.Table) -> ir.Table:
    """One row per product of the market (`brand_name`, `generic_name` as cleaned): its
    `ingredient_key`, `product_type` (`generic` when the brand name, without its trailing
    release and dosage-form words, has the generic name's ingredient key: CMS writes a generic's
    brand name as its generic name, often with the form appended, `METFORMIN HCL ER` /
    `METFORMIN HCL`; else `brand`, as `LIPITOR` or `GLUCOPHAGE XR`), `lines`, `claims`
    (int64 known claims, 0 when none), `claims_unknown` (lines whose count is suppressed),
    `fills` (30-day fills), `drug_cost` (USD), `writers` (distinct prescribers), `fills_share`
    and `cost_share` (0..1 of the market; null when it has none). In: `market_lines`,
    `generic_keys`."""
    per_product = lines.group_by(["brand_name", "generic_name"]).aggregate(
        lines=lines.lines.sum().cast("int64"),
        claims=lines.claims.sum().fill_null(0).cast("int64"),
        claims_unknown=lines.claims_unknown.sum().cast("int64"),
        fills=lines.fills.sum().fill_null(0.0),
        drug_cost=lines.drug_cost.sum().fill_null(0.0),
        writers=lines.presc_id.nunique().cast("int64"),
    )
    totals = per_product.mutate(
        all_fills=per_product.fills.sum().over(ibis.window()),
        all_cost=per_product.drug_cost.sum().over(ibis.window()),
    )
    named = totals.join(keys.select("generic_name", "ingredient_key"), "generic_name")
    return named.select(
        "brand_name",
        "generic_name",
        "ingredient_key",
        product_type=ibis.ifelse(
            generic_product_expr(named.brand_name, named.generic_name, named.ingredient_key),
            "generic",
            "brand",
        ),
        lines=named.lines,
        claims=named.claims,
        claims_unknown=named.claims_unknown,
        fills=named.fills,
        drug_cost=named.drug_cost,
        writers=named.writers,
        fills_share=share_of(named.fills, named.all_fills),
        cost_share=share_of(named.drug_cost, named.all_cost),
    )


def top_writers_shares(prescribers: ir.Table) -> ir.Table:
    """One row: `top_<p>pct_fills_share` for p in TOP_PERCENTS, the share of the market's fills
    (0..1) written by the ceil(p % x writers) largest writers (prescribers with fills above 0);
    null when there are none. In: `market_prescribers`."""
    writers = prescribers.filter(prescribers.fills > 0)
    place = ibis.row_number().over(order_by=[ibis.desc(writers.fills), writers.presc_id])
    ranked = writers.select("fills", place=place, n=writers.count().over(ibis.window()))
    total = ranked.fills.sum()
    return ranked.aggregate(
        **{
            # place (0-based) < ceil(n p / 100), in integers: 100 place < n p
            f"top_{p}pct_fills_share": share_of(
                ranked.fills.sum(where=100 * ranked.place < ranked.n * p).fill_null(0.0), total
            )
            for p in TOP_PERCENTS
        }
    )


def market_summary(
    basket: MarketBasket,
    prescribers: ir.Table,
    products: ir.Table,
    coverage: ir.Table,
) -> ir.Table:
    """One row: the market (`market`, `market_kind`, `basket_generics`: the map's generic names
    in it), its `products`, `brand_products`, `lines`, `claims`, `fills`, `drug_cost`,
    `writers` and `prescribers` (all prescribers of the delivery), `brand_fills_share`, `hhi`
    (0..10,000, null without fills), the top writers' shares (`top_writers_shares`),
    `claims_unknown_share` (the market's lines whose claim count is suppressed, 0..1) and
    `claims_mapped_share` (the delivery's known claims the drug-class map covers, 0..1).
    In: `market_prescribers`, `market_products`, `coverage.map_coverage`."""
    pr = products
    by_product = pr.aggregate(
        products=pr.count().cast("int64"),
        brand_products=(pr.product_type == "brand").sum().fill_null(0).cast("int64"),
        lines=pr.lines.sum().fill_null(0).cast("int64"),
        claims=pr.claims.sum().fill_null(0).cast("int64"),
        claims_unknown=pr.claims_unknown.sum().fill_null(0),
        fills=pr.fills.sum().fill_null(0.0),
        brand_fills=pr.fills.sum(where=pr.product_type == "brand").fill_null(0.0),
        drug_cost=pr.drug_cost.sum().fill_null(0.0),
        hhi=(pr.fills_share * 100).pow(2).sum(),
    )
    p = prescribers
    by_prescriber = p.aggregate(
        writers=(p.fills > 0).sum().fill_null(0).cast("int64"),
        prescribers=p.count().cast("int64"),
    )
    row = (
        by_product.cross_join(by_prescriber)
        .cross_join(top_writers_shares(prescribers))
        .cross_join(coverage.select("claims_mapped_share"))
    )
    return row.select(
        market=ibis.literal(basket.name),
        market_kind=ibis.literal(basket.kind),
        basket_generics=ibis.literal(len(basket.generic_names), "int64"),
        products=row.products,
        brand_products=row.brand_products,
        lines=row.lines,
        claims=row.claims,
        fills=row.fills,
        drug_cost=row.drug_cost,
        writers=row.writers,
        prescribers=row.prescribers,
        brand_fills_share=share_of(row.brand_fills, row.fills),
        hhi=ibis.ifelse(row.fills > 0, row.hhi, ibis.null("float64")),
        **{f"top_{p}pct_fills_share": row[f"top_{p}pct_fills_share"] for p in TOP_PERCENTS},
        claims_unknown_share=share_of(row.claims_unknown, row.lines).cast("float64"),
        claims_mapped_share=row.claims_mapped_share,
    )
