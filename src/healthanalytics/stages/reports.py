"""Stage `reports`: the city report, the top prescribers per state, and what they leave out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa

from healthanalytics.config import Settings
from healthanalytics.engines import Engine
from healthanalytics.stages.clean import Cleaned
from healthanalytics.stages.ingest import Ingested
from healthanalytics.stages.record import ReportCounts
from healthanalytics.stages.timing import store
from healthanalytics.transforms.cities import (
    city_report,
    match_cities,
    match_summary,
    unmatched_places,
)
from healthanalytics.transforms.prescribers import (
    outside_states,
    prescribers_without_claims,
    top_prescribers_by_state,
)

log = logging.getLogger(__name__)

UNMATCHED_CITIES_KEPT = 100  # rows of the unmatched_cities table; the log shows the first 10


@dataclass(frozen=True)
class Reports:
    """The tables of the reports as the engine holds them (the unmatched_cities rows also
    fetched, as `unmatched_rows`), and the counts; also the kept lines with their matched
    `city_id` (`matched`) and the city dimension (`cities`), for the analysis' geography."""

    city_report: ir.Table
    prescriber_report: ir.Table
    unmatched_cities: ir.Table
    unmatched_rows: pa.Table
    counts: ReportCounts
    matched: ir.Table
    cities: ir.Table

    def summary(self) -> str:
        c = self.counts
        return (
            f"{c.city_report_rows:,} cities, {c.prescriber_report_rows:,} prescribers; "
            f"matched to a city: {_percent(c.rows_matched_share)} of rows, "
            f"{_percent(c.claims_matched_share)} of claims"
        )


def build_reports(
    settings: Settings, engine: Engine, ingested: Ingested, cleaned: Cleaned
) -> Reports:
    """Both reports from the kept lines: cities matched to the dimension, and the top
    `settings.top_n` prescribers of each US state or territory by claims (experience within
    `min_years`..`max_years` where the layout has it)."""
    clean = cleaned.clean
    matched = store(engine, match_cities, clean, ingested.cities)
    city = store(engine, city_report, matched, ingested.cities)
    places = store(engine, unmatched_places, matched)
    unmatched = places.filter(places["rank"] <= UNMATCHED_CITIES_KEPT).order_by("rank")
    unmatched_rows = engine.to_arrow(unmatched)
    has_experience = ingested.fact.layout.has_experience
    years = (settings.min_years, settings.max_years) if has_experience else None
    prescribers = store(engine, top_prescribers_by_state, clean, settings.top_n, years)
    match = engine.one_row(match_summary(matched))
    outside = engine.to_arrow(outside_states(clean)).to_pylist()
    counts = ReportCounts(
        rows_matched_share=_share(match["rows_matched"], match["rows"]),
        claims_matched_share=_share(match["claims_matched"] or 0, match["claims"] or 0),
        city_report_rows=engine.count_rows(city),
        prescriber_report_rows=engine.count_rows(prescribers),
        prescribers_outside_states=sum(row["prescribers"] for row in outside),
        lines_outside_states=sum(row["lines"] for row in outside),
        prescribers_without_claims=engine.count_rows(prescribers_without_claims(clean)),
        unmatched_places=engine.count_rows(places),
    )
    _log_unmatched_places(unmatched_rows.to_pylist(), counts.unmatched_places)
    _log_unranked(outside, counts)
    return Reports(city, prescribers, unmatched, unmatched_rows, counts, matched, ingested.cities)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


def _log_unmatched_places(top: list[dict[str, Any]], places: int) -> None:
    """One line: how many places match no city, and the first ten by lines."""
    shown = "; ".join(
        f"{row['presc_city'] or '(blank)'}, {row['presc_state'] or '(blank)'}: "
        f"{row['lines']:,} lines, {row['claims']:,} claims, {row['prescribers']:,} prescribers"
        for row in top[:10]
    )
    log.info(
        "unmatched places: %s (city, state) pairs match no dimension city%s",
        f"{places:,}",
        f"; most lines first (table unmatched_cities): {shown}" if shown else "",
    )


def _log_unranked(outside: list[dict[str, Any]], counts: ReportCounts) -> None:
    """What the prescriber report leaves out: codes that are no US state, unknown claims."""
    if counts.lines_outside_states:
        codes = ", ".join(
            f"{row['presc_state']} {row['prescribers']:,} prescribers/{row['lines']:,} lines"
            for row in outside[:5]
        )
        more = f" and {len(outside) - 5} more codes" if len(outside) > 5 else ""
        log.warning(
            "prescriber report: %s prescribers not ranked, their state code being no US state "
            "or territory (%s kept lines give such a code): %s%s",
            f"{counts.prescribers_outside_states:,}",
            f"{counts.lines_outside_states:,}",
            codes,
            more,
        )
    if counts.prescribers_without_claims:
        log.warning(
            "prescriber report: %s prescribers not ranked, none of their claim counts being "
            "known (all hidden)",
            f"{counts.prescribers_without_claims:,}",
        )
