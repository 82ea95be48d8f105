"""Specialty mix of the market: a pure Ibis transform over the market's prescribers
(`deciles.market_prescribers`), one row per prescriber specialty (docs/RULES.md, The launch
analysis, "Specialty mix"; issue 15 item 3).

A writer is a prescriber with market fills above 0, as in `market_summary` and the deciles
(decile 0 is every prescriber without them); a prescriber has the one specialty
`market_prescribers` gives it (that of most of its kept lines); a blank specialty is its own
group, as for `specialty_decile`.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.analysis.deciles import share_of

HIGH_DECILE = 8  # deciles 8..10: the market's largest writers


def market_specialties(prescribers: ir.Table) -> ir.Table:
    """One row per specialty of the delivery's prescribers, market writers or not.

    In: `market_prescribers` (`presc_id`, `specialty`, `claims` int64, `fills` float64 30-day
    fills, `decile` 0..10). Out: `specialty` (null: blank), `rank` (int64, 1 = most fills; ties:
    A-Z, the blank one last), `writers` (int64 prescribers with fills above 0), `prescribers`
    (int64, all of the specialty), `penetration` (writers / prescribers, 0..1), `fills` (30-day
    fills), `claims` (int64 known claims), `fills_share` (of the market's fills, 0..1; null when
    the market has none), `median_fills_per_writer` (the middle writer's fills, the mean of the
    middle two for an even count; null without writers), `high_decile_writers` (int64 writers in
    deciles 8-10 of the whole market), rows ordered by `rank`."""
    # the exact median as market_deciles takes it (no engine's median function): the
    # specialty's writers first, by fills; the middle one is at the 0-based places (n-1)//2
    # and n//2 of its n writers (the same place twice for an odd n)
    writing = prescribers.fills > 0
    by_specialty = ibis.window(group_by=prescribers.specialty)
    p = prescribers.mutate(
        writing=writing,
        place=ibis.row_number().over(
            group_by=prescribers.specialty,
            order_by=[~writing, prescribers.fills, prescribers.presc_id],
        ),
        n_writers=writing.cast("int64").sum().over(by_specialty),
    )
    middle = p.writing & ((p.place == (p.n_writers - 1) // 2) | (p.place == p.n_writers // 2))
    per_specialty = p.group_by("specialty").aggregate(
        writers=p.writing.sum().fill_null(0).cast("int64"),
        prescribers=p.count().cast("int64"),
        fills=p.fills.sum().fill_null(0.0),
        claims=p.claims.sum().fill_null(0).cast("int64"),
        median_fills_per_writer=p.fills.mean(where=middle),
        high_decile_writers=(p.writing & (p.decile >= HIGH_DECILE))
        .sum()
        .fill_null(0)
        .cast("int64"),
    )
    joined = per_specialty.mutate(all_fills=per_specialty.fills.sum().over(ibis.window()))
    ordered = joined.mutate(
        rank=ibis.row_number().over(
            order_by=[ibis.desc(joined.fills), joined.specialty.isnull(), joined.specialty]
        )
        + 1
    )
    return ordered.select(
        "specialty",
        rank=ordered["rank"].cast("int64"),
        writers=ordered.writers,
        prescribers=ordered.prescribers,
        penetration=(ordered.writers / ordered.prescribers).cast("float64"),
        fills=ordered.fills,
        claims=ordered.claims,
        fills_share=share_of(ordered.fills, ordered.all_fills),
        median_fills_per_writer=ordered.median_fills_per_writer.cast("float64"),
        high_decile_writers=ordered.high_decile_writers,
    ).order_by("rank")
