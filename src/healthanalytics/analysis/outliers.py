"""Prescribers far from their specialty's peers: a pure Ibis transform over the market's
prescribers (`deciles.market_prescribers`) and their cost position (`cost.prescriber_cost`)
(docs/RULES.md, The launch analysis, "Peer outliers"; issue 15 item 7).

The robust modified z-score of Iglewicz & Hoaglin (1993, How to Detect and Handle Outliers,
ASQC Basic References in Quality Control 16): z = 0.6745 (x - median) / MAD, MAD the median
absolute deviation from the median, |z| > 3.5 an outlier. It is taken on the natural log of
the measure (volumes and prices are skewed: a ratio from the median, not a difference, is what
makes a prescriber unusual), within each specialty. A flag is a data-quality and targeting
signal (a unit error, a pharmacy billed under one NPI, a true high writer), not a verdict.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.analysis.medians import with_median

MIN_PEERS = 30  # prescribers of the specialty with the measure; fewer give no stable MAD
Z_LIMIT = 3.5  # Iglewicz & Hoaglin's cut-off for the modified z-score
Z_FACTOR = 0.6745  # the standard normal's 0.75 quantile: MAD / 0.6745 estimates sigma
MEASURES = ("market_fills", "cost_per_day")


def peer_values(prescribers: ir.Table, cost: ir.Table) -> ir.Table:
    """One row per prescriber and measure it has: `presc_id`, `specialty`, `measure`, `value`
    (float64 in the measure's unit). `market_fills`: market 30-day fills of the writers
    (fills above 0); `cost_per_day`: USD per day of all drugs of the eligible prescribers
    (`prescriber_cost`, eligible = 1). A blank specialty is no peer group: left out."""
    fills = prescribers.filter((prescribers.fills > 0) & prescribers.specialty.notnull())
    costs = cost.filter((cost.eligible == 1) & cost.specialty.notnull() & (cost.cost_per_day > 0))
    return fills.select(
        "presc_id",
        "specialty",
        measure=ibis.literal(MEASURES[0]),
        value=fills.fills.cast("float64"),
    ).union(
        costs.select(
            "presc_id",
            "specialty",
            measure=ibis.literal(MEASURES[1]),
            value=costs.cost_per_day.cast("float64"),
        )
    )


def peer_outliers(prescribers: ir.Table, cost: ir.Table) -> ir.Table:
    """One row per prescriber and measure whose modified z-score within its specialty is
    beyond ±3.5.

    In: `market_prescribers` (presc_id, specialty, fills), `prescriber_cost` (presc_id,
    specialty, eligible, cost_per_day). Out: `presc_id`; `specialty`; `measure`
    ('market_fills' | 'cost_per_day'); `value` (its fills, or USD per day); `peer_median` (the
    specialty's median value, in the same unit; the mean of the middle two for an even count);
    `mad` (float64: median absolute deviation of ln(value) from the median of ln(value), in
    natural-log units); `peers` (int64 prescribers of the specialty with the measure); `z`
    (0.6745 x (ln value - median ln value) / mad); `direction` ('high' | 'low'). Only groups of
    at least MIN_PEERS peers are scored; a group whose MAD is 0 (half its peers or more share
    one value) has no z and gives no row."""
    values = peer_values(prescribers, cost)
    group = ["specialty", "measure"]
    logged = values.mutate(
        log_value=values.value.ln(),
        peers=values.count().over(ibis.window(group_by=group)).cast("int64"),
    )
    everyone = ibis.literal(True)
    centred = with_median(logged, "log_value", everyone, group, "log_median")
    centred = with_median(centred, "value", everyone, group, "peer_median")
    spread = centred.mutate(deviation=(centred.log_value - centred.log_median).abs())
    spread = with_median(spread, "deviation", everyone, group, "mad")
    scored = spread.filter((spread.peers >= MIN_PEERS) & (spread.mad > 0))
    scored = scored.mutate(
        z=(Z_FACTOR * (scored.log_value - scored.log_median) / scored.mad).cast("float64")
    )
    flagged = scored.filter(scored.z.abs() > Z_LIMIT)
    return flagged.select(
        "presc_id",
        "specialty",
        "measure",
        "value",
        "peer_median",
        "mad",
        "peers",
        "z",
        direction=ibis.ifelse(flagged.z > 0, "high", "low"),
    )
