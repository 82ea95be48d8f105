"""Top prescribers per state."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

PRESCRIBER_REPORT_COLUMNS = (
    "presc_id",
    "presc_fullname",
    "presc_state",
    "country_name",
    "years_of_exp",
    "trx_cnt",
    "total_day_supply",
    "total_drug_cost",
    "rank",
)


def prescriber_totals(clean: ir.Table) -> ir.Table:
    """One row per prescriber: claims, day supply and cost summed over all drugs, and the
    largest years of experience reported."""
    return clean.group_by("presc_id").aggregate(
        presc_fullname=clean.presc_fullname.max(),
        presc_state=clean.presc_state.max(),
        country_name=clean.country_name.max(),
        years_of_exp=clean.years_of_exp.max(),
        trx_cnt=clean.trx_cnt.sum(),
        total_day_supply=clean.total_day_supply.sum(),
        total_drug_cost=clean.total_drug_cost.sum(),
    )


def top_prescribers_by_state(
    clean: ir.Table, top_n: int = 5, years: tuple[int, int] | None = (20, 50)
) -> ir.Table:
    """At most `top_n` prescribers per state, ranked by claims (ties: lower presc_id first).

    `years` bounds experience inclusively; None skips that filter (layouts without it).
    Prescribers without a state have no state to rank in and are left out; their lines stay
    kept and counted (no city matches them either, for want of a state).
    """
    totals = prescriber_totals(clean)
    totals = totals.filter(totals.presc_state.notnull())
    if years is not None:
        low, high = years
        totals = totals.filter(totals.years_of_exp.between(low, high))
    rank = ibis.row_number().over(
        group_by=totals.presc_state,
        order_by=[ibis.desc(totals.trx_cnt, nulls_first=False), totals.presc_id],
    )
    ranked = totals.mutate(rank=(rank + 1).cast("int64"))
    report = ranked.filter(ranked.rank <= top_n).select(*PRESCRIBER_REPORT_COLUMNS)
    return report.order_by([report.presc_state, report.rank])
