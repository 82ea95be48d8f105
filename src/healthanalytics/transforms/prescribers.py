"""Top prescribers per state."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.transforms.states import US_STATE_CODES


def is_us_state(state: ir.StringValue) -> ir.BooleanValue:
    """Whether the code is a US state or territory (states.US_STATES); null for a null code."""
    return state.isin(US_STATE_CODES)


def prescriber_totals(clean: ir.Table) -> ir.Table:
    """One row per prescriber: claims, day supply and cost summed over all drugs, and the
    largest years of experience reported.

    `presc_state` is the prescriber's US state or territory code (the last alphabetically
    when its lines name several); for a prescriber without one, the last other code its lines
    give (XX, ZZ, AE, ...); null when every line's state is blank. `trx_cnt` is null when none
    of the prescriber's claim counts is known.
    """
    in_us = is_us_state(clean.presc_state)
    return clean.group_by("presc_id").aggregate(
        presc_fullname=clean.presc_fullname.max(),
        # an XX or ZZ line must not hide the prescriber's real state
        presc_state=ibis.coalesce(clean.presc_state.max(where=in_us), clean.presc_state.max()),
        country_name=clean.country_name.max(),
        years_of_exp=clean.years_of_exp.max(),
        trx_cnt=clean.trx_cnt.sum(),
        total_day_supply=clean.total_day_supply.sum(),
        total_drug_cost=clean.total_drug_cost.sum(),
    )


def top_prescribers_by_state(
    clean: ir.Table, top_n: int = 5, years: tuple[int, int] | None = (20, 50)
) -> ir.Table:
    """At most `top_n` prescribers per US state or territory, ranked by claims (ties: lower
    presc_id first): prescriber_totals' columns and `rank` 1..top_n, the columns of the
    prescriber_report contract (contracts/reports.py) but delivery_date.

    `years` bounds experience inclusively; None skips that filter (layouts without it).
    Only prescribers that can be ranked are: those with a US state or territory code (not a
    blank state, XX, ZZ or the armed forces' AA/AE/AP) and with a known claim count (not one
    whose counts are all hidden). The others' lines stay kept and counted.
    """
    totals = prescriber_totals(clean)
    totals = totals.filter(is_us_state(totals.presc_state), totals.trx_cnt.notnull())
    if years is not None:
        low, high = years
        totals = totals.filter(totals.years_of_exp.between(low, high))
    rank = ibis.row_number().over(
        group_by=totals.presc_state, order_by=[ibis.desc(totals.trx_cnt), totals.presc_id]
    )
    ranked = totals.mutate(rank=(rank + 1).cast("int64"))
    report = ranked.filter(ranked.rank <= top_n)
    return report.order_by([report.presc_state, report.rank])


def _totals_of(clean: ir.Table, rows: ir.Table) -> ir.Table:
    """prescriber_totals of the prescribers owning `rows` (a subset of `clean`), over all their
    lines: few prescribers are suspects, so this is far cheaper than every prescriber's totals."""
    suspects = rows.select("presc_id").distinct()
    return prescriber_totals(clean.semi_join(suspects, "presc_id"))


def outside_states(clean: ir.Table) -> ir.Table:
    """One row per state code of kept lines that is not a US state or territory: `presc_state`,
    `prescribers` (those left out of the ranking under that code: no line of theirs names a US
    state or territory) and `lines` (kept lines giving that code). Most prescribers first."""
    outside = clean.filter(clean.presc_state.notnull() & ~is_us_state(clean.presc_state))
    lines = outside.group_by("presc_state").aggregate(lines=outside.lines.sum().cast("int64"))
    totals = _totals_of(clean, outside)
    left_out = totals.filter(~is_us_state(totals.presc_state))
    unranked = left_out.group_by("presc_state").aggregate(
        prescribers=left_out.count().cast("int64")
    )
    # every code a prescriber is left out under comes from its lines, so `lines` holds them all
    joined = lines.left_join(unranked, "presc_state").select(
        lines.presc_state,
        prescribers=unranked.prescribers.fill_null(0),
        lines=lines.lines,
    )
    return joined.order_by(
        [ibis.desc(joined.prescribers), ibis.desc(joined.lines), joined.presc_state]
    )


def prescribers_without_claims(clean: ir.Table) -> ir.Table:
    """The prescribers (their totals, as prescriber_totals) with a US state or territory code
    left out of the ranking because none of their claim counts is known (before the
    experience filter)."""
    totals = _totals_of(clean, clean.filter(clean.trx_cnt.isnull()))
    return totals.filter(is_us_state(totals.presc_state), totals.trx_cnt.isnull())
