"""How much of a delivery the drug-class map covers: pure Ibis transforms over kept lines.

A line is covered when the ingredient key of its generic name is a key of the map, so a
spelling the map does not list (`ATORVASTATIN`, `LOSARTAN POTASSIUM/HCTZ`) still counts when its
molecule is there.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from healthanalytics.analysis.ingredients import ingredient_key_expr


def claims_by_generic(lines: ir.Table, drug_map: ir.Table) -> ir.Table:
    """One row per generic name of the lines (a null name included).

    In: `lines` with `generic_name` (string) and `claims` (integer, null when unknown);
    `drug_map` with `ingredient_key` (the map, e.g. `drug_class_table`).
    Out: `generic_name`, `ingredient_key` (null when the name has none), `mapped` (boolean:
    the key is one of the map's), `lines` (int64), `claims` (int64, known claims summed, 0
    when none). The key is computed once per generic name, not per line."""
    per_name = lines.group_by("generic_name").agg(
        lines=_.count(), claims=_.claims.sum().cast("int64").fill_null(0)
    )
    keyed = per_name.mutate(ingredient_key=ingredient_key_expr(per_name.generic_name))
    known = drug_map.select(map_key="ingredient_key").distinct()
    joined = keyed.left_join(known, keyed.ingredient_key == known.map_key)
    return joined.select(
        "generic_name",
        "ingredient_key",
        mapped=joined.map_key.notnull(),
        lines="lines",
        claims="claims",
    )


def map_coverage(by_generic: ir.Table) -> ir.Table:
    """One row: `lines`, `claims` (int64: all lines, their known claims), `mapped_lines`,
    `mapped_claims` (int64: those the map covers) and `claims_mapped_share` (float64, 0..1;
    null when there are no claims). In: `claims_by_generic`'s output."""
    totals = by_generic.aggregate(
        lines=_.lines.sum().fill_null(0),
        claims=_.claims.sum().fill_null(0),
        mapped_lines=_.lines.sum(where=_.mapped).fill_null(0),
        mapped_claims=_.claims.sum(where=_.mapped).fill_null(0),
    )
    return totals.mutate(
        claims_mapped_share=ibis.ifelse(
            totals.claims > 0, totals.mapped_claims / totals.claims, ibis.null("float64")
        )
    )


def unmapped_generics(by_generic: ir.Table, limit: int = 10) -> ir.Table:
    """The `limit` most-claimed generic names the map does not cover: `generic_name` (null for
    lines without one), `ingredient_key`, `lines`, `claims` and `rank` (int64, 1 = most
    claims, then most lines, then the name alphabetically, a null name last). In:
    `claims_by_generic`'s output."""
    unmapped = by_generic.filter(~by_generic.mapped)
    order = [
        ibis.desc("claims"),
        ibis.desc("lines"),
        unmapped.generic_name.isnull(),
        ibis.asc("generic_name"),
    ]
    ranked = unmapped.mutate(rank=(ibis.row_number().over(order_by=order) + 1).cast("int64"))
    return ranked.filter(ranked.rank <= limit).select(
        "generic_name", "ingredient_key", "lines", "claims", "rank"
    )
