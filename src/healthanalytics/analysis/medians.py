"""The exact median as a window column: the middle value, or the mean of the middle two,
found from the rows' places rather than an engine's median function, so DuckDB and Spark give
the same figure (market_deciles and market_specialties take theirs the same way)."""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir


def with_median(
    table: ir.Table, value: str, member: ir.BooleanValue, group_by: Sequence[str], name: str
) -> ir.Table:
    """`table` with a column `name`: the exact median of `value` over the rows of its group
    (`group_by` columns; a null key is its own group) where `member` is true and `value` is not
    null — the middle one, or the mean of the middle two for an even count; null when the group
    has no such row. Rows of equal value are interchangeable, so no row order matters."""
    inside = member & table[value].notnull()
    by = list(group_by)
    counted = table.mutate(
        _inside=inside,
        _place=ibis.row_number().over(group_by=by, order_by=[~inside, table[value]]),
        _n=inside.cast("int64").sum().over(ibis.window(group_by=by)),
    )
    middle = counted._inside & (
        (counted._place == (counted._n - 1) // 2) | (counted._place == counted._n // 2)
    )
    marked = counted.mutate(_middle=ibis.ifelse(middle, counted[value], ibis.null("float64")))
    return marked.mutate(
        **{name: marked._middle.mean().over(ibis.window(group_by=by)).cast("float64")}
    ).drop("_inside", "_place", "_n", "_middle")
